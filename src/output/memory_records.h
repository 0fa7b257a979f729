// The `memory`, `oom_kill`, `memory_pressure` and `heap` records (docs/json-schema.md): one per process whose
// memory moved in the interval, one per OOM kill, one per cgroup of a traced process.
#pragma once

#include <nlohmann/json.hpp>

#include "model/heap.h"
#include "model/memory.h"

namespace nt::output {

// A process gets a record when its RSS or faults moved in the interval, and once after it exits.
bool memory_record_due(const model::ProcessMemory& process);
nlohmann::ordered_json memory_record(const model::ProcessMemory& process, double ts);
// `to_unix`: what turns the monotonic clock's seconds into Unix time.
nlohmann::ordered_json oom_record(const model::OomKill& kill, double to_unix);
// One per cgroup a traced process is in, every interval.
nlohmann::ordered_json pressure_record(const std::string& cgroup, const model::MemoryPressure& pressure, double ts);
// --heap: a process gets a `heap` record when it allocated or freed in the interval, when its
// reported stacks changed, and once after it exits.
bool heap_record_due(const model::ProcessHeap& process);
// A call stack's frames, innermost first: addr, symbol, module, and source where known.
nlohmann::ordered_json frames_json(const std::vector<model::HeapFrame>& frames);
nlohmann::ordered_json heap_record(const model::ProcessHeap& process, const model::HeapTable& table, double ts);

}  // namespace nt::output
