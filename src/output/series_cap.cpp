#include "output/series_cap.h"

#include <algorithm>

namespace nt::output {

namespace {

uint64_t& at(ProcessCounters& counters, ProcessCounter which) { return counters[static_cast<size_t>(which)]; }

}  // namespace

void fill_net_counters(ProcessCounters& into, const model::ProcessTraffic& p) {
  at(into, ProcessCounter::kTxBytes) = p.total.tx_bytes;
  at(into, ProcessCounter::kRxBytes) = p.total.rx_bytes;
  at(into, ProcessCounter::kTxCalls) = p.total.tx_calls;
  at(into, ProcessCounter::kRxCalls) = p.total.rx_calls;
  at(into, ProcessCounter::kConnsOpened) = p.connections.opened;
  at(into, ProcessCounter::kConnsClosed) = p.connections.closed;
  at(into, ProcessCounter::kRetransmits) = p.connections.retransmits;
}

void fill_sched_counters(ProcessCounters& into, const model::ProcessSched& p) {
  at(into, ProcessCounter::kOnCpuNs) = p.total.on_cpu_ns;
  at(into, ProcessCounter::kRunqNs) = p.total.runq_ns;
  at(into, ProcessCounter::kOffVoluntaryNs) = p.total.off_voluntary_ns;
  at(into, ProcessCounter::kOffInvoluntaryNs) = p.total.off_involuntary_ns;
  at(into, ProcessCounter::kVoluntarySwitches) = p.total.voluntary_switches;
  at(into, ProcessCounter::kInvoluntarySwitches) = p.total.involuntary_switches;
}

void fill_block_io_counters(ProcessCounters& into, const model::ProcessIo& p) {
  at(into, ProcessCounter::kIoReadBytes) = p.total.of(model::IoKind::kRead).bytes;
  at(into, ProcessCounter::kIoWriteBytes) = p.total.of(model::IoKind::kWrite).bytes;
  at(into, ProcessCounter::kIoReadOps) = p.total.of(model::IoKind::kRead).ops;
  at(into, ProcessCounter::kIoWriteOps) = p.total.of(model::IoKind::kWrite).ops;
}

ProcessCounters SeriesCap::Member::series() const {
  ProcessCounters out{};
  for (size_t i = 0; i < out.size(); ++i) out[i] = total[i] - joined_at[i];
  return out;
}

void SeriesCap::update(const std::vector<Input>& processes) {
  ProcessCounters everything{};
  std::vector<const Input*> candidates;
  for (const auto& p : processes) {
    for (size_t i = 0; i < everything.size(); ++i) everything[i] += p.total[i];
    auto member = members_.find(p.key);
    if (member != members_.end()) {
      member->second.total = p.total;
      if (p.exited) members_.erase(member);  // what it moved as a member now counts in "other"
    } else if (p.exited) {
      published_in_other_.erase(p.key);
    } else if (p.interval_activity > 0) {
      candidates.push_back(&p);
    }
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Input* a, const Input* b) { return a->interval_activity > b->interval_activity; });
  for (const Input* p : candidates) {
    if (members_.size() >= limit_) break;
    auto published = published_in_other_.find(p->key);
    ProcessCounters joined_at = published == published_in_other_.end() ? ProcessCounters{} : published->second;
    members_[p->key] = Member{p->labels, joined_at, p->total};
    if (published != published_in_other_.end()) published_in_other_.erase(published);
  }
  for (const auto& p : processes)
    if (!p.exited && !members_.count(p.key)) published_in_other_[p.key] = p.total;
  other_ = everything;
  for (const auto& [key, member] : members_) {
    auto held = member.series();
    for (size_t i = 0; i < other_.size(); ++i) other_[i] -= held[i];
  }
}

}  // namespace nt::output
