#include "model/block_io.h"

namespace nt::model {

IoCounters IoCounters::operator-(const IoCounters& earlier) const {
  IoCounters d;
  for (size_t i = 0; i < by_kind.size(); ++i)
    d.by_kind[i] = {by_kind[i].ops - earlier.by_kind[i].ops, by_kind[i].bytes - earlier.by_kind[i].bytes};
  d.queue_ns = queue_ns - earlier.queue_ns;
  d.device_ns = device_ns - earlier.device_ns;
  d.queue_hist = queue_hist - earlier.queue_hist;
  d.device_hist = device_hist - earlier.device_hist;
  return d;
}

IoCounters& IoCounters::operator+=(const IoCounters& more) {
  for (size_t i = 0; i < by_kind.size(); ++i) {
    by_kind[i].ops += more.by_kind[i].ops;
    by_kind[i].bytes += more.by_kind[i].bytes;
  }
  queue_ns += more.queue_ns;
  device_ns += more.device_ns;
  for (size_t i = 0; i < kLog2Slots; ++i) {
    queue_hist[i] += more.queue_hist[i];
    device_hist[i] += more.device_hist[i];
  }
  return *this;
}

ProcessIo& BlockIoTable::process(const ProcessKey& key) {
  auto [it, inserted] = processes_.try_emplace(key);
  if (inserted) it->second.key = key;
  return it->second;
}

DeviceIo& BlockIoTable::device(const BlockDevice& device) {
  auto [it, inserted] = devices_.try_emplace(device);
  if (inserted) it->second.device = device;
  return it->second;
}

void BlockIoTable::mark_exited(const ProcessKey& key) {
  if (auto it = processes_.find(key); it != processes_.end()) it->second.exited = true;
}

void BlockIoTable::start_interval() {
  for (auto& [key, process] : processes_) {
    process.at_interval_start = process.total;
    process.exit_shown = process.exited;
  }
  for (auto& [key, device] : devices_) device.at_interval_start = device.total;
}

}  // namespace nt::model
