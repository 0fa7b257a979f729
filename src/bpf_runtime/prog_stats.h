#pragma once

#include <bpf/libbpf.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "model/programs.h"

namespace nt::bpf {

std::vector<model::ProgramStats> read_program_stats(const bpf_object* object);

// One slot of a per-CPU array: its value on each possible CPU, and their sum.
Result<std::vector<uint64_t>> read_percpu_slot(int map_fd, uint32_t slot);
Result<uint64_t> sum_percpu_slot(int map_fd, uint32_t slot);

}  // namespace nt::bpf
