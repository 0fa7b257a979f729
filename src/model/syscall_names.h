// Syscall names by number, for x86-64 and arm64, generated at build time from the kernel's UAPI
// headers (scripts/gen_syscall_names.py). The agent names the calls of the machine it runs on.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace nt::model {

extern const char* const kX86_64SyscallNames[];
extern const size_t kX86_64SyscallCount;
extern const char* const kArm64SyscallNames[];
extern const size_t kArm64SyscallCount;

enum class SyscallArch { kX86_64, kArm64 };

// This build's architecture.
constexpr SyscallArch kHostSyscallArch =
#if defined(__aarch64__)
    SyscallArch::kArm64;
#else
    SyscallArch::kX86_64;
#endif

// "openat"; "syscall_N" for a number the table does not know (newer than the headers).
std::string syscall_name(uint32_t nr, SyscallArch arch = kHostSyscallArch);
// The number of a named call, if the architecture has it.
std::optional<uint32_t> syscall_number(std::string_view name, SyscallArch arch = kHostSyscallArch);

}  // namespace nt::model
