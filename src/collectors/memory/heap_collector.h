// The heap collector (--heap): loads bpf/heap.bpf.c on the allocator's entry points and each
// interval reads the outstanding blocks the kernel keeps, grouping those older than --heap-min-age
// by the user stack that allocated them, named through libdw (docs/collectors.md, `heap`).
#pragma once

#include <memory>

#include "collectors/collector.h"

namespace nt::collectors {

Result<std::unique_ptr<Collector>> start_heap_collector(const CollectorContext& context);

}  // namespace nt::collectors
