#include "server/series_export.h"

#include <cmath>
#include <cstdio>

#include "model/process_counters.h"

namespace nt::server {

std::string escaped_bytes(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (unsigned char c : bytes) {
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof(hex), "\\x%02x", c);
      out += hex;
    }
  }
  return out;
}

std::vector<RemoteSample> remote_samples(const neutracer::v1::Batch& batch) {
  std::vector<RemoteSample> samples;
  const auto timestamp_ms = static_cast<int64_t>(std::llround(batch.ts() * 1000));
  for (const auto& process : batch.processes()) {
    const std::string pid = std::to_string(process.key().tgid());
    const std::string start = std::to_string(process.key().start_ns());
    const std::string comm = escaped_bytes(process.comm());
    const size_t known = std::min<size_t>(process.counters_size(), model::kProcessCounterCount);
    for (size_t i = 0; i < known; ++i) {
      samples.push_back({{{"__name__", "neutracer_process_" + std::string(model::kProcessCounterNames[i]) + "_total"},
                          {"host", batch.host().machine_id()},
                          {"pid", pid},
                          {"start_ns", start},
                          {"comm", comm}},
                         static_cast<double>(process.counters(static_cast<int>(i))),
                         timestamp_ms});
    }
  }
  return samples;
}

}  // namespace nt::server
