// The live watch takes its observations from the model; replay takes them from the written
// records. The two must agree field for field, or replay would not give the live anomalies.
#include <gtest/gtest.h>

#include <random>
#include <tuple>

#include "detect/watch.h"
#include "output/json_lines.h"
#include "output/block_io_records.h"
#include "output/memory_records.h"
#include "output/sched_records.h"
#include "output/syscall_records.h"

namespace {

nt::model::Endpoint v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port) {
  nt::model::Endpoint e;
  e.family = 4;
  e.addr[0] = a, e.addr[1] = b, e.addr[2] = c, e.addr[3] = d;
  e.port = port;
  return e;
}

nt::model::Endpoint v6(std::array<uint8_t, 16> addr, uint16_t port) {
  nt::model::Endpoint e;
  e.family = 6;
  e.addr = addr;
  e.port = port;
  return e;
}

nt::anomaly::Observation read_back(const nt::model::FlowTraffic& flow, const std::string& comm, double interval_s) {
  std::string line;
  nt::output::flow_line(line, flow, nt::model::shown(flow, interval_s), comm, 1764505000.123456);
  auto observation = nt::anomaly::observe(nlohmann::ordered_json::parse(line));
  EXPECT_TRUE(observation.has_value()) << line;
  return observation.value_or(nt::anomaly::Observation{});
}

