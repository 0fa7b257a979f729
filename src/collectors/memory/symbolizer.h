// User stacks as names: each return address of a live process to its function, module and source
// line, through elfutils' libdw over the process's mappings (/proc/PID/maps), with the symbol tables
// of its files and any debug information they or the system's debug directories have.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "model/heap.h"

namespace nt::collectors {

class Symbolizer {
 public:
  Symbolizer();
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // Return addresses of `tgid`, innermost first. An address no mapping covers (or of a process that
  // is gone) keeps its address only.
  std::vector<model::HeapFrame> frames(pid_t tgid, const std::vector<uint64_t>& return_addresses);
  // The function that begins at `address` of `tgid` (a function pointer), demangled; "" when no
  // symbol covers it.
  std::string function_name(pid_t tgid, uint64_t address);
  // Forgets a process (it exited): its mappings and names.
  void forget(pid_t tgid);

 private:
  struct Process;
  std::map<pid_t, std::unique_ptr<Process>> processes_;
};

}  // namespace nt::collectors
