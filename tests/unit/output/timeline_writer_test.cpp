// The timeline file (output/timeline_writer.h): the whole file for a small run, the packing of
// overlapping slices onto balanced tracks, the size bound and its drop count.
#include "output/timeline_writer.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

namespace nt::output {
namespace {

using Kind = model::TimelineEvent::Kind;

class TimelineFile : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/nt-timeline-test-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    path_ = dir_ + "/trace.json";
  }
  void TearDown() override {
    std::remove(path_.c_str());
    std::remove((path_ + ".partial").c_str());
    rmdir(dir_.c_str());
  }
  std::string contents() const {
    std::ifstream in(path_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }
  std::string dir_, path_;
};

model::TimelineEvent slice(uint32_t tid, const std::string& category, uint64_t start_ns, uint64_t duration_ns,
                           const std::string& name) {
  return {Kind::kSlice, 7, tid, start_ns, duration_ns, category, name, {}};
}

// Whole microseconds: 3'000'500 ns to 3'001'500 ns is 3000 to 3001 (both ends floored).
TEST_F(TimelineFile, WritesTheWholeFileSortedPerTrackInMicroseconds) {
  auto writer = TimelineWriter::open(path_, 1 << 20);
  ASSERT_TRUE(writer) << writer.error().message;
  model::TimelineFeed feed;
  feed.add(slice(8, "oncpu", 3'000'500, 1'000, "running"));
  feed.add(slice(8, "oncpu", 1'000'000, 2'000'000, "running"));
  feed.add({Kind::kInstant, 7, 7, 2'500'000, 0, "anomaly", "rx_rate high", {{"score", "0.9"}}});
  feed.name_process(7, "trainer");
  feed.name_thread(7, 8, "bad\xff");
  writer.value()->add(feed);
  writer.value()->set_other_data({{"collectors", {"cpu"}}});
  ASSERT_TRUE(writer.value()->finish());
  EXPECT_EQ(contents(),
            "{\"traceEvents\":[\n"
            R"({"name":"process_name","ph":"M","pid":7,"tid":7,"args":{"name":"trainer"}},)" "\n"
            R"({"name":"thread_name","ph":"M","pid":7,"tid":8,"args":{"name":"bad)" "\xEF\xBF\xBD" R"("}},)" "\n"
            R"({"ph":"i","s":"t","pid":7,"tid":7,"ts":2500,"name":"rx_rate high","cat":"anomaly","args":{"score":"0.9"}},)" "\n"
            R"({"ph":"X","pid":7,"tid":8,"ts":1000,"dur":2000,"name":"running","cat":"oncpu"},)" "\n"
            R"({"ph":"X","pid":7,"tid":8,"ts":3000,"dur":1,"name":"running","cat":"oncpu"})" "\n"
            R"(],"displayTimeUnit":"ms","otherData":{"clock":"CLOCK_MONOTONIC","unit":"us","max_bytes":1048576,)"
            R"("collectors":["cpu"],"dropped_events":0}})" "\n");
  EXPECT_EQ(access((path_ + ".partial").c_str(), F_OK), -1);  // renamed once complete
}

// A syscall that spans an on-CPU slice's end is on a track of its own; of two overlapping
// syscalls neither nested in the other, the second gets a second track; a nested one stays.
TEST_F(TimelineFile, OverlapsWithoutNestingGoOnTracksOfTheirOwn) {
  auto writer = TimelineWriter::open(path_, 1 << 20);
  ASSERT_TRUE(writer);
  writer.value()->add(slice(8, "oncpu", 0, 10'000, "running"));
  writer.value()->add(slice(8, "syscall", 5'000, 20'000, "read"));
  writer.value()->add(slice(8, "syscall", 6'000, 1'000, "inner"));
  writer.value()->add(slice(8, "syscall", 15'000, 20'000, "write"));
  writer.value()->name_thread(7, 8, "worker");
  ASSERT_TRUE(writer.value()->finish());
  const auto file = nlohmann::json::parse(contents());
  std::map<std::string, uint64_t> track_of;
  std::map<uint64_t, std::string> track_names;
  for (const auto& e : file["traceEvents"]) {
    if (e["ph"] == "M" && e["name"] == "thread_name") track_names[e["tid"]] = e["args"]["name"];
    if (e["ph"] == "X") track_of[e["name"]] = e["tid"];
  }
  const uint64_t second = 8 + (1u << TimelineWriter::kTrackShift), third = 8 + (2u << TimelineWriter::kTrackShift);
  EXPECT_EQ(track_of["running"], 8u);
  EXPECT_EQ(track_of["read"], second);
  EXPECT_EQ(track_of["inner"], second);
  EXPECT_EQ(track_of["write"], third);
  EXPECT_EQ(track_names[second], "worker syscall");
  EXPECT_EQ(track_names[third], "worker syscall 2");
}

// Past the bound, events are counted and not written; the file stays within it and is JSON.
TEST_F(TimelineFile, TheSizeBoundHoldsAndWhatDidNotFitIsCounted) {
  const uint64_t bound = 4096;
  auto writer = TimelineWriter::open(path_, bound);
  ASSERT_TRUE(writer);
  for (uint64_t i = 0; i < 1000; ++i) writer.value()->add(slice(8, "oncpu", i * 1000, 500, "running"));
  writer.value()->set_refused_upstream(5);
  ASSERT_TRUE(writer.value()->finish());
  const std::string text = contents();
  EXPECT_LE(text.size(), bound);
  const auto file = nlohmann::json::parse(text);
  const uint64_t written = file["traceEvents"].size();
  EXPECT_GT(written, 0u);
  EXPECT_EQ(file["otherData"]["dropped_events"].get<uint64_t>(), 1000 - written + 5);
  EXPECT_EQ(writer.value()->dropped(), 1000 - written + 5);
}

// The feed refuses past its capacity, and counts.
TEST(TimelineFeed, CountsWhatItRefuses) {
  model::TimelineFeed feed(2);
  for (int i = 0; i < 5; ++i) feed.add(slice(8, "oncpu", i, 1, "running"));
  EXPECT_EQ(feed.take().size(), 2u);
  EXPECT_EQ(feed.refused(), 3u);
  feed.add(slice(8, "oncpu", 9, 1, "running"));
  EXPECT_EQ(feed.take().size(), 1u);
}

TEST(TimelineWriterOpen, AnUnwritablePathFailsAtTheStart) {
  auto writer = TimelineWriter::open("/nonexistent-dir/trace.json", 1 << 20);
  ASSERT_FALSE(writer);
  EXPECT_NE(writer.error().message.find("/nonexistent-dir/trace.json.partial"), std::string::npos);
}

// An agent that stops on an error path still leaves a complete file.
TEST_F(TimelineFile, IsCompleteWhenTheWriterIsDestroyedUnfinished) {
  {
    auto writer = TimelineWriter::open(path_, 1 << 20);
    ASSERT_TRUE(writer);
    writer.value()->add(slice(8, "oncpu", 0, 10, "running"));
  }
  EXPECT_EQ(nlohmann::json::parse(contents())["traceEvents"].size(), 1u);
}

}  // namespace
}  // namespace nt::output
