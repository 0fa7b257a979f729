// Plain data: distributed training jobs, grouped by rendezvous, and the traffic between ranks.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "detect/participation.h"
#include "model/flows.h"
#include "model/identity.h"
#include "model/process.h"

namespace nt::model {

// A rank's training step as its send rhythm shows it: every step ends in collectives, so what the
// rank sends repeats once a step (detect/rhythm.h).
struct StepEstimate {
  double step_s = 0;
  double bytes_per_step = 0;
  double regularity = 0;  // the rhythm's autocorrelation at the step, (0, 1]
  double onset_unix_s = 0;  // when the newest step's sending began
  double sending_s = 0;     // how long in a step the rank sends at all (detect::RhythmEstimate)
  // How long in a step the rank sends or receives at all. A rank the others wait for takes part
  // only from when it arrives; the others exchange among themselves meanwhile (0: unknown).
  double active_s = 0;
};

struct Job {
  std::string name;  // ProcessIdentity::job
  std::optional<int> world_size;
  std::map<int, ProcessKey> ranks;
  uint64_t bytes_between_ranks = 0;  // sent by a rank on a flow whose peer is another rank's flow
  std::map<int, StepEstimate> steps;  // by rank, for ranks whose rhythm is known
  std::map<int, detect::Participation> participation;  // by rank: its busy slots of late (detect/participation.h)
};

class JobTable {
 public:
  // Adds a process whose identity names a job and a rank; true when the job changed.
  bool add_member(const ProcessKey& process, const ProcessIdentity& identity);
  // Adds what ranks sent to each other during the interval just drained from `flows`;
  // returns the names of the jobs whose traffic moved.
  std::vector<std::string> add_interval(const FlowTable& flows);
  // The step a member's rhythm shows, and its busy slots of late (none: not known now); each returns
  // the job's name, or "" for a process that is no job's member.
  std::string set_step(const ProcessKey& process, std::optional<StepEstimate> step);
  std::string set_participation(const ProcessKey& process, std::optional<detect::Participation> participation);
  const std::map<std::string, Job>& jobs() const { return jobs_; }

 private:
  std::map<std::string, Job> jobs_;
  std::map<ProcessKey, std::string> job_of_;
};

}  // namespace nt::model
