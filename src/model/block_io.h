// Plain data: what the block I/O collector knows, per process and per device. No I/O, no BPF.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>

#include "model/histogram.h"
#include "model/process.h"

namespace nt::model {

enum class IoKind : uint8_t { kRead, kWrite, kFlush, kDiscard, kCount };
inline constexpr std::array<const char*, static_cast<size_t>(IoKind::kCount)> kIoKindNames = {"read", "write", "flush",
                                                                                             "discard"};

struct IoOps {
  uint64_t ops = 0;    // completed requests
  uint64_t bytes = 0;  // their bytes
  bool operator==(const IoOps&) const = default;
};

// Cumulative. Latency: queue time (insert -> issue) and device time (issue -> complete).
struct IoCounters {
  std::array<IoOps, static_cast<size_t>(IoKind::kCount)> by_kind{};
  uint64_t queue_ns = 0;
  uint64_t device_ns = 0;
  Log2Histogram queue_hist{};
  Log2Histogram device_hist{};
  bool operator==(const IoCounters&) const = default;
  IoCounters operator-(const IoCounters& earlier) const;
  IoCounters& operator+=(const IoCounters& more);
  const IoOps& of(IoKind kind) const { return by_kind[static_cast<size_t>(kind)]; }
};

// Requests of every kind.
inline uint64_t ops_of(const IoCounters& counters) {
  uint64_t ops = 0;
  for (const auto& kind : counters.by_kind) ops += kind.ops;
  return ops;
}

struct ProcessIo {
  ProcessKey key;
  std::string comm;
  bool kernel_thread = false;  // issued by a kernel thread (writeback, journal, loop workers)
  IoCounters total;
  IoCounters at_interval_start;
  bool exited = false;
  bool exit_shown = false;  // an interval has ended since it exited: its final counts were shown
};

struct BlockDevice {
  uint32_t major = 0;
  uint32_t minor = 0;
  auto operator<=>(const BlockDevice&) const = default;
};

struct DeviceIo {
  BlockDevice device;
  std::string name;  // from /sys/dev/block/MAJ:MIN; "MAJ:MIN" when unknown
  IoCounters total;  // every request to the disk, whoever made it (the process filter does not apply)
  IoOps unattributed;  // the part of `total` with no owner: completed unstamped (ops and bytes, all kinds)
  IoCounters at_interval_start;
};

class BlockIoTable {
 public:
  ProcessIo& process(const ProcessKey& key);
  DeviceIo& device(const BlockDevice& device);
  void mark_exited(const ProcessKey& key);
  void start_interval();  // exited processes keep their final totals (summed metrics never go down)
  const std::map<ProcessKey, ProcessIo>& processes() const { return processes_; }
  const std::map<BlockDevice, DeviceIo>& devices() const { return devices_; }

 private:
  std::map<ProcessKey, ProcessIo> processes_;
  std::map<BlockDevice, DeviceIo> devices_;
};

}  // namespace nt::model
