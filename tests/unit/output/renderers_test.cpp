// Renderers render into strings; each test compares the whole output.
#include <gtest/gtest.h>

#include <cmath>

#include "output/json_lines.h"
#include "output/json_text.h"
#include "output/live_view.h"
#include "output/memory_records.h"
#include "output/table.h"

namespace {

nt::model::ProcessTable two_processes() {
  nt::model::ProcessTable table;
  // A comm is arbitrary bytes from the kernel: here an invalid UTF-8 byte (rendered as U+FFFD) and a quote.
  table.update({42, 4026531840u, 123456789}, std::string("bad\xff\"name"), {1000, 10, 2, 1});
  table.start_interval();
  table.update({42, 4026531840u, 123456789}, std::string("bad\xff\"name"), {3000, 10, 4, 1});
  table.update({7, 4026531840u, 5}, "trainer", {0, 5 * 1024 * 1024, 0, 9});
  return table;
}

TEST(JsonLines, ProcessRecordIsValidJsonWithRatesOverTheInterval) {
  auto table = two_processes();
  const auto& process = table.processes().at({42, 4026531840u, 123456789});
  EXPECT_EQ(nt::output::to_line(nt::output::process_record(process, 1700000000.5, 2.0)),
            R"({"type":"process","v":1,"ts":1700000000.5,"pid":42,"start_time":123456789,"comm":"bad)" "\xEF\xBF\xBD" R"(\"name",)"
            R"("netns":4026531840,"tx_bytes":3000,"rx_bytes":10,"tx_calls":4,"rx_calls":1,"tx_rate":1000.0,"rx_rate":0.0})");
}

TEST(JsonLines, FlowLineIsTheWholeRecord) {
  nt::model::FlowTraffic flow;
  flow.key = {{42, 4026531840u, 123456789}, 6, {6, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 40000},
              {6, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 2}, 29500}};
  flow.at_interval_start = {1000, 10, 2, 1};
  flow.total = {4000, 10, 5, 1};
  flow.srtt_us = 250;
  flow.retransmits = 3;
  flow.spurious_retransmits = 1;
  flow.retired = true;
  std::string line = "left alone:";
  nt::output::flow_line(line, flow, nt::model::shown(flow, 2.0), std::string("bad\xff\"name"), 1700000000.5);
  EXPECT_EQ(line, R"(left alone:{"type":"flow","v":1,"ts":1700000000.5,"pid":42,"start_time":123456789,"comm":"bad)"
                  "\xEF\xBF\xBD" R"(\"name","netns":4026531840,"proto":"tcp","family":6,"saddr":"2001:db8::1",)"
                  R"("sport":40000,"daddr":"10.0.0.2","dport":29500,"tx_bytes":4000,"rx_bytes":10,"tx_calls":5,)"
                  R"("rx_calls":1,"tx_rate":1500.0,"rx_rate":0.0,"retrans":3,"spurious_retrans":1,"srtt_us":250,)"
                  R"("closed":true})");
}

// What nlohmann::json writes for the same string: every byte alone, and random byte strings.
TEST(JsonText, StringsAreEscapedAsNlohmannEscapesThem) {
  auto dumped = [](const std::string& text) {
    return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  };
  auto written = [](const std::string& text) {
    std::string out;
    nt::output::JsonObjectText(out).text_field("k", text).close();
    return out;
  };
  std::vector<std::string> texts;
  for (int byte = 0; byte < 256; ++byte) texts.push_back(std::string(1, static_cast<char>(byte)) + "x");
  uint64_t state = 12345;
  for (int i = 0; i < 2000; ++i) {
    std::string text;
    for (int n = 0; n < 16; ++n) {
      state = state * 6364136223846793005ull + 1442695040888963407ull;
      text.push_back(static_cast<char>(state >> 56));
    }
    texts.push_back(text);
  }
  texts.push_back("\xE2\x82\xAC plain \xF0\x9F\x98");  // valid, then a cut sequence
  for (const auto& text : texts) EXPECT_EQ(written(text), "{\"k\":" + dumped(text) + "}");
}

