#include "collectors/process_filter.h"

#include <bpf/bpf.h>

#include "process_filter.skel.h"

namespace nt::collectors {
namespace {

std::vector<bpf::Feature> filter_features() {
  return {{"follow",
           false,
           {{"tp", "tp_btf sched:sched_process_fork and sched_process_exit", {"follow_fork", "forget_exited"}}}}};
}

}  // namespace

ProcessFilter::ProcessFilter(const FilterConfig& config) : config_(config) {
  kernel_config_.by_tgid = config.by_tgid;
  kernel_config_.follow_children = config.follow_children;
  kernel_config_.by_comm = !config.comm.empty();
  std::strncpy(kernel_config_.comm, config.comm.c_str(), NT_FILTER_COMM_LEN - 1);
  kernel_config_.by_cgroup = config.cgroup_fd >= 0;
  kernel_config_.netns = config.netns;
}

ProcessFilter::~ProcessFilter() = default;

Result<std::unique_ptr<ProcessFilter>> ProcessFilter::start(const FilterConfig& config) {
  std::unique_ptr<ProcessFilter> filter(new ProcessFilter(config));
  auto configure = [&filter](::process_filter& skel) -> Status {
    std::memcpy(const_cast<nt_filter_config*>(&skel.rodata->process_filter), &filter->kernel_config_,
                sizeof(filter->kernel_config_));
    return {};
  };
  auto object = bpf::FeatureObject<::process_filter>::load(
      "filter", filter_features(), {process_filter__open, process_filter__load, process_filter__destroy}, configure);
  if (!object) return object.error();
  filter->object_ = std::move(object).value();
  if (config.cgroup_fd >= 0) {
    uint32_t slot = 0;
    if (bpf_map_update_elem(bpf_map__fd(filter->object_->skel().maps.traced_cgroup), &slot, &config.cgroup_fd,
                            BPF_ANY))
      return errno_error("setting the cgroup filter", errno);
  }
  if (auto attached = filter->object_->attach(-1); !attached) return attached.error();
  return filter;
}

Status ProcessFilter::share_maps(bpf_map* tgids, bpf_map* cgroup) const {
  if (int err = bpf_map__reuse_fd(tgids, bpf_map__fd(object_->skel().maps.traced_tgids)); err)
    return errno_error("sharing the process filter's pids", -err);
  if (int err = bpf_map__reuse_fd(cgroup, bpf_map__fd(object_->skel().maps.traced_cgroup)); err)
    return errno_error("sharing the process filter's cgroup", -err);
  return {};
}

std::vector<pid_t> ProcessFilter::traced_tgids() const {
  std::vector<pid_t> tgids;
  const int fd = bpf_map__fd(object_->skel().maps.traced_tgids);
  uint32_t key = 0;
  bool first = true;
  while (bpf_map_get_next_key(fd, first ? nullptr : &key, &key) == 0) {
    tgids.push_back(static_cast<pid_t>(key));
    first = false;
  }
  return tgids;
}

Status ProcessFilter::trace_tgid(pid_t tgid) {
  uint32_t key = static_cast<uint32_t>(tgid);
  uint8_t one = 1;
  if (bpf_map_update_elem(bpf_map__fd(object_->skel().maps.traced_tgids), &key, &one, BPF_ANY) != 0)
    return errno_error("adding pid " + std::to_string(tgid) + " to the kernel filter", errno);
  return {};
}

std::vector<model::FeatureState> ProcessFilter::features() const { return object_->states(); }

void ProcessFilter::add_losses(model::LossCounters& into) const {
  if (auto lost = bpf::sum_percpu_slot(bpf_map__fd(object_->skel().maps.process_filter_losses),
                                       NT_FILTER_LOSS_MAP_FULL))
    into[static_cast<size_t>(model::LossReason::kFilterMapFull)] += lost.value();
  else
    ++into[static_cast<size_t>(model::LossReason::kMapReadFailed)];
}

std::vector<model::ProgramStats> ProcessFilter::program_stats() const {
  return bpf::read_program_stats(object_->skel().obj);
}

}  // namespace nt::collectors