TEST(ObserveFlow, AgreesWithItsRecordReadBack) {
  const std::array<uint8_t, 16> loopback6{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  const std::array<uint8_t, 16> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7};
  const std::array<uint8_t, 16> global6{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  const std::vector<std::pair<nt::model::Endpoint, nt::model::Endpoint>> ends = {
      {v4(127, 0, 0, 1, 40000), v4(127, 0, 0, 1, 5201)},
      {v4(192, 0, 2, 1, 1), v4(192, 0, 2, 2, 65535)},
      {v6(loopback6, 33000), v6(loopback6, 29500)},
      {v6(mapped, 80), v6(global6, 443)},
  };
  std::mt19937_64 random(7);
  int checked = 0;
  for (const auto& [local, remote] : ends) {
    for (uint8_t protocol : {uint8_t{6}, uint8_t{17}, uint8_t{132}}) {
      for (double interval_s : {0.0, 0.25, 1.0000037, 3.0}) {
        nt::model::FlowTraffic flow;
        flow.key = {{static_cast<uint32_t>(random()), static_cast<uint32_t>(random()), random()}, protocol, local,
                    remote};
        flow.at_interval_start = {random() % 1000000, random() % 1000000, random() % 1000, random() % 1000};
        flow.total = flow.at_interval_start;
        flow.total.tx_bytes += random() % (1ull << 40);
        flow.total.rx_bytes += random() % 3;
        flow.total.tx_calls += random() % 100000;
        flow.srtt_us = static_cast<uint32_t>(random());
        flow.retransmits = static_cast<uint32_t>(random() % 50);
        flow.spurious_retransmits = static_cast<uint32_t>(random() % 60);  // sometimes more than retransmits
        flow.retired = random() % 2;
        const std::string comm = checked % 2 ? "python3" : "pt_main \"thread\\";
        auto live = nt::anomaly::observe_flow(flow, nt::model::shown(flow, interval_s), comm);
        EXPECT_EQ(live, read_back(flow, comm, interval_s)) << live.key;
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 48);
}

TEST(ObserveFlow, LoopbackEndsAreQualifiedByNamespace) {
  nt::model::FlowTraffic flow;
  flow.key = {{42, 4026531840u, 9}, 6, v4(127, 0, 0, 1, 40000), v4(192, 0, 2, 2, 5201)};
  auto o = nt::anomaly::observe_flow(flow, nt::model::shown(flow, 1.0), "iperf3");
  EXPECT_EQ(o.flow, "tcp 127.0.0.1:40000 > 192.0.2.2:5201");
  EXPECT_EQ(o.key, "flow 42 9 4026531840 tcp 127.0.0.1:40000 > 192.0.2.2:5201");
  EXPECT_EQ(o.local, "4026531840 127.0.0.1:40000");
  EXPECT_EQ(o.remote, "192.0.2.2:5201");
  EXPECT_FALSE(o.on_host);
}

TEST(ObserveFlow, FlowsWithinTheHostAreOnHost) {
  const std::array<uint8_t, 16> loopback6{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  const std::vector<std::tuple<nt::model::Endpoint, nt::model::Endpoint, bool>> cases = {
      {v4(127, 0, 0, 1, 40000), v4(127, 0, 0, 1, 5201), true},
      {v4(10, 0, 0, 5, 40000), v4(10, 0, 0, 5, 5201), true},  // its own address: the loopback device
      {v6(loopback6, 1), v6(loopback6, 2), true},
      {v4(192, 0, 2, 1, 40000), v4(192, 0, 2, 2, 5201), false},
  };
  for (const auto& [local, remote, on_host] : cases) {
    nt::model::FlowTraffic flow;
    flow.key = {{42, 4026531840u, 9}, 6, local, remote};
    auto o = nt::anomaly::observe_flow(flow, nt::model::shown(flow, 1.0), "trainer");
    EXPECT_EQ(o.on_host, on_host) << o.flow;
  }
}

// A record written and read back, as replay reads it.
nt::anomaly::Observation from_record(const nlohmann::ordered_json& record) {
  auto observation = nt::anomaly::observe(nlohmann::ordered_json::parse(nt::output::to_line(record)));
  EXPECT_TRUE(observation.has_value()) << record.dump();
  return observation.value_or(nt::anomaly::Observation{});
}

TEST(ObserveModel, ProcessAgreesWithItsRecordReadBack) {
  nt::model::ProcessTable table;
  const nt::model::ProcessKey key{42, 4026531840u, 123456789};
  table.update(key, "trainer", {1000, 10, 2, 1});
  table.start_interval();
  table.update(key, "trainer", {5000, 30, 6, 3});
  const auto& process = table.processes().at(key);
  for (bool exited : {false, true}) {
    auto record = nt::output::process_record(process, 1764505000.5, 2.0);
    if (exited) record["exited"] = true;
    EXPECT_EQ(nt::anomaly::observe_process(process, 2.0, exited), from_record(record));
  }
}

TEST(ObserveModel, ConnAndDeviceAgreeWithTheirRecordsReadBack) {
  nt::model::ConnEvent event;
  event.owner = {42, 4026531840u, 123456789};
  event.comm = "trainer";
  event.local = v4(10, 0, 0, 1, 40000);
  event.remote = v4(10, 0, 0, 2, 29500);
  for (bool open : {true, false}) {
    event.open = open;
    EXPECT_EQ(nt::anomaly::observe_conn(event), from_record(nt::output::conn_record(event, 1764505000.0)));
  }
  nt::model::DeviceStats device;
  device.key = {4026531840u, 2};
  device.ifname = "eth0";
  device.counters = {123456, 654321, 100, 200};
  EXPECT_EQ(nt::anomaly::observe_device(device), from_record(nt::output::device_record(device, 1764505000.0)));
}

TEST(ObserveModel, SchedAgreesWithItsRecordReadBack) {
  nt::model::SchedTable sched;
  const nt::model::ProcessKey key{42, 4026531840u, 123456789};
  nt::model::SchedCounters counters;
  counters.on_cpu_ns = 1'000'000'000;
  sched.update(key, "trainer", counters);
  sched.start_interval();
  counters.on_cpu_ns += 700'000'000;
  counters.runq_ns += 3'000'000;
  counters.runq_hist[4] = 3;
  sched.update(key, "trainer", counters);
  EXPECT_EQ(nt::anomaly::observe_sched(sched.processes().at(key), 1.0),
            from_record(nt::output::sched_record(sched.processes().at(key), 1764505000.0, 1.0)));
  sched.start_interval();  // an interval in which it ran but no wait ended: no wait to watch
  counters.on_cpu_ns += 100'000'000;
  sched.update(key, "trainer", counters);
  auto no_waits = nt::anomaly::observe_sched(sched.processes().at(key), 1.0);
  EXPECT_EQ(no_waits.runq_wait_us, -1);
  EXPECT_EQ(no_waits, from_record(nt::output::sched_record(sched.processes().at(key), 1764505000.0, 1.0)));
}

TEST(ObserveModel, SyscallsAndMemoryAgreeWithTheirRecordsReadBack) {
  const nt::model::ProcessKey key{4242, 4026531833, 99};
  nt::model::SyscallTable syscalls;
  auto& calls = syscalls.process(key);
  calls.comm = "trainer";
  calls.by_nr[257].calls = 1002;
  calls.by_nr[257].errors = 1000;
  calls.by_nr[257].total_ns = 1'500'000;
  calls.by_nr[257].errnos[2] = 1000;
  auto observed = nt::anomaly::observe_syscalls(calls);
  EXPECT_EQ(observed.syscall_errors, 1000);
  EXPECT_EQ(observed, from_record(nt::output::syscall_record(calls, 1764505000.0)));

  nt::model::MemoryTable memory;
  auto& process = memory.process(key);
  process.comm = "trainer";
  EXPECT_EQ(nt::anomaly::observe_memory(process).rss_bytes, -1) << "RSS not known yet";
  EXPECT_EQ(nt::anomaly::observe_memory(process), from_record(nt::output::memory_record(process, 1764505000.0)));
  process.rss_known = true;
  process.rss[static_cast<size_t>(nt::model::RssKind::kAnon)] = 64 << 20;
  process.rss[static_cast<size_t>(nt::model::RssKind::kFile)] = 8 << 20;
  process.exited = true;
  EXPECT_EQ(nt::anomaly::observe_memory(process).rss_bytes, 72 << 20);
  EXPECT_EQ(nt::anomaly::observe_memory(process), from_record(nt::output::memory_record(process, 1764505000.0)));
}

TEST(ObserveModel, DiskAgreesWithItsRecordReadBack) {
  nt::model::BlockIoTable io;
  auto& disk = io.device({259, 0});
  disk.name = "nvme0n1";
  io.start_interval();
  EXPECT_EQ(nt::anomaly::observe_disk(disk).io_latency_us, -1) << "no request finished: nothing to watch";
  EXPECT_EQ(nt::anomaly::observe_disk(disk), from_record(nt::output::disk_record(disk, 1764505000.0)));
  disk.total.by_kind[static_cast<size_t>(nt::model::IoKind::kWrite)] = {4, 4 * 4096};
  disk.total.queue_ns = 40'000;
  disk.total.device_ns = 1'000'000;
  auto observed = nt::anomaly::observe_disk(disk);
  EXPECT_DOUBLE_EQ(observed.io_latency_us, 250.0);
  EXPECT_DOUBLE_EQ(observed.queue_latency_us, 10.0);
  EXPECT_EQ(observed, from_record(nt::output::disk_record(disk, 1764505000.0)));
}

}  // namespace
