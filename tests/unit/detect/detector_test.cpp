// Synthetic series with one known change each: the detector must alert within a stated delay,
// stay silent on stationary noise, and be deterministic. The delays here are the ones quoted in
// docs/detect.md.
#include <gtest/gtest.h>

#include <algorithm>

#include <cmath>
#include <cstdint>
#include <optional>
#include <random>
#include <type_traits>
#include <vector>

#include "detector.h"

namespace {

using nt::detect::AlertState;
using nt::detect::Config;
using nt::detect::Detector;
using nt::detect::Finding;
using nt::detect::Verdict;

constexpr std::size_t kChangeAt = 1500;
constexpr double kLevel = 1000.0;  // e.g. bytes/s
constexpr double kNoise = 50.0;

// Gaussian noise from a fixed seed, by Box-Muller on mt19937 (whose output the standard fixes,
// unlike std::normal_distribution's), so every platform sees the same series.
std::vector<double> noise(std::size_t n, std::uint32_t seed) {
  std::mt19937 random(seed);
  auto uniform = [&] { return (random() + 0.5) / 4294967296.0; };
  std::vector<double> out(n);
  for (auto& x : out) x = std::sqrt(-2.0 * std::log(uniform())) * std::cos(2.0 * M_PI * uniform());
  return out;
}

std::vector<double> stationary(std::size_t n, std::uint32_t seed = 7) {
  auto series = noise(n, seed);
  for (auto& x : series) x = kLevel + kNoise * x;
  return series;
}

std::vector<Verdict> run(const std::vector<double>& series, const Config& config = {}) {
  Detector detector(config);
  std::vector<Verdict> verdicts;
  for (std::size_t i = 0; i < series.size(); ++i)
    verdicts.push_back(detector.update(static_cast<std::int64_t>(i) * 1000, series[i]));
  return verdicts;
}

struct Alert {
  std::size_t delay;  // points after the change
  Finding finding;
};

std::optional<Alert> first_alert_from(const std::vector<Verdict>& verdicts, std::size_t from) {
  for (std::size_t i = from; i < verdicts.size(); ++i)
    if (verdicts[i].alert == AlertState::raised) return Alert{i - from, verdicts[i].finding};
  return std::nullopt;
}

std::size_t alerts_in(const std::vector<Verdict>& verdicts, std::size_t from, std::size_t to) {
  std::size_t raised = 0;
  for (std::size_t i = from; i < to; ++i) raised += verdicts[i].alert == AlertState::raised;
  return raised;
}

TEST(Detector, FitsInFourKilobytesWithoutHeap) {
  // Trivially copyable: no owned heap memory, so sizeof is the whole per-series cost.
  static_assert(std::is_trivially_copyable_v<Detector>);
  static_assert(sizeof(Detector) <= 4096);
}

TEST(Detector, SilentDuringWarmup) {
  const auto verdicts = run(stationary(500));
  const std::size_t warmup = static_cast<std::size_t>(Config{}.warmup_points);
  for (std::size_t i = 0; i < warmup; ++i) {
    EXPECT_FALSE(verdicts[i].calibrated) << i;
    EXPECT_EQ(verdicts[i].score, 0.0) << i;
    EXPECT_EQ(verdicts[i].alert, AlertState::none) << i;
  }
  EXPECT_TRUE(verdicts[warmup].calibrated);
}

TEST(Detector, StationaryNoiseGivesNoAlertAfterWarmup) {
  for (std::uint32_t seed : {1u, 2u, 3u}) {
    const auto verdicts = run(stationary(50000, seed));
    EXPECT_EQ(alerts_in(verdicts, 0, verdicts.size()), 0u) << "seed " << seed;
    for (const auto& v : verdicts) {
      ASSERT_GE(v.score, 0.0);
      ASSERT_LE(v.score, 1.0);
    }
  }
}

TEST(Detector, ExpectedRangeHoldsTheNormalValues) {
  const auto verdicts = run(stationary(3000));
  const auto& last = verdicts.back();
  EXPECT_LT(last.expected_low, kLevel - 3 * kNoise);
  EXPECT_GT(last.expected_high, kLevel + 3 * kNoise);
  EXPECT_GT(last.expected_low, kLevel - 20 * kNoise);
  EXPECT_LT(last.expected_high, kLevel + 20 * kNoise);
}

TEST(Detector, SpikeCaughtAtOnce) {
  auto series = stationary(3000);
  series[kChangeAt] = kLevel + 10 * kNoise;
  const auto verdicts = run(series);
  const auto alert = first_alert_from(verdicts, kChangeAt - 100);
  ASSERT_TRUE(alert);
  EXPECT_EQ(alert->delay, 100u);  // the spike itself
  EXPECT_EQ(alert->finding, Finding::spike_high);
  EXPECT_EQ(alerts_in(verdicts, kChangeAt, kChangeAt + 100), 1u);  // one alert for the episode
}

TEST(Detector, DropCaughtAtOnce) {
  auto series = stationary(3000);
  series[kChangeAt] = kLevel / 4;  // e.g. throughput collapsing for one interval
  const auto alert = first_alert_from(run(series), kChangeAt);
  ASSERT_TRUE(alert);
  EXPECT_EQ(alert->delay, 0u);
  // A drop this deep moves the fast level past its own tail at once too; either name is right.
  EXPECT_TRUE(alert->finding == Finding::spike_low || alert->finding == Finding::level_down);
}

TEST(Detector, LevelShiftOfFourSigmaCaughtWithinFivePoints) {
  auto series = stationary(3000);
  for (std::size_t i = kChangeAt; i < series.size(); ++i) series[i] += 4 * kNoise;
  const auto verdicts = run(series);
  const auto alert = first_alert_from(verdicts, kChangeAt);
  ASSERT_TRUE(alert);
  EXPECT_LE(alert->delay, 5u);
  // The new level becomes normal: the episode gives a bounded number of alerts, not one a point.
  EXPECT_LE(alerts_in(verdicts, kChangeAt, series.size()), 3u);
}

TEST(Detector, VarianceIncreaseCaughtWithinTwentyPoints) {
  auto series = stationary(3000);
  for (std::size_t i = kChangeAt; i < series.size(); ++i) series[i] = kLevel + 4 * (series[i] - kLevel);
  Config config;
  config.detect_spread_changes = true;  // off by default (see Config)
  const auto alert = first_alert_from(run(series, config), kChangeAt);
  ASSERT_TRUE(alert);
  EXPECT_LE(alert->delay, 20u);
}

TEST(Detector, StallCaughtWithinThirtyPoints) {
  auto series = stationary(3000);
  for (std::size_t i = kChangeAt; i < series.size(); ++i) series[i] = series[kChangeAt - 1];  // stuck value
  const auto alert = first_alert_from(run(series), kChangeAt);
  ASSERT_TRUE(alert);
  EXPECT_LE(alert->delay, 30u);
  EXPECT_EQ(alert->finding, Finding::stall);
}

// In a count that repeats itself often (uniform over 0..4: one point in five equals the one
// before), a run of one value is what the series does: no stall, by default. The same run is a
// stall once the gate is opened (the test can fail both ways).
TEST(Detector, StallsAreNotJudgedInASeriesThatOftenRepeats) {
  std::mt19937 random(11);
  std::vector<double> series(3000);
  for (auto& x : series) x = static_cast<double>(random() % 5);
  for (std::size_t i = kChangeAt; i < kChangeAt + 60; ++i) series[i] = 2.0;
  auto stalls = [&](const Config& config) {
    const auto verdicts = run(series, config);
    return std::count_if(verdicts.begin() + kChangeAt, verdicts.begin() + kChangeAt + 60,
                         [](const Verdict& v) { return v.finding == Finding::stall && v.score >= 0.5; });
  };
  EXPECT_EQ(stalls(Config{}), 0);
  Config ungated;
  ungated.stall_repeat_share = 1.0;
  EXPECT_GT(stalls(ungated), 0);
}

// A smooth series (AR(1), lag-1 correlation 0.98) wanders about one noise unit from its level, so
// a step of two noise units is an ordinary residual; it is ten times the series' step-to-step
// innovation, so the innovation statistic alerts at once and names it. Without it the step
// passes (the test can fail both ways).
TEST(Detector, JumpInASmoothSeriesCaughtByItsInnovation) {
  constexpr double kCorrelation = 0.98;
  const double step_noise = kNoise * std::sqrt(1.0 - kCorrelation * kCorrelation);
  const auto shocks = noise(3000, 11);
  std::vector<double> series(shocks.size());
  double wander = 0.0;
  for (std::size_t i = 0; i < series.size(); ++i) {
    wander = kCorrelation * wander + step_noise * shocks[i];
    if (i == kChangeAt) wander += 2 * kNoise;
    series[i] = kLevel + wander;
  }
  const auto verdicts = run(series);
  EXPECT_EQ(alerts_in(verdicts, 0, kChangeAt), 0u);
  EXPECT_EQ(verdicts[kChangeAt].alert, AlertState::raised);
  EXPECT_EQ(verdicts[kChangeAt].finding, Finding::jump_up);

  Config without;
  without.detect_innovations = false;
  const auto plain = run(series, without);
  EXPECT_EQ(alerts_in(plain, kChangeAt, kChangeAt + 5), 0u);
}

// A wave (period 50 points) that goes flat at its middle for 25 points: every value stays in
// the range and near the level, and the flat stretch is what the wave's own correlation predicts
// there, so the statistics hardly see it (the spread change, faintly: not even suspicious). The
// pattern stage does: the wave never pairs a middle value with middle values a few points
// before. It ranks those points near its limit, far above anything the wave itself scores, and
// raises no alert.
TEST(Detector, InRangePatternChangeRanksHighWithoutAlerting) {
  constexpr std::size_t kPeriod = 50, kFlatPoints = 25;
  const auto shocks = noise(4000, 5);
  std::vector<double> series(shocks.size());
  for (std::size_t i = 0; i < series.size(); ++i) {
    const bool flat = i >= kChangeAt && i < kChangeAt + kFlatPoints;
    series[i] = kLevel + (flat ? 0.0 : 2 * kNoise * std::sin(2 * M_PI * i / kPeriod)) + 0.04 * kNoise * shocks[i];
  }
  auto peak = [](const std::vector<Verdict>& verdicts, std::size_t from, std::size_t to) {
    return *std::max_element(verdicts.begin() + from, verdicts.begin() + to,
                             [](const Verdict& a, const Verdict& b) { return a.score < b.score; });
  };
  const std::size_t calibrated = 2 * static_cast<std::size_t>(Config{}.warmup_points);
  const auto verdicts = run(series);
  const Verdict flat_peak = peak(verdicts, kChangeAt, kChangeAt + kFlatPoints);
  EXPECT_EQ(flat_peak.finding, Finding::new_pattern);
  EXPECT_GT(flat_peak.score, 0.9 * Config{}.pattern_score_limit);
  EXPECT_LT(peak(verdicts, calibrated, kChangeAt).score, 0.5 * Config{}.pattern_score_limit);
  EXPECT_EQ(alerts_in(verdicts, 0, verdicts.size()), 0u);
  // Not by being held under the alert score: with patterns alone and an alert score below
  // theirs, the flat stretch still ranks high and raises nothing.
  Config patterns_only;
  patterns_only.detect_spikes = patterns_only.detect_level_shifts = patterns_only.detect_spread_changes = false;
  patterns_only.detect_innovations = patterns_only.detect_range_breaks = false;
  patterns_only.alert_score = 0.5 * Config{}.pattern_score_limit;
  const auto patterns_alone = run(series, patterns_only);
  EXPECT_GT(peak(patterns_alone, kChangeAt, kChangeAt + kFlatPoints).score, patterns_only.alert_score);
  EXPECT_EQ(alerts_in(patterns_alone, 0, patterns_alone.size()), 0u);

  Config without;
  without.detect_patterns = false;
  EXPECT_LT(peak(run(series, without), kChangeAt, kChangeAt + kFlatPoints).score, Config{}.clear_score);
}

// A +12 sigma spike every 300 points (a nightly job): the first two alert; from the third on each
// keeps their rhythm and raises nothing, nor counts as an onset, also after a missed beat. A
// spike off the rhythm, one of twice the height on it, and a second spike inside a recurring
// cycle all still alert.
TEST(Detector, RecurringSpikesStopAlertingAndOddOnesStillAlert) {
  constexpr std::size_t kPeriod = 300, kFirst = 600, kCycles = 8;
  constexpr std::size_t kMissed = 4;  // no spike in this cycle
  auto spiked = [&](std::size_t off_rhythm, std::size_t doubled, std::size_t second_in_cycle) {
    auto series = stationary(kFirst + kCycles * kPeriod + 200, 11);
    for (std::size_t k = 0; k < kCycles; ++k) {
      if (k == kMissed) continue;
      const std::size_t at = kFirst + k * kPeriod;
      series[at] = kLevel + (k == doubled ? 24 : 12) * kNoise;
      if (k == second_in_cycle) series[at + 4] = kLevel + 12 * kNoise;
    }
    if (off_rhythm < kCycles) series[kFirst + off_rhythm * kPeriod + kPeriod / 2] = kLevel + 12 * kNoise;
    return series;
  };
  constexpr std::size_t kNone = kCycles;
  // The likelihood stage lowers spikes that come every 300 points by itself, and the pattern
  // stage's onsets on noise (raw without it) would share the memory of onsets: both off here, so
  // that every spike scores high and only the recurrence rule decides.
  Config with;
  with.likelihood = with.detect_patterns = false;
  auto raised_at = [](const std::vector<Verdict>& verdicts, std::size_t at) {
    return verdicts[at].alert == AlertState::raised;
  };
  const auto rhythm = run(spiked(kNone, kNone, kNone), with);
  EXPECT_TRUE(raised_at(rhythm, kFirst));
  EXPECT_TRUE(raised_at(rhythm, kFirst + kPeriod));
  for (std::size_t k = 2; k < kCycles; ++k) {
    if (k == kMissed) continue;
    EXPECT_FALSE(raised_at(rhythm, kFirst + k * kPeriod)) << "cycle " << k;
    EXPECT_EQ(rhythm[kFirst + k * kPeriod].novelty, 0.0) << "cycle " << k;
  }
  EXPECT_EQ(alerts_in(rhythm, kFirst + 2 * kPeriod, rhythm.size()), 0u);

  Config without = with;
  without.ignore_recurrences = false;
  const auto unchecked = run(spiked(kNone, kNone, kNone), without);
  std::size_t rhythm_alerts = 0;
  for (std::size_t k = 2; k < kCycles; ++k) rhythm_alerts += k != kMissed && raised_at(unchecked, kFirst + k * kPeriod);
  EXPECT_GE(rhythm_alerts, 3u);

  const auto off = run(spiked(5, kNone, kNone), with);
  EXPECT_TRUE(raised_at(off, kFirst + 5 * kPeriod + kPeriod / 2));
  const auto doubled = run(spiked(kNone, 5, kNone), with);
  EXPECT_TRUE(raised_at(doubled, kFirst + 5 * kPeriod));
  const auto second = run(spiked(kNone, kNone, 5), with);
  EXPECT_EQ(alerts_in(second, kFirst + 5 * kPeriod, kFirst + 5 * kPeriod + 10), 1u);
  EXPECT_GT(second[kFirst + 5 * kPeriod + 4].novelty, 0.0);
}

// Range breaks alone (the other detectors off): a value 50 % of the range beyond everything seen
// alerts as new_high; the new extremes stationary noise keeps making do not.
TEST(Detector, RangeBreakBeyondAllSeenAlertsAndNoiseExtremesDoNot) {
  Config ranges_only;
  ranges_only.detect_spikes = ranges_only.detect_level_shifts = false;
  ranges_only.likelihood = false;
  for (std::uint32_t seed : {1u, 2u, 3u}) {
    auto series = stationary(20000, seed);
    EXPECT_EQ(alerts_in(run(series, ranges_only), 0, series.size()), 0u) << "seed " << seed;
    const auto [lowest, highest] = std::minmax_element(series.begin(), series.begin() + 10000);
    series[10000] = *highest + 0.5 * (*highest - *lowest);
    const auto verdicts = run(series, ranges_only);
    EXPECT_EQ(verdicts[10000].alert, AlertState::raised) << "seed " << seed;
    EXPECT_EQ(verdicts[10000].finding, Finding::new_high);
    EXPECT_EQ(alerts_in(verdicts, 0, series.size()), 1u) << "seed " << seed;
  }
}

// The likelihood stage: where surprises are common (a 6 sigma spike every 25 points), a spike
// scores less than without the stage; after a calm run, the same spike keeps its raw score.
TEST(Detector, LikelihoodLowersSurprisesThatAreCommonAndKeepsRareOnes) {
  Config without;
  without.likelihood = false;
  without.detect_range_breaks = false;
  Config with = without;
  with.likelihood = true;

  auto busy = stationary(6000);
  for (std::size_t i = 24; i < busy.size(); i += 25) busy[i] = kLevel + 6 * kNoise;
  const auto plain = run(busy, without);
  const auto weighed = run(busy, with);
  double plain_sum = 0.0, weighed_sum = 0.0;
  for (std::size_t i = 3024; i < busy.size(); i += 25) {
    plain_sum += plain[i].score;
    weighed_sum += weighed[i].score;
    EXPECT_LE(weighed[i].score, plain[i].score) << i;
  }
  EXPECT_LT(weighed_sum, 0.8 * plain_sum);

  auto calm = stationary(3000);
  calm[kChangeAt] = kLevel + 10 * kNoise;
  EXPECT_GT(run(calm, with)[kChangeAt].score, 0.0);
  EXPECT_EQ(run(calm, with)[kChangeAt].score, run(calm, without)[kChangeAt].score);
}

// The default alert score is one point a second's; slower series may spend more per point.
TEST(Detector, AlertScoreFollowsTheSamplingInterval) {
  const Config config;
  EXPECT_NEAR(alert_score_for_interval(1.0, config), config.alert_score, 1e-9);
  double previous = 1.0;
  for (double seconds : {0.001, 1.0, 10.0, 300.0, 3600.0, 86400.0, 1e9}) {
    const double score = alert_score_for_interval(seconds, config);
    EXPECT_GE(score, 0.0);
    EXPECT_LE(score, previous) << seconds << " s";
    previous = score;
  }
  EXPECT_GT(alert_score_for_interval(300.0, config), 0.25);
  EXPECT_LT(alert_score_for_interval(300.0, config), 0.35);
  EXPECT_EQ(alert_score_for_interval(0.0, config), 1.0);
}

TEST(Detector, SameInputSameOutput) {
  auto series = stationary(5000);
  series[2000] *= 3;
  for (std::size_t i = 3000; i < series.size(); ++i) series[i] += 200;
  const auto first = run(series), second = run(series);
  ASSERT_EQ(first.size(), second.size());
  for (std::size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(first[i].score, second[i].score) << i;
    EXPECT_EQ(first[i].novelty, second[i].novelty) << i;
    EXPECT_EQ(first[i].alert, second[i].alert) << i;
    EXPECT_EQ(first[i].finding, second[i].finding) << i;
    EXPECT_EQ(first[i].expected_low, second[i].expected_low) << i;
    EXPECT_EQ(first[i].expected_high, second[i].expected_high) << i;
  }
}

TEST(Detector, TimeThatDoesNotAdvanceIsIgnored) {
  Detector with_repeats, without;
  const auto series = stationary(400);
  Verdict a, b;
  for (std::size_t i = 0; i < series.size(); ++i) {
    const auto t = static_cast<std::int64_t>(i) * 10;
    a = with_repeats.update(t, series[i]);
    EXPECT_EQ(with_repeats.update(t, 1e9).score, a.score);  // a duplicate timestamp changes nothing
    b = without.update(t, series[i]);
  }
  EXPECT_EQ(a.score, b.score);
  EXPECT_EQ(a.expected_high, b.expected_high);
}

}  // namespace
