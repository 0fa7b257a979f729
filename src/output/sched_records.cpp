#include "output/sched_records.h"

#include "output/json_lines.h"

namespace nt::output {

bool sched_record_due(const model::ProcessSched& process) {
  return !(process.total == process.at_interval_start) || (process.exited && !process.exit_shown);
}

nlohmann::ordered_json sched_record(const model::ProcessSched& process, double ts, double interval_s) {
  const auto& t = process.total;
  const auto delta = t - process.at_interval_start;
  uint64_t waits = 0;
  for (auto n : delta.runq_hist) waits += n;
  auto record = process_record_head("sched", ts, process.key, process.comm);
  record.update({{"on_cpu_ns", t.on_cpu_ns},
                 {"runq_ns", t.runq_ns},
                 {"off_voluntary_ns", t.off_voluntary_ns},
                 {"off_involuntary_ns", t.off_involuntary_ns},
                 {"voluntary_switches", t.voluntary_switches},
                 {"involuntary_switches", t.involuntary_switches},
                 {"migrations", t.migrations},
                 {"on_cpu_share", interval_s > 0 ? static_cast<double>(delta.on_cpu_ns) / 1e9 / interval_s : 0.0},
                 {"runq_p50_us", model::quantile_upper_us(delta.runq_hist, 0.5)},
                 {"runq_p99_us", model::quantile_upper_us(delta.runq_hist, 0.99)},
                 {"runq_hist", delta.runq_hist}});
  if (waits) {  // absent when no wait ended in the interval
    record["runq_wait_us_mean"] = static_cast<double>(delta.runq_ns) / 1e3 / static_cast<double>(waits);
  }
  if (!process.top_threads.empty()) {
    auto threads = nlohmann::ordered_json::array();
    for (const auto& thread : process.top_threads)
      threads.push_back({{"tid", thread.tid}, {"comm", thread.comm}, {"on_cpu_ns", thread.on_cpu_ns},
                         {"runq_ns", thread.runq_ns}});
    record["threads"] = threads;
  }
  if (process.exited) record["exited"] = true;
  return record;
}

}  // namespace nt::output
