// What the agent's events look like on the timeline (model/timeline.cpp): a closed connection, its
// TCP trouble, a slow syscall, an anomaly.
#include <gtest/gtest.h>

#include "model/syscall_names.h"
#include "model/timeline.h"

namespace nt::model {
namespace {

using Args = std::vector<std::pair<std::string, std::string>>;

ConnEvent closed(uint64_t ts_ns, std::optional<uint64_t> duration_ns) {
  ConnEvent close;
  close.open = false;
  close.ts_ns = ts_ns;
  close.owner = {42, 4026531840, 7};
  close.local.family = 4;
  close.local.addr = {127, 0, 0, 1};
  close.local.port = 5000;
  close.remote.family = 6;
  close.remote.addr = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
  close.remote.port = 443;
  close.active = true;
  close.duration_ns = duration_ns;
  close.tx_bytes = 10;
  close.rx_bytes = 20;
  close.srtt_us = 30;
  return close;
}

TEST(TimelineEvents, AClosedConnectionIsASliceFromItsOpen) {
  auto slice = connection_slice(closed(5'000, 3'000));
  ASSERT_TRUE(slice);
  EXPECT_EQ(slice->kind, TimelineEvent::Kind::kSlice);
  EXPECT_EQ(std::tie(slice->pid, slice->tid, slice->start_ns, slice->duration_ns),
            std::make_tuple(42u, 42u, uint64_t{2'000}, uint64_t{3'000}));
  EXPECT_EQ(slice->category, "net");
  EXPECT_EQ(slice->name, "tcp 127.0.0.1:5000 > [2001:db8::2]:443");
  EXPECT_EQ(slice->args, (Args{{"direction", "active"}, {"tx_bytes", "10"}, {"rx_bytes", "20"}, {"srtt_us", "30"},
                               {"retransmits", "0"}}));
  EXPECT_FALSE(connection_slice(closed(5'000, std::nullopt)));  // its open was not seen
  auto open = closed(5'000, 3'000);
  open.open = true;
  EXPECT_FALSE(connection_slice(open));
  EXPECT_FALSE(tcp_trouble(closed(5'000, 3'000)));  // nothing went wrong
}

TEST(TimelineEvents, TcpTroubleIsAnInstantAtTheCloseWithItsCounts) {
  auto close = closed(5'000, 3'000);
  close.retransmits = 3;
  close.resets_received = 1;
  auto trouble = tcp_trouble(close);
  ASSERT_TRUE(trouble);
  EXPECT_EQ(trouble->kind, TimelineEvent::Kind::kInstant);
  EXPECT_EQ(trouble->start_ns, 5'000u);
  EXPECT_EQ(trouble->category, "tcp");
  EXPECT_EQ(trouble->name, "tcp trouble [2001:db8::2]:443");
  EXPECT_EQ(trouble->args, (Args{{"retransmits", "3"}, {"resets_received", "1"}}));
}

TEST(TimelineEvents, ASlowSyscallIsASliceOnItsThread) {
  SlowSyscall call;
  call.key = {42, 1, 7};
  call.tid = 43;
  call.nr = 0;  // read on x86-64 and io_setup on arm64: the host's table names it
  call.ret = -11;
  call.latency_ns = 300;
  call.exit_monotonic_ns = 1'000;
  auto slice = timeline_event(call);
  EXPECT_EQ(std::tie(slice.pid, slice.tid, slice.start_ns, slice.duration_ns),
            std::make_tuple(42u, 43u, uint64_t{700}, uint64_t{300}));
  EXPECT_EQ(slice.category, "syscall");
  EXPECT_EQ(slice.name, syscall_name(0));
  EXPECT_EQ(slice.args, (Args{{"ret", "-11"}}));
}

TEST(TimelineEvents, AnAnomalyIsAnInstantOnItsProcessOnTheMonotonicClock) {
  Anomaly anomaly;
  anomaly.ts = 1'700'000'010.5;
  anomaly.kind = "process";
  anomaly.process = {42, 1, 7};
  anomaly.metric = "tx_rate";
  anomaly.detector = "mad";
  anomaly.value = 5;
  anomaly.expected_low = 1;
  anomaly.expected_high = 2;
  anomaly.score = 0.75;
  auto instant = timeline_event(anomaly, -1'700'000'000.0);  // monotonic = unix - 1.7e9
  EXPECT_EQ(instant.kind, TimelineEvent::Kind::kInstant);
  EXPECT_EQ(std::tie(instant.pid, instant.tid), std::make_tuple(42u, 42u));
  EXPECT_EQ(instant.start_ns, 10'500'000'000u);
  EXPECT_EQ(instant.name, "tx_rate mad");
  EXPECT_EQ(instant.args, (Args{{"kind", "process"}, {"subject", ""}, {"value", "5"}, {"expected", "1..2"},
                                {"score", "0.75"}}));
  anomaly.kind = "disk";
  EXPECT_EQ(timeline_event(anomaly, -1'700'000'000.0).pid, 0u);  // not a process's: pid 0
}

}  // namespace
}  // namespace nt::model
