// What `top` shows, derived from the model each interval: pure functions, so the rows and the
// batch table are tested without a terminal.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "model/snapshot.h"

namespace nt::output {

// How long a process's row stays marked after an anomaly on it or on one of its flows.
constexpr double kAnomalyMarkS = 30;
bool within_mark(const model::Anomaly& anomaly, double now);

struct ProcessRow {
  model::ProcessKey key;
  std::string user, comm;
  double tx_rate = 0, rx_rate = 0;
  uint64_t tx_bytes = 0, rx_bytes = 0;
  uint32_t flows = 0;
  uint64_t retransmits = 0;            // over its current flows
  std::optional<uint32_t> srtt_us;     // the largest of its TCP flows
  bool exited = false;
  bool recent_anomaly = false;         // on it or its flows, within kAnomalyMarkS of the view's time
};

enum class SortKey { kTxRate, kRxRate, kTotal, kPid, kRetransmits };
const char* sort_name(SortKey key);

// Processes with traffic in the interval or still running with flows, sorted; `filter` keeps
// those whose comm contains it.
std::vector<ProcessRow> process_rows(const model::Snapshot& view, SortKey sort, const std::string& filter);

// The CPU view: processes by on-CPU share over the interval.
struct CpuRow {
  model::ProcessKey key;
  std::string comm;
  double cpu_share = 0;    // of one CPU
  double runq_share = 0;   // time waiting for a CPU, per second
  double runq_p99_us = 0;  // upper bound of the interval's 99th percentile wait
  double voluntary_per_s = 0, involuntary_per_s = 0, migrations_per_s = 0;
  size_t threads = 0;      // threads with detail (the busiest)
};
std::vector<CpuRow> cpu_rows(const model::Snapshot& view, const std::string& filter);

// The I/O view: processes by bytes per second over the interval, then devices.
struct IoRow {
  model::ProcessKey key;
  std::string comm;
  bool kernel_thread = false;
  double read_rate = 0, write_rate = 0;  // bytes/s
  double ops_per_s = 0;
  double device_p99_us = 0;
};
std::vector<IoRow> io_rows(const model::Snapshot& view, const std::string& filter);
struct DiskRow {
  std::string name;
  double read_rate = 0, write_rate = 0, ops_per_s = 0;
  double queue_p99_us = 0, device_p99_us = 0;
};
std::vector<DiskRow> disk_rows(const model::Snapshot& view);

// The syscall view: processes by time in syscalls per second over the interval.
struct SyscallRow {
  model::ProcessKey key;
  std::string comm;
  double calls_per_s = 0, errors_per_s = 0;
  double time_share = 0;       // seconds in syscalls per second, its threads summed
  double p99_us = 0;           // upper bound of the interval's 99th percentile call, every syscall
  std::string busiest;         // the syscall it spent the most time in, with its share of that time
  double busiest_share = 0;
};
std::vector<SyscallRow> syscall_rows(const model::Snapshot& view, const std::string& filter);

struct DeviceRate {
  model::DeviceKey key;
  std::string ifname;
  double tx_rate = 0, rx_rate = 0;
  uint64_t drops = 0;
};
std::vector<DeviceRate> device_rates(const model::Snapshot& view);

struct ProgramCost {
  std::string name;
  double events_per_s = 0;
  double ns_per_event = 0;  // 0 when stats are off
  uint64_t recursion_misses = 0;
};
std::vector<ProgramCost> program_costs(const model::Snapshot& view);

// "1.2 MB/s"-style rates and sizes for narrow columns.
std::string human_rate(double bytes_per_s);
std::string human_size(uint64_t bytes);
std::string human_count(double count);  // events: 31.9K
std::string printable(const std::string& raw);
std::string human_duration_us(double us);  // 850us, 12ms

// A metric's value in its unit: bytes/s, events/s or a duration (docs/json-schema.md lists them).
std::string metric_text(const std::string& metric, double value);
// "python3 (pid 123)", the flow after it for a flow; "dev eth0" for a device.
std::string anomaly_subject(const model::Anomaly& anomaly);
// "burst tx_rate python3 (pid 123) 4.8M/s, expected <= 97.8K/s": one line for the screen and batch.
std::string describe_anomaly(const model::Anomaly& anomaly);

// The plain table `top --batch` prints each interval: a row with a recent anomaly ends with " !",
// and a line "anomaly: ..." follows the table for each anomaly raised in the interval.
std::string render_batch(const model::Snapshot& view, SortKey sort, const std::string& filter);

}  // namespace nt::output
