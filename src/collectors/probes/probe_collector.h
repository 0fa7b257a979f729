// The probe collector: user-space functions through uprobes and uretprobes (bpf/probes.bpf.c).
// `--probe LIB:SYMBOL[=RULE][,SYMBOL...]` and `usdt:FILE:PROVIDER:NAME` name them; `--collect cuda`
// adds the CUDA runtime's and NCCL's entry points in every copy of libcudart and libnccl that a
// traced process maps, found as they are mapped (docs/collectors.md, `probes` and `cuda`).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "collectors/collector.h"

namespace nt::collectors {

// One --probe value: "LIB:SYMBOL[=RULE][,SYMBOL[=RULE]...]" (RULE: neg, nonzero, null, none) or
// "usdt:FILE:PROVIDER:NAME".
Result<std::vector<ProbeRequest>> parse_probe_spec(const std::string& spec);

// --probe's functions ("probes"); with `cuda`, the CUDA runtime and NCCL too.
Result<std::unique_ptr<Collector>> start_probe_collector(const CollectorContext& context, bool cuda);

}  // namespace nt::collectors
