// Plain data: flows (who talks to whom) and TCP connection lifecycle records.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "model/events.h"
#include "model/process.h"

namespace nt::model {

// One process's traffic on one (protocol, local, remote) pair in one namespace.
struct FlowKey {
  ProcessKey process;
  uint8_t protocol = 0;  // IPPROTO_*
  Endpoint local;
  Endpoint remote;
  auto operator<=>(const FlowKey&) const = default;
};

struct FlowTraffic {
  FlowKey key;
  TrafficCounters total;
  TrafficCounters at_interval_start;
  uint32_t srtt_us = 0;
  uint32_t retransmits = 0;
  uint32_t spurious_retransmits = 0;  // of those, segments the receiver already had (DSACK)
  uint64_t last_change_ns = 0;  // monotonic time the counters were last seen to move
  bool retired = false;  // closed or idle: reported once more, then forgotten
};

// What a flow's record and the anomaly watch both show of it over an interval, worked out once.
struct FlowShown {
  std::string proto, saddr, daddr;  // protocol_name, format_address
  double tx_rate = 0, rx_rate = 0;  // bytes/s over the interval
};
FlowShown shown(const FlowTraffic& flow, double interval_s);

// The flows that are still active; retired flows leave after the interval that reports them.
class FlowTable {
 public:
  FlowTraffic& update(const FlowKey& key, const TrafficCounters& total, uint32_t srtt_us, uint32_t retransmits,
                      uint32_t spurious_retransmits, uint64_t now_ns);
  // Closes the interval: retired flows are dropped, the others' totals become the baseline.
  void start_interval();
  const std::map<FlowKey, FlowTraffic>& flows() const { return flows_; }

 private:
  std::map<FlowKey, FlowTraffic> flows_;
};

// tcplife-style: one record per socket end when a connection opens and when it closes.
struct ConnEvent {
  bool open = true;
  uint64_t ts_ns = 0;  // CLOCK_MONOTONIC
  ProcessKey owner;
  std::string comm;
  Endpoint local;
  Endpoint remote;
  bool active = false;  // we connected; false: we accepted
  bool preexisting = false;
  std::optional<uint64_t> duration_ns;  // close: from the open, when the open was seen
  // close only:
  uint64_t tx_bytes = 0;
  uint64_t rx_bytes = 0;
  uint32_t srtt_us = 0;
  uint32_t retransmits = 0;
  uint32_t delivered = 0;
  uint32_t lost = 0;
  uint32_t resets_sent = 0;
  uint32_t resets_received = 0;
  uint32_t rcvqueue_full = 0;
};

}  // namespace nt::model
