#include "model/sched.h"

namespace nt::model {

SchedCounters SchedCounters::operator-(const SchedCounters& earlier) const {
  SchedCounters d;
  d.on_cpu_ns = on_cpu_ns - earlier.on_cpu_ns;
  d.runq_ns = runq_ns - earlier.runq_ns;
  d.off_voluntary_ns = off_voluntary_ns - earlier.off_voluntary_ns;
  d.off_involuntary_ns = off_involuntary_ns - earlier.off_involuntary_ns;
  d.voluntary_switches = voluntary_switches - earlier.voluntary_switches;
  d.involuntary_switches = involuntary_switches - earlier.involuntary_switches;
  d.migrations = migrations - earlier.migrations;
  d.runq_hist = runq_hist - earlier.runq_hist;
  return d;
}

void SchedTable::update(const ProcessKey& key, const std::string& comm, const SchedCounters& total) {
  auto [it, inserted] = processes_.try_emplace(key);
  if (inserted) it->second.key = key;
  if (!comm.empty()) it->second.comm = comm;
  it->second.total = total;
}

void SchedTable::mark_exited(const ProcessKey& key) {
  if (auto it = processes_.find(key); it != processes_.end()) it->second.exited = true;
}

ProcessSched* SchedTable::find(const ProcessKey& key) {
  auto it = processes_.find(key);
  return it == processes_.end() ? nullptr : &it->second;
}

void SchedTable::start_interval() {
  for (auto& [key, process] : processes_) {
    process.at_interval_start = process.total;
    process.exit_shown = process.exited;
    if (process.exited) process.top_threads.clear();
  }
}

}  // namespace nt::model
