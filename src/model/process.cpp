#include "model/process.h"

namespace nt::model {

ProcessTraffic& ProcessTable::entry(const ProcessKey& key, const std::string& comm) {
  auto [it, inserted] = processes_.try_emplace(key);
  if (inserted) {
    it->second.key = key;
    it->second.comm = comm;
  }
  return it->second;
}

void ProcessTable::update(const ProcessKey& key, const std::string& comm, const TrafficCounters& total) {
  entry(key, comm).total = total;
}

void ProcessTable::mark_exited(const ProcessKey& key) {
  if (auto it = processes_.find(key); it != processes_.end()) it->second.exited = true;
}

void ProcessTable::start_interval() {
  for (auto& [key, process] : processes_) process.at_interval_start = process.total;
}

}  // namespace nt::model
