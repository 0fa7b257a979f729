// Which rank or which link holds a training job back. Each look takes the job as GET /api/v1/job
// shows it over the last few seconds, across every host that runs one of its ranks, and holds each
// rank and each link against its peers (detect/peers.h): nothing is learnt, and a job that slows
// down as a whole names nobody.
//
// Ranks (a straggler): how often the others exchange without it (`absent_share`, detect/
// participation.h), its run-queue share (CPU contention), its disk bytes. Not its step: in
// synchronous training every rank's step is the slowest one's. Links (a slow link): RTT and
// retransmits per second of each rank-to-rank link, and throughput, among the links that carry the
// job's data. A host's link that is slow slows
// every link that touches it, so the others are no baseline for one of them: the best link of each
// rank is compared across ranks too, and a rank whose every link is slow is named as "links of rank N".
// A rank waiting on a link that is named slow is absent from the others' exchanges too: that absence
// is inhibited (counted, not named while the link's finding lasts), the link being the cause.
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "detect/peers.h"
#include "server/store.h"

namespace nt::server {

struct JobWatchConfig {
  detect::PeerConfig peers{3, 4.0, 3};
  double window_s = 3;   // each look's range: rates and shares over this much
  double lag_s = 1;      // ... ending this long ago (the agents' latest interval may still be on its way)
  size_t max_jobs = 64;  // jobs looked at a time
};

class JobWatch {
 public:
  // `named`: a finding named now (returns its id, 0 when it could not be kept); `ended`: that
  // finding's rank or link is back among its peers.
  using Named = std::function<int64_t(const JobFinding&)>;
  using Ended = std::function<void(int64_t id, double ts)>;
  JobWatch(JobWatchConfig config, Named named, Ended ended);

  // A look at every job the agents reported lately, each over the last few seconds; at most one a
  // second (the writer thread calls it after each stored batch, so findings are written in order).
  void look(const Store& store, double now);
  // One look at one job: the answer of GET /api/v1/job over a recent range, at `now`.
  void observe(const nlohmann::json& job, double now);
  // A job no longer seen: its ongoing findings end.
  void forget(const std::string& job, double now);
  // Departures held back because an ongoing finding explained them (a rank waiting on a slow link).
  uint64_t inhibited() const { return inhibited_.load(std::memory_order_relaxed); }

 private:
  struct Ongoing {
    int64_t id = 0;
    JobFinding finding;
  };
  // Names the members of `values` that depart from their peers; those `inhibited` are counted and
  // held back, and named once no longer inhibited if they still depart then.
  void compare(const nlohmann::json& job, const std::string& metric, const detect::PeerScale& scale,
               const std::map<std::string, double>& values, const std::map<std::string, JobFinding>& subjects,
               double now, std::set<std::string>& departing, const std::set<std::string>& inhibited = {});

  JobWatchConfig config_;
  Named named_;
  Ended ended_;
  detect::PeerWatch peers_;
  double last_look_ = 0;
  std::atomic<uint64_t> inhibited_{0};  // read by the metrics thread
  std::set<std::string> watched_;  // jobs seen at the last look
  std::map<std::string, std::map<std::string, Ongoing>> ongoing_;  // job -> "subject/metric" -> finding
};

}  // namespace nt::server
