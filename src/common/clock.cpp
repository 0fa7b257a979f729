#include "common/clock.h"

#include <time.h>

namespace nt {
namespace {
uint64_t read_ns(clockid_t clock) {
  timespec ts{};
  clock_gettime(clock, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}
}  // namespace

uint64_t monotonic_ns() { return read_ns(CLOCK_MONOTONIC); }
double unix_seconds() { return static_cast<double>(read_ns(CLOCK_REALTIME)) / 1e9; }

}  // namespace nt
