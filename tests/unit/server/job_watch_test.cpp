#include "server/job_watch.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace nt::server {
namespace {

using Json = nlohmann::json;

struct Recorder {
  std::vector<JobFinding> named;
  std::vector<int64_t> ended;
  JobWatch watch{JobWatchConfig{}, [this](const JobFinding& f) {
                   named.push_back(f);
                   return static_cast<int64_t>(named.size());
                 },
                 [this](int64_t id, double) { ended.push_back(id); }};
};

Json rank(int number, double runq) {
  return {{"rank", number}, {"host", "host-" + std::to_string(number)}, {"process", 10 + number}, {"pid", 100 + number},
          {"step_s", 0.06}, {"runq_share", runq}, {"absent_share", 0.02}};
}

Json link(int from, int to, double bytes_per_s, double srtt_us, double retransmits_per_s = 0) {
  return {{"from_rank", from}, {"to_rank", to}, {"bytes_per_s", bytes_per_s}, {"srtt_us", srtt_us},
          {"retransmits_per_s", retransmits_per_s}};
}

// A ring 0>2>1>0 carrying the data; the reverse links carry control messages, whose RTT is long.
Json job(std::vector<double> runq, double rtt_of_rank0_links = 300, double retransmits_into_1 = 0) {
  Json view = {{"job", "10.0.0.1:29500"}, {"ranks", Json::array()}, {"links", Json::array()}};
  for (int r = 0; r < 3; ++r) view["ranks"].push_back(rank(r, runq[static_cast<size_t>(r)]));
  view["links"] = {link(0, 2, 47e6, rtt_of_rank0_links), link(2, 1, 47e6, 250, retransmits_into_1),
                   link(1, 0, 47e6, rtt_of_rank0_links), link(0, 1, 7e3, 4000), link(1, 2, 6e3, 3000),
                   link(2, 0, 7e3, 2500)};
  return view;
}

TEST(JobWatch, ARankOnABusyCpuIsNamedOnceAfterThreeLooksAndEndsWhenBack) {
  Recorder r;
  for (int look = 0; look < 5; ++look) r.watch.observe(job({0.1, 0.12, 1.3}), 100 + look);
  ASSERT_EQ(r.named.size(), 1u);
  const auto& f = r.named[0];
  EXPECT_EQ(f.kind, "straggler");
  EXPECT_EQ(f.subject, "rank 2");
  EXPECT_EQ(f.metric, "runq_share");
  EXPECT_EQ(f.rank, 2);
  EXPECT_EQ(f.host, "host-2");
  EXPECT_EQ(f.process, 12);
  EXPECT_DOUBLE_EQ(f.since, 100);
  EXPECT_DOUBLE_EQ(f.ts, 102);
  EXPECT_NEAR(f.peers_median, 0.11, 1e-9);
  EXPECT_TRUE(r.ended.empty());
  r.watch.observe(job({0.1, 0.12, 0.11}), 106);
  EXPECT_EQ(r.ended, std::vector<int64_t>{1});
}

TEST(JobWatch, AJobSlowAsAWholeNamesNobody) {
  Recorder r;
  for (int look = 0; look < 10; ++look) r.watch.observe(job({1.3, 1.25, 1.35}), 100 + look);
  EXPECT_TRUE(r.named.empty());
}

TEST(JobWatch, EveryLinkOfOneRankSlowNamesThatRanksLinksNotEachLink) {
  Recorder r;
  for (int look = 0; look < 4; ++look) r.watch.observe(job({0.1, 0.1, 0.1}, 30000), 100 + look);
  ASSERT_EQ(r.named.size(), 1u);
  EXPECT_EQ(r.named[0].kind, "slow_link");
  EXPECT_EQ(r.named[0].subject, "links of rank 0");
  EXPECT_EQ(r.named[0].metric, "rank_srtt_us");
  EXPECT_EQ(r.named[0].rank, 0);
}

TEST(JobWatch, ARankWaitingOnASlowLinkIsHeldBackUntilTheLinkIsBack) {
  // Rank 0's links are slow and rank 1, which receives from it, is absent from the others'
  // exchanges: the links are named, the absence is held back; once the links are back and the
  // absence persists, it is named.
  Recorder r;
  Json slow = job({0.1, 0.1, 0.1}, 30000);
  slow["ranks"][1]["absent_share"] = 0.3;
  for (int look = 0; look < 6; ++look) r.watch.observe(slow, 100 + look);
  ASSERT_EQ(r.named.size(), 1u);
  EXPECT_EQ(r.named[0].subject, "links of rank 0");
  EXPECT_EQ(r.watch.inhibited(), 1u);
  Json healed = job({0.1, 0.1, 0.1});
  healed["ranks"][1]["absent_share"] = 0.3;
  r.watch.observe(healed, 106);
  ASSERT_EQ(r.named.size(), 2u);
  EXPECT_EQ(r.named[1].subject, "rank 1");
  EXPECT_EQ(r.named[1].metric, "absent_share");
  EXPECT_EQ(r.ended, std::vector<int64_t>{1});
}

TEST(JobWatch, OneLossyLinkIsNamedAndControlLinksRttIsNoEvidence) {
  Recorder r;
  for (int look = 0; look < 4; ++look) r.watch.observe(job({0.1, 0.1, 0.1}, 300, 30), 100 + look);
  ASSERT_EQ(r.named.size(), 1u);
  EXPECT_EQ(r.named[0].subject, "link 2>1");
  EXPECT_EQ(r.named[0].metric, "retransmits_per_s");
  EXPECT_EQ(r.named[0].from_rank, 2);
  EXPECT_EQ(r.named[0].to_rank, 1);
  EXPECT_EQ(r.named[0].host, "host-1");  // the receiver's
}

TEST(JobWatch, AJobThatEndsEndsItsFindings) {
  Recorder r;
  for (int look = 0; look < 3; ++look) r.watch.observe(job({0.1, 0.12, 1.3}), 100 + look);
  ASSERT_EQ(r.named.size(), 1u);
  r.watch.forget("10.0.0.1:29500", 110);
  EXPECT_EQ(r.ended, std::vector<int64_t>{1});
}

}  // namespace
}  // namespace nt::server
