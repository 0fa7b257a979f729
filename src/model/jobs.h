// Plain data: distributed training jobs, grouped by rendezvous, and the traffic between ranks.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/flows.h"
#include "model/identity.h"
#include "model/process.h"

namespace nt::model {

struct Job {
  std::string name;  // "MASTER_ADDR:MASTER_PORT"
  std::optional<int> world_size;
  std::map<int, ProcessKey> ranks;
  uint64_t bytes_between_ranks = 0;  // sent by a rank on a flow whose peer is another rank's flow
};

class JobTable {
 public:
  // Adds a process whose identity names a job and a rank; true when the job changed.
  bool add_member(const ProcessKey& process, const ProcessIdentity& identity);
  // Adds what ranks sent to each other during the interval just drained from `flows`;
  // returns the names of the jobs whose traffic moved.
  std::vector<std::string> add_interval(const FlowTable& flows);
  const std::map<std::string, Job>& jobs() const { return jobs_; }

 private:
  std::map<std::string, Job> jobs_;
  std::map<ProcessKey, std::string> job_of_;
};

}  // namespace nt::model
