#include "model/flows.h"

namespace nt::model {

FlowTraffic& FlowTable::update(const FlowKey& key, const TrafficCounters& total, uint32_t srtt_us,
                               uint32_t retransmits, uint32_t spurious_retransmits, uint64_t now_ns) {
  auto [it, inserted] = flows_.try_emplace(key);
  FlowTraffic& flow = it->second;
  if (inserted) flow.key = key;
  if (inserted || !(flow.total == total)) flow.last_change_ns = now_ns;
  flow.total = total;
  flow.srtt_us = srtt_us;
  flow.retransmits = retransmits;
  flow.spurious_retransmits = spurious_retransmits;
  return flow;
}

void FlowTable::start_interval() {
  for (auto it = flows_.begin(); it != flows_.end();) {
    if (it->second.retired) {
      it = flows_.erase(it);
    } else {
      it->second.at_interval_start = it->second.total;
      ++it;
    }
  }
}

}  // namespace nt::model
