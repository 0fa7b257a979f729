// The cardinality cap of the per-process metrics: at most `limit` processes keep series of their
// own, everything else is summed into one "other" series, and no counter ever goes down.
//
// A member's series holds what the process moved since "other" last published it: everything,
// for a process first seen in this interval; what it moved before that stays in "other", and
// what a member moved goes to "other" when it leaves (its process exited). So "other" = all bytes
// ever - what current members' series hold: it only grows, and the series always sum to the true
// total. Membership is sticky: a member stays until its process exits, and freed places go to the
// most active processes of the last interval.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/process_counters.h"

namespace nt::output {

using model::fill_block_io_counters;
using model::fill_net_counters;
using model::fill_sched_counters;
using model::kProcessCounterCount;
using model::ProcessCounter;
using model::ProcessCounters;

struct ProcessLabels {
  std::string comm, container, job;
};

class SeriesCap {
 public:
  explicit SeriesCap(size_t limit) : limit_(limit) {}

  struct Input {
    model::ProcessKey key;
    ProcessLabels labels;
    ProcessCounters total;
    uint64_t interval_activity = 0;  // over the last interval, to rank candidates: bytes moved + us on CPU
    bool exited = false;
  };
  struct Member {
    ProcessLabels labels;
    ProcessCounters joined_at{};  // the process's totals when it joined
    ProcessCounters total{};
    ProcessCounters series() const;
  };

  // One interval: every process ever seen, exited ones included (their totals final).
  void update(const std::vector<Input>& processes);
  const std::map<model::ProcessKey, Member>& members() const { return members_; }
  const ProcessCounters& other() const { return other_; }

 private:
  size_t limit_;
  std::map<model::ProcessKey, Member> members_;
  std::map<model::ProcessKey, ProcessCounters> published_in_other_;  // live non-members' last totals
  ProcessCounters other_{};
};

}  // namespace nt::output
