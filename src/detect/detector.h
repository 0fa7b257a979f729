// nt_detect: online anomaly detection for one metric series (e.g. a process's bytes/s).
//
//   nt::detect::Detector detector(nt::detect::Config{});
//   for (auto [t, v] : samples) {
//     auto verdict = detector.update(t, v);
//     if (verdict.alert == nt::detect::AlertState::raised) report(verdict);
//   }
//
// Properties: O(1) amortised work per point, no heap, under 4 KB per series (see
// sizeof(Detector)); no globals and no clocks (time is an argument), so a replay gives the same
// verdicts as the live run; silent during warm-up; scores in [0, 1]; one alert per episode.
//
// How it works (docs/detect.md has the details):
// - a robust baseline: EWMA level and EWMA mean absolute deviation (optionally of log values),
//   fed with clipped residuals and paused while points look suspicious, so anomalies do not
//   become the baseline;
// - three statistics per point: the residual z (spikes), the fast-minus-slow level (level
//   shifts: an EWMA change detector) and the log of fast over slow spread (variance changes);
//   in a smooth series (lag-1 autocorrelation of the residual at least
//   `innovation_correlation`), the innovation: the residual less what the last one predicts
//   (jumps a level statistic cannot see, because the series wanders further than it steps);
//   the length of a run of unchanged values (stalls), in a series that rarely repeats a value;
// - a pattern stage: each value's bin in the range seen so far, paired with the bins of the
//   points before it; the share of pairs not met recently is the point's novelty (after CAD
//   OSE's contexts and HTM's unpredicted share, in a bounded bitset). Scored by its own
//   likelihood stage and held below the alert score: it ranks points, and never alerts alone;
// - each statistic has extreme-value tail models in the manner of SPOT (Siffer et al., KDD 2017)
//   for both tails; a point's surprise is its tail probability p, scored log(p) / (2 log risk):
//   0.5 at the configured risk, 1 at its square;
// - the raw score is the largest surprise; a likelihood stage lowers it where surprises are
//   common (the 10-point mean of raw scores against its own long-run distribution), and a break
//   out of the range seen so far scores by its overshoot; the score is the larger of the two;
// - an alert is raised at `alert_score`, stays ongoing while the score stays above
//   `clear_score` and clears after `clear_points` calm points; `novelty` repeats the score only
//   at the onset of an episode (one detection per episode for a consumer that thresholds every
//   point, as NAB does);
// - an onset that keeps the rhythm of like onsets before it (as long after one as that one came
//   after another, or twice as long) is the series' own rhythm: it neither alerts nor counts as
//   an onset;
// - a confirmed level (or spread) change re-levels the baseline onto the recent level.
#pragma once

#include <cstdint>
#include <string_view>

#include "spot.h"

