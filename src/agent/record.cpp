#include "agent/record.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/vfs.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <fstream>
#include <map>
#include <deque>
#include <functional>
#include <optional>
#include <set>

#include "agent/held_child.h"
#include "anomaly/watch.h"
#include "bpf_runtime/kernel_env.h"
#include "collectors/devices/rtnl_devices.h"
#include "collectors/identity/proc_identity.h"
#include "collectors/net/net_collector.h"
#include "common/clock.h"
#include "output/json_lines.h"
#include "output/live_view.h"
#include "output/top_screen.h"
#include "output/webhook.h"
#include "output/prometheus_metrics.h"
#include "output/series_cap.h"
#include "output/table.h"

namespace nt::agent {
namespace {

// Blocks the signals the loop waits for; the previous mask is what a started command gets.
class BlockedSignals {
 public:
  BlockedSignals() {
    sigemptyset(&waited_);
    for (int sig : {SIGINT, SIGTERM, SIGCHLD}) sigaddset(&waited_, sig);
    sigprocmask(SIG_BLOCK, &waited_, &previous_);
  }
  ~BlockedSignals() { sigprocmask(SIG_SETMASK, &previous_, nullptr); }
  const sigset_t& waited() const { return waited_; }
  const sigset_t& previous() const { return previous_; }

 private:
  sigset_t waited_{};
  sigset_t previous_{};
};

// Waits for one of the blocked signals or until `deadline_ns` (monotonic); 0 on timeout.
int wait_signal_until(const sigset_t& set, uint64_t deadline_ns) {
  uint64_t now = monotonic_ns();
  uint64_t wait = deadline_ns > now ? deadline_ns - now : 0;
  timespec timeout{static_cast<time_t>(wait / 1'000'000'000ull), static_cast<long>(wait % 1'000'000'000ull)};
  int sig = sigtimedwait(&set, nullptr, &timeout);
  return sig > 0 ? sig : 0;
}

// What `top` keeps of an anomaly record (docs/json-schema.md).
output::RecentAnomaly recent_anomaly(const nlohmann::ordered_json& record) {
  output::RecentAnomaly anomaly;
  anomaly.ts = record.value("ts", 0.0);
  anomaly.kind = record.value("kind", "");
  if (anomaly.names_process()) {
    anomaly.process = {record.value("pid", 0u), record.value("netns", 0u), record.value("start_time", uint64_t{0})};
    anomaly.comm = record.value("comm", "");
    if (record.contains("flow") && record["flow"].is_string()) anomaly.subject = record["flow"].get<std::string>();
  } else {
    anomaly.subject = record.value("ifname", "");
  }
  anomaly.metric = record.value("metric", "");
  anomaly.detector = record.value("detector", "");
  anomaly.value = record.value("value", 0.0);
  anomaly.expected_low = record.value("expected_low", 0.0);
  anomaly.expected_high = record.value("expected_high", 0.0);
  return anomaly;
}

// Writes what each interval found; keeps the model between intervals.
class Recorder {
 public:
  static constexpr size_t kRecentConns = 200;
  Recorder(collectors::NetCollector& collector, output::JsonLinesSink& sink, const RecordOptions& options,
           uint32_t netns, std::shared_ptr<output::MetricsExporter> metrics, output::Webhook* webhook)
      : collector_(collector),
        webhook_(webhook),
        sink_(sink),
        options_(options),
        netns_(netns),
        metrics_(std::move(metrics)),
        series_cap_(options.metrics_top),
        watch_(watch_options(options)) {}

  static anomaly::WatchOptions watch_options(const RecordOptions& options) {
    anomaly::WatchOptions watch;
    watch.warmup_intervals = options.detect_warmup;
    return watch;
  }
  bool detecting() const { return options_.detect && !options_.trace; }

  // A connection opened or closed: its record, and the owner's connection counters.
  void on_conn(const model::ConnEvent& event, double wall_offset_s) {
    // A socket stamped only by cgroup hooks gave its owner's start time from /proc, in ticks.
    const uint64_t tick_ns = 1'000'000'000ull / static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
    auto& counters = table_.entry(event.owner, event.comm, tick_ns).connections;
    if (event.open) {
      ++counters.opened;
    } else {
      ++counters.closed;
      counters.retransmits += event.retransmits;
    }
    if (write_status_) write_status_ = write_watched(output::conn_record(event, wall_offset_s));
    recent_conns_.push_back(event);
    if (recent_conns_.size() > kRecentConns) recent_conns_.pop_front();
  }
  // Called at the end of every interval (top's screen or batch table).
  void observe(std::function<void(const output::LiveView&)> observer) { observer_ = std::move(observer); }
  const Status& write_status() const { return write_status_; }

