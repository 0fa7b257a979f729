#include <algorithm>
#include <sstream>

#include "collectors/collector.h"
#include "collectors/block_io/block_io_collector.h"
#include "collectors/cpu/sched_collector.h"
#include "collectors/memory/heap_collector.h"
#include "collectors/memory/memory_collector.h"
#include "collectors/probes/probe_collector.h"
#include "collectors/syscalls/syscall_collector.h"

namespace nt::collectors {

const std::vector<CollectorKind>& collector_kinds() {
  static const std::vector<CollectorKind> kinds = {
      {"net", "network: bytes, flows, connections and TCP health per process", true, nullptr},
      {"cpu", "CPU scheduling: on-CPU time, run-queue wait, off-CPU time, switches, migrations", false,
       start_sched_collector},
      {"io", "block I/O: requests, bytes, queue and device time per process and per disk", false,
       start_block_io_collector},
      {"syscalls", "syscalls: calls, errors by errno and latency per process and per syscall; slow calls as events",
       false, start_syscall_collector},
      {"memory", "memory: RSS by kind and page faults per process, OOM kills as they happen", false,
       start_memory_collector},
      {"heap", "heap (--heap): outstanding allocations per process by call stack, from uprobes on the allocator",
       false, start_heap_collector, false},
      {"probes", "user functions (--probe LIB:SYMBOL, usdt:FILE:PROVIDER:NAME): calls, errors by code, latency",
       false, [](const CollectorContext& context) { return start_probe_collector(context, false); }, false},
      {"cuda", "CUDA runtime and NCCL calls by API and return code, kernel launches, device memory, copies",
       false, [](const CollectorContext& context) { return start_probe_collector(context, true); }, false},
  };
  return kinds;
}

Result<std::vector<std::string>> parse_collect(const std::string& list) {
  std::vector<std::string> names;
  const auto& kinds = collector_kinds();
  if (list.empty()) {
    for (const auto& kind : kinds)
      if (kind.on_by_default) names.push_back(kind.name);
    return names;
  }
  if (list == "all") {
    for (const auto& kind : kinds)
      if (kind.in_all) names.push_back(kind.name);
    return names;
  }
  std::istringstream parts(list);
  std::string name;
  while (std::getline(parts, name, ',')) {
    auto known = std::find_if(kinds.begin(), kinds.end(), [&](const CollectorKind& k) { return k.name == name; });
    if (known == kinds.end()) {
      std::string valid;
      for (const auto& kind : kinds) valid += (valid.empty() ? "" : ", ") + kind.name;
      return Error{"--collect: no collector named '" + name + "' (one of " + valid + ", or all)"};
    }
    if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
  }
  if (names.empty()) return Error{"--collect: name at least one collector"};
  return names;
}

}  // namespace nt::collectors
