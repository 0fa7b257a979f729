// The kernel-side process filter every collector shares (bpf/process_filter.bpf.h): one object
// owns the maps and follows forks and exits; each collector's object takes the same
// configuration and reuses the maps, so a filter means the same to every collector.
#pragma once

#include <bpf/libbpf.h>
#include <sys/types.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "bpf_runtime/features.h"
#include "bpf_runtime/prog_stats.h"
#include "common/result.h"
#include "model/loss.h"
#include "shared/process_filter.h"

struct process_filter;

namespace nt::collectors {

// Which processes count; every filter that is set must match.
struct FilterConfig {
  bool by_tgid = false;          // only tgids added with trace_tgid
  bool follow_children = false;  // descendants of traced tgids are traced from birth
  std::string comm;              // the process's (group leader's) name; "" for any
  int cgroup_fd = -1;            // a cgroup v2 directory: tasks in it or below; -1 for any
  uint32_t netns = 0;            // a network namespace inode; 0 for any
};

class ProcessFilter {
 public:
  static Result<std::unique_ptr<ProcessFilter>> start(const FilterConfig& config);
  ~ProcessFilter();
  ProcessFilter(const ProcessFilter&) = delete;
  ProcessFilter& operator=(const ProcessFilter&) = delete;

  const FilterConfig& config() const { return config_; }
  Status trace_tgid(pid_t tgid);
  // The processes traced now, when the filter is by process (-p, --children, a command): the
  // ones named, and their descendants as they are born.
  std::vector<pid_t> traced_tgids() const;

  // Gives a freshly opened skeleton of any collector the filter: its configuration in rodata
  // (`process_filter`) and the shared maps (`traced_tgids`, `traced_cgroup`).
  template <class Skel>
  Status share_with(Skel& skel) const {
    std::memcpy(const_cast<nt_filter_config*>(&skel.rodata->process_filter), &kernel_config_, sizeof(kernel_config_));
    return share_maps(skel.maps.traced_tgids, skel.maps.traced_cgroup);
  }

  std::vector<model::FeatureState> features() const;
  void add_losses(model::LossCounters& into) const;
  std::vector<model::ProgramStats> program_stats() const;

 private:
  explicit ProcessFilter(const FilterConfig& config);
  Status share_maps(bpf_map* tgids, bpf_map* cgroup) const;

  FilterConfig config_;
  nt_filter_config kernel_config_{};
  std::unique_ptr<bpf::FeatureObject<::process_filter>> object_;
};

}  // namespace nt::collectors
