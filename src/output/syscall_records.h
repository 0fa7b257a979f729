// The `syscalls` and `slow_syscall` records (docs/json-schema.md): one per process whose syscalls
// moved in the interval, and one per call slower than --slow-syscall.
#pragma once

#include <nlohmann/json.hpp>

#include "model/syscalls.h"

namespace nt::output {

// A process gets a record when it made calls in the interval, and once after it exits.
bool syscall_record_due(const model::ProcessSyscalls& process);
nlohmann::ordered_json syscall_record(const model::ProcessSyscalls& process, double ts);
// `to_unix`: what turns the monotonic clock's seconds into Unix time.
nlohmann::ordered_json slow_syscall_record(const model::SlowSyscall& call, double to_unix);
// "ENOENT"; "E<number>" for one the C library does not name.
std::string errno_name(uint32_t err);

}  // namespace nt::output
