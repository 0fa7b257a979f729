// The live watch takes a flow's observation from the model; replay takes it from the flow's
// written record. The two must agree field for field, or replay would not give the live anomalies.
#include <gtest/gtest.h>

#include <random>

#include "anomaly/watch.h"
#include "output/json_lines.h"

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
}

}  // namespace
