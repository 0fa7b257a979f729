#include "detect/watch.h"

#include <algorithm>
#include <deque>
#include <optional>

namespace nt::anomaly {
namespace {

using Json = nlohmann::ordered_json;

// Alerts below these are noise, not incidents: a retransmit or two per interval (loopback under
// load has them), a sub-millisecond RTT, a few connections a second, and anything short of twice
// the top of the expected range (paced traffic has ranges a few percent wide).
constexpr double kMinRetransmitsPerInterval = 3;
constexpr double kMinInflatedRttUs = 1000;
constexpr double kMinStormOpensPerS = 20;
constexpr double kMinFactorOverExpected = 2;
constexpr double kMinRetransmittedShare = 0.002;  // of the flow's bytes in the interval
constexpr double kFullSegmentBytes = 1448;

std::string endpoint(const std::string& addr, uint64_t port) {
  return (addr.find(':') != std::string::npos ? "[" + addr + "]" : addr) + ":" + std::to_string(port);
}

// Loopback addresses repeat in every namespace: there they name an end only with the namespace.
bool loopback_address(const std::string& addr) {
  return addr.rfind("127.", 0) == 0 || addr == "::1" || addr.rfind("::ffff:127.", 0) == 0;
}

std::string qualified_end(const std::string& addr, uint64_t port, uint64_t netns) {
  return (loopback_address(addr) ? std::to_string(netns) + " " : std::string()) + endpoint(addr, port);
}

std::string owner_key(uint64_t pid, uint64_t start_time, uint64_t netns) {
  return std::to_string(pid) + " " + std::to_string(start_time) + " " + std::to_string(netns);
}

// A flow's names and numbers, read from its record or from the model alike.
void observe_flow_fields(Observation& o, const std::string& proto, const std::string& saddr, uint64_t sport,
                         const std::string& daddr, uint64_t dport) {
  o.flow = proto + " " + endpoint(saddr, sport) + " > " + endpoint(daddr, dport);
  o.key = "flow " + owner_key(o.pid, o.start_time, o.netns) + " " + o.flow;
  o.local = qualified_end(saddr, sport, o.netns);
  o.remote = qualified_end(daddr, dport, o.netns);
  o.on_host = loopback_address(daddr) || saddr == daddr;
}

// Segments the receiver reported twice (DSACK) were not lost: reordering or an early timer
// resent them. Only the rest say the path drops.
double lost_retransmits(double retransmits, double spurious) { return std::max(0.0, retransmits - spurious); }

double sent_segments(double tx_bytes, double tx_calls) { return std::max(tx_bytes / kFullSegmentBytes, tx_calls); }

// What an upward alert means on each metric; downward changes to zero are stalls (a rule below),
// other downward changes are not reported (a job winding down is not an incident).
const char* upward_detector(const std::string& kind, const std::string& metric) {
  if (metric == "conn_opens") return "connection_storm";
  if (metric == "retransmits") return "retransmit_spike";
  if (metric == "srtt_us") return "rtt_inflation";
  if (metric == "runq_wait_us") return "runq_latency";
  if (metric == "io_latency_us" || metric == "queue_latency_us") return "io_latency";
  if (metric == "syscall_errors") return "error_burst";
  if (metric == "syscall_latency_us") return "syscall_latency";
  if (metric == "rss_bytes") return "memory_growth";
  if (kind == "flow") return "large_transfer";
  return "burst";
}

bool is_rate(const std::string& metric) {
  return metric == "tx_rate" || metric == "rx_rate" || metric == "rate";
}

bool is_traffic(const std::string& metric) { return is_rate(metric) || metric == "calls"; }

}  // namespace

struct Watch::Series {
  struct Metric {
    explicit Metric(const detect::Config& config) : detector(config) {}
    detect::Detector detector;
    detect::Verdict last_nonzero{};
    int zero_run = 0;
    bool steady = false;     // calibrated, and its expected range stays above zero
    bool storming = false;   // the absolute storm rule is in an episode
    bool losing = false;     // the loss rule is in an episode
    bool episode_reported = false;  // the detector's current episode has been reported
    bool traffic_seen = false;      // a traffic series has moved since it was created
  };
  std::string kind;
  std::string domain;         // net, cpu, io, syscalls or memory: which records feed it
  std::string owner;          // the key of the process's series (a process's own; a flow's owner's)
  std::string local, remote;  // flows: their ends
  model::Anomaly subject;  // what its anomalies name
  std::map<std::string, Metric> metrics;
  std::map<std::string, double> cumulative;  // last counters, for per-interval rates
  std::map<std::string, double> values;      // this interval's points
  std::deque<std::pair<double, double>> loss_window;  // flows: (retransmitted, sent) segments per interval
  double sending = 0;                                 // flows: bytes/s this end sent in the interval
  bool seen = false;
  bool ending = false;  // exited or closed: forgotten after this interval
  int absent = 0;
};

detect::Config detector_config(const WatchOptions& options) {
  detect::Config config;
  config.transform = detect::Transform::log;
  config.warmup_points = options.warmup_intervals;
  config.clear_points = 10;
  config.quarantine_points = 10;
  // The defaults' slower baseline scores higher on NAB but is slower to confirm a level shift (a
  // 4-sigma step within 5 points: 6 of 20 seeds against 15 of 20 at this rate); a burst on a
  // live host should be named while it happens. Variance changes are not reported here.
  config.level_rate = config.spread_rate = 0.015;
  config.detect_spread_changes = false;
  config.detect_stalls = false;  // a stall here is a rule of its own (Watch::stall_confirmed)
  return config;
}

Watch::Watch(const WatchOptions& options) : options_(options), detector_config_(detector_config(options)) {}
Watch::~Watch() = default;

size_t Watch::series() const { return series_.size(); }

model::Anomaly Observation::subject() const {
  model::Anomaly a;
  a.kind = type == "conn" || type == "sched" || type == "syscalls" || type == "memory" ? "process" : type;
  a.process.netns = static_cast<uint32_t>(netns);
  if (type == "device" || type == "disk") {
    a.subject = ifname;  // a disk's name is kept there too
    return a;
  }
  a.process.tgid = static_cast<uint32_t>(pid);
  a.process.start_ns = start_time;
  a.comm = comm;
  if (type == "flow") a.subject = flow;
  return a;
}

std::optional<Observation> observe(const Json& record) {
  Observation o;
  o.type = record.value("type", "");
  if (o.type != "process" && o.type != "conn" && o.type != "flow" && o.type != "device" && o.type != "sched" &&
      o.type != "disk" && o.type != "syscalls" && o.type != "memory")
    return std::nullopt;
  o.netns = record.value("netns", uint64_t{0});
  if (o.type == "disk") {
    o.ifname = record.value("device", "");
    o.key = "disk " + o.ifname;
    o.io_latency_us = record.value("device_wait_us_mean", -1.0);
    o.queue_latency_us = record.value("queue_wait_us_mean", -1.0);
    return o;
  }
  if (o.type == "device") {
    o.ifname = record.value("ifname", "");
    o.key = "device " + std::to_string(o.netns) + " " + o.ifname;
    o.tx_bytes = record.value("tx_bytes", 0.0);
    o.rx_bytes = record.value("rx_bytes", 0.0);
    return o;
  }
  o.pid = record.value("pid", uint64_t{0});
  o.start_time = record.value("start_time", uint64_t{0});
  o.comm = record.value("comm", "");
  if (o.type == "sched") {
    o.key = "cpu process " + owner_key(o.pid, o.start_time, o.netns);
    o.cpu_share = record.value("on_cpu_share", 0.0);
    o.runq_wait_us = record.value("runq_wait_us_mean", -1.0);
    o.ending = record.value("exited", false);
  } else if (o.type == "syscalls") {
    o.key = "syscalls process " + owner_key(o.pid, o.start_time, o.netns);
    o.syscall_calls = record.value("calls", 0.0);
    o.syscall_errors = record.value("errors", 0.0);
    o.syscall_time_ms = record.value("time_ms", 0.0);
    o.ending = record.value("exited", false);
  } else if (o.type == "memory") {
    o.key = "memory process " + owner_key(o.pid, o.start_time, o.netns);
    o.rss_bytes = record.value("rss_bytes", -1.0);
    o.ending = record.value("exited", false);
  } else if (o.type == "flow") {
    const std::string proto = record.value("proto", "");
    observe_flow_fields(o, proto, record.value("saddr", ""), record.value("sport", uint64_t{0}),
                        record.value("daddr", ""), record.value("dport", uint64_t{0}));
    o.tx_rate = record.value("tx_rate", 0.0);
    o.rx_rate = record.value("rx_rate", 0.0);
    if (proto == "tcp" && record.contains("srtt_us") && record["srtt_us"].is_number())
      o.srtt_us = record["srtt_us"].get<double>();
    o.retransmits = lost_retransmits(record.value("retrans", 0.0), record.value("spurious_retrans", 0.0));
    o.sent_segments = sent_segments(record.value("tx_bytes", 0.0), record.value("tx_calls", 0.0));
    o.ending = record.value("closed", false);
  } else {
    o.key = "process " + owner_key(o.pid, o.start_time, o.netns);
    o.tx_rate = record.value("tx_rate", 0.0);
    o.rx_rate = record.value("rx_rate", 0.0);
    o.calls = record.value("tx_calls", 0.0) + record.value("rx_calls", 0.0);
    o.ending = record.value("exited", false);
    o.open = o.type == "conn" && record.value("event", "") == "open";
  }
  return o;
}

Observation observe_flow(const model::FlowTraffic& flow, const model::FlowShown& shown, const std::string& comm) {
  const auto& k = flow.key;
  Observation o;
  o.type = "flow";
  o.netns = k.process.netns;
  o.pid = k.process.tgid;
  o.start_time = k.process.start_ns;
  o.comm = comm;
  observe_flow_fields(o, shown.proto, shown.saddr, k.local.port, shown.daddr, k.remote.port);
  o.tx_rate = shown.tx_rate;
  o.rx_rate = shown.rx_rate;
  if (shown.proto == "tcp") o.srtt_us = flow.srtt_us;
  o.retransmits = lost_retransmits(flow.retransmits, flow.spurious_retransmits);
  o.sent_segments = sent_segments(static_cast<double>(flow.total.tx_bytes), static_cast<double>(flow.total.tx_calls));
  o.ending = flow.retired;
  return o;
}

namespace {

Observation process_observation(const char* type, const model::ProcessKey& key, const std::string& comm) {
  Observation o;
  o.type = type;
  o.netns = key.netns;
  o.pid = key.tgid;
  o.start_time = key.start_ns;
  o.comm = comm;
  // A process has a series per domain: traffic (process and conn records), cpu, syscalls, memory.
  std::string prefix;
  if (o.type == "sched") prefix = "cpu ";
  if (o.type == "syscalls" || o.type == "memory") prefix = o.type + " ";
  o.key = prefix + "process " + owner_key(o.pid, o.start_time, o.netns);
  return o;
}

}  // namespace

Observation observe_process(const model::ProcessTraffic& process, double interval_s, bool exited) {
  Observation o = process_observation("process", process.key, process.comm);
  const auto delta = process.total - process.at_interval_start;
  o.tx_rate = model::per_second(delta.tx_bytes, interval_s);
  o.rx_rate = model::per_second(delta.rx_bytes, interval_s);
  o.calls = static_cast<double>(process.total.tx_calls) + static_cast<double>(process.total.rx_calls);
  o.ending = exited;
  return o;
}

Observation observe_conn(const model::ConnEvent& event) {
  Observation o = process_observation("conn", event.owner, event.comm);
  o.open = event.open;
  return o;
}

Observation observe_device(const model::DeviceStats& device) {
  Observation o;
  o.type = "device";
  o.netns = device.key.netns;
  o.ifname = device.ifname;
  o.key = "device " + std::to_string(o.netns) + " " + o.ifname;
  o.tx_bytes = static_cast<double>(device.counters.tx_bytes);
  o.rx_bytes = static_cast<double>(device.counters.rx_bytes);
  return o;
}

Observation observe_sched(const model::ProcessSched& process, double interval_s) {
  Observation o = process_observation("sched", process.key, process.comm);
  const auto delta = process.total - process.at_interval_start;
  o.cpu_share = interval_s > 0 ? static_cast<double>(delta.on_cpu_ns) / 1e9 / interval_s : 0.0;
  uint64_t waits = 0;
  for (auto n : delta.runq_hist) waits += n;
  if (waits) o.runq_wait_us = static_cast<double>(delta.runq_ns) / 1e3 / static_cast<double>(waits);
  o.ending = process.exited;
  return o;
}

Observation observe_syscalls(const model::ProcessSyscalls& process) {
  Observation o = process_observation("syscalls", process.key, process.comm);
  const auto total = process.total();
  o.syscall_calls = static_cast<double>(total.calls);
  o.syscall_errors = static_cast<double>(total.errors);
  o.syscall_time_ms = static_cast<double>(total.total_ns) / 1e6;
  o.ending = process.exited;
  return o;
}

Observation observe_memory(const model::ProcessMemory& process) {
  Observation o = process_observation("memory", process.key, process.comm);
  if (process.rss_known) o.rss_bytes = static_cast<double>(model::resident_bytes(process.rss));
  o.ending = process.exited;
  return o;
}

Observation observe_disk(const model::DeviceIo& disk) {
  Observation o;
  o.type = "disk";
  o.ifname = disk.name;
  o.key = "disk " + o.ifname;
  const auto delta = disk.total - disk.at_interval_start;
  if (const uint64_t ops = model::ops_of(delta)) {
    o.queue_latency_us = static_cast<double>(delta.queue_ns) / 1e3 / static_cast<double>(ops);
    o.io_latency_us = static_cast<double>(delta.device_ns) / 1e3 / static_cast<double>(ops);
  }
  return o;
}

void Watch::add(Observation observation) { pending_.push_back(std::move(observation)); }

Watch::Series* Watch::series_for(const Observation& o) {
  auto it = series_.find(o.key);
  if (it != series_.end()) return it->second.get();
  const bool flow = o.type == "flow";
  if (flow ? flow_series_ >= options_.max_flow_series : series_.size() - flow_series_ >= options_.max_series) {
    ++not_watched_;
    return nullptr;
  }
  auto series = std::make_unique<Series>();
  series->subject = o.subject();
  series->kind = series->subject.kind;
  series->domain = o.type == "sched"                             ? "cpu"
                   : o.type == "disk"                            ? "io"
                   : o.type == "syscalls" || o.type == "memory" ? o.type
                                                                 : "net";
  if (flow) {
    series->owner = "process " + owner_key(o.pid, o.start_time, o.netns);
    series->local = o.local;
    series->remote = o.remote;
  } else {
    series->owner = o.key;
  }
  flow_series_ += flow;
  return series_.emplace(o.key, std::move(series)).first->second.get();
}

std::vector<model::Anomaly> Watch::close_interval(double ts) {
  ++interval_;
  const double interval_s = last_ts_ > 0 ? ts - last_ts_ : 0;
  interval_s_ = interval_s;
  last_ts_ = ts;
  for (auto& [key, series] : series_) {
    series->seen = false;
    series->values.clear();
    series->sending = 0;
  }
  // Counters since the previous interval, per second (never below zero: a retransmit found
  // spurious later is taken back); nothing on a series' first interval.
  auto rate_of = [&](Series& s, const std::string& name, double cumulative) -> std::optional<double> {
    auto previous = s.cumulative.find(name);
    std::optional<double> rate;
    if (previous != s.cumulative.end() && interval_s > 0)
      rate = std::max(0.0, (cumulative - previous->second) / interval_s);
    s.cumulative[name] = cumulative;
    return rate;
  };
  std::map<std::string, double> opens;
  for (const auto& o : pending_) {
    Series* s = series_for(o);
    if (!s) continue;
    if (o.type == "conn") {
      if (o.open) opens[o.key] += 1;
      continue;
    }
    s->seen = true;
    if (o.ending) s->ending = true;
    if (o.type == "process") {
      s->values["tx_rate"] = o.tx_rate;
      s->values["rx_rate"] = o.rx_rate;
      if (auto calls = rate_of(*s, "calls", o.calls)) s->values["calls"] = *calls;
    } else if (o.type == "sched") {
      s->values["on_cpu_share"] = o.cpu_share;
      if (o.runq_wait_us >= 0) s->values["runq_wait_us"] = o.runq_wait_us;
    } else if (o.type == "syscalls") {
      auto calls = rate_of(*s, "syscall_calls", o.syscall_calls);
      auto ms = rate_of(*s, "syscall_time_ms", o.syscall_time_ms);
      if (auto errors = rate_of(*s, "syscall_errors", o.syscall_errors)) s->values["syscall_errors"] = *errors;
      if (calls && ms && *calls > 0) s->values["syscall_latency_us"] = *ms * 1000 / *calls;
    } else if (o.type == "memory") {
      if (o.rss_bytes >= 0) s->values["rss_bytes"] = o.rss_bytes;
    } else if (o.type == "disk") {
      if (o.io_latency_us >= 0) s->values["io_latency_us"] = o.io_latency_us;
      if (o.queue_latency_us >= 0) s->values["queue_latency_us"] = o.queue_latency_us;
    } else if (o.type == "flow") {
      s->values["rate"] = o.tx_rate + o.rx_rate;
      s->sending = o.tx_rate;
      // A flow within the host crosses no network: its RTT is how soon the peer process gets a CPU
      // (the CPU collector's run-queue wait says that directly), and a busy host moves it by ms.
      if (o.srtt_us >= 0 && !o.on_host) s->values["srtt_us"] = o.srtt_us;
      auto retransmits = rate_of(*s, "retransmits", o.retransmits);
      auto sent = rate_of(*s, "sent_segments", o.sent_segments);
      if (retransmits) {
        s->values["retransmits"] = *retransmits;
        s->loss_window.emplace_back(*retransmits * interval_s, sent.value_or(0) * interval_s);
        if (s->loss_window.size() > static_cast<size_t>(options_.loss_window)) s->loss_window.pop_front();
      }
    } else {
      if (auto tx = rate_of(*s, "tx_rate", o.tx_bytes)) s->values["tx_rate"] = *tx;
      if (auto rx = rate_of(*s, "rx_rate", o.rx_bytes)) s->values["rx_rate"] = *rx;
    }
  }
  pending_.clear();
  peak_series_ = std::max(peak_series_, series_.size());  // before this interval's leavers go

  flows_by_ends_.clear();
  flows_of_process_.clear();
  for (const auto& [key, s] : series_) {
    if (s->kind != "flow") continue;
    flows_by_ends_[{s->local, s->remote}] = s.get();
    flows_of_process_[s->owner].push_back(s.get());
  }
  std::vector<model::Anomaly> out;
  for (auto it = series_.begin(); it != series_.end();) {
    Series& s = *it->second;
    if (s.kind == "process" && s.domain == "net") {
      if (!s.seen && s.cumulative.count("calls")) {  // records are written only when something moved
        s.values.try_emplace("tx_rate", 0.0);
        s.values.try_emplace("rx_rate", 0.0);
        s.values.try_emplace("calls", 0.0);
      }
      if (interval_s > 0) s.values["conn_opens"] = opens[it->first] / interval_s;
    } else if (s.kind == "flow" && !s.seen) {
      s.values["rate"] = 0.0;
      if (s.cumulative.count("retransmits")) s.values["retransmits"] = 0.0;
    }
    for (const auto& [metric, value] : s.values) point(s, metric, value, ts, out);
    s.absent = s.seen ? 0 : s.absent + 1;
    if (s.ending || s.absent >= options_.retire_after) {
      flow_series_ -= s.kind == "flow";
      it = series_.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& anomaly : out) ++raised_[anomaly.detector];
  return out;
}

void Watch::point(Series& series, const std::string& metric, double value, double ts,
                  std::vector<model::Anomaly>& out) {
  auto& m = series.metrics.try_emplace(metric, detector_config_).first->second;
  // A rate's warm-up counts from its first traffic: a series idle until a job starts has no
  // baseline to burst out of.
  if (is_traffic(metric) && value == 0 && !m.traffic_seen) return;
  m.traffic_seen = true;
  const auto verdict = m.detector.update(interval_, value);
  auto report = [&](const char* detector, const detect::Verdict& range, double score) {
    model::Anomaly anomaly = series.subject;
    anomaly.ts = ts;
    anomaly.metric = metric;
    anomaly.value = value;
    anomaly.expected_low = range.expected_low;
    anomaly.expected_high = range.expected_high;
    anomaly.score = score;
    anomaly.detector = detector;
    out.push_back(std::move(anomaly));
  };

  if (value == 0) {
    ++m.zero_run;
    if (is_rate(metric) && m.steady && m.zero_run == options_.stall_intervals && !series.ending &&
        stall_confirmed(series))
      report("stall", m.last_nonzero, 1.0);
  } else {
    m.zero_run = 0;
    m.last_nonzero = verdict;
    m.steady = verdict.calibrated && verdict.expected_low > 0;
  }

  // One report per episode, at its first point that passes the floors below (an episode may start
  // small: one retransmit, then a dozen).
  if (verdict.alert == detect::AlertState::raised) m.episode_reported = false;
  bool in_episode = verdict.alert == detect::AlertState::raised || verdict.alert == detect::AlertState::ongoing;
  bool upward = verdict.finding == detect::Finding::spike_high || verdict.finding == detect::Finding::level_up ||
                verdict.finding == detect::Finding::new_high || verdict.finding == detect::Finding::jump_up;
  bool raised = in_episode && upward && value > 0 && !m.episode_reported;
  if (metric == "retransmits") {
    // Retransmitted segments (full-sized, at most) as a share of what the flow moved.
    double moved = series.values.count("rate") ? series.values.at("rate") * interval_s_ : 0;
    if (value * interval_s_ < kMinRetransmitsPerInterval ||
        value * interval_s_ * kFullSegmentBytes < kMinRetransmittedShare * moved)
      raised = false;
  } else if (value < kMinFactorOverExpected * verdict.expected_high) {
    raised = false;
  }
  if (metric == "srtt_us" && value < kMinInflatedRttUs) raised = false;
  if (metric == "conn_opens" && value < kMinStormOpensPerS) raised = false;
  if (metric == "conn_opens") {
    // A storm is a storm from a process's first interval on: an absolute rule beside the detector,
    // one report per episode (it ends when the rate falls below half the threshold).
    bool storm = value >= options_.storm_opens_per_s;
    if (storm && !m.storming && !raised) report("connection_storm", verdict, 1.0);
    if (storm) m.storming = true;
    if (value < options_.storm_opens_per_s / 2) m.storming = false;
  }
  if (metric == "retransmits") {
    // Sustained loss is judged by its share of the segments sent, an absolute measure: a flow
    // that always lost 1% is losing, whatever its history. One report per episode (it ends when
    // the share falls below half the threshold).
    // The detector's own report of a jump opens the same episode.
    bool loss = losing(series);
    if (loss && !m.losing && !raised) {
      report("retransmit_spike", verdict, 1.0);
      m.episode_reported = true;
    }
    m.losing = loss || raised || (m.losing && losing_share(series) >= options_.loss_share / 2);
  }
  if (raised) {
    m.episode_reported = true;
    report(upward_detector(series.kind, metric), verdict, verdict.score);
  }
}

double Watch::losing_share(const Series& series) const {
  double retransmitted = 0, sent = 0;
  for (const auto& [r, s] : series.loss_window) {
    retransmitted += r;
    sent += s;
  }
  return sent > 0 ? retransmitted / sent : 0;
}

bool Watch::losing(const Series& series) const {
  double retransmitted = 0;
  for (const auto& entry : series.loss_window) retransmitted += entry.first;
  return retransmitted >= options_.loss_min_segments && losing_share(series) >= options_.loss_share;
}

// A series that went quiet is stalled when an end it talks to still sends to it (a job that
// stopped as a whole, or ended and is exiting, sends nothing). Data stuck in retransmission on
// either end is a stall in any case, and so is a quiet process whose peers are unknown. A quiet
// interface is not a stall: it is what a finished job leaves behind.
bool Watch::stall_confirmed(const Series& series) const {
  if (series.kind == "device" || series.kind == "disk") return false;
  auto has = [](const Series* s, const char* metric) {
    auto value = s->values.find(metric);
    return value != s->values.end() && value->second > 0;
  };
  std::vector<const Series*> flows;
  if (series.kind == "flow") {
    flows.push_back(&series);
  } else if (auto own = flows_of_process_.find(series.owner); own != flows_of_process_.end()) {
    flows = own->second;
  }
  bool any_peer = false;
  for (const Series* flow : flows) {
    if (has(flow, "retransmits")) return true;
    auto peer = flows_by_ends_.find({flow->remote, flow->local});
    if (peer == flows_by_ends_.end()) continue;
    any_peer = true;
    // The other end still sends to this one: what it sends does not arrive, or is not answered.
    // (Its traffic the other way, e.g. our own last words in a job's teardown, proves nothing.)
    if (peer->second->sending > 0 || has(peer->second, "retransmits")) return true;
  }
  return !any_peer;
}

}  // namespace nt::anomaly
