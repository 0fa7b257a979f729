// The step-time estimator on synthetic data-parallel traffic: steps of known length with jitter,
// each ending in bucketed all-reduce bursts; noise and silence claim no rhythm.
#include "rhythm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace {

using nt::detect::Rhythm;
using nt::detect::RhythmConfig;

constexpr double kBin = 0.002;

struct Truth {
  double mean_step_s = 0;
  double mean_bytes_per_step = 0;
};

// Steps of `step_s` (each stretched by up to +-jitter), computing for `compute_share` of the step
// and then sending `buckets` bursts of `burst_bytes` spread over 8 ms each, one after the other.
Truth feed(Rhythm& rhythm, std::mt19937& random, double seconds, double step_s, double jitter, int buckets,
           double burst_bytes, double compute_share = 0.6, uint64_t first_bin = 1000) {
  std::uniform_real_distribution<double> stretch(-jitter, jitter);
  std::vector<double> bins(static_cast<size_t>(seconds / kBin) + 1, 0.0);
  double t = 0, steps = 0, bytes = 0, timed = 0;
  while (true) {
    const double length = step_s * (1 + stretch(random));
    if (t + length > seconds) break;
    for (int b = 0; b < buckets; ++b) {
      const double start = t + compute_share * length + b * 0.010;
      for (int i = 0; i < 4; ++i) {
        const size_t bin = static_cast<size_t>((start + i * kBin) / kBin);
        if (bin < bins.size()) bins[bin] += burst_bytes / 4;
      }
    }
    t += length;
    timed += length;
    steps += 1;
    bytes += buckets * burst_bytes;
  }
  for (size_t i = 0; i < bins.size(); ++i) rhythm.add(first_bin + i, static_cast<uint64_t>(bins[i]));
  return {timed / steps, bytes / steps};
}

TEST(Rhythm, StepTimeAndBytesOfASteadyJob) {
  std::mt19937 random(1);
  Rhythm rhythm(RhythmConfig{});
  const Truth truth = feed(rhythm, random, 12, 0.300, 0.05, 2, 4e6);
  auto step = rhythm.estimate();
  ASSERT_TRUE(step);
  EXPECT_NEAR(step->period_s, truth.mean_step_s, 0.03 * truth.mean_step_s);
  EXPECT_NEAR(step->bytes_per_step, truth.mean_bytes_per_step, 0.05 * truth.mean_bytes_per_step);
  EXPECT_GT(step->correlation, 0.3);
}

TEST(Rhythm, UnevenStepsAreNotTakenForTwoSteps) {
  // Bursts every 50 ms whose sizes alternate (1 and 3 MB) and whose timing jitters by a bin: the
  // correlation at two steps beats the one at one step, and the step is still one step.
  std::mt19937 random(3);
  std::uniform_int_distribution<int> jitter(-1, 1);
  Rhythm rhythm(RhythmConfig{});
  for (int step = 0; step < 240; ++step) {
    const uint64_t bin = static_cast<uint64_t>(1000 + step * 25 + jitter(random));
    for (uint64_t i = 0; i < 3; ++i) rhythm.add(bin + i, step % 2 ? 1'000'000 : 3'000'000);
  }
  auto estimate = rhythm.estimate();
  ASSERT_TRUE(estimate);
  EXPECT_NEAR(estimate->period_s, 0.050, 0.002);
}