TEST(JsonText, NumbersReadBackExactlyAndRealsStayReal) {
  std::string out;
  nt::output::JsonObjectText(out)
      .real_field("a", 0.0)
      .real_field("b", 5)
      .real_field("c", 0.1)
      .real_field("d", 1e20)
      .real_field("e", 1.0 / 3)
      .real_field("f", std::nan(""))
      .unsigned_field("g", UINT64_MAX)
      .bool_field("h", false)
      .close();
  EXPECT_EQ(out, R"({"a":0.0,"b":5.0,"c":0.1,"d":1e+20,"e":0.3333333333333333,"f":null,"g":18446744073709551615,"h":false})");
  auto back = nlohmann::json::parse(out);
  EXPECT_TRUE(back["b"].is_number_float());
  EXPECT_EQ(back["e"].get<double>(), 1.0 / 3);
  EXPECT_EQ(back["d"].get<double>(), 1e20);
}

TEST(JsonLines, SummaryListsEveryProcessAndEveryLossCounter) {
  auto table = two_processes();
  nt::model::LossCounters losses{};
  losses[static_cast<size_t>(nt::model::LossReason::kSegmentRingbufFull)] = 3;
  EXPECT_EQ(nt::output::to_line(nt::output::summary_record(table, losses, {{"count_send", 4, 400, 0}}, 10.0, 1.5, 7)),
            R"({"type":"summary","v":1,"ts":10.0,"duration_s":1.5,"processes":[)"
            R"({"pid":7,"start_time":5,"comm":"trainer","netns":4026531840,"tx_bytes":0,"rx_bytes":5242880,"tx_calls":0,"rx_calls":9},)"
            R"({"pid":42,"start_time":123456789,"comm":"bad)" "\xEF\xBF\xBD" R"(\"name","netns":4026531840,"tx_bytes":3000,"rx_bytes":10,"tx_calls":4,"rx_calls":1}],)"
            R"("loss":{"segment_ringbuf_full":3,"proc_bytes_not_held":0,"sock_stamp_failed":0,"filter_map_full":0,"ringbuf_full":0,)"
            R"("unseen_map_full":0,"device_map_full":0,"packet_owner_map_full":0,"packet_ringbuf_full":0,)"
            R"("flow_map_full":0,"flow_bytes_not_held":0,"conn_ringbuf_full":0,"map_read_failed":0,"device_read_failed":0,)"
            R"("sched_map_full":0,"sched_storage_failed":0,"io_request_map_full":0,"io_counter_map_full":0,"server_batches_dropped":0,"server_samples_dropped":0,)"
            R"("server_conns_dropped":0,"rhythm_table_full":0,"syscall_counter_map_full":0,"syscall_errno_map_full":0,)"
            R"("syscall_thread_map_full":0,"syscall_ringbuf_full":0,"memory_map_full":0,"oom_ringbuf_full":0,)"
            R"("heap_blocks_full":0,"heap_stack_lost":0,"heap_calls_full":0,"heap_processes_full":0,)"
            R"("probe_stats_full":0,"probe_codes_full":0,"probe_calls_full":0,"probe_events_full":0,"probe_stack_lost":0,)"
            R"("timeline_ringbuf_full":0,"timeline_full":0},)"
            R"("bpf_programs":[{"name":"count_send","run_count":4,"run_time_ns":400,"recursion_misses":0}],"exit_status":7})");
}

TEST(Table, RowsByTotalBytesWithUnprintableBytesMasked) {
  EXPECT_EQ(nt::output::render_process_table(two_processes()),
            "     PID COMM                  NETNS           TX           RX   TX_CALLS   RX_CALLS\n"
            "       7 trainer          4026531840          0 B      5.0 MiB          0          9\n"
            "      42 bad?\"name        4026531840      2.9 KiB         10 B          4          1\n");
}

