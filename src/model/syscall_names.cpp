#include "model/syscall_names.h"

namespace nt::model {
namespace {

struct Table {
  const char* const* names;
  size_t count;
};

Table table_of(SyscallArch arch) {
  return arch == SyscallArch::kArm64 ? Table{kArm64SyscallNames, kArm64SyscallCount}
                                     : Table{kX86_64SyscallNames, kX86_64SyscallCount};
}

}  // namespace

std::string syscall_name(uint32_t nr, SyscallArch arch) {
  const Table table = table_of(arch);
  if (nr < table.count && table.names[nr]) return table.names[nr];
  return "syscall_" + std::to_string(nr);
}

std::optional<uint32_t> syscall_number(std::string_view name, SyscallArch arch) {
  const Table table = table_of(arch);
  for (size_t nr = 0; nr < table.count; ++nr)
    if (table.names[nr] && name == table.names[nr]) return static_cast<uint32_t>(nr);
  return std::nullopt;
}

}  // namespace nt::model
