// Which member of a group departs from its peers: a rank of a training job that the others wait
// for, a link slower than the job's other links. Each member's value is held against the median of
// the others, in robust units (the median absolute deviation), and named once it has departed for
// a few updates in a row, with its evidence: the metric, its value, the peers' median, since when.
// Peers are the baseline, so nothing is learnt and a whole job slowing down names nobody.
#pragma once

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace nt::detect {

struct PeerConfig {
  size_t min_members = 3;     // with two, "the others" is one value: no spread to judge by
  double min_z = 4;           // how far from the others' median, in their robust spread
  int persist = 3;            // updates in a row before a member is named
};

// How to read one metric: which way is worse, and the smallest departure that matters (absolute,
// and as a ratio to the peers' median: 0 for none, as for a lateness whose median is about 0).
struct PeerScale {
  bool higher_is_worse = true;
  double min_difference = 0;
  double min_ratio = 0;
};

struct PeerFinding {
  std::string group, member, metric;
  double value = 0, peers_median = 0;
  double since_ts = 0;  // the first update of the run that named it
  bool held = false;    // departed long enough, but held back (once per episode; named when released)
};

class PeerWatch {
 public:
  explicit PeerWatch(PeerConfig config) : config_(config) {}

  // One update of one metric over a group's members; returns the members named now (once per
  // episode: a member stays named, and is not repeated, until an update finds it back among peers).
  // Members in `held` that would be named are not: each is returned once with `held` set, and named
  // at the first update that no longer holds it, if it still departs then (its `since` unchanged).
  std::vector<PeerFinding> update(const std::string& group, const std::string& metric, const PeerScale& scale,
                                  double ts, const std::map<std::string, double>& values,
                                  const std::set<std::string>& held = {});
  // Everyone named and not yet back among their peers, with their latest evidence.
  std::vector<PeerFinding> ongoing() const;
  // Forgets a group (a job that ended).
  void forget(const std::string& group);

 private:
  struct Episode {
    int run = 0;
    bool named = false;
    bool held = false;
    PeerFinding latest;
  };
  PeerConfig config_;
  std::map<std::tuple<std::string, std::string, std::string>, Episode> episodes_;  // group, metric, member
};

}  // namespace nt::detect
