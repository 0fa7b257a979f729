#pragma once

#include <bpf/libbpf.h>

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "common/result.h"

namespace nt::bpf {

// Sole owner of a libbpf ring_buffer consuming one or more BPF ring buffer maps.
class RingBuffer {
 public:
  using Handler = std::function<void(const void* data, size_t size)>;

  RingBuffer() = default;
  // Adds a map to consume; the first call creates the ring_buffer.
  Status add(int map_fd, Handler handler);
  // Waits up to timeout_ms for a wakeup, then consumes everything that is there.
  Status poll(int timeout_ms);
  bool empty() const { return rb_ == nullptr; }

 private:
  struct Deleter {
    void operator()(ring_buffer* rb) const { ring_buffer__free(rb); }
  };
  static int dispatch(void* ctx, void* data, size_t size);
  std::unique_ptr<ring_buffer, Deleter> rb_;
  std::vector<std::unique_ptr<Handler>> handlers_;  // stable addresses: libbpf keeps the pointers
};

}  // namespace nt::bpf