// Anomalies as the Recorder keeps them (oldest first), around the batch frame at kNow.
constexpr double kNow = 1700000000.0;

nt::model::Anomaly anomaly(double ts, const std::string& kind, nt::model::ProcessKey process,
                                  const std::string& subject, const std::string& metric, const std::string& detector,
                                  double value, double low, double high) {
  return {ts, kind, process, kind == "device" ? "" : "trainer", subject, metric, detector, value, low, high};
}

TEST(TopBatch, MarksRowsWithARecentAnomalyAtTheEndAndListsTheIntervalsNewOnes) {
  auto table = two_processes();
  std::deque<nt::model::Anomaly> anomalies = {
      // Older than the mark: pid 7's row stays unmarked.
      anomaly(kNow - nt::output::kAnomalyMarkS - 1, "process", {7, 4026531840u, 5}, "", "rx_rate", "burst", 9e6, 0, 1e5),
      // Recent but on a device: no process row is marked.
      anomaly(kNow - 10, "device", {}, "eth0", "tx_rate", "burst", 2e7, 1e5, 2e5),
      // Raised this interval: the first marks pid 42; the second was pid 7's earlier process (another start time).
      anomaly(kNow, "process", {42, 4026531840u, 123456789}, "", "tx_rate", "burst", 5000459, 99804.8, 100184.1),
      anomaly(kNow, "flow", {7, 4026531840u, 4}, "tcp 10.0.0.1:40000 > 10.0.0.2:29500", "rate", "stall", 0, 2.5e6,
              2.6e6),
  };
  nt::model::Snapshot view;
  view.ts = kNow;
  view.interval_s = 2.0;
  view.processes = &table;
  view.anomalies = &anomalies;
  view.new_anomalies = 2;
  EXPECT_EQ(nt::output::render_batch(view, nt::output::SortKey::kPid, ""),
            "neutracer top  ts=1700000000.000  interval=2.00s  sort=pid\n"
            "     PID USER     COMMAND                TX/s       RX/s        TX        RX FLOWS RETRANS   RTT_US\n"
            "       7 ?        trainer                0B/s     2.5M/s        0B      5.0M     0       0        -\n"
            "      42 ?        bad?\"name            1.0K/s       0B/s      2.9K       10B     0       0        - !\n"
            "anomaly: burst tx_rate trainer (pid 42) 4.8M/s, expected <= 97.8K/s\n"
            "anomaly: stall rate trainer (pid 7) tcp 10.0.0.1:40000 > 10.0.0.2:29500 0B/s, expected >= 2.4M/s\n");
}

TEST(TopBatch, WithoutDetectionNothingIsMarkedOrListed) {
  auto table = two_processes();
  nt::model::Snapshot view;
  view.ts = kNow;
  view.interval_s = 2.0;
  view.processes = &table;
  auto batch = nt::output::render_batch(view, nt::output::SortKey::kPid, "");
  EXPECT_EQ(batch.find('!'), std::string::npos);
  EXPECT_EQ(batch.find("anomaly"), std::string::npos);
}

TEST(TopAnomaly, EachMetricInItsUnit) {
  EXPECT_EQ(nt::output::describe_anomaly(anomaly(kNow, "flow", {7, 1, 5}, "tcp [::1]:1 > [::1]:2", "srtt_us",
                                                 "rtt_inflation", 25000, 80, 120)),
            "rtt_inflation srtt_us trainer (pid 7) tcp [::1]:1 > [::1]:2 25ms, expected <= 120us");
  EXPECT_EQ(nt::output::describe_anomaly(anomaly(kNow, "process", {7, 1, 5}, "", "conn_opens", "connection_storm",
                                                 300, 0, 2.2)),
            "connection_storm conn_opens trainer (pid 7) 300/s, expected <= 2/s");
  EXPECT_EQ(nt::output::describe_anomaly(anomaly(kNow, "device", {}, "veth\x01", "rx_rate", "burst", 3e6, 1e3, 2e3)),
            "burst rx_rate dev veth? 2.9M/s, expected <= 2.0K/s");
}

