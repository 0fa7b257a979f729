#include "model/probes.h"

namespace nt::model {

const char* probe_set_name(ProbeSet set) {
  switch (set) {
    case ProbeSet::kProbe: return "probe";
    case ProbeSet::kUsdt: return "usdt";
    case ProbeSet::kCuda: return "cuda";
    case ProbeSet::kNccl: return "nccl";
  }
  return "?";
}

const char* copy_kind_name(size_t kind) {
  static const char* const kNames[kCopyKinds] = {"host_to_host", "host_to_device", "device_to_host",
                                                 "device_to_device", "default"};
  return kind < kCopyKinds ? kNames[kind] : "unknown";
}

bool ProcessProbes::changed() const {
  for (const auto& [index, calls] : functions)
    if (calls.calls != calls.calls_at_interval_start) return true;
  return false;
}

ProcessProbes& ProbeTable::process(const ProcessKey& key) {
  auto [it, inserted] = processes_.try_emplace(key);
  if (inserted) it->second.key = key;
  return it->second;
}

void ProbeTable::start_interval() {
  for (auto it = processes_.begin(); it != processes_.end();) {
    if (it->second.exit_shown) {
      it = processes_.erase(it);
      continue;
    }
    it->second.exit_shown = it->second.exited;
    it->second.cuda.old_bytes_at_interval_start = it->second.cuda.old_bytes();
    for (auto& [index, calls] : it->second.functions) calls.calls_at_interval_start = calls.calls;
    ++it;
  }
}

}  // namespace nt::model
