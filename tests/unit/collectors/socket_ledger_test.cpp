// The ledger that turns per-socket counters (live reads and segments) into totals.
#include "collectors/net/socket_ledger.h"

#include <gtest/gtest.h>

namespace nt::collectors {
namespace {

const model::ProcessKey kProcess{100, 1, 5};

SocketReading socket(uint64_t cookie, uint32_t generation, uint64_t tx_bytes, uint16_t sport = 4000) {
  SocketReading r;
  r.cookie = cookie;
  r.generation = generation;
  r.flow = {kProcess, 6, {4, {127, 0, 0, 1}, sport}, {4, {127, 0, 0, 1}, 80}};
  r.comm = "client";
  r.counters = {tx_bytes, 0, tx_bytes / 100, 0};
  return r;
}

SocketReading segment(SocketReading r, bool final = true) {
  r.final = final;
  return r;
}

struct Tables {
  model::ProcessTable processes;
  model::FlowTable flows;
  uint64_t tx(const model::ProcessKey& key = kProcess) const { return processes.processes().at(key).total.tx_bytes; }
};

TEST(SocketLedger, LiveReadThenSegmentOfTheSameGenerationCountsOnce) {
  SocketLedger ledger(16);
  Tables t;
  ledger.publish({socket(1, 0, 1000)}, t.processes, t.flows, 1);
  EXPECT_EQ(t.tx(), 1000u);
  // The socket is released after more bytes: the segment carries all of them; a live read of the
  // same generation taken before the segment was seen does not add again.
  ledger.add_segment(segment(socket(1, 0, 1500)));
  ledger.publish({socket(1, 0, 1400)}, t.processes, t.flows, 2);
  EXPECT_EQ(t.tx(), 1500u);
  ledger.publish({}, t.processes, t.flows, 3);
  EXPECT_EQ(t.tx(), 1500u);
}

TEST(SocketLedger, OwnerChangeSegmentsAddUp) {
  SocketLedger ledger(16);
  Tables t;
  ledger.add_segment(segment(socket(1, 0, 700), false));  // generation 0 handed over
  ledger.publish({socket(1, 2, 300)}, t.processes, t.flows, 1);
  EXPECT_EQ(t.tx(), 1000u);
}

TEST(SocketLedger, TotalsNeverDecreaseWhenALiveReadMissesACut) {
  SocketLedger ledger(16);
  Tables t;
  ledger.publish({socket(1, 0, 1000)}, t.processes, t.flows, 1);
  // Mid-cut the iterator skips the socket and the segment is not on the ring yet.
  ledger.publish({}, t.processes, t.flows, 2);
  EXPECT_EQ(t.tx(), 1000u);
  ledger.add_segment(segment(socket(1, 0, 1200)));
  ledger.publish({}, t.processes, t.flows, 3);
  EXPECT_EQ(t.tx(), 1200u);
}

TEST(SocketLedger, ReleasedSocketsRetireTheirFlow) {
  SocketLedger ledger(16);
  Tables t;
  ledger.publish({socket(1, 0, 1000)}, t.processes, t.flows, 1);
  ASSERT_EQ(t.flows.flows().size(), 1u);
  EXPECT_FALSE(t.flows.flows().begin()->second.retired);
  ledger.add_segment(segment(socket(1, 0, 1000)));
  ledger.publish({}, t.processes, t.flows, 2);
  EXPECT_TRUE(t.flows.flows().begin()->second.retired);
  EXPECT_EQ(t.flows.flows().begin()->second.total.tx_bytes, 1000u);
  t.flows.start_interval();
  ledger.publish({}, t.processes, t.flows, 3);
  EXPECT_TRUE(t.flows.flows().empty());
}

TEST(SocketLedger, FlowsBeyondTheCapAreCountedNotHeld) {
  SocketLedger ledger(2);
  Tables t;
  std::vector<SocketReading> live;
  for (uint16_t i = 0; i < 5; ++i) live.push_back(socket(10 + i, 0, 100, static_cast<uint16_t>(5000 + i)));
  ledger.publish(live, t.processes, t.flows, 1);
  EXPECT_EQ(t.flows.flows().size(), 2u);
  EXPECT_EQ(ledger.bytes_not_held(), 300u);
  EXPECT_EQ(ledger.calls_not_held(), 3u);
  EXPECT_EQ(t.tx(), 500u);  // the process keeps every byte
  // They end: what they carried stays counted, once.
  for (auto& reading : live) ledger.add_segment(segment(reading));
  ledger.publish({}, t.processes, t.flows, 2);
  EXPECT_EQ(ledger.bytes_not_held(), 300u);
  EXPECT_EQ(t.tx(), 500u);
}

TEST(SocketLedger, UnconnectedSocketsCountForTheProcessOnly) {
  SocketLedger ledger(16);
  Tables t;
  auto reading = socket(1, 0, 900);
  reading.per_peer = true;
  ledger.publish({reading}, t.processes, t.flows, 1);
  EXPECT_EQ(t.tx(), 900u);
  EXPECT_TRUE(t.flows.flows().empty());
}

}  // namespace
}  // namespace nt::collectors
