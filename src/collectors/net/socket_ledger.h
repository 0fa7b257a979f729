// Per-process and per-flow totals from per-socket counters.
//
// The kernel counts each call on its socket (bpf/net_accounting.bpf.c). A socket's counters reach
// user space two ways: read live by an iterator every interval, and, once, as a segment when the
// socket is released or changes owner (then its counters restart from zero). The ledger adds the
// two without counting a socket twice: a segment and a live read of the same (cookie, generation)
// are one, the segment wins. Published totals never decrease: a live read that misses a socket in
// the middle of a cut shows the previous total until the segment arrives.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "model/flows.h"
#include "model/process.h"

namespace nt::collectors {

struct SocketReading {
  uint64_t cookie = 0;
  uint32_t generation = 0;
  bool final = false;     // segment of a released socket: nothing follows
  bool per_peer = false;  // unconnected datagram socket: its flows are counted per peer elsewhere
  model::FlowKey flow;    // owner, protocol and ends
  std::string comm;
  model::TrafficCounters counters;
  uint32_t srtt_us = 0;
  uint32_t retransmits = 0;
  uint32_t spurious_retransmits = 0;
};

class SocketLedger {
 public:
  explicit SocketLedger(size_t max_flows) : max_flows_(max_flows) {}

  // A segment from the ring buffer: counted once, forever.
  void add_segment(const SocketReading& segment);
  // One interval: `live` is what the iterator just read, after every segment cut before the read
  // was added. Writes the processes' totals, and the flows of connected sockets (at most
  // max_flows held; the rest are counted as not held), retiring flows whose sockets are gone.
  void publish(const std::vector<SocketReading>& live, model::ProcessTable& processes, model::FlowTable& flows,
               uint64_t now_ns);

  // Calls and bytes of flows the table had no room for (cumulative, never decreasing).
  uint64_t calls_not_held() const { return not_held_reported_.tx_calls + not_held_reported_.rx_calls; }
  uint64_t bytes_not_held() const { return not_held_reported_.tx_bytes + not_held_reported_.rx_bytes; }

 private:
  struct Closed {
    std::string comm;
    model::TrafficCounters counters;
    uint32_t srtt_us = 0;
    uint32_t retransmits = 0;
    uint32_t spurious_retransmits = 0;
    bool final = false;
  };
  size_t max_flows_;
  std::map<model::ProcessKey, Closed> closed_processes_;
  std::map<model::FlowKey, Closed> closed_flows_;
  std::set<std::pair<uint64_t, uint32_t>> segments_since_publish_;
  std::set<model::FlowKey> not_held_;              // flows refused for lack of room, until they end
  model::TrafficCounters not_held_closed_;         // what refused flows carried when they ended
  model::TrafficCounters not_held_reported_;
};

}  // namespace nt::collectors
