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
#include <sstream>

#include "agent/held_child.h"
#include "detect/rhythm.h"
#include "detect/watch.h"
#include "bpf_runtime/kernel_env.h"
#include "collectors/devices/rtnl_devices.h"
#include "collectors/identity/proc_identity.h"
#include "collectors/collector.h"
#include "collectors/net/net_collector.h"
#include "collectors/probes/probe_collector.h"
#include "collectors/process_filter.h"
#include "common/clock.h"
#include "common/token_file.h"
#include "model/process_counters.h"
#include "output/json_lines.h"
#include "output/live_view.h"
#include "output/top_screen.h"
#include "http/webhook.h"
#include "http/metrics_exporter.h"
#include "output/prometheus_metrics.h"
#include "output/block_io_records.h"
#include "output/memory_records.h"
#include "output/probe_records.h"
#include "output/syscall_records.h"
#include "output/sched_records.h"
#include "output/series_cap.h"
#include "output/table.h"
#include "output/timeline_writer.h"
#include "ship/batch_builder.h"
#include "ship/uplink.h"

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

// What the recorder reads: the shared filter and every running collector (the network one, when
// it runs, also by its own type for what only it has: connections, devices, packets).
struct Sources {
  const collectors::ProcessFilter& filter;
  std::vector<collectors::Collector*> collectors;
  collectors::NetCollector* net = nullptr;
  bool runs(const std::string& name) const {
    return std::any_of(collectors.begin(), collectors.end(), [&](auto* c) { return c->name() == name; });
  }
};

// Writes what each interval found; keeps the model between intervals.
class Recorder {
 public:
  static constexpr size_t kRecentConns = 200;
  Recorder(Sources sources, output::JsonLinesSink& sink, const RecordOptions& options, uint32_t netns,
           std::shared_ptr<http::MetricsExporter> metrics, http::Webhook* webhook, output::TimelineWriter* timeline)
      : sources_(std::move(sources)),
        webhook_(webhook),
        timeline_(timeline),
        sink_(sink),
        options_(options),
        netns_(netns),
        metrics_(std::move(metrics)),
        series_cap_(options.metrics_top),
        watch_(watch_options(options)),
        host_name_(host_name(options)) {}

