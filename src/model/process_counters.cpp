#include "model/process_counters.h"

namespace nt::model {

namespace {

uint64_t& at(ProcessCounters& counters, ProcessCounter which) { return counters[static_cast<size_t>(which)]; }

ProcessTotals& totals_of(std::map<ProcessKey, ProcessTotals>& all, const ProcessKey& key, const std::string& comm) {
  auto [it, inserted] = all.try_emplace(key);
  if (inserted) {
    it->second.key = key;
    it->second.comm = comm;
  }
  return it->second;
}

}  // namespace

void fill_net_counters(ProcessCounters& into, const ProcessTraffic& p) {
  at(into, ProcessCounter::kTxBytes) = p.total.tx_bytes;
  at(into, ProcessCounter::kRxBytes) = p.total.rx_bytes;
  at(into, ProcessCounter::kTxCalls) = p.total.tx_calls;
  at(into, ProcessCounter::kRxCalls) = p.total.rx_calls;
  at(into, ProcessCounter::kConnsOpened) = p.connections.opened;
  at(into, ProcessCounter::kConnsClosed) = p.connections.closed;
  at(into, ProcessCounter::kRetransmits) = p.connections.retransmits;
}

void fill_sched_counters(ProcessCounters& into, const ProcessSched& p) {
  at(into, ProcessCounter::kOnCpuNs) = p.total.on_cpu_ns;
  at(into, ProcessCounter::kRunqNs) = p.total.runq_ns;
  at(into, ProcessCounter::kOffVoluntaryNs) = p.total.off_voluntary_ns;
  at(into, ProcessCounter::kOffInvoluntaryNs) = p.total.off_involuntary_ns;
  at(into, ProcessCounter::kVoluntarySwitches) = p.total.voluntary_switches;
  at(into, ProcessCounter::kInvoluntarySwitches) = p.total.involuntary_switches;
}

void fill_block_io_counters(ProcessCounters& into, const ProcessIo& p) {
  at(into, ProcessCounter::kIoReadBytes) = p.total.of(IoKind::kRead).bytes;
  at(into, ProcessCounter::kIoWriteBytes) = p.total.of(IoKind::kWrite).bytes;
  at(into, ProcessCounter::kIoReadOps) = p.total.of(IoKind::kRead).ops;
  at(into, ProcessCounter::kIoWriteOps) = p.total.of(IoKind::kWrite).ops;
}

void fill_syscall_counters(ProcessCounters& into, const ProcessSyscalls& p) {
  const SyscallStats total = p.total();
  at(into, ProcessCounter::kSyscalls) = total.calls;
  at(into, ProcessCounter::kSyscallErrors) = total.errors;
  at(into, ProcessCounter::kSyscallNs) = total.total_ns;
}

void fill_memory_counters(ProcessCounters& into, const ProcessMemory& p) {
  at(into, ProcessCounter::kMinorFaults) = p.min_faults_seen();
  at(into, ProcessCounter::kMajorFaults) = p.maj_faults_seen();
}

std::map<ProcessKey, ProcessTotals> process_totals(const ProcessTable* net, const SchedTable* sched,
                                                   const BlockIoTable* block_io, const SyscallTable* syscalls,
                                                   const MemoryTable* memory) {
  std::map<ProcessKey, ProcessTotals> all;
  auto add = [&](const ProcessKey& key, const std::string& comm, bool exited, uint64_t activity, auto fill) {
    auto& totals = totals_of(all, key, comm);
    fill(totals.total);
    totals.interval_activity += activity;
    totals.exited = totals.exited && exited;
  };
  if (net)
    for (const auto& [key, p] : net->processes()) {
      auto delta = p.total - p.at_interval_start;
      add(key, p.comm, p.exited, delta.tx_bytes + delta.rx_bytes,
          [&](ProcessCounters& into) { fill_net_counters(into, p); });
    }
  if (sched)
    for (const auto& [key, p] : sched->processes())
      add(key, p.comm, p.exited, (p.total.on_cpu_ns - p.at_interval_start.on_cpu_ns) / 1000,
          [&](ProcessCounters& into) { fill_sched_counters(into, p); });
  if (block_io)
    for (const auto& [key, p] : block_io->processes()) {
      uint64_t bytes = 0;
      for (const auto& kind : (p.total - p.at_interval_start).by_kind) bytes += kind.bytes;
      add(key, p.comm, p.exited, bytes,
          [&](ProcessCounters& into) { fill_block_io_counters(into, p); });
    }
  if (syscalls)
    for (const auto& [key, p] : syscalls->processes())
      add(key, p.comm, p.exited, p.interval_total().total_ns / 1000,
          [&](ProcessCounters& into) { fill_syscall_counters(into, p); });
  if (memory)
    for (const auto& [key, p] : memory->processes())
      add(key, p.comm, p.exited, 0, [&](ProcessCounters& into) { fill_memory_counters(into, p); });
  return all;
}

}  // namespace nt::model