  Status emit_interval() {
    collector_.drain(table_, flows_, static_cast<uint64_t>(options_.flow_idle_s * 1e9));
    uint64_t now = monotonic_ns();
    double ts = unix_seconds();
    double interval_s = static_cast<double>(now - interval_start_ns_) / 1e9;
    size_t new_anomalies = 0;
    if (!options_.trace) {
      for (const auto& [key, process] : table_.processes()) {
        // A process's last record says it exited: the detectors forget it rather than see it stall.
        bool newly_exited = process.exited && exit_reported_.insert(key).second;
        if (process.total == process.at_interval_start && !newly_exited) continue;
        auto record = output::process_record(process, ts, interval_s);
        if (newly_exited) record["exited"] = true;
        if (auto ok = write_watched(record); !ok) return ok;
      }
      std::set<std::string> changed_jobs;
      if (auto ok = identify_new_processes(ts, changed_jobs); !ok) return ok;
      for (const auto& [key, flow] : flows_.flows()) {
        if (flow.total == flow.at_interval_start && !flow.retired) continue;
        const std::string comm = comm_of(key.process);
        const model::FlowShown shown = model::shown(flow, interval_s);
        feed_watch([&] { return std::optional(anomaly::observe_flow(flow, shown, comm)); });
        line_.clear();
        output::flow_line(line_, flow, shown, comm, ts);
        if (auto ok = sink_.write_line(line_); !ok) return ok;
      }
      for (const auto& name : jobs_.add_interval(flows_)) changed_jobs.insert(name);
      for (const auto& name : changed_jobs)
        if (auto ok = sink_.write(output::job_record(jobs_.jobs().at(name), ts)); !ok) return ok;
      if (auto ok = emit_devices(ts); !ok) return ok;
      for (const auto& unseen : collector_.unseen_bytes())
        if (auto ok = sink_.write(output::unseen_record(unseen, ts)); !ok) return ok;
      if (auto ok = sink_.write(output::loss_record(losses(), ts)); !ok) return ok;
      if (detecting()) {
        const uint64_t closing = monotonic_ns();
        auto raised = watch_.close_interval(ts);
        watch_ns_ += monotonic_ns() - closing;
        for (const auto& anomaly : raised) {
          if (auto ok = sink_.write(anomaly); !ok) return ok;
          if (webhook_) webhook_->post(anomaly);
          recent_anomalies_.push_back(recent_anomaly(anomaly));
          if (recent_anomalies_.size() > kRecentAnomalies) recent_anomalies_.pop_front();
          ++new_anomalies;
        }
      }
    }
    report_ring_drops();
    auto programs = collector_.program_stats();
    auto losses_now = losses();
    publish_metrics(losses_now, programs);
    if (observer_) {
      double cpu = output::self_cpu_seconds();
      output::LiveView view{ts, interval_s, &table_, &flows_, &identified_, &devices_last_, &devices_before_,
                            &recent_conns_, &losses_now, &programs, &programs_before_,
                            interval_s > 0 ? (cpu - cpu_before_) / interval_s : 0, output::self_rss_bytes(),
                            detecting() ? &recent_anomalies_ : nullptr, new_anomalies};
      observer_(view);
      cpu_before_ = cpu;
    }
    programs_before_ = std::move(programs);
    devices_before_ = devices_last_;
    flows_.start_interval();
    table_.start_interval();
    interval_start_ns_ = now;
    return sink_.flush();
  }

