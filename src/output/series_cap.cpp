#include "output/series_cap.h"

#include <algorithm>

namespace nt::output {

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
