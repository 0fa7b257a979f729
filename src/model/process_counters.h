// Every per-process counter of every collector in one flat list: what Prometheus, the summary, the
// server's wire format and its database all name the same way, in the same order.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "model/tables.h"

namespace nt::model {

// Appended to only: the order is the wire format's (proto/neutracer/v1/ingest.proto).
enum class ProcessCounter : size_t {
  kTxBytes, kRxBytes, kTxCalls, kRxCalls, kConnsOpened, kConnsClosed, kRetransmits,  // net
  kOnCpuNs, kRunqNs, kOffVoluntaryNs, kOffInvoluntaryNs, kVoluntarySwitches, kInvoluntarySwitches,  // cpu
  kIoReadBytes, kIoWriteBytes, kIoReadOps, kIoWriteOps,  // io
  kSyscalls, kSyscallErrors, kSyscallNs,  // syscalls
  kMinorFaults, kMajorFaults,             // memory
  kCount,
};
inline constexpr size_t kProcessCounterCount = static_cast<size_t>(ProcessCounter::kCount);
using ProcessCounters = std::array<uint64_t, kProcessCounterCount>;
inline constexpr std::array<std::string_view, kProcessCounterCount> kProcessCounterNames = {
    "tx_bytes",          "rx_bytes",           "tx_calls",         "rx_calls",
    "conns_opened",      "conns_closed",       "retransmits",      "on_cpu_ns",
    "runq_ns",           "off_voluntary_ns",   "off_involuntary_ns", "voluntary_switches",
    "involuntary_switches", "io_read_bytes",   "io_write_bytes",   "io_read_ops",
    "io_write_ops",      "syscalls",           "syscall_errors",   "syscall_ns",
    "minor_faults",      "major_faults",
};

// Fill one process's counters from each domain's table entry (a domain it has no entry in stays 0).
void fill_net_counters(ProcessCounters& into, const ProcessTraffic& process);
void fill_sched_counters(ProcessCounters& into, const ProcessSched& process);
void fill_block_io_counters(ProcessCounters& into, const ProcessIo& process);
void fill_syscall_counters(ProcessCounters& into, const ProcessSyscalls& process);
void fill_memory_counters(ProcessCounters& into, const ProcessMemory& process);

// One process across every collector's table.
struct ProcessTotals {
  ProcessKey key;
  std::string comm;
  ProcessCounters total{};
  uint64_t interval_activity = 0;  // over the last interval: bytes moved (network and disk) + us on CPU and in syscalls
  bool exited = true;              // in every table that has it
};
// Each table may be null (its collector does not run).
std::map<ProcessKey, ProcessTotals> process_totals(const ProcessTable* net, const SchedTable* sched,
                                                   const BlockIoTable* block_io, const SyscallTable* syscalls,
                                                   const MemoryTable* memory);
inline std::map<ProcessKey, ProcessTotals> process_totals(const Tables& tables) {
  return process_totals(&tables.processes, &tables.sched, &tables.block_io, &tables.syscalls, &tables.memory);
}

}  // namespace nt::model
