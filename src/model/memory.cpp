#include "model/memory.h"

namespace nt::model {

ProcessMemory& MemoryTable::process(const ProcessKey& key) {
  auto [it, inserted] = processes_.try_emplace(key);
  if (inserted) it->second.key = key;
  return it->second;
}

void MemoryTable::mark_exited(const ProcessKey& key) {
  if (auto it = processes_.find(key); it != processes_.end()) it->second.exited = true;
}

void MemoryTable::start_interval() {
  for (auto& [key, p] : processes_) {
    p.rss_at_interval_start = p.rss;
    p.min_faults_at_interval_start = p.min_faults;
    p.maj_faults_at_interval_start = p.maj_faults;
    p.exit_shown = p.exited;
  }
  oom_kills_.clear();
}

}  // namespace nt::model