namespace nt::detect {

enum class Transform : std::uint8_t { identity, log };

struct Config {
  Transform transform = Transform::identity;  // NAB scores identity higher; log suits rates spanning decades
  int warmup_points = 100;           // silent until this many points have calibrated the baseline
  // The slow rates and spread changes are what leave-one-category-out chose on NAB for every
  // held-out category once patterns were scored (docs/detect.md, step 9); the fast rate,
  // clear_points, quarantine_points, innovation_correlation, range_alert_overshoot and
  // pattern_score_limit were tuned together on NAB at step 12 (ibid., with what each is worth).
  double level_rate = 0.0075;        // EWMA weight of a new point in the slow level
  double spread_rate = 0.0075;       // ... in the slow spread (mean absolute deviation)
  double fast_rate = 0.105;          // ... in the fast level and spread (level shifts, spread changes)
  double residual_clip = 3.0;        // residuals beyond this many spreads are clipped for the baseline
  double risk = 1e-6;                // tail probability scored 0.5 (SPOT's q)
  float tail_threshold = 5.0f;       // SPOT's initial threshold, in standard units of each statistic
  bool detect_spikes = true;         // which detectors take part in the score
  bool detect_level_shifts = true;
  bool detect_spread_changes = true;
  // Stalls: a run of an unchanged value, judged against the lengths of the series' completed
  // runs, and only in a series where at most stall_repeat_share of the points so far repeated
  // the one before (counts, mostly-idle rates: repeating is their nature; ungated, NAB -2.4).
  bool detect_stalls = true;
  double stall_repeat_share = 0.05;
  // Innovations: x - level - phi * (previous x - its level), phi the residual's lag-1
  // autocorrelation, judged only where phi is at least innovation_correlation (elsewhere the
  // residual is the better statistic, and white noise never opens the gate).
  bool detect_innovations = true;
  double innovation_correlation = 0.65;
  double alert_score = 0.5;          // an alert is raised at or above this score (alert_score_for_interval)
  double clear_score = 0.3;          // ... is ongoing while the score stays at or above this
  int clear_points = 25;             // ... and clears after this many points below clear_score
  int quarantine_points = 45;        // points at or above clear_score are not learnt, up to this many in a row
  // Range breaks: a value beyond everything seen so far by more than range_tolerance of the range
  // seen scores 0.5 at an overshoot of range_alert_overshoot of the range, 0.2 more per decade
  // above and less below (0.29 at 0.02). Scored from range_warmup_points on (the range must mean
  // something). Not much under 0.22: stationary noise's new extremes must stay under the alert score.
  bool detect_range_breaks = true;
  int range_warmup_points = 300;
  double range_tolerance = 0.02;
  double range_alert_overshoot = 0.22;
  // Likelihood stage (after Numenta's anomaly likelihood): the mean of the last 10 raw scores is
  // compared with the long-run distribution of that mean (EWMA mean and variance at
  // likelihood_rate); its Gaussian tail probability is scored like the others, against
  // likelihood_risk, and a point's score is min(raw, sqrt(raw * that)): never above the raw
  // score, so calm series stay calibrated. An isolated surprise in a series where surprises are
  // common then counts for less than one that breaks a calm run.
  bool likelihood = true;
  double likelihood_rate = 0.001;
  double likelihood_risk = 1e-5;
  // Patterns: a value's bin (kPatternBins equal bins over the range seen so far) is paired with
  // the bins of each of the last kPatternLags points; a point's novelty is the share of its
  // pairs not met in the last pattern_memory_points to twice that. It goes through a likelihood
  // stage of its own and is limited to pattern_score_limit (kept below alert_score): stationary
  // noise makes new pairs too, in the rarely visited edge bins, so a new pattern ranks a point
  // higher (NAB's sweep, a top list) and keeps the baseline from learning it, but only the
  // statistics above raise alerts.
  bool detect_patterns = true;
  int pattern_memory_points = 9000;  // what leave-one-category-out chose (docs/detect.md, step 11)
  double pattern_score_limit = 0.49;
  // Recurrences: an onset (a point at or above clear_score after clear_points calm ones) as far
  // from the last like onset as that one was from the like onset before it, or twice as far (a
  // beat missed), within recurrence_tolerance of the distance (and at least 2 points), is a
  // nightly job or a checkpoint every N steps: no alert, no novelty. "Like": a value within half
  // the earlier one's distance from the level. Inside an episode that began with a recurrence, a
  // point of the same finding that is not one is an onset of its own (a second spike in the
  // same cycle).
  bool ignore_recurrences = true;
  double recurrence_tolerance = 0.1;
};

// The alert score for a series sampled every `sample_seconds`. A score s is a tail probability
// of risk^(2s) per point; reading `risk` as a false-alarm rate per second of the series (per
// statistic), a point may spend sample_seconds * risk of it: 0.5 at one point a second (the
// default alert_score), 0.29 at one in five minutes.
double alert_score_for_interval(double sample_seconds, const Config& config);

enum class AlertState : std::uint8_t { none, raised, ongoing, cleared };

enum class Finding : std::uint8_t {
  none, spike_high, spike_low, level_up, level_down, variance_up, variance_down, stall, new_high, new_low,
  jump_up, jump_down, new_pattern
};

std::string_view finding_name(Finding finding);

struct Verdict {
  double score = 0.0;    // surprise of this point, in [0, 1]; 0 while warming up
  double novelty = 0.0;  // the score at the onset of an episode (after clear_points calm points), else 0
  AlertState alert = AlertState::none;
  Finding finding = Finding::none;  // the detector with the largest score
  bool calibrated = false;          // false during warm-up
  double expected_low = 0.0;        // the range a value would have to leave to reach the risk,
  double expected_high = 0.0;       // in the series' own units (valid once calibrated)
};

class Detector {
 public:
  explicit Detector(const Config& config = {});

  // One sample at time t (any monotonic unit: ms, s, or a row number). Samples whose time does
  // not advance are ignored and answered with the previous verdict.
  Verdict update(std::int64_t t, double value);

 private:
  // A level or spread change scoring this (before the likelihood stage) is confirmed, and the
  // baseline adopts it. A level needs more than a spread: re-levelling ends the episode at once,
  // and a level change that is not clear is better left in quarantine (NAB: a level confirmed at
  // 0.5 is 1.0 lower on the scoreboard protocol, docs/detect.md step 12).
  static constexpr double kConfirmedLevelScore = 0.8;
  static constexpr double kConfirmedSpreadScore = 0.5;
  static constexpr int kLikelihoodPoints = 10;  // raw scores averaged by a likelihood stage
  static constexpr int kPatternBins = 16;
  static constexpr int kPatternLags = 6;
  static constexpr int kPatternPairs = kPatternLags * kPatternBins * kPatternBins;

