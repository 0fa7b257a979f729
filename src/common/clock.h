#pragma once

#include <cstdint>

namespace nt {

// Kernel CLOCK_MONOTONIC in ns (what BPF's bpf_ktime_get_ns returns).
uint64_t monotonic_ns();
// Wall clock, Unix seconds with sub-second precision.
double unix_seconds();

}  // namespace nt
