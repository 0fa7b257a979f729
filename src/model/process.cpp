#include "model/process.h"

namespace nt::model {

void ProcessTable::update(const ProcessKey& key, const std::string& comm, const TrafficCounters& total) {
  auto [it, inserted] = processes_.try_emplace(key);
  ProcessTraffic& process = it->second;
  if (inserted) {
    process.key = key;
    process.comm = comm;
  }
  process.total = total;
}

void ProcessTable::start_interval() {
  for (auto& [key, process] : processes_) process.at_interval_start = process.total;
}

}  // namespace nt::model