  Status emit_summary(double duration_s, std::optional<int> exit_status) {
    auto record = output::summary_record(table_, losses(), collector_.program_stats(), unix_seconds(), duration_s,
                                         exit_status);
    record["features"] = output::features_json(collector_.features());
    if (options_.trace) record["ringbuf_dropped_per_cpu"] = collector_.per_cpu_loss(model::LossReason::kRingbufFull);
    if (detecting()) {
      record["anomalies"] = watch_.raised_by_detector();
      record["anomaly_series"] = watch_.series();
      record["anomaly_series_peak"] = watch_.peak_series();
      record["anomaly_watch_seconds"] = static_cast<double>(watch_ns_) / 1e9;  // the detectors' own time
      record["anomaly_series_not_watched"] = watch_.series_not_watched();
    }
    if (webhook_) {
      auto counts = webhook_->counts();
      record["webhook"] = {{"delivered", counts.delivered}, {"failed_attempts", counts.failed_attempts},
                           {"dropped", counts.dropped}};
    }
    nlohmann::ordered_json unseen = nlohmann::ordered_json::array();
    for (const auto& u : collector_.unseen_bytes()) unseen.push_back(output::unseen_record(u, 0));
    record["unattributed"] = unseen;
    nlohmann::ordered_json jobs = nlohmann::ordered_json::array();
    for (const auto& [name, job] : jobs_.jobs()) jobs.push_back(output::job_record(job, 0));
    record["jobs"] = jobs;
    if (auto ok = sink_.write(record); !ok) return ok;
    return sink_.flush();
  }

  const model::ProcessTable& table() const { return table_; }

 private:
  // Who each process is, read from /proc once, while it still runs; jobs form from the ranks.
  Status identify_new_processes(double ts, std::set<std::string>& changed_jobs) {
    for (const auto& [key, process] : table_.processes()) {
      if (!identified_.try_emplace(key).second || !collectors::process_alive(key)) continue;
      auto identity = collectors::read_identity(key.tgid);
      if (!identity) continue;  // exited meanwhile
      identified_[key] = identity.value();
      if (auto ok = sink_.write(output::process_info_record(key, process.comm, identity.value(), ts)); !ok) return ok;
      if (jobs_.add_member(key, identity.value())) changed_jobs.insert(identity.value().job);
    }
    return {};
  }

  std::string comm_of(const model::ProcessKey& key) const {
    auto it = table_.processes().find(key);
    return it == table_.processes().end() ? "" : it->second.comm;
  }

  model::LossCounters losses() const {
    auto losses = collector_.losses();
    losses[static_cast<size_t>(model::LossReason::kDeviceReadFailed)] = device_read_failures_;
    return losses;
  }

  Status emit_devices(double ts) {
    std::map<model::DeviceKey, std::string> names;
    devices_last_ = devices_.read(netns_, device_read_failures_);
    for (const auto& device : devices_last_) {
      names[device.key] = device.ifname;
      if (auto ok = write_watched(output::device_record(device, ts)); !ok) return ok;
    }
    for (auto device : collector_.packet_device_counters()) {
      device.ifname = names[device.key];
      if (auto ok = sink_.write(output::device_packets_record(device, ts)); !ok) return ok;
    }
    for (const auto& owner : collector_.packet_owner_counters())
      if (auto ok = sink_.write(output::packet_owner_record(owner, names[owner.device], ts)); !ok) return ok;
    return {};
  }

  // The per-process series go through the cardinality cap; everything is rendered once here.
  void publish_metrics(const model::LossCounters& losses_now, const std::vector<bpf::ProgramStats>& programs) {
    if (!metrics_) return;
    const auto features = collector_.features();  // read afresh: one can be dropped after the start
    std::vector<output::SeriesCap::Input> inputs;
    for (const auto& [key, process] : table_.processes()) {
      auto delta = process.total - process.at_interval_start;
      const auto& identity = identified_[key];
      inputs.push_back({key, {process.comm, identity.container_id, identity.job}, output::process_counters(process),
                        delta.tx_bytes + delta.rx_bytes, process.exited});
    }
    series_cap_.update(inputs);
    metrics_->publish(output::render_metrics({&series_cap_, &devices_last_, &losses_now, &programs,
                                              output::self_cpu_seconds(), output::self_rss_bytes(),
                                              options_.metrics_top,
                                              detecting() ? &watch_.raised_by_detector() : nullptr,
                                              watch_.series(), &features}));
  }

  // Process, device and connection records also feed the detectors (and only they do, so
  // that `neutracer replay` of the file sees what they saw).
  Status write_watched(const nlohmann::ordered_json& record) {
    feed_watch([&] { return anomaly::observe(record); });
    return sink_.write(record);
  }

