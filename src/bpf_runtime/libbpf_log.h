#pragma once

#include <string>

namespace nt::bpf {

// Routes libbpf's messages: all of them to stderr when verbose, none otherwise (failures are
// reported once, as values, by the caller that knows what the failure means).
void route_libbpf_log(bool verbose);

// While it lives, libbpf's messages are also appended to `log` (a failed load's reason is in
// them). Loading happens on one thread; captures do not nest.
class LibbpfLogCapture {
 public:
  explicit LibbpfLogCapture(std::string& log);
  ~LibbpfLogCapture();
  LibbpfLogCapture(const LibbpfLogCapture&) = delete;
  LibbpfLogCapture& operator=(const LibbpfLogCapture&) = delete;
};

}  // namespace nt::bpf
