// Plain data: what `record --timeline` puts on its one timeline. Collectors append events to the
// interval's feed while they drain; the agent takes them each interval and hands them to the
// timeline writer (output/timeline_writer.h). No I/O.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace nt::model {

struct TimelineEvent {
  enum class Kind { kSlice, kInstant };
  Kind kind = Kind::kSlice;
  uint32_t pid = 0;  // the process (thread group id): the track's process
  uint32_t tid = 0;  // the thread: the track; a process-wide event uses tid == pid
  uint64_t start_ns = 0;     // CLOCK_MONOTONIC
  uint64_t duration_ns = 0;  // slices only
  std::string category;      // "oncpu", "offcpu", "syscall", "net", "tcp", "anomaly", "cuda", ...
  std::string name;
  std::vector<std::pair<std::string, std::string>> args;
};

// One interval's events, bounded: a collector that finds it full has its event counted, not
// kept, so a burst between two drains costs a count, never the agent's memory.
class TimelineFeed {
 public:
  static constexpr size_t kDefaultCapacity = 1'000'000;
  explicit TimelineFeed(size_t capacity = kDefaultCapacity) : capacity_(capacity) {}

  void add(TimelineEvent event) {
    if (events_.size() >= capacity_) {
      ++refused_;
      return;
    }
    events_.push_back(std::move(event));
  }
  // The names the viewer shows for a process and a thread (the last one given wins: exec renames).
  void name_process(uint32_t pid, std::string name) { process_names_[pid] = std::move(name); }
  void name_thread(uint32_t pid, uint32_t tid, std::string name) { thread_names_[{pid, tid}] = std::move(name); }

  // The interval's events, handed over; the feed starts empty again.
  std::vector<TimelineEvent> take() {
    std::vector<TimelineEvent> taken;
    taken.swap(events_);
    return taken;
  }
  // The names given since the last call, handed over likewise.
  std::map<uint32_t, std::string> take_process_names() { return std::exchange(process_names_, {}); }
  std::map<std::pair<uint32_t, uint32_t>, std::string> take_thread_names() { return std::exchange(thread_names_, {}); }

  // Events refused since the start because the feed was full (cumulative).
  uint64_t refused() const { return refused_; }
  size_t capacity() const { return capacity_; }

 private:
  size_t capacity_;
  std::vector<TimelineEvent> events_;
  std::map<uint32_t, std::string> process_names_;
  std::map<std::pair<uint32_t, uint32_t>, std::string> thread_names_;
  uint64_t refused_ = 0;
};

}  // namespace nt::model

#include "model/flows.h"
#include "model/snapshot.h"
#include "model/syscalls.h"

namespace nt::model {

// What the agent's events look like on the timeline (model/timeline.cpp).
// A slow syscall: a slice on its thread, from entry to exit.
TimelineEvent timeline_event(const SlowSyscall& call);
// A closed connection: a slice on its process's track, from open to close (none when the open was
// not seen: its start is unknown).
std::optional<TimelineEvent> connection_slice(const ConnEvent& close);
// What went wrong on a closing connection (retransmits, losses, resets, a full receive queue): an
// instant at its close, with the counts; none when nothing did. The kernel gives counts at close,
// not a time per retransmit.
std::optional<TimelineEvent> tcp_trouble(const ConnEvent& close);
// A raised anomaly: an instant on its process (pid 0 for a device's or a disk's), at the anomaly's
// time; `to_monotonic_s` turns Unix seconds into the monotonic clock's.
TimelineEvent timeline_event(const Anomaly& anomaly, double to_monotonic_s);

}  // namespace nt::model
