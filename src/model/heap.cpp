#include "model/heap.h"

namespace nt::model {

ProcessHeap& HeapTable::process(const ProcessKey& key) {
  auto [it, inserted] = processes_.try_emplace(key);
  if (inserted) it->second.key = key;
  return it->second;
}

void HeapTable::start_interval() {
  for (auto it = processes_.begin(); it != processes_.end();) {
    if (it->second.exit_shown) {
      it = processes_.erase(it);
      continue;
    }
    auto& p = it->second;
    p.exit_shown = p.exited;
    p.allocations_at_interval_start = p.allocations;
    p.frees_at_interval_start = p.frees;
    p.reported_bytes_at_interval_start = p.reported_bytes();
    ++it;
  }
}

}  // namespace nt::model
