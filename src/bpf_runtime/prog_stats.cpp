#include "bpf_runtime/prog_stats.h"

#include <bpf/bpf.h>

#include <cerrno>

namespace nt::bpf {

std::vector<model::ProgramStats> read_program_stats(const bpf_object* object) {
  std::vector<model::ProgramStats> stats;
  bpf_program* prog = nullptr;
  bpf_object__for_each_program(prog, object) {
    int fd = bpf_program__fd(prog);
    if (fd < 0) continue;  // not loaded
    bpf_prog_info info{};
    uint32_t len = sizeof(info);
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) continue;
    stats.push_back({bpf_program__name(prog), info.run_cnt, info.run_time_ns, info.recursion_misses});
  }
  return stats;
}

Result<std::vector<uint64_t>> read_percpu_slot(int map_fd, uint32_t slot) {
  int cpus = libbpf_num_possible_cpus();
  if (cpus <= 0) return errno_error("cannot count possible CPUs", cpus);
  std::vector<uint64_t> values(static_cast<size_t>(cpus));
  if (bpf_map_lookup_elem(map_fd, &slot, values.data()) != 0)
    return errno_error("reading a per-CPU counter", errno);
  return values;
}

Result<uint64_t> sum_percpu_slot(int map_fd, uint32_t slot) {
  auto values = read_percpu_slot(map_fd, slot);
  if (!values) return values.error();
  uint64_t sum = 0;
  for (uint64_t v : values.value()) sum += v;
  return sum;
}

}  // namespace nt::bpf
