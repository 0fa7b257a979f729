#include "output/timeline_writer.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <tuple>

namespace nt::output {
namespace {

using Json = nlohmann::ordered_json;

// Kernel strings (comm) are arbitrary bytes: invalid UTF-8 is replaced, so the file stays JSON.
std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

// Whole microseconds (floored): the trace event format's unit, and numbers every viewer holds
// exactly. Viewers add ts and dur in doubles; with fractions (1234.567 has no exact double) a slice
// that ends where the next begins would overlap it by a rounding error, and the track would no
// longer nest. Flooring both ends keeps what abuts abutting and what nests nested.
uint64_t micros(uint64_t ns) { return ns / 1000; }

// The most an event's members besides its body take: ph, pid, tid (10 digits each), ts and dur
// (20 digits each), the scope of an instant, braces and the separator.
constexpr size_t kEventFrame = 120;
constexpr const char* kHead = "{\"traceEvents\":[\n";

}  // namespace

bool on_thread_track(const std::string& category) { return category == "oncpu" || category == "offcpu"; }

Result<std::unique_ptr<TimelineWriter>> TimelineWriter::open(const std::string& path, uint64_t max_bytes) {
  if (path.empty()) return Error{"--timeline: a file name is needed"};
  const std::string partial = path + ".partial";
  FILE* file = std::fopen(partial.c_str(), "w");
  if (!file) return errno_error("--timeline: cannot write " + partial, errno);
  return std::unique_ptr<TimelineWriter>(new TimelineWriter(path, file, max_bytes));
}

TimelineWriter::TimelineWriter(std::string path, FILE* file, uint64_t max_bytes)
    : path_(std::move(path)), file_(file), max_bytes_(max_bytes), used_bytes_(std::strlen(kHead) + 1024) {}

TimelineWriter::~TimelineWriter() {
  if (!finished_) (void)finish();
}

uint32_t TimelineWriter::category_index(const std::string& category) {
  auto it = std::find(categories_.begin(), categories_.end(), category);
  if (it != categories_.end()) return static_cast<uint32_t>(it - categories_.begin());
  categories_.push_back(category);
  return static_cast<uint32_t>(categories_.size() - 1);
}

bool TimelineWriter::take_room(size_t bytes) {
  if (used_bytes_ + bytes > max_bytes_) return false;
  used_bytes_ += bytes;
  return true;
}

void TimelineWriter::add(model::TimelineEvent event) {
  Json body = Json::object();
  body["name"] = std::move(event.name);
  body["cat"] = event.category;
  if (!event.args.empty()) {
    Json args = Json::object();
    for (auto& [key, value] : event.args) args[key] = std::move(value);
    body["args"] = std::move(args);
  }
  std::string text = dump(body);
  text = text.substr(1, text.size() - 2);  // the members only: the frame is written around them
  if (!take_room(text.size() + kEventFrame)) {
    ++dropped_;
    return;
  }
  events_.push_back({event.kind, event.pid, event.tid, event.start_ns, event.duration_ns,
                     category_index(event.category), std::move(text)});
}

void TimelineWriter::add(model::TimelineFeed& feed) {
  for (auto& event : feed.take()) add(std::move(event));
  for (auto& [pid, name] : feed.take_process_names()) name_process(pid, name);
  for (auto& [key, name] : feed.take_thread_names()) name_thread(key.first, key.second, name);
}

void TimelineWriter::name_process(uint32_t pid, const std::string& name) { process_names_[pid] = name; }
void TimelineWriter::name_thread(uint32_t pid, uint32_t tid, const std::string& name) {
  thread_names_[{pid, tid}] = name;
}

Status TimelineWriter::finish() {
  if (finished_) return {};
  finished_ = true;

  // Tracks: each slice goes on the first track of its thread and category where it nests in, or
  // follows, what is already there (the slices in start order, the longer first at a tie).
  std::vector<size_t> order(events_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto by_start = [&](size_t a, size_t b) {
    const auto& x = events_[a];
    const auto& y = events_[b];
    return std::tuple(x.pid, x.tid, x.category, x.start_ns, y.duration_ns) <
           std::tuple(y.pid, y.tid, y.category, y.start_ns, x.duration_ns);
  };
  std::stable_sort(order.begin(), order.end(), by_start);
  struct Lane {
    uint32_t number;                 // 0: the thread's own track
    std::vector<uint64_t> open_ends;  // the ends of the slices that enclose the next one
  };
  std::map<std::pair<uint32_t, uint32_t>, uint32_t> lanes_used;  // per thread, beyond its own track
  std::map<std::tuple<uint32_t, uint32_t, uint32_t>, std::vector<Lane>> lanes;
  struct TrackName {
    uint32_t pid, tid, category, nth;
  };
  std::map<std::pair<uint32_t, uint32_t>, TrackName> extra_tracks;  // (pid, track tid)
  std::vector<uint32_t> track_of(events_.size(), 0);
  std::vector<bool> keep(events_.size(), true);
  for (size_t i : order) {
    auto& e = events_[i];
    if (e.kind == model::TimelineEvent::Kind::kInstant) {
      track_of[i] = e.tid;
      continue;
    }
    const uint64_t end = e.start_ns + e.duration_ns;
    auto& mine = lanes[{e.pid, e.tid, e.category}];
    Lane* fit = nullptr;
    for (auto& lane : mine) {
      while (!lane.open_ends.empty() && lane.open_ends.back() <= e.start_ns) lane.open_ends.pop_back();
      if (lane.open_ends.empty() || end <= lane.open_ends.back()) {
        fit = &lane;
        break;
      }
    }
    if (!fit) {
      uint32_t number = 0;
      if (!(mine.empty() && on_thread_track(categories_[e.category]))) {
        uint32_t& used = lanes_used[{e.pid, e.tid}];
        if (used == kMaxTracksPerThread) {
          keep[i] = false;
          ++dropped_;
          continue;
        }
        number = ++used;
        const uint32_t tid = e.tid + (number << kTrackShift);
        extra_tracks[{e.pid, tid}] = {e.pid, e.tid, e.category, static_cast<uint32_t>(mine.size()) + 1};
      }
      mine.push_back({number, {}});
      fit = &mine.back();
    }
    fit->open_ends.push_back(end);
    track_of[i] = e.tid + (fit->number << kTrackShift);
  }

  // Names: each process, each thread, each extra track ("python3 syscall", "python3 net 2").
  std::vector<std::string> names;
  auto metadata = [&](const char* what, uint32_t pid, uint32_t tid, const std::string& name) {
    Json m = {{"name", what}, {"ph", "M"}, {"pid", pid}, {"tid", tid}, {"args", {{"name", name}}}};
    names.push_back(dump(m));
  };
  for (const auto& [pid, name] : process_names_) metadata("process_name", pid, pid, name);
  for (const auto& [key, name] : thread_names_) metadata("thread_name", key.first, key.second, name);
  for (const auto& [key, track] : extra_tracks) {
    auto thread = thread_names_.find({track.pid, track.tid});
    std::string name = thread == thread_names_.end() ? std::to_string(track.tid) : thread->second;
    name += " " + categories_[track.category];
    if (track.nth > 1) name += " " + std::to_string(track.nth);
    metadata("thread_name", key.first, key.second, name);
  }

  Json other = {{"clock", "CLOCK_MONOTONIC"}, {"unit", "us"}, {"max_bytes", max_bytes_}};
  for (auto& [key, value] : other_.items()) other[key] = value;
  other["dropped_events"] = uint64_t{0};
  const size_t other_bytes = dump(other).size() + 64;  // and a dropped count of up to 20 digits

  // The bound holds for the whole file: when the names take it past, the latest events give way.
  uint64_t bytes = std::strlen(kHead) + other_bytes;
  for (const auto& name : names) bytes += name.size() + 2;
  std::vector<size_t> written;
  for (size_t i = 0; i < events_.size(); ++i)
    if (keep[i]) {
      written.push_back(i);
      bytes += events_[i].body.size() + kEventFrame;
    }
  if (bytes > max_bytes_) {
    std::stable_sort(written.begin(), written.end(),
                     [&](size_t a, size_t b) { return events_[a].start_ns < events_[b].start_ns; });
    while (!written.empty() && bytes > max_bytes_) {
      bytes -= events_[written.back()].body.size() + kEventFrame;
      written.pop_back();
      ++dropped_;
    }
  }
  // Every track in time order; the file sorted by process, track, time.
  std::stable_sort(written.begin(), written.end(), [&](size_t a, size_t b) {
    const auto& x = events_[a];
    const auto& y = events_[b];
    return std::tuple(x.pid, track_of[a], x.start_ns, y.duration_ns) <
           std::tuple(y.pid, track_of[b], y.start_ns, x.duration_ns);
  });

  written_ = written.size();
  other["dropped_events"] = dropped();
  const std::string tail = "\n],\"displayTimeUnit\":\"ms\",\"otherData\":" + dump(other) + "}\n";

  bool ok = std::fputs(kHead, file_) >= 0;
  bool first = true;
  auto put = [&](const std::string& text) {
    if (!first) ok = ok && std::fputs(",\n", file_) >= 0;
    first = false;
    ok = ok && std::fwrite(text.data(), 1, text.size(), file_) == text.size();
  };
  for (const auto& name : names) put(name);
  std::string text;
  for (size_t i : written) {
    const auto& e = events_[i];
    const bool slice = e.kind == model::TimelineEvent::Kind::kSlice;
    text = slice ? "{\"ph\":\"X\"" : "{\"ph\":\"i\",\"s\":\"t\"";
    text += ",\"pid\":" + std::to_string(e.pid) + ",\"tid\":" + std::to_string(track_of[i]) +
            ",\"ts\":" + std::to_string(micros(e.start_ns));
    if (slice) text += ",\"dur\":" + std::to_string(micros(e.start_ns + e.duration_ns) - micros(e.start_ns));
    text += "," + e.body + "}";
    put(text);
  }
  ok = ok && std::fputs(tail.c_str(), file_) >= 0;
  ok = std::fclose(file_) == 0 && ok;
  file_ = nullptr;
  const std::string partial = path_ + ".partial";
  if (!ok) return errno_error("--timeline: writing " + partial, errno);
  if (std::rename(partial.c_str(), path_.c_str()) != 0) return errno_error("--timeline: renaming " + partial, errno);
  return {};
}

}  // namespace nt::output
