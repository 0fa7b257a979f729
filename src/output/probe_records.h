// The `probe` and `cuda` records (docs/json-schema.md): user functions per process and function,
// and per process what its CUDA runtime and NCCL calls did.
#pragma once

#include <nlohmann/json.hpp>

#include "model/probes.h"

namespace nt::output {

// A `probe` record per process and --probe function (or USDT probe) called in the interval.
std::vector<nlohmann::ordered_json> probe_records(const model::ProcessProbes& process, const model::ProbeTable& table,
                                                  double ts);
// A `cuda` record when the process called the CUDA runtime or NCCL in the interval, its device
// blocks past the age threshold changed, or it exited.
bool cuda_record_due(const model::ProcessProbes& process, const model::ProbeTable& table);
// NCCL's calls by function (as a `probe` record's fields, and the collectives' bytes): the `cuda`
// record's `nccl`, and a rank's in its job's record.
nlohmann::ordered_json collectives_json(const model::ProcessProbes& process, const model::ProbeTable& table);
nlohmann::ordered_json cuda_record(const model::ProcessProbes& process, const model::ProbeTable& table, double ts);

}  // namespace nt::output
