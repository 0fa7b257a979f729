// The `sched` records (docs/json-schema.md): one per process whose scheduling moved in the interval.
#pragma once

#include <nlohmann/json.hpp>

#include <vector>

#include "model/sched.h"

namespace nt::output {

// A process gets a record when its scheduling moved in the interval, and once after it exits.
bool sched_record_due(const model::ProcessSched& process);
nlohmann::ordered_json sched_record(const model::ProcessSched& process, double ts, double interval_s);

}  // namespace nt::output
