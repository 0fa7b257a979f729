#include "model/process.h"

namespace nt::model {

ProcessTraffic& ProcessTable::entry(const ProcessKey& key, const std::string& comm, uint64_t start_resolution_ns) {
  if (start_resolution_ns > 1) {
    for (auto it = processes_.lower_bound({key.tgid, key.netns, 0});
         it != processes_.end() && it->first.tgid == key.tgid && it->first.netns == key.netns; ++it)
      if (it->first.start_ns / start_resolution_ns == key.start_ns / start_resolution_ns) return it->second;
  }
  auto [it, inserted] = processes_.try_emplace(key);
  if (inserted) {
    it->second.key = key;
    it->second.comm = comm;
    it->second.start_resolution_ns = start_resolution_ns;
  }
  return it->second;
}

void ProcessTable::update(const ProcessKey& key, const std::string& comm, const TrafficCounters& total) {
  auto [it, inserted] = processes_.try_emplace(key);
  if (inserted) {
    it->second.key = key;
    it->second.comm = comm;
    // The same process may already be here under its /proc start time (from a connection record
    // that arrived first): fold that entry into this exact one.
    for (auto other = processes_.lower_bound({key.tgid, key.netns, 0});
         other != processes_.end() && other->first.tgid == key.tgid && other->first.netns == key.netns;) {
      uint64_t resolution = other->second.start_resolution_ns;
      if (other != it && resolution > 1 && other->first.start_ns / resolution == key.start_ns / resolution) {
        it->second.connections = other->second.connections;
        other = processes_.erase(other);
      } else {
        ++other;
      }
    }
  }
  it->second.total = total;
}

void ProcessTable::mark_exited(const ProcessKey& key) {
  if (auto it = processes_.find(key); it != processes_.end()) it->second.exited = true;
}

void ProcessTable::start_interval() {
  for (auto& [key, process] : processes_) process.at_interval_start = process.total;
}

}  // namespace nt::model
