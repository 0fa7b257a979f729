// Plain data: what the syscall collector knows, per process and per syscall. No I/O, no BPF.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/histogram.h"
#include "model/process.h"

namespace nt::model {

// One process's calls of one syscall. Cumulative.
struct SyscallStats {
  uint64_t calls = 0;
  uint64_t errors = 0;  // returned an errno
  uint64_t total_ns = 0;
  Log2Histogram hist{};                 // entry to exit, in us
  std::map<uint32_t, uint64_t> errnos;  // errno -> failures
  bool operator==(const SyscallStats&) const = default;
  SyscallStats operator-(const SyscallStats& earlier) const;
  SyscallStats& operator+=(const SyscallStats& more);
};

struct ProcessSyscalls {
  ProcessKey key;
  std::string comm;
  std::map<uint32_t, SyscallStats> by_nr;  // syscall number -> its calls
  std::map<uint32_t, SyscallStats> at_interval_start;
  bool exited = false;
  bool exit_shown = false;  // an interval has ended since it exited: its final counts were shown
  SyscallStats total() const;               // every syscall
  SyscallStats interval_total() const;      // every syscall, since the interval started
};

// A call that took at least --slow-syscall, as it returned.
struct SlowSyscall {
  ProcessKey key;
  uint32_t tid = 0;
  std::string comm;  // the thread's
  uint32_t nr = 0;
  int64_t ret = 0;
  uint64_t latency_ns = 0;
  uint64_t exit_monotonic_ns = 0;
  std::array<uint64_t, 3> args{};  // the first argument words
};

class SyscallTable {
 public:
  ProcessSyscalls& process(const ProcessKey& key);
  void mark_exited(const ProcessKey& key);
  void start_interval();  // exited processes keep their final totals; slow calls are cleared
  const std::map<ProcessKey, ProcessSyscalls>& processes() const { return processes_; }
  std::vector<SlowSyscall>& slow_calls() { return slow_calls_; }  // this interval's, oldest first
  const std::vector<SlowSyscall>& slow_calls() const { return slow_calls_; }

 private:
  std::map<ProcessKey, ProcessSyscalls> processes_;
  std::vector<SlowSyscall> slow_calls_;
};

}  // namespace nt::model
