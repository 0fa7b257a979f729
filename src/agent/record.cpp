#include "agent/record.h"

#include <signal.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <optional>

#include "agent/held_child.h"
#include "collectors/net/net_collector.h"
#include "common/clock.h"
#include "output/json_lines.h"
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

class Recorder {
 public:
  Recorder(collectors::NetCollector& collector, output::JsonLinesSink& sink) : collector_(collector), sink_(sink) {}

  // Reads the kernel and writes the interval's records.
  Status emit_interval() {
    collector_.drain(table_);
    uint64_t now = monotonic_ns();
    double interval_s = static_cast<double>(now - interval_start_ns_) / 1e9;
    double ts = unix_seconds();
    for (const auto& [key, process] : table_.processes()) {
      if (process.total == process.at_interval_start) continue;
      if (auto ok = sink_.write(output::process_record(process, ts, interval_s)); !ok) return ok;
    }
    if (auto ok = sink_.write(output::loss_record(collector_.losses(), ts)); !ok) return ok;
    table_.start_interval();
    interval_start_ns_ = now;
    return sink_.flush();
  }

  Status emit_summary(double duration_s, std::optional<int> exit_status) {
    auto record = output::summary_record(table_, collector_.losses(), collector_.program_stats(), unix_seconds(),
                                         duration_s, exit_status);
    if (auto ok = sink_.write(record); !ok) return ok;
    return sink_.flush();
  }

  const model::ProcessTable& table() const { return table_; }

 private:
  collectors::NetCollector& collector_;
  output::JsonLinesSink& sink_;
  model::ProcessTable table_;
  uint64_t interval_start_ns_ = monotonic_ns();
};

}  // namespace

Result<pid_t> resolve_tgid(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (status && std::getline(status, line)) {
    if (line.rfind("Tgid:", 0) == 0) return static_cast<pid_t>(std::stol(line.substr(5)));
  }
  return Error{"no process with pid " + std::to_string(pid)};
}

Result<int> run_record(const RecordOptions& options) {
  auto sink = output::JsonLinesSink::open(options.output);
  if (!sink) return sink.error();
  std::vector<pid_t> tgids;
  for (pid_t pid : options.pids) {
    auto tgid = resolve_tgid(pid);
    if (!tgid) return tgid.error();
    tgids.push_back(tgid.value());
  }

  BlockedSignals signals;
  collectors::NetConfig config;
  config.filter_tgids = !tgids.empty() || !options.command.empty();
  config.follow_children = options.children || !options.command.empty();
  config.max_processes = options.max_processes;
  auto collector = collectors::NetCollector::start(config);
  if (!collector) return collector.error();
  for (pid_t tgid : tgids)
    if (auto ok = collector.value()->trace_tgid(tgid); !ok) return ok.error();

  std::optional<HeldChild> child;
  if (!options.command.empty()) {
    auto spawned = HeldChild::spawn(options.command, signals.previous());
    if (!spawned) return spawned.error();
    child.emplace(std::move(spawned).value());
    if (auto ok = collector.value()->trace_tgid(child->pid()); !ok) return ok.error();
    if (auto ok = child->release(); !ok) return Error{ok.error().message + ": " + options.command[0]};
  }

  Recorder recorder(*collector.value(), sink.value());
  const uint64_t start_ns = monotonic_ns();
  const uint64_t interval_ns = uint64_t{options.interval_ms} * 1'000'000ull;
  const uint64_t end_ns = options.duration_s > 0 ? start_ns + static_cast<uint64_t>(options.duration_s * 1e9) : UINT64_MAX;
  if (auto ok = sink.value().write(output::start_record({unix_seconds(), options.interval_ms, "record"})); !ok)
    return ok.error();
  if (auto ok = sink.value().flush(); !ok) return ok.error();

  std::optional<int> exit_status;
  uint64_t next_tick_ns = start_ns + interval_ns;
  bool stopping = false;
  while (!stopping) {
    int sig = wait_signal_until(signals.waited(), std::min(next_tick_ns, end_ns));
    if (sig == SIGINT || sig == SIGTERM) {
      if (child && !child->poll_exit())
        child->forward(sig);  // the command decides; we stop when it exits
      else
        stopping = true;
    }
    if (child && (exit_status = child->poll_exit())) stopping = true;
    uint64_t now = monotonic_ns();
    if (now >= end_ns) stopping = true;
    if (now >= next_tick_ns && !stopping) {
      if (auto ok = recorder.emit_interval(); !ok) return ok.error();
      while (next_tick_ns <= now) next_tick_ns += interval_ns;
    }
  }
  if (auto ok = recorder.emit_interval(); !ok) return ok.error();
  double duration_s = static_cast<double>(monotonic_ns() - start_ns) / 1e9;
  if (auto ok = recorder.emit_summary(duration_s, exit_status); !ok) return ok.error();
  if (options.table) std::fputs(output::render_process_table(recorder.table()).c_str(), stderr);
  return exit_status.value_or(0);
}

}  // namespace nt::agent
