// The memory collector: loads bpf/memory.bpf.c; each interval reads the RSS the kernel last reported
// for each process, every thread's page faults, and the OOM kills sent meanwhile, into the memory
// table (docs/collectors.md, `memory`).
#pragma once

#include <memory>

#include "collectors/collector.h"

namespace nt::collectors {

Result<std::unique_ptr<Collector>> start_memory_collector(const CollectorContext& context);

}  // namespace nt::collectors
