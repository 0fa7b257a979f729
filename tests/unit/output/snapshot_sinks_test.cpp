// Sinks driven from a hand-built Snapshot: the batch table, the sched records and the Prometheus
// families all read the same interval, and say the same numbers.
#include <gtest/gtest.h>

#include <algorithm>

#include "detect/watch.h"
#include "output/live_view.h"
#include "output/prometheus_metrics.h"
#include "output/sched_records.h"
#include "output/series_cap.h"

namespace {

const nt::model::ProcessKey kTrainer{7, 4026531840u, 5};

nt::model::SchedTable one_busy_process() {
  nt::model::SchedTable sched;
  nt::model::SchedCounters before;
  before.on_cpu_ns = 1'000'000'000;
  sched.update(kTrainer, "trainer", before);
  sched.start_interval();
  nt::model::SchedCounters now = before;
  now.on_cpu_ns += 1'500'000'000;  // 1.5 CPUs over a 1 s interval
  now.runq_ns += 200'000'000;
  now.voluntary_switches = 40;
  now.involuntary_switches = 10;
  now.runq_hist[3] = 9;   // 8-16 us
  now.runq_hist[10] = 1;  // 1-2 ms
  sched.update(kTrainer, "trainer", now);
  return sched;
}

nt::model::BlockIoTable one_disk() {
  nt::model::BlockIoTable io;
  auto& device = io.device({259, 0});
  device.name = "nvme0n1";
  io.start_interval();
  device.total.by_kind[static_cast<size_t>(nt::model::IoKind::kRead)] = {100, 100 * 4096};
  device.total.device_hist[7] = 100;  // 128-256 us
  auto& process = io.process(kTrainer);
  process.comm = "trainer";
  process.total = device.total;
  return io;
}

TEST(SnapshotSinks, BatchTableShowsEveryCollectorsSection) {
  auto sched = one_busy_process();
  auto io = one_disk();
  nt::model::Snapshot snapshot;
  snapshot.ts = 100;
  snapshot.interval_s = 1.0;
  snapshot.sched = &sched;
  snapshot.block_io = &io;
  const std::string batch = nt::output::render_batch(snapshot, nt::output::SortKey::kTxRate, "");
  EXPECT_EQ(batch.find("RTT_US"), std::string::npos) << "no network section without the net collector";
  EXPECT_NE(batch.find("       7 trainer           150.0   20.0"), std::string::npos) << batch;
  EXPECT_NE(batch.find("nvme0n1"), std::string::npos) << batch;
  EXPECT_NE(batch.find("       7 trainer            400.0K/s       0B/s      100     256us"), std::string::npos) << batch;
}

TEST(SnapshotSinks, SchedRecordSaysWhatTheTableHolds) {
  auto sched = one_busy_process();
  const auto& process = sched.processes().at(kTrainer);
  auto record = nt::output::sched_record(process, 100, 1.0);
  EXPECT_EQ(record["on_cpu_ns"], 2'500'000'000u);
  EXPECT_DOUBLE_EQ(record["on_cpu_share"].get<double>(), 1.5);
  EXPECT_DOUBLE_EQ(record["runq_wait_us_mean"].get<double>(), 20'000.0);  // 200 ms over 10 waits
  EXPECT_DOUBLE_EQ(record["runq_p50_us"].get<double>(), 16.0);
  EXPECT_DOUBLE_EQ(record["runq_p99_us"].get<double>(), 2048.0);
  // The watch reads the record as replay would: a cpu series of the process.
  auto observed = nt::anomaly::observe(record);
  ASSERT_TRUE(observed);
  EXPECT_DOUBLE_EQ(observed->cpu_share, 1.5);
  EXPECT_DOUBLE_EQ(observed->runq_wait_us, 20'000.0);
}

TEST(SnapshotSinks, PrometheusFamiliesOfTheRunningCollectorsOnly) {
  auto sched = one_busy_process();
  nt::output::SeriesCap cap(10);
  nt::output::SeriesCap::Input input;
  input.key = kTrainer;
  input.labels = {"trainer", "", ""};
  nt::output::fill_sched_counters(input.total, sched.processes().at(kTrainer));
  input.interval_activity = 1;
  cap.update({input});
  nt::output::MetricsView view;
  view.processes = &cap;
  view.domains = {false, true, false};
  auto families = nt::output::render_metrics(view);
  auto named = [&](const std::string& name) {
    return std::find_if(families.begin(), families.end(), [&](const auto& f) { return f.name == name; });
  };
  EXPECT_EQ(named("neutracer_process_sent_bytes_total"), families.end());
  auto cpu = named("neutracer_process_cpu_seconds_total");
  ASSERT_NE(cpu, families.end());
  ASSERT_EQ(cpu->metric.size(), 2u);  // the member and "other"
  EXPECT_DOUBLE_EQ(cpu->metric[0].counter.value, 2.5);
}

}  // namespace