  // A likelihood stage (after Numenta's): the mean of the last kLikelihoodPoints raw scores
  // against the long-run distribution of that mean (EWMA mean and variance).
  struct Likelihood {
    float recent[kLikelihoodPoints] = {};  // ring of the last raw scores
    double recent_sum = 0.0;
    double mean_of_means = 0.0;
    double variance_of_means = 0.0;
    // The weighed score, min(raw, sqrt(raw * likelihood)); `seen` counts raw scores from 1.
    double weigh(double raw_score, std::uint32_t seen, const Config& config);
  };
  // Pairs (lag, bin then, bin now) met in the current and the previous generation of
  // pattern_memory_points points: a pair unmet for two generations is forgotten.
  struct Patterns {
    std::uint64_t met[2][kPatternPairs / 64] = {};
    std::uint8_t recent_bins[kPatternLags] = {};  // ring, by point number
    std::uint32_t generation_points = 0;
  };

  // The last onsets, for recurrences.
  struct Onsets {
    static constexpr int kSlots = 8;
    std::uint32_t points[kSlots] = {};  // point numbers (0: empty slot)
    float values[kSlots] = {};          // in the model's scale
    std::uint32_t beat = 0;             // the distance between onsets of the last recurrence
    std::uint8_t next = 0;
    bool recurring_episode = false;     // the current episode began with a recurrence
    Finding recurring_finding = Finding::none;
  };

  struct Scored {
    double score;
    Finding finding;
  };
  // A statistic standardised by its own running centre and mean absolute deviation (so one
  // threshold fits all of them), with an extreme-value model for each tail.
  struct TwoTails {
    TailModel upper;
    TailModel lower;
    double centre = 0.0;
    double deviation = 0.0;
    explicit TwoTails(float threshold);
    double standardise(double value) const;
    void follow(double value, double weight, double clip);
  };
  struct Statistics {
    double spike;          // z: this point's residual, in spreads
    double shift;          // fast level minus slow level, in spreads
    double spread_change;  // log of fast spread over slow spread
    double innovation;     // residual less phi times the previous residual
  };
  Statistics measure(double x) const;
  Scored range_break(double value);
  double pattern_novelty(double x);  // x: the value in the model's scale
  Scored score(const Statistics& standardised) const;
  void follow_runs(double value);
  void follow_innovations(double residual, double innovation);
  double lag_correlation() const;  // phi: the residual's lag-1 autocorrelation, in [0, 1]
  bool smooth() const;
  bool rarely_repeats() const;  // whether stalls mean anything here (Config::stall_repeat_share)
  void learn(const Statistics& standardised);
  Statistics standardise(const Statistics& raw) const;
  void update_baseline(double x, const Statistics& raw);
  // alarm_score: the score less patterns; x: the value in the model's scale
  Verdict advance_alert(Scored scored, double alarm_score, double x);
  // The score an episode's onset carries, 0 elsewhere; none for a recurrence or its episode.
  double onset_novelty(Scored scored, double x);
  bool recurs(double x);  // whether an onset at x keeps the rhythm of earlier ones; records it
  double spread() const;
  double to_model(double value) const;
  double from_model(double x) const;

  Config config_;
  TwoTails spikes_;
  TwoTails shifts_;
  TwoTails spread_changes_;
  TwoTails innovations_;
  TailModel stall_runs_;  // lengths of completed runs of an unchanged value
  std::int64_t last_time_ = 0;
  std::uint32_t count_ = 0;
  double level_ = 0.0;
  double spread_ = 0.0;
  double fast_level_ = 0.0;
  double fast_spread_ = 0.0;
  double previous_value_ = 0.0;
  std::uint32_t unchanged_run_ = 0;  // consecutive points equal to the one before
  std::uint32_t repeated_points_ = 0;  // points equal to the one before, all runs
  double previous_residual_ = 0.0;   // x - level of the point before
  double residual_lag_product_ = 0.0;  // EWMA of residual * previous residual (clipped)
  double residual_square_ = 0.0;       // EWMA of residual^2 (clipped)
  double lowest_ = 0.0;   // of the values (not transformed), for range breaks
  double highest_ = 0.0;
  Likelihood surprises_;         // of the statistics' score
  Patterns patterns_;
  Likelihood pattern_surprises_;  // of the pattern novelty
  Onsets onsets_;
  int calm_points_ = 0;
  int suspicious_points_ = 0;
  bool alerting_ = false;
  Verdict last_{};
};

}  // namespace nt::detect
