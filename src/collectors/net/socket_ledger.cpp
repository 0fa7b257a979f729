#include "collectors/net/socket_ledger.h"

#include <algorithm>

namespace nt::collectors {
namespace {

void add(model::TrafficCounters& into, const model::TrafficCounters& more) {
  into.tx_bytes += more.tx_bytes;
  into.rx_bytes += more.rx_bytes;
  into.tx_calls += more.tx_calls;
  into.rx_calls += more.rx_calls;
}

// Field by field, the larger: a total once published is never taken back.
model::TrafficCounters at_least(const model::TrafficCounters& published, const model::TrafficCounters& now) {
  return {std::max(published.tx_bytes, now.tx_bytes), std::max(published.rx_bytes, now.rx_bytes),
          std::max(published.tx_calls, now.tx_calls), std::max(published.rx_calls, now.rx_calls)};
}

}  // namespace

void SocketLedger::add_segment(const SocketReading& segment) {
  segments_since_publish_.insert({segment.cookie, segment.generation});
  auto& process = closed_processes_[segment.flow.process];
  if (process.comm.empty()) process.comm = segment.comm;
  add(process.counters, segment.counters);
  if (segment.per_peer) return;
  // A segment ends its flow: the socket was released, reconnected, or moved to another process
  // (the owner is part of the flow). A live socket with the same key keeps the flow going.
  auto& flow = closed_flows_[segment.flow];
  add(flow.counters, segment.counters);
  if (segment.srtt_us) flow.srtt_us = segment.srtt_us;
  flow.retransmits = std::max(flow.retransmits, segment.retransmits);
  flow.spurious_retransmits = std::max(flow.spurious_retransmits, segment.spurious_retransmits);
  flow.final = true;
}

void SocketLedger::publish(const std::vector<SocketReading>& live, model::ProcessTable& processes,
                           model::FlowTable& flows, uint64_t now_ns) {
  std::map<model::ProcessKey, Closed> live_processes;
  std::map<model::FlowKey, Closed> live_flows;
  for (const auto& reading : live) {
    if (segments_since_publish_.contains({reading.cookie, reading.generation})) continue;  // counted as a segment
    auto& process = live_processes[reading.flow.process];
    process.comm = reading.comm;
    add(process.counters, reading.counters);
    if (reading.per_peer) continue;
    auto& flow = live_flows[reading.flow];
    add(flow.counters, reading.counters);
    flow.srtt_us = std::max(flow.srtt_us, reading.srtt_us);
    flow.retransmits = std::max(flow.retransmits, reading.retransmits);
    flow.spurious_retransmits = std::max(flow.spurious_retransmits, reading.spurious_retransmits);
  }
  segments_since_publish_.clear();

  auto publish_process = [&](const model::ProcessKey& key, const std::string& comm, model::TrafficCounters total) {
    auto known = processes.processes().find(key);
    if (known != processes.processes().end()) {
      total = at_least(known->second.total, total);
      if (known->second.total == total) return;
    }
    processes.update(key, comm, total);
  };
  for (const auto& [key, closed] : closed_processes_) {
    auto total = closed.counters;
    auto running = live_processes.find(key);
    if (running != live_processes.end()) add(total, running->second.counters);
    publish_process(key, closed.comm, total);
  }
  for (const auto& [key, running] : live_processes)
    if (!closed_processes_.contains(key)) publish_process(key, running.comm, running.counters);

  std::set<model::FlowKey> keys;
  for (const auto& entry : closed_flows_) keys.insert(entry.first);
  for (const auto& entry : live_flows) keys.insert(entry.first);
  model::TrafficCounters not_held_running{};
  for (const auto& key : keys) {
    auto closed = closed_flows_.find(key);
    auto running = live_flows.find(key);
    Closed flow;
    if (closed != closed_flows_.end()) flow = closed->second;
    if (running != live_flows.end()) {
      add(flow.counters, running->second.counters);
      flow.srtt_us = running->second.srtt_us ? running->second.srtt_us : flow.srtt_us;
      flow.retransmits = std::max(flow.retransmits, running->second.retransmits);
      flow.spurious_retransmits = std::max(flow.spurious_retransmits, running->second.spurious_retransmits);
    }
    const bool ended = running == live_flows.end() && closed != closed_flows_.end() && closed->second.final;
    auto held = flows.flows().find(key);
    if (held == flows.flows().end() && (not_held_.contains(key) || flows.flows().size() >= max_flows_)) {
      if (ended) {
        add(not_held_closed_, flow.counters);
        not_held_.erase(key);
        closed_flows_.erase(closed);
      } else {
        not_held_.insert(key);
        add(not_held_running, flow.counters);
      }
      continue;
    }
    auto total = held == flows.flows().end() ? flow.counters : at_least(held->second.total, flow.counters);
    if (held != flows.flows().end()) {  // a final segment does not read the socket's DSACK count
      flow.retransmits = std::max(flow.retransmits, held->second.retransmits);
      flow.spurious_retransmits = std::max(flow.spurious_retransmits, held->second.spurious_retransmits);
    }
    auto& published = flows.update(key, total, flow.srtt_us, flow.retransmits, flow.spurious_retransmits, now_ns);
    if (ended) {
      published.retired = true;
      closed_flows_.erase(closed);
    }
  }
  add(not_held_running, not_held_closed_);
  not_held_reported_ = at_least(not_held_reported_, not_held_running);
}

}  // namespace nt::collectors
