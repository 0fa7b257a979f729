#include "model/syscalls.h"

namespace nt::model {

SyscallStats SyscallStats::operator-(const SyscallStats& earlier) const {
  SyscallStats d;
  d.calls = calls - earlier.calls;
  d.errors = errors - earlier.errors;
  d.total_ns = total_ns - earlier.total_ns;
  d.hist = hist - earlier.hist;
  for (const auto& [err, n] : errnos) {
    auto before = earlier.errnos.find(err);
    const uint64_t grown = n - (before == earlier.errnos.end() ? 0 : before->second);
    if (grown) d.errnos[err] = grown;
  }
  return d;
}

SyscallStats& SyscallStats::operator+=(const SyscallStats& more) {
  calls += more.calls;
  errors += more.errors;
  total_ns += more.total_ns;
  for (size_t i = 0; i < kLog2Slots; ++i) hist[i] += more.hist[i];
  for (const auto& [err, n] : more.errnos) errnos[err] += n;
  return *this;
}

SyscallStats ProcessSyscalls::total() const {
  SyscallStats sum;
  for (const auto& [nr, stats] : by_nr) sum += stats;
  return sum;
}

SyscallStats ProcessSyscalls::interval_total() const {
  SyscallStats sum;
  for (const auto& [nr, stats] : by_nr) {
    auto before = at_interval_start.find(nr);
    sum += before == at_interval_start.end() ? stats : stats - before->second;
  }
  return sum;
}

ProcessSyscalls& SyscallTable::process(const ProcessKey& key) {
  auto [it, inserted] = processes_.try_emplace(key);
  if (inserted) it->second.key = key;
  return it->second;
}

void SyscallTable::mark_exited(const ProcessKey& key) {
  if (auto it = processes_.find(key); it != processes_.end()) it->second.exited = true;
}

void SyscallTable::start_interval() {
  for (auto& [key, process] : processes_) {
    process.at_interval_start = process.by_nr;
    process.exit_shown = process.exited;
  }
  slow_calls_.clear();
}

}  // namespace nt::model
