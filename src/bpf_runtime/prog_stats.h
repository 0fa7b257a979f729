#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace nt::bpf {

// A program's cost as the kernel counts it; run_time_ns and run_count grow only while
// kernel.bpf_stats_enabled is on (or a BPF_ENABLE_STATS fd is held).
struct ProgramStats {
  std::string name;
  uint64_t run_count = 0;
  uint64_t run_time_ns = 0;
  uint64_t recursion_misses = 0;
};

std::vector<ProgramStats> read_program_stats(const bpf_object* object);

// One slot of a per-CPU array: its value on each possible CPU, and their sum.
Result<std::vector<uint64_t>> read_percpu_slot(int map_fd, uint32_t slot);
Result<uint64_t> sum_percpu_slot(int map_fd, uint32_t slot);

}  // namespace nt::bpf
