// Renderers render into strings; each test compares the whole output.
#include <gtest/gtest.h>

#include "output/json_lines.h"
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
            R"("flow_map_full":0,"flow_bytes_not_held":0,"conn_ringbuf_full":0,"map_read_failed":0,"device_read_failed":0},)"
            R"("bpf_programs":[{"name":"count_send","run_count":4,"run_time_ns":400,"recursion_misses":0}],"exit_status":7})");
}

TEST(Table, RowsByTotalBytesWithUnprintableBytesMasked) {
  EXPECT_EQ(nt::output::render_process_table(two_processes()),
            "     PID COMM                  NETNS           TX           RX   TX_CALLS   RX_CALLS\n"
            "       7 trainer          4026531840          0 B      5.0 MiB          0          9\n"
            "      42 bad?\"name        4026531840      2.9 KiB         10 B          4          1\n");
}

}  // namespace
