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

// The plain table `top --batch` prints each interval.
std::string render_batch(const LiveView& view, SortKey sort, const std::string& filter);

}  // namespace nt::output
