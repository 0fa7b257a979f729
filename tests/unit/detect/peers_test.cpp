// Peer comparison across a job's ranks and links: the one that departs is named, with evidence,
// after it persists; noise, a whole job slowing down, and a pair name nobody.
#include "peers.h"

#include <gtest/gtest.h>

#include <random>

namespace {

using nt::detect::PeerConfig;
using nt::detect::PeerScale;
using nt::detect::PeerWatch;

constexpr PeerScale kRunqShare{true, 0.05, 1.5};
constexpr PeerScale kThroughput{false, 0, 1.5};

TEST(Peers, ARankWaitingForCpuIsNamedAfterItPersists) {
  PeerWatch watch(PeerConfig{});
  std::mt19937 random(1);
  std::uniform_real_distribution<double> noise(0.02, 0.04);
  for (int t = 0; t < 20; ++t)  // fault-free: nothing
    EXPECT_TRUE(watch.update("job", "runq_share", kRunqShare, t,
                             {{"0", noise(random)}, {"1", noise(random)}, {"2", noise(random)}, {"3", noise(random)}})
                    .empty());
  std::vector<nt::detect::PeerFinding> named;
  for (int t = 20; t < 30; ++t) {
    auto now = watch.update("job", "runq_share", kRunqShare, t,
                            {{"0", noise(random)}, {"1", noise(random)}, {"2", 0.45}, {"3", noise(random)}});
    named.insert(named.end(), now.begin(), now.end());
    if (t < 22) {
      EXPECT_TRUE(now.empty()) << t;
    }
  }
  ASSERT_EQ(named.size(), 1u);  // once per episode
  EXPECT_EQ(named[0].member, "2");
  EXPECT_EQ(named[0].metric, "runq_share");
  EXPECT_DOUBLE_EQ(named[0].since_ts, 20);
  EXPECT_NEAR(named[0].peers_median, 0.03, 0.011);
  EXPECT_EQ(watch.ongoing().size(), 1u);
  watch.update("job", "runq_share", kRunqShare, 30, {{"0", 0.03}, {"1", 0.03}, {"2", 0.03}, {"3", 0.03}});
  EXPECT_TRUE(watch.ongoing().empty());
}

TEST(Peers, AHeldMemberIsReportedOnceAndNamedWhenReleased) {
  PeerWatch watch(PeerConfig{});
  const std::map<std::string, double> departing = {{"0", 0.03}, {"1", 0.02}, {"2", 0.45}, {"3", 0.03}};
  std::vector<nt::detect::PeerFinding> seen;
  for (int t = 0; t < 6; ++t) {
    auto now = watch.update("job", "runq_share", kRunqShare, t, departing, {"2"});
    seen.insert(seen.end(), now.begin(), now.end());
  }
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_TRUE(seen[0].held);
  EXPECT_EQ(seen[0].member, "2");
  EXPECT_TRUE(watch.ongoing().empty());
  auto released = watch.update("job", "runq_share", kRunqShare, 6, departing);
  ASSERT_EQ(released.size(), 1u);
  EXPECT_FALSE(released[0].held);
  EXPECT_DOUBLE_EQ(released[0].since_ts, 0);
  EXPECT_EQ(watch.ongoing().size(), 1u);
  // Back among its peers while held: never named.
  PeerWatch other(PeerConfig{});
  for (int t = 0; t < 4; ++t) other.update("job", "runq_share", kRunqShare, t, departing, {"2"});
  EXPECT_TRUE(other.update("job", "runq_share", kRunqShare, 4, {{"0", 0.03}, {"1", 0.02}, {"2", 0.03}, {"3", 0.03}}).empty());
  EXPECT_TRUE(other.update("job", "runq_share", kRunqShare, 5, departing).empty());
}

TEST(Peers, ASlowLinkIsNamedWhenLowerIsWorse) {
  PeerWatch watch(PeerConfig{});
  std::vector<nt::detect::PeerFinding> named;
  for (int t = 0; t < 5; ++t) {
    auto now = watch.update("job", "throughput", kThroughput, t,
                            {{"0>1", 100e6}, {"1>2", 97e6}, {"2>0", 30e6}, {"1>0", 103e6}});
    named.insert(named.end(), now.begin(), now.end());
  }
  ASSERT_EQ(named.size(), 1u);
  EXPECT_EQ(named[0].member, "2>0");
}

TEST(Peers, AWholeJobSlowingDownOrAPairNamesNobody) {
  PeerWatch watch(PeerConfig{});
  for (int t = 0; t < 10; ++t) {
    const double step = t < 5 ? 0.1 : 0.3;  // every rank slower together
    EXPECT_TRUE(watch.update("job", "step_s", {true, 0.005, 1.2}, t, {{"0", step}, {"1", step}, {"2", step * 1.01}})
                    .empty());
    EXPECT_TRUE(watch.update("pair", "runq_share", kRunqShare, t, {{"0", 0.02}, {"1", 0.6}}).empty());
  }
}

TEST(Peers, LatenessAgainstPeersNearZeroUsesTheAbsoluteFloor) {
  // Onset lateness: the peers' median is about 0, so only the absolute floor (here 10 ms) and the
  // spread decide; the ratio is not used.
  PeerWatch watch(PeerConfig{});
  std::vector<nt::detect::PeerFinding> named;
  for (int t = 0; t < 4; ++t) {
    auto now = watch.update("job", "lateness_s", {true, 0.010, 0}, t,
                            {{"0", 0.001}, {"1", -0.002}, {"2", 0.000}, {"3", 0.080}});
    named.insert(named.end(), now.begin(), now.end());
    EXPECT_TRUE(watch.update("job2", "lateness_s", {true, 0.010, 0}, t,
                             {{"0", 0.001}, {"1", -0.002}, {"2", 0.004}})
                    .empty());
  }
  ASSERT_EQ(named.size(), 1u);
  EXPECT_EQ(named[0].member, "3");
  watch.forget("job");
  EXPECT_TRUE(watch.ongoing().empty());
}

}  // namespace
