// Plain data: who a process is, and which distributed training job (rendezvous) it belongs to.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace nt::model {

struct ProcessIdentity {
  std::string cmdline;  // argv joined by spaces; raw bytes
  uint32_t uid = 0;
  std::string user;
  std::string cgroup;        // the cgroup v2 path ("0::" line of /proc/PID/cgroup)
  std::string container_id;  // a 64-hex id found in the cgroup path, or ""
  // Rendezvous of a distributed job, as torchrun (torch.distributed.run) puts it in the
  // environment. mp.spawn-style launchers set it after exec, where /proc cannot see it: then
  // `job` is empty and the rank unknown, never guessed.
  // "MASTER_ADDR:MASTER_PORT", with "/TORCHELASTIC_RUN_ID" when torchrun names the run; "" when
  // unknown. A loopback rendezvous names a job only within one host and namespace: the agent puts
  // "HOST/NETNS/" before it (job_on_loopback).
  std::string job;
  bool job_on_loopback = false;
  std::optional<int> rank;
  std::optional<int> local_rank;
  std::optional<int> world_size;
};

}  // namespace nt::model