  // What a job on a loopback rendezvous is qualified with: the name the server knows this host by
  // (--host-id, else /etc/machine-id), else the hostname.
  static std::string host_name(const RecordOptions& options) {
    if (auto host = ship::local_host_identity(options.host_id, {})) return host.value().machine_id;
    char name[256] = {};
    gethostname(name, sizeof(name) - 1);
    return name;
  }

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
    auto& counters = tables_.processes.entry(event.owner, event.comm, tick_ns).connections;
    if (event.open) {
      ++counters.opened;
    } else {
      ++counters.closed;
      counters.retransmits += event.retransmits;
    }
    feed_watch([&] { return anomaly::observe_conn(event); });
    if (timeline_) {
      if (auto slice = model::connection_slice(event)) tables_.timeline.add(std::move(*slice));
      if (auto trouble = model::tcp_trouble(event)) tables_.timeline.add(std::move(*trouble));
    }
    if (write_status_) write_status_ = sink_.write(output::conn_record(event, wall_offset_s));
    if (uplink_ && !event.open) {
      if (closed_conns_.size() < kClosedConnsPerBatch)
        closed_conns_.push_back(event);
      else
        ++closed_conns_dropped_;
    }
    recent_conns_.push_back(event);
    if (recent_conns_.size() > kRecentConns) recent_conns_.pop_front();
  }
  // Called at the end of every interval (top's screen or batch table).
  void observe(std::function<void(const model::Snapshot&)> observer) { observer_ = std::move(observer); }
  // Every interval also goes to the server, as one batch.
  void ship_to(ship::Uplink* uplink, ship::HostIdentity host) {
    uplink_ = uplink;
    builder_.emplace(std::move(host));
  }
  const Status& write_status() const { return write_status_; }

  Status emit_interval() {
    for (auto* collector : sources_.collectors) collector->drain(tables_);
    uint64_t now = monotonic_ns();
    double ts = unix_seconds();
    double interval_s = static_cast<double>(now - interval_start_ns_) / 1e9;
    size_t new_anomalies = 0;
    if (!options_.trace) {
      for (const auto& [key, process] : tables_.processes.processes()) {
        // A process's last record says it exited: the detectors forget it rather than see it stall.
        bool newly_exited = process.exited && exit_reported_.insert(key).second;
        if (process.total == process.at_interval_start && !newly_exited) continue;
        auto record = output::process_record(process, ts, interval_s);
        if (newly_exited) record["exited"] = true;
        feed_watch([&] { return anomaly::observe_process(process, interval_s, newly_exited); });
        if (auto ok = sink_.write(record); !ok) return ok;
      }
      std::set<std::string> changed_jobs;
      if (auto ok = identify_new_processes(ts, changed_jobs); !ok) return ok;
      for (const auto& [key, flow] : tables_.flows.flows()) {
        if (flow.total == flow.at_interval_start && !flow.retired) continue;
        const std::string comm = comm_of(key.process);
        const model::FlowShown shown = model::shown(flow, interval_s);
        feed_watch([&] { return anomaly::observe_flow(flow, shown, comm); });
        line_.clear();
        output::flow_line(line_, flow, shown, comm, ts);
        if (auto ok = sink_.write_line(line_); !ok) return ok;
      }
      for (const auto& name : jobs_.add_interval(tables_.flows)) changed_jobs.insert(name);
      follow_rhythms(changed_jobs);
      for (const auto& [key, process] : tables_.probes.processes())  // a rank's NCCL calls moved
        if (auto identity = identified_.find(key);
            identity != identified_.end() && jobs_.jobs().count(identity->second.job) && !process.collectives.empty() &&
            output::cuda_record_due(process, tables_.probes))
          changed_jobs.insert(identity->second.job);
      for (const auto& name : changed_jobs)
        if (auto ok = sink_.write(job_record(jobs_.jobs().at(name), ts)); !ok) return ok;
      if (sources_.net) {
        if (auto ok = emit_devices(ts); !ok) return ok;
        for (const auto& unseen : sources_.net->unseen_bytes())
          if (auto ok = sink_.write(output::unseen_record(unseen, ts)); !ok) return ok;
      }
      for (const auto& [key, process] : tables_.sched.processes()) {
        if (!output::sched_record_due(process)) continue;
        feed_watch([&] { return anomaly::observe_sched(process, interval_s); });
        if (auto ok = sink_.write(output::sched_record(process, ts, interval_s)); !ok) return ok;
      }
      for (const auto& [key, process] : tables_.block_io.processes())
        if (output::io_record_due(process))
          if (auto ok = sink_.write(output::io_record(process, ts)); !ok) return ok;
      if (sources_.runs("syscalls")) {
        for (const auto& [key, process] : tables_.syscalls.processes()) {
          if (!output::syscall_record_due(process)) continue;
          feed_watch([&] { return anomaly::observe_syscalls(process); });
          if (auto ok = sink_.write(output::syscall_record(process, ts)); !ok) return ok;
        }
        const double to_unix = unix_seconds() - static_cast<double>(monotonic_ns()) / 1e9;
        for (const auto& call : tables_.syscalls.slow_calls())
          if (auto ok = sink_.write(output::slow_syscall_record(call, to_unix)); !ok) return ok;
      }
      if (sources_.runs("memory")) {
        for (const auto& [key, process] : tables_.memory.processes()) {
          if (!output::memory_record_due(process)) continue;
          feed_watch([&] { return anomaly::observe_memory(process); });
          if (auto ok = sink_.write(output::memory_record(process, ts)); !ok) return ok;
        }
        const double to_unix = unix_seconds() - static_cast<double>(monotonic_ns()) / 1e9;
        for (const auto& kill : tables_.memory.oom_kills())
          if (auto ok = sink_.write(output::oom_record(kill, to_unix)); !ok) return ok;
        for (const auto& [cgroup, pressure] : tables_.memory.pressure())
          if (auto ok = sink_.write(output::pressure_record(cgroup, pressure, ts)); !ok) return ok;
      }
      if (sources_.runs("heap"))
        for (const auto& [key, process] : tables_.heap.processes())
          if (output::heap_record_due(process))
            if (auto ok = sink_.write(output::heap_record(process, tables_.heap, ts)); !ok) return ok;
      if (sources_.runs("probes") || sources_.runs("cuda"))
        for (const auto& [key, process] : tables_.probes.processes()) {
          for (const auto& record : output::probe_records(process, tables_.probes, ts))
            if (auto ok = sink_.write(record); !ok) return ok;
          if (!output::cuda_record_due(process, tables_.probes)) continue;
          auto record = output::cuda_record(process, tables_.probes, ts);
          if (auto identity = identified_.find(key); identity != identified_.end() && !identity->second.job.empty()) {
            record["job"] = identity->second.job;
            if (identity->second.rank) record["rank"] = *identity->second.rank;
          }
          if (auto ok = sink_.write(record); !ok) return ok;
        }
      for (const auto& [device, disk] : tables_.block_io.devices()) {
        if (!output::disk_record_due(disk)) continue;
        feed_watch([&] { return anomaly::observe_disk(disk); });
        if (auto ok = sink_.write(output::disk_record(disk, ts)); !ok) return ok;
      }
      if (auto ok = sink_.write(output::loss_record(losses(), ts)); !ok) return ok;
      if (detecting()) {
        const uint64_t closing = monotonic_ns();
        auto raised = watch_.close_interval(ts);
        watch_ns_ += monotonic_ns() - closing;
        for (const auto& anomaly : raised) {
          const auto record = output::anomaly_record(anomaly);
          if (auto ok = sink_.write(record); !ok) return ok;
          if (webhook_) webhook_->post(record);
          if (timeline_) {
            auto event = model::timeline_event(anomaly, static_cast<double>(monotonic_ns()) / 1e9 - unix_seconds());
            if (event.pid == 0) {  // a device's or a disk's: the host's own track
              tables_.timeline.name_process(0, "host");
              tables_.timeline.name_thread(0, 0, "devices and disks");
            }
            tables_.timeline.add(std::move(event));
          }
          recent_anomalies_.push_back(anomaly);
          if (recent_anomalies_.size() > kRecentAnomalies) recent_anomalies_.pop_front();
          ++new_anomalies;
        }
      }
    }
    report_ring_drops();
    auto programs = program_stats();
    auto losses_now = losses();
    publish_metrics(losses_now, programs);
    if (observer_ || uplink_) {
      double cpu = output::self_cpu_seconds();
      model::Snapshot view;
      view.ts = ts;
      view.monotonic_s = static_cast<double>(now) / 1e9;
      view.interval_s = interval_s;
      view.processes = sources_.net ? &tables_.processes : nullptr;
      view.flows = sources_.net ? &tables_.flows : nullptr;
      view.identities = &identified_;
      view.devices = &devices_last_;
      view.previous_devices = &devices_before_;
      view.recent_conns = &recent_conns_;
      view.closed_conns = &closed_conns_;
      view.jobs = &jobs_;
      view.sched = sources_.runs("cpu") ? &tables_.sched : nullptr;
      view.block_io = sources_.runs("io") ? &tables_.block_io : nullptr;
      view.syscalls = sources_.runs("syscalls") ? &tables_.syscalls : nullptr;
      view.memory = sources_.runs("memory") ? &tables_.memory : nullptr;
      view.losses = &losses_now;
      view.programs = &programs;
      view.previous_programs = &programs_before_;
      view.agent_cpu_share = interval_s > 0 ? (cpu - cpu_before_) / interval_s : 0;
      view.agent_rss_bytes = output::self_rss_bytes();
      view.anomalies = detecting() ? &recent_anomalies_ : nullptr;
      view.new_anomalies = new_anomalies;
      if (observer_) observer_(view);
      if (uplink_) ship(view);
      cpu_before_ = cpu;
    }
    if (timeline_) {
      timeline_->add(tables_.timeline);
      timeline_->set_refused_upstream(tables_.timeline.refused());
    }
    closed_conns_.clear();
    programs_before_ = std::move(programs);
    devices_before_ = devices_last_;
    tables_.start_interval();
    interval_start_ns_ = now;
    return sink_.flush();
  }

  // Writes the timeline file (before the summary, whose losses count what it could not hold).
  Status finish_timeline() {
    if (!timeline_) return {};
    timeline_->add(tables_.timeline);  // what came after the last interval (connections closing)
    timeline_->set_refused_upstream(tables_.timeline.refused());
    timeline_->set_other_data({{"collectors", collector_names()},
                               {"unix_minus_monotonic_s", unix_seconds() - static_cast<double>(monotonic_ns()) / 1e9}});
    if (auto ok = timeline_->finish(); !ok) return ok;
    std::fprintf(stderr, "neutracer: timeline: %llu events in %s, %llu dropped (loss: timeline_full%s)\n",
                 static_cast<unsigned long long>(timeline_->written()), timeline_->path().c_str(),
                 static_cast<unsigned long long>(timeline_->dropped()),
                 timeline_->dropped() ? "; a larger --timeline-max-mb keeps more" : "");
    return {};
  }

  Status emit_summary(double duration_s, std::optional<int> exit_status) {
    auto record = output::summary_record(tables_.processes, losses(), program_stats(), unix_seconds(), duration_s,
                                         exit_status);
    record["collectors"] = collector_names();
    record["features"] = output::features_json(features());
    if (options_.trace && sources_.net)
      record["ringbuf_dropped_per_cpu"] = sources_.net->per_cpu_loss(model::LossReason::kRingbufFull);
    if (detecting()) {
      record["anomalies"] = watch_.raised_by_detector();
      record["anomaly_series"] = watch_.series();
      record["anomaly_series_peak"] = watch_.peak_series();
      record["anomaly_watch_seconds"] = static_cast<double>(watch_ns_) / 1e9;  // the detectors' own time
      record["anomaly_series_not_watched"] = watch_.series_not_watched();
    }
    if (uplink_) {
      auto counts = uplink_->counts();
      record["server"] = {{"batches", counts.batches_submitted},    {"samples", counts.samples_submitted},
                          {"acked", counts.batches_acked},          {"duplicates", counts.duplicates},
                          {"rejected", counts.rejected},            {"batches_dropped", counts.batches_dropped},
                          {"samples_dropped", counts.samples_dropped}, {"connects", counts.connects},
                          {"stream_failures", counts.stream_failures}, {"last_error", counts.last_error}};
    }
    nlohmann::ordered_json totals = nlohmann::ordered_json::array();
    for (const auto& [key, process] : model::process_totals(tables_)) totals.push_back(output::totals_json(process));
    record["totals"] = totals;
    if (webhook_) {
      auto counts = webhook_->counts();
      record["webhook"] = {{"delivered", counts.delivered}, {"failed_attempts", counts.failed_attempts},
                           {"dropped", counts.dropped}};
    }
    nlohmann::ordered_json unseen = nlohmann::ordered_json::array();
    if (sources_.net)
      for (const auto& u : sources_.net->unseen_bytes()) unseen.push_back(output::unseen_record(u, 0));
    record["unattributed"] = unseen;
    nlohmann::ordered_json jobs = nlohmann::ordered_json::array();
    for (const auto& [name, job] : jobs_.jobs()) jobs.push_back(job_record(job, 0));
    record["jobs"] = jobs;
    if (auto ok = sink_.write(record); !ok) return ok;
    return sink_.flush();
  }

  const model::ProcessTable& table() const { return tables_.processes; }

  // Every feature of the run: the filter's, then each collector's.
  std::vector<model::FeatureState> features() const {
    auto all = sources_.filter.features();
    for (const auto* collector : sources_.collectors) {
      auto more = collector->features();
      all.insert(all.end(), more.begin(), more.end());
    }
    return all;
  }

  output::MetricDomains domains() const {
    return {sources_.runs("net"), sources_.runs("cpu"), sources_.runs("io"), sources_.runs("syscalls"),
            sources_.runs("memory")};
  }

  std::vector<std::string> collector_names() const {
    std::vector<std::string> names;
    for (const auto* collector : sources_.collectors) names.push_back(collector->name());
    return names;
  }

 private:
  // Who each process is, read from /proc once, while it still runs; jobs form from the ranks.
  // A job as the network sees it, with each rank's NCCL collectives where --collect cuda saw them.
  nlohmann::ordered_json job_record(const model::Job& job, double ts) const {
    auto record = output::job_record(job, ts);
    for (auto& rank : record["ranks"]) {
      auto process = job.ranks.find(rank["rank"].get<int>());
      if (process == job.ranks.end()) continue;
      auto probed = tables_.probes.processes().find(process->second);
      if (probed != tables_.probes.processes().end() && !probed->second.collectives.empty())
        rank["nccl"] = output::collectives_json(probed->second, tables_.probes);
    }
    return record;
  }

  // The network's processes and the CUDA runtime's (a rank's NCCL calls join its job).
  Status identify_new_processes(double ts, std::set<std::string>& changed_jobs) {
    std::vector<std::pair<model::ProcessKey, const std::string*>> seen;
    for (const auto& [key, process] : tables_.processes.processes()) seen.emplace_back(key, &process.comm);
    for (const auto& [key, process] : tables_.probes.processes())
      if (output::cuda_record_due(process, tables_.probes)) seen.emplace_back(key, &process.comm);
    for (const auto& [key, comm] : seen) {
      if (!identified_.try_emplace(key).second || !collectors::process_alive(key)) continue;
      auto identity = collectors::read_identity(key.tgid);
      if (!identity) continue;  // exited meanwhile
      if (identity.value().job_on_loopback)
        identity.value().job = host_name_ + "/" + std::to_string(key.netns) + "/" + identity.value().job;
      identified_[key] = identity.value();
      if (auto ok = sink_.write(output::process_info_record(key, *comm, identity.value(), ts)); !ok) return ok;
      if (jobs_.add_member(key, identity.value())) changed_jobs.insert(identity.value().job);
    }
    return {};
  }

  // Each rank's send rhythm, read from the kernel's bins and estimated here (detect/rhythm.h).
  // A rank is watched from when it joins its job until it exits.
  void follow_rhythms(std::set<std::string>& changed_jobs) {
    if (!sources_.net) return;
    for (const auto& [name, job] : jobs_.jobs())
      for (const auto& [rank, key] : job.ranks) {
        if (rhythms_.count(key) || !collectors::process_alive(key)) continue;
        if (auto ok = sources_.net->watch_rhythm(key.tgid); !ok) {
          ++rhythm_watch_failures_;  // the kernel's table is full: this rank's step stays unknown
          continue;
        }
        detect::RhythmConfig config;
        config.bin_s = collectors::NetCollector::kRhythmBinS;
        rhythms_.emplace(key, RankRhythm{detect::Rhythm(config), detect::Rhythm(config), 0});
      }
    for (auto it = rhythms_.begin(); it != rhythms_.end();) {
      const auto& key = it->first;
      auto& rhythm = it->second;
      if (!collectors::process_alive(key)) {
        sources_.net->unwatch_rhythm(key.tgid);
        if (auto name = jobs_.set_step(key, std::nullopt); !name.empty()) changed_jobs.insert(name);
        jobs_.set_participation(key, std::nullopt);
        it = rhythms_.erase(it);
        continue;
      }
      for (const auto& bin : sources_.net->read_rhythm(key.tgid, rhythm.read_through)) {
        rhythm.estimator.add(bin.bin, bin.sent);
        rhythm.exchanged.add(bin.bin, bin.sent + bin.received);
      }
      std::optional<model::StepEstimate> step;
      const auto estimate = rhythm.estimator.estimate();
      // The bins are on the monotonic clock; ranks on other hosts compare on the wall clock.
      const double to_unix = unix_seconds() - static_cast<double>(monotonic_ns()) / 1e9;
      constexpr double kBinS = collectors::NetCollector::kRhythmBinS;
      uint64_t first_bin = 0;
      const auto recent = rhythm.exchanged.tail(detect::kParticipationS, first_bin);
      jobs_.set_participation(key, recent.empty() ? std::nullopt
                                                  : std::optional(detect::busy_slots(
                                                        recent, static_cast<double>(first_bin) * kBinS + to_unix, kBinS)));
      if (estimate) {
        step = model::StepEstimate{estimate->period_s, estimate->bytes_per_step, estimate->correlation,
                                   estimate->onset_s + to_unix, estimate->sending_s};
        if (auto active = rhythm.exchanged.span_at(estimate->period_s)) step->active_s = *active;
      }
      if (auto name = jobs_.set_step(key, step); !name.empty() && step) changed_jobs.insert(name);
      ++it;
    }
  }

  std::string comm_of(const model::ProcessKey& key) const {
    auto it = tables_.processes.processes().find(key);
    return it == tables_.processes.processes().end() ? "" : it->second.comm;
  }

  model::LossCounters losses() const {
    model::LossCounters losses{};
    sources_.filter.add_losses(losses);
    for (const auto* collector : sources_.collectors) collector->add_losses(losses);
    losses[static_cast<size_t>(model::LossReason::kDeviceReadFailed)] = device_read_failures_;
    losses[static_cast<size_t>(model::LossReason::kRhythmTableFull)] = rhythm_watch_failures_;
    if (timeline_) losses[static_cast<size_t>(model::LossReason::kTimelineFull)] = timeline_->dropped();
    if (uplink_) {
      auto counts = uplink_->counts();
      losses[static_cast<size_t>(model::LossReason::kServerBatchesDropped)] = counts.batches_dropped;
      losses[static_cast<size_t>(model::LossReason::kServerSamplesDropped)] = counts.samples_dropped;
      losses[static_cast<size_t>(model::LossReason::kServerConnsDropped)] = closed_conns_dropped_;
    }
    return losses;
  }

  // The interval as one batch; after a drop, a full one, so the server's totals heal.
  void ship(const model::Snapshot& view) {
    const auto counts = uplink_->counts();
    const bool full = builder_->batches_built() == 0 || counts.batches_dropped > drops_shipped_;
    drops_shipped_ = counts.batches_dropped;
    auto batch = builder_->build(view, full);
    batch.set_batches_dropped(counts.batches_dropped);
    batch.set_samples_dropped(counts.samples_dropped);
    uplink_->submit(std::move(batch));
  }

  std::vector<model::ProgramStats> program_stats() const {
    auto all = sources_.filter.program_stats();
    for (const auto* collector : sources_.collectors) {
      auto more = collector->program_stats();
      all.insert(all.end(), more.begin(), more.end());
    }
    return all;
  }

  Status emit_devices(double ts) {
    std::map<model::DeviceKey, std::string> names;
    devices_last_ = devices_.read(netns_, device_read_failures_);
    for (const auto& device : devices_last_) {
      names[device.key] = device.ifname;
      feed_watch([&] { return anomaly::observe_device(device); });
      if (auto ok = sink_.write(output::device_record(device, ts)); !ok) return ok;
    }
    for (auto device : sources_.net->packet_device_counters()) {
      device.ifname = names[device.key];
      if (auto ok = sink_.write(output::device_packets_record(device, ts)); !ok) return ok;
    }
    for (const auto& owner : sources_.net->packet_owner_counters())
      if (auto ok = sink_.write(output::packet_owner_record(owner, names[owner.device], ts)); !ok) return ok;
    return {};
  }

  // The per-process series go through the cardinality cap; everything is rendered once here.
  void publish_metrics(const model::LossCounters& losses_now, const std::vector<model::ProgramStats>& programs) {
    if (!metrics_) return;
    const auto features = this->features();  // read afresh: one can be dropped after the start
    std::vector<output::SeriesCap::Input> all;
    for (auto& [key, totals] : model::process_totals(tables_)) {
      const auto& identity = identified_[key];
      all.push_back({key, {totals.comm, identity.container_id, identity.job}, totals.total, totals.interval_activity,
                     totals.exited});
    }
    series_cap_.update(all);
    metrics_->publish(output::render_metrics({&series_cap_, domains(), sources_.net ? &devices_last_ : nullptr, &losses_now, &programs,
                                              output::self_cpu_seconds(), output::self_rss_bytes(),
                                              options_.metrics_top,
                                              detecting() ? &watch_.raised_by_detector() : nullptr,
                                              watch_.series(), &features}));
  }

  // What the model says goes to the detectors, next to each record that says the same (so that
  // `neutracer replay` of the file sees what they saw), and the time it took to what detection costs.
  template <class Observe>
  void feed_watch(Observe observe) {
    if (!detecting()) return;
    const uint64_t adding = monotonic_ns();
    watch_.add(observe());
    watch_ns_ += monotonic_ns() - adding;
  }

  // trace: drops are said on stderr as they happen, not only in the summary.
  void report_ring_drops() {
    auto all = losses();
    uint64_t dropped = all[static_cast<size_t>(model::LossReason::kRingbufFull)] +
                       all[static_cast<size_t>(model::LossReason::kPacketRingbufFull)];
    if (dropped > reported_drops_)
      std::fprintf(stderr, "neutracer: %llu events dropped so far (ring buffer full; try a larger --ringbuf-kb)\n",
                   static_cast<unsigned long long>(dropped));
    reported_drops_ = dropped;
  }

  Sources sources_;
  http::Webhook* webhook_;  // null without --webhook
  output::TimelineWriter* timeline_;  // null without --timeline
  output::JsonLinesSink& sink_;
  const RecordOptions& options_;
  uint32_t netns_;
  collectors::RtnlDevices devices_;
  model::Tables tables_;
  model::JobTable jobs_;
  struct RankRhythm {
    detect::Rhythm estimator;  // what the rank sends: its step
    detect::Rhythm exchanged;  // what it sends and receives: how long in a step it takes part
    uint64_t read_through;  // the last kernel bin read (NetCollector::read_rhythm)
  };
  std::map<model::ProcessKey, RankRhythm> rhythms_;
  uint64_t rhythm_watch_failures_ = 0;
  std::map<model::ProcessKey, model::ProcessIdentity> identified_;  // empty when it could not be read
  std::shared_ptr<http::MetricsExporter> metrics_;
  output::SeriesCap series_cap_;
  std::vector<model::DeviceStats> devices_last_;
  // For what `top` shows: rates need the previous interval, and the last connections.
  std::function<void(const model::Snapshot&)> observer_;
  std::vector<model::DeviceStats> devices_before_;
  std::vector<model::ProgramStats> programs_before_;
  std::deque<model::ConnEvent> recent_conns_;
  anomaly::Watch watch_;
  std::string host_name_;  // qualifies jobs on a loopback rendezvous
  static constexpr size_t kRecentAnomalies = 50;  // what `top` lists and marks rows by
  std::deque<model::Anomaly> recent_anomalies_;
  std::set<model::ProcessKey> exit_reported_;
  double cpu_before_ = output::self_cpu_seconds();
  uint64_t interval_start_ns_ = monotonic_ns();
  uint64_t watch_ns_ = 0;  // spent in the anomaly watch: what detection costs the agent
  std::string line_;       // a flow's record, reused: its buffer grows once
  uint64_t device_read_failures_ = 0;
  uint64_t reported_drops_ = 0;
  Status write_status_;
  ship::Uplink* uplink_ = nullptr;  // null without --server
  std::optional<ship::BatchBuilder> builder_;
  static constexpr size_t kClosedConnsPerBatch = 10000;
  std::vector<model::ConnEvent> closed_conns_;  // this interval's, for the server
  uint64_t closed_conns_dropped_ = 0;
  uint64_t drops_shipped_ = 0;  // batches the uplink had dropped when the last batch was built
};

