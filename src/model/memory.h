// Plain data: what the memory collector knows, per process, and the OOM kills it saw. No I/O, no BPF.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "model/process.h"

namespace nt::model {

enum class RssKind : uint8_t { kFile, kAnon, kSwap, kShmem, kCount };  // the kernel's order
inline constexpr std::array<const char*, static_cast<size_t>(RssKind::kCount)> kRssKindNames = {"file", "anon", "swap",
                                                                                                "shmem"};
using RssBytes = std::array<uint64_t, static_cast<size_t>(RssKind::kCount)>;

// Resident bytes: file, anon and shmem pages (swap entries are not resident).
inline uint64_t resident_bytes(const RssBytes& rss) {
  return rss[static_cast<size_t>(RssKind::kFile)] + rss[static_cast<size_t>(RssKind::kAnon)] +
         rss[static_cast<size_t>(RssKind::kShmem)];
}

struct ProcessMemory {
  ProcessKey key;
  std::string comm;
  std::string cgroup;           // its cgroup v2 path ("/system.slice/x.service"), "" when not known
  RssBytes rss{};              // as the kernel last reported each counter (rss_stat); swap: swapped-out bytes
  uint64_t peak_rss_bytes = 0;  // the largest resident size seen
  bool rss_known = false;       // an rss_stat event was seen
  uint64_t min_faults = 0, maj_faults = 0;  // the kernel's totals since the process started (/proc/PID/stat)
  uint64_t min_faults_base = 0, maj_faults_base = 0;  // at first sight (0 for a process born after the agent)
  uint64_t min_faults_at_interval_start = 0, maj_faults_at_interval_start = 0;
  RssBytes rss_at_interval_start{};
  bool exited = false;
  bool exit_shown = false;
  uint64_t min_faults_seen() const { return min_faults - min_faults_base; }  // since the agent saw it
  uint64_t maj_faults_seen() const { return maj_faults - maj_faults_base; }
};

struct OomKill {
  uint64_t monotonic_ns = 0;
  ProcessKey victim;           // start_ns 0 when the kernel passes the victim's pid only
  std::string victim_comm;
  RssBytes victim_rss{};       // at the kill; all 0 when not known
  uint64_t total_vm_bytes = 0;
  int32_t oom_score_adj = 0;
  uint32_t trigger_tgid = 0;   // whose allocation ran the OOM killer
  std::string trigger_comm;
  uint64_t memcg_id = 0;       // the victim's memory cgroup (the trigger's, with the pid only)
  std::string cgroup;          // its path in its hierarchy; "" when not found
};

// A cgroup's memory pressure (PSI) as its memory.pressure file gives it: the share of the last 10 s
// in which some (or all) of its tasks stalled on memory, and the stall time since it was made.
struct MemoryPressure {
  double some_avg10 = 0, full_avg10 = 0;  // percent
  uint64_t some_total_us = 0, full_total_us = 0;
  bool operator==(const MemoryPressure&) const = default;
};
// "some avg10=0.00 avg60=0.00 avg300=0.00 total=0\nfull avg10=..."; nothing for text that is not that.
std::optional<MemoryPressure> parse_pressure(std::string_view text);

class MemoryTable {
 public:
  ProcessMemory& process(const ProcessKey& key);
  void mark_exited(const ProcessKey& key);
  void start_interval();  // exited processes keep their last values; OOM kills are cleared
  const std::map<ProcessKey, ProcessMemory>& processes() const { return processes_; }
  std::vector<OomKill>& oom_kills() { return oom_kills_; }  // this interval's, oldest first
  const std::vector<OomKill>& oom_kills() const { return oom_kills_; }
  // The pressure of the cgroups the live processes are in, as read at the interval's end.
  std::map<std::string, MemoryPressure>& pressure() { return pressure_; }
  const std::map<std::string, MemoryPressure>& pressure() const { return pressure_; }

 private:
  std::map<ProcessKey, ProcessMemory> processes_;
  std::vector<OomKill> oom_kills_;
  std::map<std::string, MemoryPressure> pressure_;
};

}  // namespace nt::model
