// Plain data: what the collectors know about processes' network traffic. No I/O, no BPF.
#pragma once

#include <compare>
#include <cstdint>
#include <map>
#include <string>

namespace nt::model {

// A process as seen in one network namespace. Pids wrap, so the start time is part of its name.
struct ProcessKey {
  uint32_t tgid = 0;
  uint32_t netns = 0;
  uint64_t start_ns = 0;  // group leader's start, ns since boot (CLOCK_BOOTTIME)
  auto operator<=>(const ProcessKey&) const = default;
};

// Cumulative payload bytes and socket calls; counted by the kernel, never decreasing.
struct TrafficCounters {
  uint64_t tx_bytes = 0;
  uint64_t rx_bytes = 0;
  uint64_t tx_calls = 0;
  uint64_t rx_calls = 0;
  bool operator==(const TrafficCounters&) const = default;
  TrafficCounters operator-(const TrafficCounters& earlier) const {
    return {tx_bytes - earlier.tx_bytes, rx_bytes - earlier.rx_bytes, tx_calls - earlier.tx_calls,
            rx_calls - earlier.rx_calls};
  }
};

// A count over an interval, per second (0 for an interval of no length).
inline double per_second(uint64_t count, double interval_s) {
  return interval_s > 0 ? static_cast<double>(count) / interval_s : 0.0;
}

// Cumulative TCP connection counts of a process, from the connection records.
struct ConnectionCounters {
  uint64_t opened = 0;
  uint64_t closed = 0;
  uint64_t retransmits = 0;  // total_retrans of its connections, counted when each closes
};

struct ProcessTraffic {
  ProcessKey key;
  std::string comm;  // raw bytes from the kernel: may be any bytes, renderers sanitise
  TrafficCounters total;
  TrafficCounters at_interval_start;  // `total` when the current interval began
  ConnectionCounters connections;
  bool exited = false;  // its final counters have been read
  uint64_t start_resolution_ns = 1;  // > 1: key.start_ns came from /proc, exact to this only
};

// Every process seen since the start, keyed by identity. Exited processes keep their totals: their
// kernel entries are deleted only after a final read.
class ProcessTable {
 public:
  // Records the kernel's cumulative counters for a process.
  void update(const ProcessKey& key, const std::string& comm, const TrafficCounters& total);
  void mark_exited(const ProcessKey& key);
  // The entry of a process, created empty if it has moved no byte yet (a zero-byte connection).
  // A start time known only to /proc's resolution (`start_resolution_ns`) matches an entry whose
  // exact start falls in the same tick.
  ProcessTraffic& entry(const ProcessKey& key, const std::string& comm, uint64_t start_resolution_ns = 1);
  // Starts a new interval: what was counted so far becomes the baseline for the next deltas.
  void start_interval();

  const std::map<ProcessKey, ProcessTraffic>& processes() const { return processes_; }

 private:
  std::map<ProcessKey, ProcessTraffic> processes_;
};

}  // namespace nt::model
