#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"

namespace nt::agent {

struct RecordOptions {
  double duration_s = 0;  // 0: until SIGINT/SIGTERM (or until the command exits)
  uint32_t interval_ms = 1000;
  std::string output;  // "" or "-": stdout
  std::vector<pid_t> pids;
  bool children = false;
  bool table = false;  // print the per-process table on stderr at the end
  uint32_t max_processes = 16384;
  std::vector<std::string> command;  // after "--"
};

// Runs `record`; the value is the exit status (the command's, when one was given).
Result<int> run_record(const RecordOptions& options);

// The thread group of `pid`, or an error when no such process exists.
Result<pid_t> resolve_tgid(pid_t pid);

}  // namespace nt::agent
