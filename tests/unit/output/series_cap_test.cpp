// The cardinality cap: bounded series, counters that never go down, sums that stay exact.
#include "output/series_cap.h"

#include <gtest/gtest.h>

#include <map>
#include <numeric>

namespace {

using nt::output::ProcessCounters;
using nt::output::SeriesCap;

SeriesCap::Input process(uint32_t pid, uint64_t total_tx, uint64_t interval_tx, bool exited = false) {
  SeriesCap::Input in;
  in.key = {pid, 1, pid * 10ull};
  in.labels = {"p" + std::to_string(pid), "", ""};
  in.total = ProcessCounters{total_tx};
  in.interval_activity = interval_tx;
  in.exited = exited;
  return in;
}

uint64_t series_sum(const SeriesCap& cap) {
  uint64_t sum = cap.other()[0];
  for (const auto& [key, member] : cap.members()) sum += member.series()[0];
  return sum;
}

TEST(SeriesCap, NewProcessesJoinWithTheirWholeTotalUpToTheLimit) {
  SeriesCap cap(2);
  cap.update({process(1, 100, 100), process(2, 300, 300), process(3, 200, 200)});
  ASSERT_EQ(cap.members().size(), 2u);
  EXPECT_EQ(cap.members().begin()->second.series()[0], 300u);  // pid 2, the most active
  EXPECT_EQ(cap.other()[0], 100u);                             // pid 1 did not fit
  EXPECT_EQ(series_sum(cap), 600u);
}

TEST(SeriesCap, LeaversFoldIntoOtherAndLateJoinersKeepTheirPastInOther) {
  SeriesCap cap(1);
  cap.update({process(1, 100, 100), process(2, 50, 50)});
  EXPECT_EQ(cap.other()[0], 50u);
  // pid 1 exits: its series leaves and its bytes move to other; pid 2 joins, keeping in other
  // the 50 bytes other already published.
  cap.update({process(1, 120, 20, true), process(2, 80, 30)});
  ASSERT_EQ(cap.members().size(), 1u);
  EXPECT_EQ(cap.members().begin()->first.tgid, 2u);
  EXPECT_EQ(cap.members().begin()->second.series()[0], 30u);
  EXPECT_EQ(cap.other()[0], 170u);
  EXPECT_EQ(series_sum(cap), 200u);
}

TEST(SeriesCap, CountersNeverDecreaseUnderChurn) {
  SeriesCap cap(3);
  std::map<uint32_t, uint64_t> totals;
  std::map<std::pair<uint32_t, uint64_t>, uint64_t> last_series;
  uint64_t last_other = 0;
  for (uint32_t round = 0; round < 200; ++round) {
    std::vector<SeriesCap::Input> inputs;
    for (uint32_t pid = 1; pid <= 12; ++pid) {
      bool exited = pid <= round / 20;  // processes exit over time
      uint64_t grow = exited ? 0 : (pid * 7 + round) % 5;
      totals[pid] += grow;
      inputs.push_back(process(pid, totals[pid], grow, exited));
    }
    cap.update(inputs);
    EXPECT_LE(cap.members().size(), 3u);
    EXPECT_GE(cap.other()[0], last_other);
    last_other = cap.other()[0];
    for (const auto& [key, member] : cap.members()) {
      auto& last = last_series[{key.tgid, key.start_ns}];
      EXPECT_GE(member.series()[0], last);
      last = member.series()[0];
    }
    uint64_t truth = 0;
    for (const auto& [pid, total] : totals) truth += total;
    EXPECT_EQ(series_sum(cap), truth);
  }
}

}  // namespace
