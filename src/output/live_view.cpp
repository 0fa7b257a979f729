#include "output/live_view.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "model/syscall_names.h"

namespace nt::output {

const char* sort_name(SortKey key) {
  switch (key) {
    case SortKey::kTxRate: return "TX/s";
    case SortKey::kRxRate: return "RX/s";
    case SortKey::kTotal: return "total";
    case SortKey::kPid: return "pid";
    case SortKey::kRetransmits: return "retrans";
  }
  return "";
}

std::string printable(const std::string& raw) {
  std::string out = raw;
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  return out;
}

std::string human_size(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "K", "M", "G", "T"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1000 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char text[16];
  std::snprintf(text, sizeof(text), unit ? "%.1f%s" : "%.0f%s", value, kUnits[unit]);
  return text;
}

std::string human_count(double count) {
  char text[16];
  if (count >= 1e6)
    std::snprintf(text, sizeof(text), "%.1fM", count / 1e6);
  else if (count >= 1e3)
    std::snprintf(text, sizeof(text), "%.1fK", count / 1e3);
  else
    std::snprintf(text, sizeof(text), "%.0f", count);
  return text;
}

std::string human_rate(double bytes_per_s) {
  return human_size(static_cast<uint64_t>(bytes_per_s + 0.5)) + "/s";
}

std::string human_duration_us(double us) {
  char text[16];
  std::snprintf(text, sizeof(text), us >= 10000 ? "%.0fms" : "%.0fus", us >= 10000 ? us / 1000 : us);
  return text;
}

bool within_mark(const model::Anomaly& anomaly, double now) { return anomaly.ts >= now - kAnomalyMarkS; }

std::string metric_text(const std::string& metric, double value) {
  if (metric == "srtt_us" || metric == "runq_wait_us" || metric == "io_latency_us" || metric == "queue_latency_us")
    return human_duration_us(value);
  if (metric == "on_cpu_share") {
    char text[32];
    std::snprintf(text, sizeof(text), "%.0f%% CPU", value * 100);
    return text;
  }
  if (metric == "calls" || metric == "conn_opens" || metric == "retransmits") return human_count(value) + "/s";
  return human_rate(value);  // tx_rate, rx_rate, rate
}

std::string anomaly_subject(const model::Anomaly& anomaly) {
  if (!anomaly.names_process()) return (anomaly.kind == "disk" ? "disk " : "dev ") + printable(anomaly.subject);
  std::string process = printable(anomaly.comm) + " (pid " + std::to_string(anomaly.process.tgid) + ")";
  return anomaly.subject.empty() ? process : process + " " + printable(anomaly.subject);
}

std::string describe_anomaly(const model::Anomaly& anomaly) {
  // A stall is the one downward anomaly: what matters is the floor it fell under, else the ceiling.
  std::string expected = anomaly.detector == "stall" ? ">= " + metric_text(anomaly.metric, anomaly.expected_low)
                                                     : "<= " + metric_text(anomaly.metric, anomaly.expected_high);
  return anomaly.detector + " " + anomaly.metric + " " + anomaly_subject(anomaly) + " " +
         metric_text(anomaly.metric, anomaly.value) + ", expected " + expected;
}

std::vector<CpuRow> cpu_rows(const model::Snapshot& view, const std::string& filter) {
  std::vector<CpuRow> rows;
  if (!view.sched || view.interval_s <= 0) return rows;
  for (const auto& [key, p] : view.sched->processes()) {
    const auto delta = p.total - p.at_interval_start;
    if (delta == model::SchedCounters{}) continue;
    if (!filter.empty() && p.comm.find(filter) == std::string::npos) continue;
    CpuRow row;
    row.key = key;
    row.comm = printable(p.comm);
    row.cpu_share = static_cast<double>(delta.on_cpu_ns) / 1e9 / view.interval_s;
    row.runq_share = static_cast<double>(delta.runq_ns) / 1e9 / view.interval_s;
    row.runq_p99_us = model::quantile_upper_us(delta.runq_hist, 0.99);
    row.voluntary_per_s = model::per_second(delta.voluntary_switches, view.interval_s);
    row.involuntary_per_s = model::per_second(delta.involuntary_switches, view.interval_s);
    row.migrations_per_s = model::per_second(delta.migrations, view.interval_s);
    row.threads = p.top_threads.size();
    rows.push_back(row);
  }
  std::stable_sort(rows.begin(), rows.end(), [](const CpuRow& a, const CpuRow& b) { return a.cpu_share > b.cpu_share; });
  return rows;
}

namespace {

uint64_t bytes_of(const model::IoCounters& c, model::IoKind kind) { return c.of(kind).bytes; }

}  // namespace

std::vector<IoRow> io_rows(const model::Snapshot& view, const std::string& filter) {
  std::vector<IoRow> rows;
  if (!view.block_io || view.interval_s <= 0) return rows;
  for (const auto& [key, p] : view.block_io->processes()) {
    const auto delta = p.total - p.at_interval_start;
    if (model::ops_of(delta) == 0) continue;
    if (!filter.empty() && p.comm.find(filter) == std::string::npos) continue;
    IoRow row;
    row.key = key;
    row.comm = printable(p.comm);
    row.kernel_thread = p.kernel_thread;
    row.read_rate = model::per_second(bytes_of(delta, model::IoKind::kRead), view.interval_s);
    row.write_rate = model::per_second(bytes_of(delta, model::IoKind::kWrite), view.interval_s);
    row.ops_per_s = model::per_second(model::ops_of(delta), view.interval_s);
    row.device_p99_us = model::quantile_upper_us(delta.device_hist, 0.99);
    rows.push_back(row);
  }
  std::stable_sort(rows.begin(), rows.end(), [](const IoRow& a, const IoRow& b) {
    return a.read_rate + a.write_rate > b.read_rate + b.write_rate;
  });
  return rows;
}

std::vector<SyscallRow> syscall_rows(const model::Snapshot& view, const std::string& filter) {
  std::vector<SyscallRow> rows;
  if (!view.syscalls || view.interval_s <= 0) return rows;
  for (const auto& [key, p] : view.syscalls->processes()) {
    const model::SyscallStats delta = p.interval_total();
    if (delta.calls == 0) continue;
    if (!filter.empty() && p.comm.find(filter) == std::string::npos) continue;
    SyscallRow row;
    row.key = key;
    row.comm = printable(p.comm);
    row.calls_per_s = model::per_second(delta.calls, view.interval_s);
    row.errors_per_s = model::per_second(delta.errors, view.interval_s);
    row.time_share = static_cast<double>(delta.total_ns) / 1e9 / view.interval_s;
    row.p99_us = model::quantile_upper_us(delta.hist, 0.99);
    uint64_t busiest_ns = 0;
    for (const auto& [nr, stats] : p.by_nr) {
      auto before = p.at_interval_start.find(nr);
      const uint64_t ns = stats.total_ns - (before == p.at_interval_start.end() ? 0 : before->second.total_ns);
      if (ns > busiest_ns) {
        busiest_ns = ns;
        row.busiest = model::syscall_name(nr);
      }
    }
    row.busiest_share = delta.total_ns ? static_cast<double>(busiest_ns) / static_cast<double>(delta.total_ns) : 0;
    rows.push_back(row);
  }
  std::stable_sort(rows.begin(), rows.end(),
                   [](const SyscallRow& a, const SyscallRow& b) { return a.time_share > b.time_share; });
  return rows;
}

std::vector<DiskRow> disk_rows(const model::Snapshot& view) {
  std::vector<DiskRow> rows;
  if (!view.block_io || view.interval_s <= 0) return rows;
  for (const auto& [key, d] : view.block_io->devices()) {
    const auto delta = d.total - d.at_interval_start;
    if (model::ops_of(delta) == 0) continue;
    rows.push_back({printable(d.name), model::per_second(bytes_of(delta, model::IoKind::kRead), view.interval_s),
                    model::per_second(bytes_of(delta, model::IoKind::kWrite), view.interval_s),
                    model::per_second(model::ops_of(delta), view.interval_s), model::quantile_upper_us(delta.queue_hist, 0.99),
                    model::quantile_upper_us(delta.device_hist, 0.99)});
  }
  return rows;
}

std::vector<ProcessRow> process_rows(const model::Snapshot& view, SortKey sort, const std::string& filter) {
  std::set<model::ProcessKey> anomalous;
  if (view.anomalies)
    for (const auto& anomaly : *view.anomalies)
      if (anomaly.names_process() && within_mark(anomaly, view.ts)) anomalous.insert(anomaly.process);
  std::map<model::ProcessKey, ProcessRow> rows;
  if (!view.processes) return {};
  for (const auto& [key, p] : view.processes->processes()) {
    auto delta = p.total - p.at_interval_start;
    if (delta.tx_bytes + delta.rx_bytes == 0 && p.exited) continue;
    if (!filter.empty() && p.comm.find(filter) == std::string::npos) continue;
    ProcessRow row;
    row.key = key;
    row.comm = printable(p.comm);
    if (view.identities) {
      auto id = view.identities->find(key);
      if (id != view.identities->end()) row.user = id->second.user;
    }
    if (row.user.empty()) row.user = "?";
    row.tx_rate = view.interval_s > 0 ? static_cast<double>(delta.tx_bytes) / view.interval_s : 0;
    row.rx_rate = view.interval_s > 0 ? static_cast<double>(delta.rx_bytes) / view.interval_s : 0;
    row.tx_bytes = p.total.tx_bytes;
    row.rx_bytes = p.total.rx_bytes;
    row.exited = p.exited;
    row.recent_anomaly = anomalous.count(key) > 0;
    rows[key] = row;
  }
  if (view.flows) {
    for (const auto& [key, flow] : view.flows->flows()) {
      auto row = rows.find(key.process);
      if (row == rows.end()) continue;
      ++row->second.flows;
      row->second.retransmits += flow.retransmits;
      if (key.protocol == 6 && flow.srtt_us)
        row->second.srtt_us = std::max(row->second.srtt_us.value_or(0), flow.srtt_us);
    }
  }
  std::vector<ProcessRow> out;
  for (auto& [key, row] : rows) out.push_back(std::move(row));
  auto by = [sort](const ProcessRow& r) -> double {
    switch (sort) {
      case SortKey::kTxRate: return r.tx_rate;
      case SortKey::kRxRate: return r.rx_rate;
      case SortKey::kTotal: return static_cast<double>(r.tx_bytes + r.rx_bytes);
      case SortKey::kPid: return -static_cast<double>(r.key.tgid);
      case SortKey::kRetransmits: return static_cast<double>(r.retransmits);
    }
    return 0;
  };
  std::stable_sort(out.begin(), out.end(), [&](const ProcessRow& a, const ProcessRow& b) {
    if (by(a) != by(b)) return by(a) > by(b);
    return a.key < b.key;
  });
  return out;
}

std::vector<DeviceRate> device_rates(const model::Snapshot& view) {
  std::vector<DeviceRate> out;
  if (!view.devices) return out;
  std::map<model::DeviceKey, const model::DeviceStats*> before;
  if (view.previous_devices)
    for (const auto& d : *view.previous_devices) before[d.key] = &d;
  for (const auto& d : *view.devices) {
    DeviceRate rate{d.key, d.ifname, 0, 0, d.drops};
    auto it = before.find(d.key);
    if (it != before.end() && view.interval_s > 0) {
      rate.tx_rate = static_cast<double>(d.counters.tx_bytes - it->second->counters.tx_bytes) / view.interval_s;
      rate.rx_rate = static_cast<double>(d.counters.rx_bytes - it->second->counters.rx_bytes) / view.interval_s;
    }
    out.push_back(rate);
  }
  return out;
}

std::vector<ProgramCost> program_costs(const model::Snapshot& view) {
  std::vector<ProgramCost> out;
  if (!view.programs) return out;
  std::map<std::string, const model::ProgramStats*> before;
  if (view.previous_programs)
    for (const auto& p : *view.previous_programs) before[p.name] = &p;
  for (const auto& p : *view.programs) {
    ProgramCost cost{p.name, 0, 0, p.recursion_misses};
    auto it = before.find(p.name);
    if (it != before.end() && view.interval_s > 0) {
      uint64_t runs = p.run_count - it->second->run_count;
      cost.events_per_s = static_cast<double>(runs) / view.interval_s;
      if (runs) cost.ns_per_event = static_cast<double>(p.run_time_ns - it->second->run_time_ns) / runs;
    }
    out.push_back(cost);
  }
  return out;
}

std::string render_batch(const model::Snapshot& view, SortKey sort, const std::string& filter) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof(line), "neutracer top  ts=%.3f  interval=%.2fs  sort=%s\n", view.ts, view.interval_s,
                sort_name(sort));
  out += line;
  if (view.processes) {
    std::snprintf(line, sizeof(line), "%8s %-8s %-16s %10s %10s %9s %9s %5s %7s %8s\n", "PID", "USER", "COMMAND",
                  "TX/s", "RX/s", "TX", "RX", "FLOWS", "RETRANS", "RTT_US");
    out += line;
    for (const auto& r : process_rows(view, sort, filter)) {
      std::string rtt = r.srtt_us ? std::to_string(*r.srtt_us) : "-";
      // The marker goes last, so that the columns before it keep their places for scripts.
      std::snprintf(line, sizeof(line), "%8u %-8.8s %-16.16s %10s %10s %9s %9s %5u %7llu %8s%s\n", r.key.tgid,
                    r.user.c_str(), r.comm.c_str(), human_rate(r.tx_rate).c_str(), human_rate(r.rx_rate).c_str(),
                    human_size(r.tx_bytes).c_str(), human_size(r.rx_bytes).c_str(), r.flows,
                    static_cast<unsigned long long>(r.retransmits), rtt.c_str(), r.recent_anomaly ? " !" : "");
      out += line;
    }
  }
  // The other collectors' tables follow, each after a line naming it.
  if (view.sched) {
    out += "cpu\n";
    std::snprintf(line, sizeof(line), "%8s %-16s %6s %6s %9s %8s %8s %8s\n", "PID", "COMMAND", "CPU%", "RUNQ%",
                  "RUNQ_P99", "VCSW/s", "ICSW/s", "MIGR/s");
    out += line;
    for (const auto& r : cpu_rows(view, filter)) {
      std::snprintf(line, sizeof(line), "%8u %-16.16s %6.1f %6.1f %9s %8.0f %8.0f %8.0f\n", r.key.tgid, r.comm.c_str(),
                    r.cpu_share * 100, r.runq_share * 100, human_duration_us(r.runq_p99_us).c_str(), r.voluntary_per_s,
                    r.involuntary_per_s, r.migrations_per_s);
      out += line;
    }
  }
  if (view.syscalls) {
    out += "syscalls\n";
    std::snprintf(line, sizeof(line), "%8s %-16s %6s %10s %9s %9s  %s\n", "PID", "COMMAND", "SYS%", "CALLS/s",
                  "ERRORS/s", "P99", "BUSIEST");
    out += line;
    for (const auto& r : syscall_rows(view, filter)) {
      std::snprintf(line, sizeof(line), "%8u %-16.16s %6.1f %10.0f %9.0f %9s  %s %.0f%%\n", r.key.tgid,
                    r.comm.c_str(), r.time_share * 100, r.calls_per_s, r.errors_per_s,
                    human_duration_us(r.p99_us).c_str(), r.busiest.c_str(), r.busiest_share * 100);
      out += line;
    }
  }
  if (view.block_io) {
    out += "io\n";
    std::snprintf(line, sizeof(line), "%8s %-16s %10s %10s %8s %9s\n", "PID", "COMMAND", "READ/s", "WRITE/s", "OPS/s",
                  "DEV_P99");
    out += line;
    for (const auto& r : io_rows(view, filter)) {
      std::string comm = r.kernel_thread ? "[" + r.comm + "]" : r.comm;
      std::snprintf(line, sizeof(line), "%8u %-16.16s %10s %10s %8.0f %9s\n", r.key.tgid, comm.c_str(),
                    human_rate(r.read_rate).c_str(), human_rate(r.write_rate).c_str(), r.ops_per_s,
                    human_duration_us(r.device_p99_us).c_str());
      out += line;
    }
    std::snprintf(line, sizeof(line), "%-16s %10s %10s %8s %9s %9s\n", "DEVICE", "READ/s", "WRITE/s", "OPS/s",
                  "QUEUE_P99", "DEV_P99");
    out += line;
    for (const auto& d : disk_rows(view)) {
      std::snprintf(line, sizeof(line), "%-16.16s %10s %10s %8.0f %9s %9s\n", d.name.c_str(),
                    human_rate(d.read_rate).c_str(), human_rate(d.write_rate).c_str(), d.ops_per_s,
                    human_duration_us(d.queue_p99_us).c_str(), human_duration_us(d.device_p99_us).c_str());
      out += line;
    }
  }
  if (view.anomalies) {
    const auto& anomalies = *view.anomalies;
    for (size_t i = anomalies.size() - std::min(view.new_anomalies, anomalies.size()); i < anomalies.size(); ++i)
      out += "anomaly: " + describe_anomaly(anomalies[i]) + "\n";
  }
  return out;
}

}  // namespace nt::output