// One line on stderr for each feature the kernel refused (said once, at start).
void report_missing_features(const std::vector<model::FeatureState>& features) {
  for (const auto& f : features)
    if (!f.available)
      std::fprintf(stderr, "neutracer: %s unavailable (needs %s; %s); running without it\n", f.name.c_str(),
                   f.needs.c_str(), f.reason.c_str());
}

// The collectors of one run. The network collector is kept by its type too: only it streams events.
struct RunningCollectors {
  std::unique_ptr<collectors::NetCollector> net;
  std::vector<std::unique_ptr<collectors::Collector>> others;

  Sources sources(const collectors::ProcessFilter& filter) const {
    Sources s{filter, {}, net.get()};
    if (net) s.collectors.push_back(net.get());
    for (const auto& other : others) s.collectors.push_back(other.get());
    return s;
  }
  // Waits up to timeout_ms for events (only the network collector streams them).
  Status poll_events(int timeout_ms) {
    if (net) return net->poll_events(timeout_ms);
    if (timeout_ms > 0) usleep(static_cast<useconds_t>(timeout_ms) * 1000);
    return {};
  }
};

// Starts the selected collectors. With --collect all, one the kernel refuses is said once on
// stderr and left out; a collector named on its own must start.
Result<RunningCollectors> start_collectors(const std::vector<std::string>& names, bool all,
                                           const collectors::NetConfig& net_config,
                                           const collectors::CollectorContext& context) {
  RunningCollectors running;
  for (const auto& kind : collectors::collector_kinds()) {
    if (std::find(names.begin(), names.end(), kind.name) == names.end()) continue;
    Status started;
    if (kind.name == "net") {
      auto net = collectors::NetCollector::start(net_config, context.filter);
      if (net)
        running.net = std::move(net).value();
      else
        started = net.error();
    } else {
      auto other = kind.start(context);
      if (other)
        running.others.push_back(std::move(other).value());
      else
        started = other.error();
    }
    if (started) continue;
    if (!all) return Error{kind.name + " collector: " + started.error().message};
    std::fprintf(stderr, "neutracer: %s collector unavailable (%s); running without it\n", kind.name.c_str(),
                 started.error().message.c_str());
  }
  if (!running.net && running.others.empty()) return Error{"no collector could start on this kernel"};
  return running;
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
  auto selected = collectors::parse_collect(options.collect);
  if (!selected) return selected.error();
  auto selects = [&](const std::string& name) {
    return std::find(selected.value().begin(), selected.value().end(), name) != selected.value().end();
  };
  if (options.heap && !selects("heap")) selected.value().push_back("heap");
  std::vector<collectors::ProbeRequest> probe_requests;
  for (const auto& spec : options.probes) {
    auto parsed = collectors::parse_probe_spec(spec);
    if (!parsed) return parsed.error();
    probe_requests.insert(probe_requests.end(), parsed.value().begin(), parsed.value().end());
  }
  // --probe's functions go to the cuda collector when it runs (one set of uprobe programs), else to their own.
  if (!probe_requests.empty() && !selects("cuda") && !selects("probes")) selected.value().push_back("probes");
  // The timeline's backbone is each thread's time on and off its CPUs.
  if (!options.timeline.empty() && !selects("cpu")) selected.value().push_back("cpu");
  std::unique_ptr<output::TimelineWriter> timeline;
  if (!options.timeline.empty()) {
    auto opened = output::TimelineWriter::open(options.timeline, static_cast<uint64_t>(options.timeline_max_mb * (1 << 20)));
    if (!opened) return opened.error();
    timeline = std::move(opened).value();
  }
  if (options.trace && !selects("net")) return Error{"trace streams socket events: --collect must include net"};
  collectors::FilterConfig filter_config;
  UniqueFd cgroup;
  if (!options.filter.cgroup.empty()) {
    auto fd = resolve_cgroup(options.filter.cgroup);
    if (!fd) return fd.error();
    cgroup = std::move(fd).value();
    filter_config.cgroup_fd = cgroup.get();
  }
  if (!options.filter.netns.empty()) {
    auto netns = resolve_netns(options.filter.netns);
    if (!netns) return netns.error();
    filter_config.netns = netns.value();
  }
  if (options.filter.comm.size() >= 16) return Error{"-c: a process name has at most 15 bytes: " + options.filter.comm};
  filter_config.comm = options.filter.comm;
  filter_config.by_tgid = !tgids.empty() || !options.command.empty();
  filter_config.follow_children = options.filter.children || !options.command.empty();
  collectors::NetConfig config;
  config.max_flows = options.max_flows;
  config.flow_idle_ns = static_cast<uint64_t>(options.flow_idle_s * 1e9);
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
  std::shared_ptr<http::MetricsExporter> metrics;
  if (!options.metrics.empty()) {
    auto started = http::MetricsExporter::start(options.metrics);
    if (!started) return started.error();
    metrics = std::move(started).value();
  }

  std::unique_ptr<http::Webhook> webhook;
  if (!options.webhook.empty()) {
    auto started = http::Webhook::start(options.webhook);
    if (!started) return started.error();
    webhook = std::move(started).value();
  }

  std::unique_ptr<ship::Uplink> uplink;
  std::optional<ship::HostIdentity> host;
  if (!options.server.empty()) {
    auto identity = ship::local_host_identity(options.host_id, options.labels);
    if (!identity) return identity.error();
    host = identity.value();
    ship::UplinkOptions uplink_options;
    uplink_options.server = options.server;
    uplink_options.buffer_bytes = options.server_buffer_bytes;
    if (!options.token_file.empty()) {
      auto token = read_token_file(options.token_file);
      if (!token) return Error{"--token-file: " + token.error().message};
      uplink_options.token = token.value();
    }
    if (!options.tls_ca.empty()) {
      std::ifstream ca(options.tls_ca);
      std::stringstream pem;
      pem << ca.rdbuf();
      if (!ca || pem.str().empty()) return Error{"--tls-ca: cannot read " + options.tls_ca};
      uplink_options.tls_ca_pem = pem.str();
    }
    auto started = ship::Uplink::start(std::move(uplink_options));
    if (!started) return started.error();
    uplink = std::move(started).value();
  }

  if (auto ready = bpf::check_bpf_prerequisites(); !ready) return ready.error();
  auto filter = collectors::ProcessFilter::start(filter_config);
  if (!filter) return filter.error();
  for (pid_t tgid : tgids)
    if (auto ok = filter.value()->trace_tgid(tgid); !ok) return ok.error();
  collectors::CollectorContext context{*filter.value(), options.max_processes,
                                      static_cast<uint64_t>(options.slow_syscall_ms * 1e6)};
  context.timeline = timeline != nullptr;
  context.heap.library = options.heap_library;
  context.heap.sample_every = options.heap_sample_every;
  context.heap.min_age_ns = static_cast<uint64_t>(options.heap_min_age_s * 1e9);
  context.heap.max_blocks = options.heap_max_blocks;
  context.probes = probe_requests;
  context.pids = tgids;
  auto started = start_collectors(selected.value(), options.collect == "all", config, context);
  if (!started) return started.error();
  auto& running = started.value();

  // Per-program run time is counted only while someone holds this (or kernel.bpf_stats_enabled is set).
  UniqueFd bpf_stats;
  if (options.bpf_stats || options.top) {
    bpf_stats.reset(bpf_enable_stats(BPF_STATS_RUN_TIME));
    if (!bpf_stats.valid()) return errno_error("enabling BPF run-time statistics", errno);
  }

  auto& out = sink.value();
  Recorder recorder(running.sources(*filter.value()), out, options, filter_config.netns, metrics, webhook.get(),
                    timeline.get());
  if (uplink) recorder.ship_to(uplink.get(), *host);
  std::unique_ptr<output::TopScreen> screen;
  if (options.top && options.batch) {
    recorder.observe([sort = sort->second](const model::Snapshot& view) {
      std::fputs(output::render_batch(view, sort, "").c_str(), stdout);
      std::fflush(stdout);
    });
  } else if (options.top) {
    auto opened = output::TopScreen::open();
    if (!opened) return opened.error();
    screen = std::move(opened).value();
    recorder.observe([&screen](const model::Snapshot& view) { screen->update(view); });
  }
  // Monotonic event times become wall time with one offset taken now.
  const double wall_offset_s = unix_seconds() - static_cast<double>(monotonic_ns()) / 1e9;
  Status write_status;
  collectors::NetCollector* net = running.net.get();
  if (auto ok = !net ? Status{} : net->on_events(
          [&](const model::SocketEvent& e) {
            if (write_status) write_status = out.write(output::socket_event_record(e, wall_offset_s));
          },
          [&](const model::PacketEvent& e) {
            if (write_status) write_status = out.write(output::packet_event_record(e, wall_offset_s));
          },
          [&](const model::ConnEvent& e) { recorder.on_conn(e, wall_offset_s); });
      !ok)
    return ok.error();
  if (net)
    if (auto ok = net->announce_preexisting(); !ok) return ok.error();
  report_missing_features(recorder.features());  // after the last feature that can drop out

  std::optional<HeldChild> child;
  if (!options.command.empty()) {
    auto spawned = HeldChild::spawn(options.command, signals.previous());
    if (!spawned) return spawned.error();
    child.emplace(std::move(spawned).value());
    if (auto ok = filter.value()->trace_tgid(child->pid()); !ok) return ok.error();
    if (auto ok = child->release(); !ok) return Error{ok.error().message + ": " + options.command[0]};
  }

  const uint64_t start_ns = monotonic_ns();
  const uint64_t interval_ns = uint64_t{options.interval_ms} * 1'000'000ull;
  const uint64_t end_ns =
      options.duration_s > 0 ? start_ns + static_cast<uint64_t>(options.duration_s * 1e9) : UINT64_MAX;
  auto start = output::start_record({unix_seconds(), options.interval_ms, options.trace ? "trace" : "record"});
  start["collectors"] = recorder.collector_names();
  start["features"] = output::features_json(recorder.features());
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
    if (auto ok = running.poll_events(static_cast<int>(slice / 1'000'000)); !ok) return ok.error();
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
  if (exit_status) {
    // A thread's last on-CPU stretch ends at its final switch, which comes just after its parent
    // can reap it: without a moment's wait, the stretch of a thread that ran to its exit without
    // sleeping (a CI run lost 161 ms of one that way) is still on its way when the rings are read.
    constexpr uint64_t kExitSettleNs = 50'000'000;
    const uint64_t settle_until = monotonic_ns() + kExitSettleNs;
    for (uint64_t now = monotonic_ns(); now < settle_until; now = monotonic_ns())
      if (auto ok = running.poll_events(static_cast<int>((settle_until - now) / 1'000'000) + 1); !ok)
        return ok.error();
  }
  if (auto ok = running.poll_events(0); !ok) return ok.error();  // what is left in the rings
  if (!write_status) return write_status.error();
  if (auto ok = recorder.emit_interval(); !ok) return ok.error();
  double duration_s = static_cast<double>(monotonic_ns() - start_ns) / 1e9;
  // What is still queued gets one more try before the summary counts it (the Recorder reads the
  // counts, so the webhook lives on until the end).
  if (webhook) webhook->close();
  if (uplink)  // what the server has not acknowledged by then counts as dropped in the summary
    uplink->close(std::chrono::milliseconds(static_cast<int64_t>(options.server_drain_s * 1000)));
  if (auto ok = recorder.finish_timeline(); !ok) return ok.error();
  if (auto ok = recorder.emit_summary(duration_s, exit_status); !ok) return ok.error();
  if (options.table) std::fputs(output::render_process_table(recorder.table()).c_str(), stderr);
  return exit_status.value_or(0);
}

}  // namespace nt::agent
