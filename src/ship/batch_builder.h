// Sink of the Snapshot for a server: one interval as one neutracer.v1.Batch
// (proto/neutracer/v1/ingest.proto). Counters go as cumulative totals, so a batch the server never
// gets costs it that interval's samples, never its totals: the next full batch heals them.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>

#include "common/result.h"
#include "model/process_counters.h"
#include "model/snapshot.h"
#include "neutracer/v1/ingest.pb.h"

namespace nt::ship {

struct HostIdentity {
  std::string machine_id;
  std::string hostname;
  std::map<std::string, std::string> labels;
  uint64_t agent_start_unix_ns = 0;
};

// This host as the server will know it: `host_id` (else /etc/machine-id), the hostname, and
// KEY=VALUE labels (checked here: names [a-zA-Z_][a-zA-Z0-9_]*, values printable, both bounded).
Result<HostIdentity> local_host_identity(const std::string& host_id, const std::vector<std::string>& labels);

class BatchBuilder {
 public:
  explicit BatchBuilder(HostIdentity host) : host_(std::move(host)) {}

  // The interval's batch: the processes whose counters moved, every process when `full` (the first
  // batch, and the one after a batch was dropped), identities not sent before, moved flows, every
  // device, connections closed in the interval, new anomalies, jobs, and the loss counters.
  neutracer::v1::Batch build(const model::Snapshot& snapshot, bool full);
  uint64_t batches_built() const { return next_seq_ - 1; }

 private:
  HostIdentity host_;
  uint64_t next_seq_ = 1;
  std::set<model::ProcessKey> identities_sent_;
  // What the server was last sent of each process: counters and whether it had exited.
  std::map<model::ProcessKey, std::pair<model::ProcessCounters, bool>> processes_sent_;
};

// Process samples in a batch (what a dropped batch costs the server).
inline uint64_t samples_in(const neutracer::v1::Batch& batch) { return static_cast<uint64_t>(batch.processes_size()); }

}  // namespace nt::ship
