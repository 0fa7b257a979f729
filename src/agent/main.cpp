// neutracer: the agent. One binary, subcommands. Errors below main are values; here each becomes
// one stderr line and a non-zero exit (docs/errors.md).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "agent/doctor.h"
#include "agent/record.h"
#include "agent/replay.h"
#include "bpf_runtime/libbpf_log.h"

namespace {

constexpr int kUsageError = 2;
constexpr int kRuntimeError = 1;

// Options shared by record and trace: what to watch, for how long, where to write.
void add_session_options(CLI::App* cmd, nt::agent::RecordOptions& o) {
  cmd->add_option("--collect", o.collect,
                  "Collectors to run: NAME[,NAME...] of net, cpu, io, syscalls, memory, cuda; 'all' for every one the kernel "
                  "supports but cuda (default: net)");
  cmd->add_option("--max-processes", o.max_processes, "Processes the cpu and io kernel tables hold (beyond: counted)")
      ->check(CLI::Range(64u, 4'194'304u));
  cmd->add_option("--slow-syscall", o.slow_syscall_ms,
                  "syscalls: report each call that takes at least MS milliseconds as an event (default: none)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--heap", o.heap,
                "Heap: trace the allocator (malloc, free, ...) of the traced processes and report the blocks "
                "outstanding longer than --heap-min-age by call stack (costs about a microsecond per call)");
  cmd->add_option("--heap-lib", o.heap_library, "heap: the allocator's file (default: the C library)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--heap-sample", o.heap_sample_every, "heap: keep every Nth allocation (default: 1, all)")
      ->check(CLI::Range(1u, 1'000'000u));
  cmd->add_option("--heap-min-age", o.heap_min_age_s, "heap and cuda: report (device) blocks outstanding at least S seconds by call stack (default: 5)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--heap-max-blocks", o.heap_max_blocks, "heap: outstanding blocks held at once (beyond: counted)")
      ->check(CLI::Range(1024u, 16'777'216u));
  cmd->add_option("--probe", o.probes,
                  "Count calls, errors and latency of user functions: LIB:SYMBOL[=RULE][,SYMBOL...] (LIB a name such as "
                  "libc or a path; C++ names demangled or mangled; RULE: neg, nonzero, null for what counts as an "
                  "error) or usdt:FILE:PROVIDER:NAME (repeatable)");
  cmd->add_option("--timeline", o.timeline,
                  "Write every collector's events for the traced processes on one timeline to FILE (Chrome trace "
                  "event JSON, microseconds; opens in Perfetto's UI): on/off-CPU slices per thread, slow syscalls, "
                  "block I/O requests, connections, anomalies. Adds the cpu collector (docs/timeline.md)")
      ->option_text("FILE");
  cmd->add_option("--timeline-max-mb", o.timeline_max_mb,
                  "timeline: the file's size bound in MiB (default: 256); events beyond it are counted, not written")
      ->check(CLI::Range(0.01, 65536.0))
      ->option_text("MIB");
  cmd->add_option("--duration", o.duration_s, "Stop after S seconds (default: until SIGINT/SIGTERM)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--interval", o.interval_ms, "Read and report every MS milliseconds")->check(CLI::Range(10u, 3'600'000u));
  cmd->add_option("-o,--output", o.output, "Write JSON Lines to FILE (default: stdout)");
  cmd->add_option("-p,--pid", o.filter.pids, "Only this process (repeatable)")->check(CLI::PositiveNumber);
  cmd->add_flag("--children", o.filter.children, "Also descendants of -p processes, born later too");
  cmd->add_option("-c,--comm", o.filter.comm, "Only processes with this name");
  cmd->add_option("--cgroup", o.filter.cgroup, "Only tasks in this cgroup v2 directory or below it");
  cmd->add_option("--netns", o.filter.netns, "Only this network namespace (/run/netns/NAME, /proc/PID/ns/net or id)");
  cmd->add_flag("--packets", o.packets, "Packet mode: per-device and per-owner packet counters (opt-in, costs more)");
  cmd->add_option("--max-flows", o.max_flows, "Flows held at once (beyond: counted, never silent)")
      ->check(CLI::Range(16u, 4'194'304u));
  cmd->add_option("--flow-idle", o.flow_idle_s, "Forget an unconnected socket's flow after S quiet seconds (closed sockets' flows at once)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--server", o.server, "Stream every interval to neutracer-server at HOST:PORT (while recording locally)");
  cmd->add_option("--token-file", o.token_file, "Bearer token for --server (first line of FILE)")->check(CLI::ExistingFile);
  cmd->add_option("--tls-ca", o.tls_ca, "TLS to --server, trusting this PEM CA")->check(CLI::ExistingFile);
  cmd->add_option("--server-buffer", o.server_buffer_bytes,
                  "Unacknowledged data held for --server (bytes; KiB, MiB suffixes; beyond: the oldest dropped, counted)")
      ->transform(CLI::AsSizeValue(false));
  cmd->add_option("--server-drain", o.server_drain_s, "At the end, wait up to S seconds for --server to acknowledge the rest")
      ->check(CLI::Range(0.0, 600.0));
  cmd->add_option("--host-id", o.host_id, "This host's name at --server (default: /etc/machine-id)");
  cmd->add_option("--label", o.labels, "KEY=VALUE label of this host at --server (repeatable)");
  cmd->add_flag("--bpf-stats", o.bpf_stats, "Count BPF run time per program while running (costs ~20 ns/event)");
  cmd->add_option("--metrics", o.metrics, "Serve Prometheus metrics on HOST:PORT (host defaults to 127.0.0.1)");
  cmd->add_option("--metrics-top", o.metrics_top, "Processes that keep metric series of their own")
      ->check(CLI::Range(1, 10000));
  cmd->footer("With -- CMD ARGS..., runs CMD, traces it and every descendant, and exits with its status.");
}

int fail(const std::string& message, int status) {
  std::fprintf(stderr, "neutracer: %s\n", message.c_str());
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  // Everything after the first "--" is the command to run, untouched by option parsing.
  std::vector<std::string> command;
  int own_argc = argc;
  for (int i = 1; i < argc; ++i) {
    if (std::string(argv[i]) == "--") {
      own_argc = i;
      command.assign(argv + i + 1, argv + argc);
      break;
    }
  }

  CLI::App app{"NeuTracer: low-overhead eBPF tracer for AI/ML hosts", "neutracer"};
  app.require_subcommand(1);
  app.fallthrough();  // -v works after the subcommand too (neutracer record -v)
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Print libbpf's messages (verifier logs) on stderr");

  nt::agent::RecordOptions record;
  auto* record_cmd = app.add_subcommand("record", "Per-process network bytes as JSON Lines, each interval");
  add_session_options(record_cmd, record);
  record_cmd->add_flag("--table", record.table, "Print the per-process table on stderr at the end");

  nt::agent::RecordOptions trace;
  trace.trace = true;
  auto* trace_cmd = app.add_subcommand("trace", "One JSON object per socket send/receive (and packet, with --packets)");
  add_session_options(trace_cmd, trace);
  trace_cmd->add_option("--ringbuf-kb", trace.ringbuf_kb, "Ring buffer size in KiB (rounded up to a power of two)")
      ->check(CLI::Range(4u, 1u << 20));

  nt::agent::RecordOptions top;
  top.top = true;
  auto* top_cmd = app.add_subcommand("top", "Live view of per-process traffic, flows and connections");
  add_session_options(top_cmd, top);
  top_cmd->add_flag("--batch", top.batch, "No terminal: print a plain table every interval");
  top_cmd->add_option("--sort", top.sort, "Sort by tx, rx, total, pid or retrans (default tx)");

  nt::agent::RecordOptions serve;
  serve.serve = true;
  auto* serve_cmd = app.add_subcommand("serve", "Only export Prometheus metrics (--metrics is required)");
  add_session_options(serve_cmd, serve);
  serve_cmd->get_option("--metrics")->required();

  // Live anomaly detection: record, top and serve (trace streams events, it has no intervals to watch).
  for (auto [cmd, options] : {std::pair{record_cmd, &record}, std::pair{top_cmd, &top}, std::pair{serve_cmd, &serve}}) {
    cmd->add_flag("!--no-detect", options->detect, "No live anomaly detection");
    cmd->add_option("--detect-warmup", options->detect_warmup, "Intervals a series is watched before it can alert")
        ->check(CLI::Range(5, 100000));
    cmd->add_option("--webhook", options->webhook, "POST anomalies to this http URL as Alertmanager alerts");
  }

  std::string replay_input, replay_output;
  auto* replay_cmd = app.add_subcommand("replay", "Run the anomaly detectors over a recorded file, as they ran live");
  replay_cmd->add_option("FILE", replay_input, "A JSON Lines file written by neutracer record")->required();
  replay_cmd->add_option("-o,--output", replay_output, "Write the anomaly records to FILE (default: stdout)");

  app.add_subcommand("doctor", "Probe what this kernel offers and which modes work");

  try {
    app.parse(own_argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForAllHelp& help) {
    return app.exit(help);
  } catch (const CLI::ParseError& error) {
    return fail(error.what(), kUsageError);
  }
  if (!command.empty() && !record_cmd->parsed() && !trace_cmd->parsed() && !serve_cmd->parsed() && !top_cmd->parsed())
    return fail("'-- CMD' is only valid with record, trace, top and serve", kUsageError);

  if (replay_cmd->parsed()) {
    if (!command.empty()) return fail("'-- CMD' is only valid with record, trace, top and serve", kUsageError);
    auto status = nt::agent::run_replay(replay_input, replay_output);
    if (!status) return fail(status.error().message, kRuntimeError);
    return status.value();
  }
  nt::bpf::route_libbpf_log(verbose);
  nt::agent::RecordOptions* session = record_cmd->parsed()  ? &record
                                      : trace_cmd->parsed() ? &trace
                                      : serve_cmd->parsed() ? &serve
                                      : top_cmd->parsed()   ? &top
                                                            : nullptr;
  if (session) {
    auto& options = *session;
    options.command = std::move(command);
    auto status = nt::agent::run_record(options);
    if (!status) return fail(status.error().message, kRuntimeError);
    return status.value();
  }
  return nt::agent::run_doctor();
}
