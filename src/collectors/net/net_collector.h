// The network collector: loads bpf/net_accounting.bpf.c, attaches it, and drains its cumulative
// per-process counters into the model each interval.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "bpf_runtime/prog_stats.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "model/loss.h"
#include "model/process.h"

struct net_accounting;

namespace nt::collectors {

struct NetConfig {
  bool filter_tgids = false;     // count only traced tgids (trace_tgid adds them)
  bool follow_children = false;  // descendants of traced tgids are traced from birth
  uint32_t max_processes = 16384;
};

class NetCollector {
 public:
  // open -> configure -> load -> attach. The error names the program and the kernel feature.
  static Result<std::unique_ptr<NetCollector>> start(const NetConfig& config);
  ~NetCollector();
  NetCollector(const NetCollector&) = delete;
  NetCollector& operator=(const NetCollector&) = delete;

  Status trace_tgid(pid_t tgid);

  // Reads every process's cumulative counters into `table`; processes that have exited are
  // read one last time and then removed from the kernel table.
  void drain(model::ProcessTable& table);
  model::LossCounters losses() const;

  std::vector<bpf::ProgramStats> program_stats() const;
  int sock_owner_map_fd() const;

 private:
  NetCollector() = default;
  Status attach_all();

  net_accounting* skel_ = nullptr;
  UniqueFd cgroup_fd_;
  uint64_t map_read_failures_ = 0;
};

// Whether the process named by `key` still runs (same pid and same start time).
bool process_alive(const model::ProcessKey& key);

}  // namespace nt::collectors