TEST(MemoryPressure, ReadFromTheKernelsFileIntoItsRecord) {
  const auto pressure = nt::model::parse_pressure(
      "some avg10=1.25 avg60=0.50 avg300=0.10 total=123456\nfull avg10=0.75 avg60=0.20 avg300=0.05 total=65432\n");
  ASSERT_TRUE(pressure);
  EXPECT_EQ(nt::output::to_line(nt::output::pressure_record("/system.slice/x.service", *pressure, 10.0)),
            R"({"type":"memory_pressure","v":1,"ts":10.0,"cgroup":"/system.slice/x.service","some_avg10":1.25,)"
            R"("full_avg10":0.75,"some_total_us":123456,"full_total_us":65432})");
  const auto root = nt::model::parse_pressure("some avg10=0.00 avg60=0.00 avg300=0.00 total=7\n");
  ASSERT_TRUE(root) << "a file without a full line";
  EXPECT_EQ(root->some_total_us, 7u);
  EXPECT_EQ(root->full_total_us, 0u);
  EXPECT_FALSE(nt::model::parse_pressure(""));
  EXPECT_FALSE(nt::model::parse_pressure("no pressure here\n"));
}

}  // namespace

TEST(Heap, ARecordWhenCallsOrTheReportedStacksMoveAndOnceAtExit) {
  nt::model::HeapTable table;
  table.sample_every = 10;
  table.min_age_ns = 1'500'000'000;
  auto& p = table.process({7, 4026531840, 5});
  p.comm = "leaker";
  p.allocations = 90;
  p.sampled = 9;
  p.frees = 40;
  p.outstanding_blocks = 5;
  p.outstanding_bytes = 20480;
  nt::model::HeapStack stack;
  stack.blocks = 4;
  stack.bytes = 16384;
  stack.oldest_age_ns = 2'000'000'000;
  stack.frames = {{0x401a2f, "leak+0x1f", "/bin/leaker", "leak.c:12"}, {0x7f0011, "", "", ""}};
  p.stacks = {stack};
  p.stacks_omitted = 2;
  EXPECT_TRUE(nt::output::heap_record_due(p));
  EXPECT_EQ(nt::output::to_line(nt::output::heap_record(p, table, 10.0)),
            R"({"type":"heap","v":1,"ts":10.0,"pid":7,"start_time":5,"netns":4026531840,"comm":"leaker",)"
            R"("sample_every":10,"allocations":90,"sampled":9,"frees":40,"outstanding_blocks":5,)"
            R"("outstanding_bytes":20480,"min_age_s":1.5,"stacks":[{"blocks":4,"bytes":16384,"oldest_age_s":2.0,)"
            R"("frames":[{"addr":"0x401a2f","symbol":"leak+0x1f","module":"/bin/leaker","source":"leak.c:12"},)"
            R"({"addr":"0x7f0011","symbol":"","module":""}]}],"stacks_omitted":2,"exited":false})");
  table.start_interval();
  EXPECT_FALSE(table.processes().at({7, 4026531840, 5}).exit_shown);
  EXPECT_FALSE(nt::output::heap_record_due(table.processes().at({7, 4026531840, 5}))) << "nothing moved";
  auto& same = table.process({7, 4026531840, 5});
  same.stacks[0].bytes += 4096;
  EXPECT_TRUE(nt::output::heap_record_due(same)) << "a reported stack grew";
  table.start_interval();
  table.process({7, 4026531840, 5}).exited = true;
  EXPECT_TRUE(nt::output::heap_record_due(table.processes().at({7, 4026531840, 5}))) << "the exit is shown";
  table.start_interval();
  EXPECT_FALSE(nt::output::heap_record_due(table.processes().at({7, 4026531840, 5}))) << "once";
  table.start_interval();
  EXPECT_TRUE(table.processes().empty()) << "then forgotten";
}