  // What a record says goes to the detectors, and the time it took to what detection costs.
  template <class Observe>
  void feed_watch(Observe observe) {
    if (!detecting()) return;
    const uint64_t adding = monotonic_ns();
    if (std::optional<anomaly::Observation> observation = observe()) watch_.add(std::move(*observation));
    watch_ns_ += monotonic_ns() - adding;
  }

  // trace: drops are said on stderr as they happen, not only in the summary.
  void report_ring_drops() {
    auto all = collector_.losses();
    uint64_t dropped = all[static_cast<size_t>(model::LossReason::kRingbufFull)] +
                       all[static_cast<size_t>(model::LossReason::kPacketRingbufFull)];
    if (dropped > reported_drops_)
      std::fprintf(stderr, "neutracer: %llu events dropped so far (ring buffer full; try a larger --ringbuf-kb)\n",
                   static_cast<unsigned long long>(dropped));
    reported_drops_ = dropped;
  }

  collectors::NetCollector& collector_;
  output::Webhook* webhook_;  // null without --webhook
  output::JsonLinesSink& sink_;
  const RecordOptions& options_;
  uint32_t netns_;
  collectors::RtnlDevices devices_;
  model::ProcessTable table_;
  model::FlowTable flows_;
  model::JobTable jobs_;
  std::map<model::ProcessKey, model::ProcessIdentity> identified_;  // empty when it could not be read
  std::shared_ptr<output::MetricsExporter> metrics_;
  output::SeriesCap series_cap_;
  std::vector<model::DeviceStats> devices_last_;
  // For what `top` shows: rates need the previous interval, and the last connections.
  std::function<void(const output::LiveView&)> observer_;
  std::vector<model::DeviceStats> devices_before_;
  std::vector<bpf::ProgramStats> programs_before_;
  std::deque<model::ConnEvent> recent_conns_;
  anomaly::Watch watch_;
  static constexpr size_t kRecentAnomalies = 50;  // what `top` lists and marks rows by
  std::deque<output::RecentAnomaly> recent_anomalies_;
  std::set<model::ProcessKey> exit_reported_;
  double cpu_before_ = output::self_cpu_seconds();
  uint64_t interval_start_ns_ = monotonic_ns();
  uint64_t watch_ns_ = 0;  // spent in the anomaly watch: what detection costs the agent
  std::string line_;       // a flow's record, reused: its buffer grows once
  uint64_t device_read_failures_ = 0;
  uint64_t reported_drops_ = 0;
  Status write_status_;
};

// One line on stderr for each feature the kernel refused (said once, at start).
void report_missing_features(const std::vector<bpf::FeatureState>& features) {
  for (const auto& f : features)
    if (!f.available)
      std::fprintf(stderr, "neutracer: %s unavailable (needs %s; %s); running without it\n", f.name.c_str(),
                   f.needs.c_str(), f.reason.c_str());
}

}  // namespace

Result<pid_t> resolve_tgid(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (status && std::getline(status, line)) {
    if (line.rfind("Tgid:", 0) == 0) return static_cast<pid_t>(std::stol(line.substr(5)));
  }
  return Error{"no process with pid " + std::to_string(pid)};
}

Result<UniqueFd> resolve_cgroup(const std::string& path) {
  std::string full = path;
  if (access(full.c_str(), F_OK) != 0) {
    auto root = bpf::find_cgroup2_mount();
    if (!root) return root.error();
    full = root.value() + "/" + path;
  }
  UniqueFd fd(open(full.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!fd.valid()) return errno_error("cannot open cgroup " + path, errno);
  struct statfs fs{};
  if (fstatfs(fd.get(), &fs) != 0 || fs.f_type != CGROUP2_SUPER_MAGIC)
    return Error{"not a cgroup v2 directory: " + path};
  return fd;
}

Result<uint32_t> resolve_netns(const std::string& path_or_id) {
  if (!path_or_id.empty() && std::all_of(path_or_id.begin(), path_or_id.end(), ::isdigit)) {
    unsigned long id = std::stoul(path_or_id);
    if (id == 0 || id > UINT32_MAX) return Error{"not a network namespace id: " + path_or_id};
    return static_cast<uint32_t>(id);
  }
  struct stat st{};
  struct statfs fs{};
  if (stat(path_or_id.c_str(), &st) != 0) return errno_error("cannot open network namespace " + path_or_id, errno);
  if (statfs(path_or_id.c_str(), &fs) != 0 || fs.f_type != NSFS_MAGIC)
    return Error{"not a namespace file: " + path_or_id + " (give /run/netns/NAME, /proc/PID/ns/net or an id)"};
  return static_cast<uint32_t>(st.st_ino);
}

Result<int> run_record(const RecordOptions& options) {
  auto sink = options.serve || (options.top && options.output.empty()) ? output::JsonLinesSink::discard()
                                                                      : output::JsonLinesSink::open(options.output);
  if (!sink) return sink.error();
  std::vector<pid_t> tgids;
  for (pid_t pid : options.filter.pids) {
    auto tgid = resolve_tgid(pid);
    if (!tgid) return tgid.error();
    tgids.push_back(tgid.value());
  }
  collectors::NetConfig config;
  UniqueFd cgroup;
  if (!options.filter.cgroup.empty()) {
    auto fd = resolve_cgroup(options.filter.cgroup);
    if (!fd) return fd.error();
    cgroup = std::move(fd).value();
    config.filter.cgroup_fd = cgroup.get();
  }
  if (!options.filter.netns.empty()) {
    auto netns = resolve_netns(options.filter.netns);
    if (!netns) return netns.error();
    config.filter.netns = netns.value();
  }
  if (options.filter.comm.size() >= 16) return Error{"-c: a process name has at most 15 bytes: " + options.filter.comm};
  config.filter.comm = options.filter.comm;
  config.filter.by_tgid = !tgids.empty() || !options.command.empty();
  config.filter.follow_children = options.filter.children || !options.command.empty();
  config.max_flows = options.max_flows;
  config.packets = options.packets;
  if (options.trace) {
    config.ringbuf_bytes = options.ringbuf_kb * 1024;
    if (options.packets) config.packet_ringbuf_bytes = options.ringbuf_kb * 1024;
  }

  // Before any thread starts (the metrics server's): threads inherit the mask, and a thread that
  // did not block SIGINT would take it with the default action.
  static const std::map<std::string, output::SortKey> kSortKeys = {
      {"tx", output::SortKey::kTxRate}, {"rx", output::SortKey::kRxRate}, {"total", output::SortKey::kTotal},
      {"pid", output::SortKey::kPid}, {"retrans", output::SortKey::kRetransmits}};
  auto sort = kSortKeys.find(options.sort);
  if (sort == kSortKeys.end()) return Error{"--sort: one of tx, rx, total, pid, retrans: " + options.sort};

  BlockedSignals signals;
  std::shared_ptr<output::MetricsExporter> metrics;
  if (!options.metrics.empty()) {
    auto started = output::MetricsExporter::start(options.metrics);
    if (!started) return started.error();
    metrics = std::move(started).value();
  }

  std::unique_ptr<output::Webhook> webhook;
  if (!options.webhook.empty()) {
    auto started = output::Webhook::start(options.webhook);
    if (!started) return started.error();
    webhook = std::move(started).value();
  }

  auto collector = collectors::NetCollector::start(config);
  if (!collector) return collector.error();
  for (pid_t tgid : tgids)
    if (auto ok = collector.value()->trace_tgid(tgid); !ok) return ok.error();

  // Per-program run time is counted only while someone holds this (or kernel.bpf_stats_enabled is set).
  UniqueFd bpf_stats;
  if (options.bpf_stats || options.top) {
    bpf_stats.reset(bpf_enable_stats(BPF_STATS_RUN_TIME));
    if (!bpf_stats.valid()) return errno_error("enabling BPF run-time statistics", errno);
  }

  auto& out = sink.value();
  Recorder recorder(*collector.value(), out, options, config.filter.netns, metrics, webhook.get());
  std::unique_ptr<output::TopScreen> screen;
  if (options.top && options.batch) {
    recorder.observe([sort = sort->second](const output::LiveView& view) {
      std::fputs(output::render_batch(view, sort, "").c_str(), stdout);
      std::fflush(stdout);
    });
  } else if (options.top) {
    auto opened = output::TopScreen::open();
    if (!opened) return opened.error();
    screen = std::move(opened).value();
    recorder.observe([&screen](const output::LiveView& view) { screen->update(view); });
  }
  // Monotonic event times become wall time with one offset taken now.
  const double wall_offset_s = unix_seconds() - static_cast<double>(monotonic_ns()) / 1e9;
  Status write_status;
  if (auto ok = collector.value()->on_events(
          [&](const model::SocketEvent& e) {
            if (write_status) write_status = out.write(output::socket_event_record(e, wall_offset_s));
          },
          [&](const model::PacketEvent& e) {
            if (write_status) write_status = out.write(output::packet_event_record(e, wall_offset_s));
          },
          [&](const model::ConnEvent& e) { recorder.on_conn(e, wall_offset_s); });
      !ok)
    return ok.error();
  if (auto ok = collector.value()->announce_preexisting(); !ok) return ok.error();
  report_missing_features(collector.value()->features());  // after the last feature that can drop out

  std::optional<HeldChild> child;
  if (!options.command.empty()) {
    auto spawned = HeldChild::spawn(options.command, signals.previous());
    if (!spawned) return spawned.error();
    child.emplace(std::move(spawned).value());
    if (auto ok = collector.value()->trace_tgid(child->pid()); !ok) return ok.error();
    if (auto ok = child->release(); !ok) return Error{ok.error().message + ": " + options.command[0]};
  }

  const uint64_t start_ns = monotonic_ns();
  const uint64_t interval_ns = uint64_t{options.interval_ms} * 1'000'000ull;
  const uint64_t end_ns =
      options.duration_s > 0 ? start_ns + static_cast<uint64_t>(options.duration_s * 1e9) : UINT64_MAX;
  auto start = output::start_record({unix_seconds(), options.interval_ms, options.trace ? "trace" : "record"});
  start["features"] = output::features_json(collector.value()->features());
  if (options.detect && !options.trace) start["detect"] = {{"warmup_intervals", options.detect_warmup}};
  if (metrics) {
    start["metrics"] = "http://" + metrics->address() + "/metrics";
    if (options.serve) std::fprintf(stderr, "neutracer: serving %s\n", start["metrics"].get<std::string>().c_str());
  }
  if (auto ok = out.write(start); !ok) return ok.error();
  if (auto ok = out.flush(); !ok) return ok.error();

  std::optional<int> exit_status;
  uint64_t next_tick_ns = start_ns + interval_ns;
  bool stopping = false;
  constexpr uint64_t kEventPollNs = 50'000'000;  // the ring buffers are read at least this often
  while (!stopping) {
    uint64_t now = monotonic_ns();
    uint64_t deadline = std::min(next_tick_ns, end_ns);
    uint64_t slice = std::min(deadline > now ? deadline - now : 0, kEventPollNs);
    if (auto ok = collector.value()->poll_events(static_cast<int>(slice / 1'000'000)); !ok) return ok.error();
    if (!write_status) return write_status.error();
    if (!recorder.write_status()) return recorder.write_status().error();
    if (screen && !screen->handle_keys()) stopping = true;
    int sig = wait_signal_until(signals.waited(), 0);  // what arrived meanwhile (they are blocked)
    if (sig == SIGINT || sig == SIGTERM) {
      if (child && !child->poll_exit())
        child->forward(sig);  // the command decides; we stop when it exits
      else
        stopping = true;
    }
    if (child && (exit_status = child->poll_exit())) stopping = true;
    now = monotonic_ns();
    if (now >= end_ns) stopping = true;
    if (now >= next_tick_ns && !stopping) {
      if (auto ok = recorder.emit_interval(); !ok) return ok.error();
      while (next_tick_ns <= now) next_tick_ns += interval_ns;
    }
  }
  if (auto ok = collector.value()->poll_events(0); !ok) return ok.error();  // what is left in the rings
  if (!write_status) return write_status.error();
  if (auto ok = recorder.emit_interval(); !ok) return ok.error();
  double duration_s = static_cast<double>(monotonic_ns() - start_ns) / 1e9;
  webhook.reset();  // what is still queued gets one more try before the summary counts it
  if (auto ok = recorder.emit_summary(duration_s, exit_status); !ok) return ok.error();
  if (options.table) std::fputs(output::render_process_table(recorder.table()).c_str(), stderr);
  return exit_status.value_or(0);
}

}  // namespace nt::agent
