// Plain data: what the CPU collector knows about processes' scheduling. No I/O, no BPF.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/histogram.h"
#include "model/process.h"

namespace nt::model {

// Cumulative, summed over the process's threads.
struct SchedCounters {
  uint64_t on_cpu_ns = 0;
  uint64_t runq_ns = 0;             // runnable, waiting for a CPU
  uint64_t off_voluntary_ns = 0;    // off CPU after blocking or sleeping, until running again
  uint64_t off_involuntary_ns = 0;  // off CPU after preemption, until running again
  uint64_t voluntary_switches = 0;
  uint64_t involuntary_switches = 0;
  uint64_t migrations = 0;
  Log2Histogram runq_hist{};        // run-queue waits, log2 us
  bool operator==(const SchedCounters&) const = default;
  SchedCounters operator-(const SchedCounters& earlier) const;
};

// One thread's own totals (per-thread detail of the busiest processes).
struct ThreadSched {
  uint32_t tid = 0;
  std::string comm;
  uint64_t on_cpu_ns = 0;
  uint64_t runq_ns = 0;
};

struct ProcessSched {
  ProcessKey key;
  std::string comm;
  SchedCounters total;
  SchedCounters at_interval_start;
  std::vector<ThreadSched> top_threads;  // by on-CPU time, busiest first; empty when not read
  bool exited = false;
  bool exit_shown = false;  // an interval has ended since it exited: its final counts were shown
};

// Every process seen since the start; exited ones keep their final totals (sums stay monotonic).
class SchedTable {
 public:
  // The process's cumulative counters as read now (never below what was read before).
  void update(const ProcessKey& key, const std::string& comm, const SchedCounters& total);
  void mark_exited(const ProcessKey& key);
  ProcessSched* find(const ProcessKey& key);
  void start_interval();
  const std::map<ProcessKey, ProcessSched>& processes() const { return processes_; }

 private:
  std::map<ProcessKey, ProcessSched> processes_;
};

}  // namespace nt::model