TEST(Rhythm, BurstsAtTheEdgeOfASearchBinKeepTheirStep) {
  // One-bin bursts every 50 ms on an absolute schedule sitting where the 10 ms search bins meet,
  // each early or late by up to 3 ms (what a paced sender shows under emulation): every estimate
  // made once a second, from the second second on, is the 50 ms.
  for (unsigned seed = 1; seed <= 8; ++seed) {
    std::mt19937 random(seed);
    std::uniform_int_distribution<int> jitter(-1, 1);
    Rhythm rhythm(RhythmConfig{});
    uint64_t newest = 0;
    for (int step = 0; step < 280; ++step) {
      const uint64_t bin = static_cast<uint64_t>(1004 + step * 25 + jitter(random));  // 1005: a search bin's first
      rhythm.add(bin, 200'000);
      newest = bin;
      if (step % 20 == 19 && step >= 39) {
        auto estimate = rhythm.estimate();
        ASSERT_TRUE(estimate) << "seed " << seed << " at bin " << newest;
        EXPECT_NEAR(estimate->period_s, 0.050, 0.003) << "seed " << seed << " at bin " << newest;
      }
    }
  }
}

TEST(Rhythm, LongAndShortSteps) {
  for (double step_s : {0.040, 0.120, 1.5, 3.5}) {
    std::mt19937 random(7);
    RhythmConfig config;
    config.window_s = std::max(12.0, 3.2 * step_s);
    Rhythm rhythm(config);
    const Truth truth = feed(rhythm, random, config.window_s, step_s, 0.03, step_s < 0.05 ? 1 : 3, 1e6,
                             step_s < 0.05 ? 0.3 : 0.6);
    auto step = rhythm.estimate();
    ASSERT_TRUE(step) << step_s;
    EXPECT_NEAR(step->period_s, truth.mean_step_s, 0.05 * truth.mean_step_s) << step_s;
  }
}

TEST(Rhythm, BucketsWithinAStepAreNotSteps) {
  // Four buckets 10 ms apart in a 250 ms step: the 10 ms rhythm inside a step must not win.
  std::mt19937 random(3);
  Rhythm rhythm(RhythmConfig{});
  const Truth truth = feed(rhythm, random, 12, 0.250, 0.04, 4, 2e6);
  auto step = rhythm.estimate();
  ASSERT_TRUE(step);
  EXPECT_NEAR(step->period_s, truth.mean_step_s, 0.03 * truth.mean_step_s);
}

TEST(Rhythm, FollowsASlowdownOnceTheWindowHoldsIt) {
  std::mt19937 random(5);
  Rhythm rhythm(RhythmConfig{});
  feed(rhythm, random, 12, 0.300, 0.03, 2, 1e6, 0.6, 0);
  const Truth slower = feed(rhythm, random, 12, 0.450, 0.03, 2, 1e6, 0.6, 6000);
  auto step = rhythm.estimate();
  ASSERT_TRUE(step);
  EXPECT_NEAR(step->period_s, slower.mean_step_s, 0.03 * slower.mean_step_s);
}

TEST(Rhythm, NoiseAndSilenceClaimNoRhythm) {
  Rhythm silent(RhythmConfig{});
  for (uint64_t i = 0; i < 6000; ++i) silent.add(i, 0);
  EXPECT_FALSE(silent.estimate());

  std::mt19937 random(11);
  std::exponential_distribution<double> size(1.0 / 5000);
  Rhythm noisy(RhythmConfig{});
  for (uint64_t i = 0; i < 6000; ++i) noisy.add(i, static_cast<uint64_t>(size(random)));
  EXPECT_FALSE(noisy.estimate());

  Rhythm short_history(RhythmConfig{});
  std::mt19937 again(1);
  feed(short_history, again, 0.5, 0.300, 0.0, 2, 1e6);
  EXPECT_FALSE(short_history.estimate()) << "half a second holds fewer than three steps";
}

TEST(Rhythm, SkippedBinsAreZeroAndOldOnesIgnored) {
  Rhythm a(RhythmConfig{}), b(RhythmConfig{});
  std::mt19937 random(2);
  std::vector<uint64_t> bins(6000, 0);
  for (size_t i = 0; i < bins.size(); i += 150)
    for (size_t j = 0; j < 4 && i + j < bins.size(); ++j) bins[i + j] = 250000;
  for (size_t i = 0; i < bins.size(); ++i) {
    a.add(i, bins[i]);
    if (bins[i]) b.add(i, bins[i]);  // silence never reported
  }
  b.add(bins.size() - 1, 0);  // the reader says how far it has seen
  b.add(10, 999999);           // older than the newest: ignored
  auto ea = a.estimate(), eb = b.estimate();
  ASSERT_TRUE(ea && eb);
  EXPECT_DOUBLE_EQ(ea->period_s, eb->period_s);
  EXPECT_DOUBLE_EQ(ea->bytes_per_step, eb->bytes_per_step);
  EXPECT_NEAR(ea->period_s, 0.300, 0.003);
}

TEST(Rhythm, OnsetIsWhenTheNewestStepsSendingBegan) {
  // Bursts every 300 ms starting at 120 ms into each step; the last whole step began at 11.7 s.
  for (double late_s : {0.0, 0.050}) {
    Rhythm rhythm(RhythmConfig{});
    const uint64_t first = 50000;  // the bins' clock does not start at 0
    std::vector<uint64_t> bins(6000, 0);
    for (double step = 0; step + 0.3 <= 12.0; step += 0.3)
      for (int i = 0; i < 10; ++i) bins[static_cast<size_t>((step + 0.120 + late_s) / kBin) + i] = 100000;
    for (size_t i = 0; i < bins.size(); ++i) rhythm.add(first + i, bins[i]);
    auto step = rhythm.estimate();
    ASSERT_TRUE(step);
    const double expected = static_cast<double>(first) * kBin + 11.7 + 0.120 + late_s;
    EXPECT_NEAR(step->onset_s, expected, 0.004) << late_s;
  }
}

}  // namespace
