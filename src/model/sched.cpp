#include "model/sched.h"

#include <algorithm>

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
  // Field by field, the larger: a running slice read early is caught up by its fold, never taken back.
  auto& t = it->second.total;
  t.on_cpu_ns = std::max(t.on_cpu_ns, total.on_cpu_ns);
  t.runq_ns = std::max(t.runq_ns, total.runq_ns);
  t.off_voluntary_ns = std::max(t.off_voluntary_ns, total.off_voluntary_ns);
  t.off_involuntary_ns = std::max(t.off_involuntary_ns, total.off_involuntary_ns);
  t.voluntary_switches = std::max(t.voluntary_switches, total.voluntary_switches);
  t.involuntary_switches = std::max(t.involuntary_switches, total.involuntary_switches);
  t.migrations = std::max(t.migrations, total.migrations);
  for (size_t i = 0; i < kLog2Slots; ++i) t.runq_hist[i] = std::max(t.runq_hist[i], total.runq_hist[i]);
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
