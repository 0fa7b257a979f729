// The `memory` and `oom_kill` records (docs/json-schema.md): one per process whose memory moved in
// the interval, and one per OOM kill.
#pragma once

#include <nlohmann/json.hpp>

#include "model/memory.h"

namespace nt::output {

// A process gets a record when its RSS or faults moved in the interval, and once after it exits.
bool memory_record_due(const model::ProcessMemory& process);
nlohmann::ordered_json memory_record(const model::ProcessMemory& process, double ts);
// `to_unix`: what turns the monotonic clock's seconds into Unix time.
nlohmann::ordered_json oom_record(const model::OomKill& kill, double to_unix);

}  // namespace nt::output
