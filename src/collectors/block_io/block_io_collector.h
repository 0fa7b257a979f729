// The block I/O collector: loads bpf/block_io.bpf.c and drains its per-(owner, disk), per-CPU
// counters into per-process and per-disk totals (docs/collectors.md, `io`).
#pragma once

#include <memory>

#include "collectors/collector.h"

namespace nt::collectors {

Result<std::unique_ptr<Collector>> start_block_io_collector(const CollectorContext& context);

}  // namespace nt::collectors
