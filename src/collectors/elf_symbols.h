// What the uprobe collectors need to know of an ELF file: the functions it defines (by mangled and
// demangled name), where an address is in the file, its USDT notes, and which file a library name
// means for the processes traced (their own mappings first, then the loader's cache).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace nt::collectors {

struct ElfFunction {
  std::string name;       // as the symbol table has it (mangled for C++)
  std::string demangled;  // "ns::Class::method(int)"; the name itself for C
  uint64_t address = 0;   // st_value
};

// The functions a file defines (its dynamic and static symbol tables), each address once; a name
// that both tables hold is listed once.
Result<std::vector<ElfFunction>> defined_functions(const std::string& path);

// The file offset of a virtual address of the file (through its loadable segments), as uprobes want.
Result<uint64_t> file_offset(const std::string& path, uint64_t address);

// A statically defined tracing point (.note.stapsdt): where it is, and its semaphore if it has one.
struct UsdtNote {
  std::string provider, name;
  uint64_t address = 0;    // the probe's instruction (a virtual address of the file)
  uint64_t semaphore = 0;  // 0: none
};
Result<std::vector<UsdtNote>> usdt_notes(const std::string& path);

// Whether `pattern` names `function`: its symbol exactly, its demangled name exactly, or its demangled
// name without the parameter list ("ns::Class::method" names every overload).
bool symbol_matches(const std::string& pattern, const ElfFunction& function);

// Whether a library's file (its base name) is what `name` calls it: "c", "libc", "libc.so" and
// "libc.so.6" all name libc.so.6; "cudart" names libcudart.so.13.0.48.
bool library_name_matches(const std::string& name, const std::string& file_base_name);

// The file `library` means: a path as given; else a file mapped by one of `pids` whose name matches,
// else one in the loader's cache (ldconfig -p). Resolved to its real path.
Result<std::string> find_library(const std::string& library, const std::vector<pid_t>& pids);

// The files a process has mapped (/proc/PID/maps), each once, real paths; empty when it is gone.
std::vector<std::string> mapped_files(pid_t pid);

}  // namespace nt::collectors
