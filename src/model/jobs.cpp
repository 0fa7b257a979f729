#include "model/jobs.h"

#include <set>
#include <tuple>

namespace nt::model {

bool JobTable::add_member(const ProcessKey& process, const ProcessIdentity& identity) {
  if (identity.job.empty() || !identity.rank) return false;
  Job& job = jobs_[identity.job];
  job.name = identity.job;
  if (identity.world_size) job.world_size = identity.world_size;
  auto [it, inserted] = job.ranks.try_emplace(*identity.rank, process);
  if (!inserted && it->second == process) return false;
  it->second = process;  // a restarted rank replaces the old one
  job_of_[process] = identity.job;
  return true;
}

namespace {

// Sets (or, with none, removes) what `by_rank` holds for the rank `process` is in `job`.
template <typename T>
void set_for_rank(const Job& job, const ProcessKey& process, std::map<int, T>& by_rank, std::optional<T> value) {
  for (const auto& [rank, key] : job.ranks) {
    if (key != process) continue;
    if (value)
      by_rank[rank] = std::move(*value);
    else
      by_rank.erase(rank);
    return;
  }
}

}  // namespace

std::string JobTable::set_step(const ProcessKey& process, std::optional<StepEstimate> step) {
  auto member = job_of_.find(process);
  if (member == job_of_.end()) return "";
  Job& job = jobs_[member->second];
  set_for_rank(job, process, job.steps, std::move(step));
  return job.name;
}

std::string JobTable::set_participation(const ProcessKey& process, std::optional<detect::Participation> participation) {
  auto member = job_of_.find(process);
  if (member == job_of_.end()) return "";
  Job& job = jobs_[member->second];
  set_for_rank(job, process, job.participation, std::move(participation));
  return job.name;
}

std::vector<std::string> JobTable::add_interval(const FlowTable& flows) {
  if (job_of_.empty()) return {};
  // Which job member owns each local endpoint, per namespace: a rank's peer is another rank
  // when the peer endpoint is the local end of that rank's flow.
  std::map<std::tuple<uint32_t, uint8_t, Endpoint>, ProcessKey> owner_of_local;
  for (const auto& [key, flow] : flows.flows())
    if (job_of_.count(key.process)) owner_of_local[{key.process.netns, key.protocol, key.local}] = key.process;
  std::set<std::string> moved;
  for (const auto& [key, flow] : flows.flows()) {
    auto member = job_of_.find(key.process);
    if (member == job_of_.end()) continue;
    auto peer = owner_of_local.find({key.process.netns, key.protocol, key.remote});
    if (peer == owner_of_local.end() || peer->second == key.process) continue;
    auto peer_job = job_of_.find(peer->second);
    if (peer_job == job_of_.end() || peer_job->second != member->second) continue;
    uint64_t sent = flow.total.tx_bytes - flow.at_interval_start.tx_bytes;
    if (!sent) continue;
    jobs_[member->second].bytes_between_ranks += sent;
    moved.insert(member->second);
  }
  return {moved.begin(), moved.end()};
}

}  // namespace nt::model
