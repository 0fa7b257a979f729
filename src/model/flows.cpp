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

FlowShown shown(const FlowTraffic& flow, double interval_s) {
  auto delta = flow.total - flow.at_interval_start;
  return {protocol_name(flow.key.protocol), format_address(flow.key.local), format_address(flow.key.remote),
          per_second(delta.tx_bytes, interval_s), per_second(delta.rx_bytes, interval_s)};
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
