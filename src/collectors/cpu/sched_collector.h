// The CPU scheduling collector: loads bpf/cpu_sched.bpf.c and drains its per-process,
// per-CPU counters (and, where the kernel has the task iterator, every thread's own totals).
#pragma once

#include <memory>

#include "collectors/collector.h"

namespace nt::collectors {

Result<std::unique_ptr<Collector>> start_sched_collector(const CollectorContext& context);

}  // namespace nt::collectors
