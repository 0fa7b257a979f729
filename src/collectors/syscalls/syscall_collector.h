// The syscall collector: loads bpf/syscalls.bpf.c and drains its per-(process, syscall), per-CPU
// counters, errno counts and slow-call events into the syscall table (docs/collectors.md,
// `syscalls`).
#pragma once

#include <memory>

#include "collectors/collector.h"

namespace nt::collectors {

Result<std::unique_ptr<Collector>> start_syscall_collector(const CollectorContext& context);

}  // namespace nt::collectors
