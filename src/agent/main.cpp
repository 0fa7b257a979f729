// neutracer: the agent. One binary, subcommands. Errors below main are values; here each becomes
// one stderr line and a non-zero exit (docs/errors.md).
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "agent/doctor.h"
#include "agent/record.h"
#include "bpf_runtime/libbpf_log.h"

namespace {

constexpr int kUsageError = 2;
constexpr int kRuntimeError = 1;

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
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Print libbpf's messages (verifier logs) on stderr");

  nt::agent::RecordOptions record;
  auto* record_cmd = app.add_subcommand("record", "Per-process network bytes as JSON Lines, each interval");
  record_cmd->add_option("--duration", record.duration_s, "Stop after S seconds (default: until SIGINT/SIGTERM)")
      ->check(CLI::PositiveNumber);
  record_cmd->add_option("--interval", record.interval_ms, "Read and report every MS milliseconds")
      ->check(CLI::Range(10u, 3'600'000u));
  record_cmd->add_option("-o,--output", record.output, "Write JSON Lines to FILE (default: stdout)");
  record_cmd->add_option("-p,--pid", record.pids, "Trace only this process (repeatable)")->check(CLI::PositiveNumber);
  record_cmd->add_flag("--children", record.children, "Also trace descendants of -p processes, born later too");
  record_cmd->add_flag("--table", record.table, "Print the per-process table on stderr at the end");
  record_cmd->add_option("--max-processes", record.max_processes, "Size of the kernel's process table")
      ->check(CLI::Range(16u, 4'194'304u));
  record_cmd->footer("With -- CMD ARGS..., runs CMD, traces it and every descendant, and exits with its status.");

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
  if (!command.empty() && !record_cmd->parsed()) return fail("'-- CMD' is only valid with record", kUsageError);

  nt::bpf::route_libbpf_log(verbose);
  if (record_cmd->parsed()) {
    record.command = std::move(command);
    auto status = nt::agent::run_record(record);
    if (!status) return fail(status.error().message, kRuntimeError);
    return status.value();
  }
  return nt::agent::run_doctor();
}
