#include "output/syscall_records.h"

#include <cstring>

#include "model/syscall_names.h"
#include "output/json_lines.h"

namespace nt::output {
namespace {

// Cumulative calls, errors and time; the histogram as {"lower bound in us": calls}, non-empty slots.
void add_stats(nlohmann::ordered_json& into, const model::SyscallStats& stats) {
  into["calls"] = stats.calls;
  into["errors"] = stats.errors;
  into["time_ms"] = static_cast<double>(stats.total_ns) / 1e6;
}

}  // namespace

std::string errno_name(uint32_t err) {
  const char* name = strerrorname_np(static_cast<int>(err));
  return name ? name : "E" + std::to_string(err);
}

bool syscall_record_due(const model::ProcessSyscalls& process) {
  return process.by_nr != process.at_interval_start || (process.exited && !process.exit_shown);
}

nlohmann::ordered_json syscall_record(const model::ProcessSyscalls& process, double ts) {
  auto record = process_record_head("syscalls", ts, process.key, process.comm);
  add_stats(record, process.total());
  // The syscalls made in the interval, each with its totals since the start.
  auto calls = nlohmann::ordered_json::array();
  for (const auto& [nr, stats] : process.by_nr) {
    auto before = process.at_interval_start.find(nr);
    if (before != process.at_interval_start.end() && before->second == stats) continue;
    nlohmann::ordered_json call = {{"name", model::syscall_name(nr)}, {"nr", nr}};
    add_stats(call, stats);
    auto errnos = nlohmann::ordered_json::object();
    for (const auto& [err, n] : stats.errnos) errnos[errno_name(err)] = n;
    call["errnos"] = errnos;
    auto hist = nlohmann::ordered_json::object();
    for (size_t i = 0; i < stats.hist.size(); ++i)
      if (stats.hist[i]) hist[std::to_string(i ? uint64_t{1} << i : 0)] = stats.hist[i];
    call["hist_us"] = hist;
    calls.push_back(std::move(call));
  }
  record["syscalls"] = std::move(calls);
  record["exited"] = process.exited;
  return record;
}

nlohmann::ordered_json slow_syscall_record(const model::SlowSyscall& call, double to_unix) {
  auto record = process_record_head("slow_syscall", static_cast<double>(call.exit_monotonic_ns) / 1e9 + to_unix,
                                    call.key, call.comm);  // the thread's comm
  record["tid"] = call.tid;
  record["name"] = model::syscall_name(call.nr);
  record["nr"] = call.nr;
  record["latency_ms"] = static_cast<double>(call.latency_ns) / 1e6;
  record["ret"] = call.ret;
  if (call.ret < 0 && call.ret >= -4095) record["errno"] = errno_name(static_cast<uint32_t>(-call.ret));
  record["args"] = call.args;
  return record;
}

}  // namespace nt::output
