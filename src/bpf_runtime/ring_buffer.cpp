#include "bpf_runtime/ring_buffer.h"

#include <cerrno>

namespace nt::bpf {

int RingBuffer::dispatch(void* ctx, void* data, size_t size) {
  (*static_cast<Handler*>(ctx))(data, size);
  return 0;
}

Status RingBuffer::add(int map_fd, Handler handler) {
  handlers_.push_back(std::make_unique<Handler>(std::move(handler)));
  void* ctx = handlers_.back().get();
  if (!rb_) {
    rb_.reset(ring_buffer__new(map_fd, dispatch, ctx, nullptr));
    if (!rb_) return errno_error("creating a ring buffer consumer", errno);
    return {};
  }
  if (int err = ring_buffer__add(rb_.get(), map_fd, dispatch, ctx); err) return errno_error("adding a ring buffer", err);
  return {};
}

Status RingBuffer::poll(int timeout_ms) {
  // Producers wake us only when a ring is half full (submit_batched): wait, then drain whatever
  // is there either way.
  int n = ring_buffer__poll(rb_.get(), timeout_ms);
  if (n < 0 && n != -EINTR) return errno_error("reading the ring buffer", n);
  n = ring_buffer__consume(rb_.get());
  if (n < 0) return errno_error("reading the ring buffer", n);
  return {};
}

}  // namespace nt::bpf
