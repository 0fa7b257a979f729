// Plain data: a latency distribution in log2 buckets of microseconds, as the kernel keeps it.
#pragma once

#include <array>
#include <cstdint>

namespace nt::model {

// Slot i holds samples in [2^i, 2^(i+1)) us; slot 0 also those under 1 us; the last is open.
constexpr size_t kLog2Slots = 27;
using Log2Histogram = std::array<uint64_t, kLog2Slots>;

inline Log2Histogram operator-(const Log2Histogram& now, const Log2Histogram& earlier) {
  Log2Histogram delta{};
  for (size_t i = 0; i < kLog2Slots; ++i) delta[i] = now[i] - earlier[i];
  return delta;
}

// The upper bound (us) of the slot holding quantile q (0..1) of the samples; 0 when empty.
inline double quantile_upper_us(const Log2Histogram& h, double q) {
  uint64_t total = 0;
  for (auto n : h) total += n;
  if (total == 0) return 0;
  const double rank = q * static_cast<double>(total);
  uint64_t seen = 0;
  for (size_t i = 0; i < kLog2Slots; ++i) {
    seen += h[i];
    if (static_cast<double>(seen) >= rank) return static_cast<double>(uint64_t{1} << (i + 1));
  }
  return static_cast<double>(uint64_t{1} << kLog2Slots);
}

}  // namespace nt::model
