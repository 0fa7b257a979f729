// What `top` shows, derived from the model each interval: pure functions, so the rows and the
// batch table are tested without a terminal.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "bpf_runtime/prog_stats.h"
#include "model/events.h"
#include "model/flows.h"
#include "model/identity.h"
#include "model/loss.h"
#include "model/process.h"

namespace nt::output {

// An anomaly the detectors raised (the `anomaly` record of docs/json-schema.md), as `top` shows it.
struct RecentAnomaly {
  double ts = 0;
  std::string kind;           // process, flow or device
  model::ProcessKey process;  // process and flow anomalies: the process, or the flow's owner
  std::string comm;
  std::string subject;        // a flow ("tcp A:P > B:Q") or a device's name; empty for a process
  std::string metric, detector;
  double value = 0, expected_low = 0, expected_high = 0;
  bool names_process() const { return kind != "device"; }
};

// How long a process's row stays marked after an anomaly on it or on one of its flows.
constexpr double kAnomalyMarkS = 30;
bool within_mark(const RecentAnomaly& anomaly, double now);

// Everything one interval produced, by reference: valid during the observer call only.
struct LiveView {
  double ts = 0;
  double interval_s = 0;
  const model::ProcessTable* processes = nullptr;
  const model::FlowTable* flows = nullptr;
  const std::map<model::ProcessKey, model::ProcessIdentity>* identities = nullptr;
  const std::vector<model::DeviceStats>* devices = nullptr;
  const std::vector<model::DeviceStats>* previous_devices = nullptr;
  const std::deque<model::ConnEvent>* recent_conns = nullptr;
  const model::LossCounters* losses = nullptr;
  const std::vector<bpf::ProgramStats>* programs = nullptr;
  const std::vector<bpf::ProgramStats>* previous_programs = nullptr;
  double agent_cpu_share = 0;  // of one core, over the interval
  uint64_t agent_rss_bytes = 0;
  // Oldest first; null when detection is off. The last `new_anomalies` were raised this interval
  // (all of them when more were raised than are kept).
  const std::deque<RecentAnomaly>* anomalies = nullptr;
  size_t new_anomalies = 0;
};

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
std::vector<ProcessRow> process_rows(const LiveView& view, SortKey sort, const std::string& filter);

struct DeviceRate {
  model::DeviceKey key;
  std::string ifname;
  double tx_rate = 0, rx_rate = 0;
  uint64_t drops = 0;
};
std::vector<DeviceRate> device_rates(const LiveView& view);

struct ProgramCost {
  std::string name;
  double events_per_s = 0;
  double ns_per_event = 0;  // 0 when stats are off
  uint64_t recursion_misses = 0;
};
std::vector<ProgramCost> program_costs(const LiveView& view);

// "1.2 MB/s"-style rates and sizes for narrow columns.
std::string human_rate(double bytes_per_s);
std::string human_size(uint64_t bytes);
std::string human_count(double count);  // events: 31.9K
std::string printable(const std::string& raw);
std::string human_duration_us(double us);  // 850us, 12ms

// A metric's value in its unit: bytes/s, events/s or a duration (docs/json-schema.md lists them).
std::string metric_text(const std::string& metric, double value);
// "python3 (pid 123)", the flow after it for a flow; "dev eth0" for a device.
std::string anomaly_subject(const RecentAnomaly& anomaly);
// "burst tx_rate python3 (pid 123) 4.8M/s, expected <= 97.8K/s": one line for the screen and batch.
std::string describe_anomaly(const RecentAnomaly& anomaly);

// The plain table `top --batch` prints each interval: a row with a recent anomaly ends with " !",
// and a line "anomaly: ..." follows the table for each anomaly raised in the interval.
std::string render_batch(const LiveView& view, SortKey sort, const std::string& filter);

}  // namespace nt::output
