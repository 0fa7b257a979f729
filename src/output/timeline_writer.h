// `record --timeline FILE`: the events of every collector on one timeline, in the Chrome trace
// event format (JSON: what Perfetto's UI, chrome://tracing and speedscope read). Timestamps are
// CLOCK_MONOTONIC, in whole microseconds (floored: see micros() for why not fractions).
//
// Events are buffered and written once, at finish(), sorted per track: the file must be valid
// JSON however the agent stops, so it is written to FILE.partial and renamed over FILE when
// complete (a killed agent leaves no half-written FILE). The buffer is bounded by the file's size
// bound: an event that would take the file past it is counted, never written.
//
// Tracks: the on- and off-CPU slices of a thread are on the thread's own track (its tid). Every
// other category of a thread (syscalls, connections, CUDA calls, ...) gets tracks of its own in the
// same process, so that no track holds slices that overlap without nesting (a slow syscall spans an
// on-CPU slice's end; two connections of one thread overlap): the slices of one category are packed
// greedily onto as few tracks as keep each one balanced. Such a track's tid is the thread's tid plus
// a multiple of 2^22 (the kernel's largest pid_max), so it never names a real thread.
#pragma once

#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "model/timeline.h"

namespace nt::output {

class TimelineWriter {
 public:
  // Creates FILE.partial now, so that a path that cannot be written fails at the start.
  static Result<std::unique_ptr<TimelineWriter>> open(const std::string& path, uint64_t max_bytes);
  ~TimelineWriter();  // finishes, if finish() was not called (an error path)
  TimelineWriter(const TimelineWriter&) = delete;
  TimelineWriter& operator=(const TimelineWriter&) = delete;

  // One interval's feed: its events and names. Past the size bound, counted as dropped.
  void add(model::TimelineFeed& feed);
  void add(model::TimelineEvent event);
  void name_process(uint32_t pid, const std::string& name);
  void name_thread(uint32_t pid, uint32_t tid, const std::string& name);
  // Events not written: beyond the size bound, or refused upstream (`refused_upstream`, e.g. the
  // feed's own capacity); what `dropped_events` in the file's otherData says.
  uint64_t dropped() const { return dropped_ + refused_upstream_; }
  void set_refused_upstream(uint64_t refused) { refused_upstream_ = refused; }
  // otherData's extra members (the run's collectors, the clock's offset to Unix time, ...).
  void set_other_data(nlohmann::ordered_json other) { other_ = std::move(other); }

  // Sorts, writes FILE.partial and renames it to FILE. Only the first call writes.
  Status finish();
  uint64_t written() const { return written_; }  // events in the file (after finish())
  const std::string& path() const { return path_; }

  // The tid of a category's n-th track of thread `tid` (n >= 1); n = 0 is the thread's own track.
  static constexpr uint32_t kTrackShift = 22;
  static constexpr uint32_t kMaxTracksPerThread = 511;  // keeps every tid below 2^31

 private:
  TimelineWriter(std::string path, FILE* file, uint64_t max_bytes);
  struct Buffered {
    model::TimelineEvent::Kind kind;
    uint32_t pid, tid;
    uint64_t start_ns, duration_ns;
    uint32_t category;  // index into categories_
    std::string body;   // "name", "cat" and "args" members, serialized
  };
  bool take_room(size_t bytes);
  uint32_t category_index(const std::string& category);

  std::string path_;
  FILE* file_;
  uint64_t max_bytes_;
  uint64_t used_bytes_;
  uint64_t dropped_ = 0;
  uint64_t written_ = 0;
  uint64_t refused_upstream_ = 0;
  bool finished_ = false;
  std::vector<Buffered> events_;
  std::vector<std::string> categories_;
  std::map<uint32_t, std::string> process_names_;
  std::map<std::pair<uint32_t, uint32_t>, std::string> thread_names_;
  nlohmann::ordered_json other_ = nlohmann::ordered_json::object();
};

// Whether a category's slices go on the thread's own track (the scheduling ones).
bool on_thread_track(const std::string& category);

}  // namespace nt::output
