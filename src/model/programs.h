// Plain data: what a BPF program has cost, as the kernel counts it.
#pragma once

#include <cstdint>
#include <string>

namespace nt::model {

// run_time_ns and run_count grow only while kernel.bpf_stats_enabled is on (or a BPF_ENABLE_STATS
// fd is held).
struct ProgramStats {
  std::string name;
  uint64_t run_count = 0;
  uint64_t run_time_ns = 0;
  uint64_t recursion_misses = 0;
};

}  // namespace nt::model
