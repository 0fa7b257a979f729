#include "participation.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace nt::detect {
namespace {

constexpr double kBinS = 0.002;
constexpr double kStart = 1'800'000'000.0;  // unix seconds, on a slot's edge

// A rank's 2 ms bins over `steps` steps of `step_ms`: it exchanges (1 MB a bin) from `enters_ms`
// into each step until `leaves_ms`, plus an early partial exchange [early_from, early_to) if any.
std::vector<uint64_t> rank_bins(int steps, int step_ms, int enters_ms, int leaves_ms, int early_from = -1,
                                int early_to = -1) {
  std::vector<uint64_t> bins(static_cast<size_t>(steps * step_ms / 2), 0);
  for (size_t i = 0; i < bins.size(); ++i) {
    const int in_step = static_cast<int>(i * 2) % step_ms;
    if ((in_step >= enters_ms && in_step < leaves_ms) || (in_step >= early_from && in_step < early_to))
      bins[i] = 1'000'000;
    else if (in_step == 0)
      bins[i] = 96;  // a control message: not taking part
  }
  return bins;
}

TEST(Participation, BusySlotsAreTenMillisecondSlotsOfTheWallClock) {
  auto p = busy_slots(rank_bins(3, 100, 60, 80), kStart + 0.001, kBinS);
  EXPECT_EQ(p.start_ms, static_cast<int64_t>(kStart * 1000));  // aligned down to the slot
  ASSERT_GE(p.count(), 30u);
  std::string seen;
  for (size_t i = 0; i < 30; ++i) seen += p.busy(i) ? '#' : '.';
  EXPECT_EQ(seen, "......##........##........##..") << "control messages are not busy";
}

TEST(Participation, TheRankTheOthersExchangeWithoutIsAbsent) {
  // Ranks 0 and 1 start exchanging at 40 ms and wait; rank 2 arrives at 90 ms; all finish at 110.
  std::map<int, Participation> ranks = {
      {0, busy_slots(rank_bins(30, 120, 90, 110, 40, 50), kStart, kBinS)},
      {1, busy_slots(rank_bins(30, 120, 90, 110, 40, 50), kStart, kBinS)},
      {2, busy_slots(rank_bins(30, 120, 90, 110), kStart, kBinS)},
  };
  auto shares = absent_shares(ranks);
  ASSERT_EQ(shares.size(), 3u);
  EXPECT_NEAR(shares[2], 1.0 / 3, 0.02);  // one slot of three where the job exchanges
  EXPECT_EQ(shares[0], 0);
  EXPECT_EQ(shares[1], 0);
}

TEST(Participation, AJobInStepAndAnEdgeASlotLateNameNobody) {
  std::map<int, Participation> ranks = {
      {0, busy_slots(rank_bins(30, 100, 60, 80), kStart, kBinS)},
      {1, busy_slots(rank_bins(30, 100, 60, 80), kStart, kBinS)},
      {2, busy_slots(rank_bins(30, 100, 62, 82), kStart, kBinS)},  // its burst straddles a slot later
  };
  for (const auto& [rank, share] : absent_shares(ranks)) EXPECT_EQ(share, 0) << rank;
}

TEST(Participation, OnlySlotsEveryRankCoversAreCompared) {
  std::map<int, Participation> ranks = {
      {0, busy_slots(rank_bins(10, 100, 60, 80), kStart, kBinS)},
      {1, busy_slots(rank_bins(10, 100, 60, 80), kStart + 0.5, kBinS)},
      {2, busy_slots(rank_bins(10, 100, 60, 80), kStart + 2.0, kBinS)},  // starts after rank 0 ends
  };
  EXPECT_TRUE(absent_shares(ranks).empty());
  ranks.erase(2);
  EXPECT_TRUE(absent_shares(ranks).empty()) << "two ranks: no majority of the others";
}

TEST(Participation, FewerThanEightExchangesInCommonAreNoEvidence) {
  // Steps of 600 ms: five in 3 s, and one late rank is most of what there is.
  std::map<int, Participation> ranks = {
      {0, busy_slots(rank_bins(5, 600, 480, 560), kStart, kBinS)},
      {1, busy_slots(rank_bins(5, 600, 480, 560), kStart, kBinS)},
      {2, busy_slots(rank_bins(5, 600, 520, 560), kStart, kBinS)},
  };
  EXPECT_TRUE(absent_shares(ranks).empty());
}

TEST(Participation, HexRoundTripsAndRefusesWhatIsNotHex) {
  const std::string bytes("\x00\x7f\x80\xff", 4);
  EXPECT_EQ(to_hex(bytes), "007f80ff");
  EXPECT_EQ(from_hex("007f80ff"), bytes);
  EXPECT_FALSE(from_hex("0"));
  EXPECT_FALSE(from_hex("zz"));
  EXPECT_FALSE(from_hex("0A"));
}

}  // namespace
}  // namespace nt::detect
