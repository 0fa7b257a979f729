#include "detector.h"

#include <algorithm>
#include <cmath>

namespace nt::detect {
namespace {
constexpr float kHalfPi = 1.5707963f;
}  // namespace

std::string_view finding_name(Finding finding) {
  switch (finding) {
    case Finding::none: return "none";
    case Finding::spike_high: return "spike_high";
    case Finding::spike_low: return "spike_low";
    case Finding::level_up: return "level_up";
    case Finding::level_down: return "level_down";
    case Finding::variance_up: return "variance_up";
    case Finding::variance_down: return "variance_down";
    case Finding::stall: return "stall";
    case Finding::new_high: return "new_high";
    case Finding::new_low: return "new_low";
    case Finding::jump_up: return "jump_up";
    case Finding::jump_down: return "jump_down";
    case Finding::new_pattern: return "new_pattern";
  }
  return "none";
}

double alert_score_for_interval(double sample_seconds, const Config& config) {
  const double per_point = std::max(sample_seconds, 0.0) * config.risk;
  return std::clamp(std::log(std::max(per_point, 1e-300)) / (2.0 * std::log(config.risk)), 0.0, 1.0);
}

Detector::TwoTails::TwoTails(float threshold)
    // Prior mean excess: a Gaussian tail beyond t sigmas has mean excess ~ 1/t sigmas. These
    // statistics are in mean absolute deviations (sigma * sqrt(2/pi)), which scales it by pi/2.
    // With t = 5 few real peaks arrive, so the prior must be calibrated.
    : upper(threshold, kHalfPi / threshold), lower(threshold, kHalfPi / threshold) {}

double Detector::TwoTails::standardise(double value) const {
  return (value - centre) / std::max(deviation, 1e-9);
}

void Detector::TwoTails::follow(double value, double weight, double clip) {
  double residual = value - centre;
  if (deviation > 0.0) residual = std::clamp(residual, -clip * deviation, clip * deviation);
  centre += weight * residual;
  deviation += weight * (std::abs(residual) - deviation);
}

Detector::Detector(const Config& config)
    : config_(config),
      spikes_(config.tail_threshold),
      shifts_(config.tail_threshold),
      spread_changes_(config.tail_threshold),
      innovations_(config.tail_threshold),
      stall_runs_(config.tail_threshold, 1.0f / config.tail_threshold),
      calm_points_(config.clear_points) {}  // the warm-up counts as calm: the first alarm is an onset

void Detector::follow_runs(double value) {
  // Only completed runs teach the model, so a stall in progress cannot make itself look normal.
  if (count_ > 1 && value == previous_value_) {
    ++unchanged_run_;
    ++repeated_points_;
    return;
  }
  stall_runs_.observe(unchanged_run_);
  unchanged_run_ = 0;
  previous_value_ = value;
}

double Detector::to_model(double value) const {
  if (config_.transform == Transform::identity) return value;
  // Signed log1p: rates span orders of magnitude, and zero and negative values stay defined.
  return std::copysign(std::log1p(std::abs(value)), value);
}

double Detector::from_model(double x) const {
  if (config_.transform == Transform::identity) return x;
  return std::copysign(std::expm1(std::abs(x)), x);
}

double Detector::spread() const {
  // A spread of zero (a constant series) would make any change infinitely surprising; a floor
  // relative to the level keeps z finite while still flagging any real move.
  return std::max(spread_, 1e-6 * (1.0 + std::abs(level_)));
}

void Detector::follow_innovations(double residual, double innovation) {
  // Every point, not only calm ones: how far the series steps is a property of the series, and a
  // quarantine would keep a smooth series' first jumps out of its own scale. Clipping keeps one
  // wild point from moving either. Plain running means at first, as for the baseline.
  const double weight = std::max(1.0 / count_, config_.spread_rate);
  const double limit = config_.residual_clip * spread();
  const double now = std::clamp(residual, -limit, limit);
  const double before = std::clamp(previous_residual_, -limit, limit);
  residual_lag_product_ += weight * (now * before - residual_lag_product_);
  residual_square_ += weight * (now * now - residual_square_);
  previous_residual_ = residual;
  const bool trusted = count_ > static_cast<std::uint32_t>(config_.warmup_points / 4);
  innovations_.follow(innovation, weight, trusted ? config_.residual_clip : HUGE_VAL);
}

double Detector::lag_correlation() const {
  return residual_square_ > 0.0 ? std::clamp(residual_lag_product_ / residual_square_, 0.0, 1.0) : 0.0;
}

bool Detector::smooth() const {
  return residual_square_ > 0.0 && lag_correlation() >= config_.innovation_correlation;
}

Detector::Statistics Detector::measure(double x) const {
  const double s = spread();
  const double residual = x - level_;
  return {residual / s, (fast_level_ - level_) / s, std::log(std::max(fast_spread_, 1e-12) / s),
          residual - lag_correlation() * previous_residual_};
}

Detector::Statistics Detector::standardise(const Statistics& raw) const {
  // The residual is standardised already; the level and spread comparisons are smoothed, so
  // their scale is their own and is learnt.
  return {raw.spike, shifts_.standardise(raw.shift), spread_changes_.standardise(raw.spread_change),
          innovations_.standardise(raw.innovation)};
}

Detector::Scored Detector::score(const Statistics& stats) const {
  const double log_risk2 = 2.0 * std::log(config_.risk);
  auto surprise = [&](bool enabled, const TailModel& tail, double value) {
    if (!enabled) return 0.0;
    return std::clamp(std::log(std::max(tail.tail_probability(value), 1e-300)) / log_risk2, 0.0, 1.0);
  };
  const Scored candidates[] = {
      {surprise(config_.detect_spikes, spikes_.upper, stats.spike), Finding::spike_high},
      {surprise(config_.detect_spikes, spikes_.lower, -stats.spike), Finding::spike_low},
      {surprise(config_.detect_level_shifts, shifts_.upper, stats.shift), Finding::level_up},
      {surprise(config_.detect_level_shifts, shifts_.lower, -stats.shift), Finding::level_down},
      {surprise(config_.detect_spread_changes, spread_changes_.upper, stats.spread_change), Finding::variance_up},
      {surprise(config_.detect_spread_changes, spread_changes_.lower, -stats.spread_change), Finding::variance_down},
      {surprise(config_.detect_stalls && rarely_repeats(), stall_runs_, unchanged_run_), Finding::stall},
      {surprise(config_.detect_innovations && smooth(), innovations_.upper, stats.innovation), Finding::jump_up},
      {surprise(config_.detect_innovations && smooth(), innovations_.lower, -stats.innovation), Finding::jump_down},
  };
  return *std::max_element(std::begin(candidates), std::end(candidates),
                           [](const Scored& a, const Scored& b) { return a.score < b.score; });
}

bool Detector::rarely_repeats() const {
  // The run in progress counts too: a stall long enough to make repeating common is the new normal.
  return repeated_points_ <= config_.stall_repeat_share * count_;
}

void Detector::learn(const Statistics& stats) {
  // As in SPOT, values beyond the risk level are alarms and do not teach the tail.
  auto teach = [&](TailModel& tail, double value) {
    if (tail.tail_probability(value) >= config_.risk) tail.observe(value);
  };
  for (auto [tails, value] : {std::pair{&spikes_, stats.spike}, std::pair{&shifts_, stats.shift},
                              std::pair{&spread_changes_, stats.spread_change}}) {
    teach(tails->upper, value);
    teach(tails->lower, -value);
  }
  if (config_.detect_innovations) {
    teach(innovations_.upper, stats.innovation);
    teach(innovations_.lower, -stats.innovation);
  }
}

void Detector::update_baseline(double x, const Statistics& raw) {
  // Early on, a plain running mean (weight 1/n) converges faster than the EWMA.
  const double n = count_;
  const double s = spread();
  double residual = x - level_;
  // Clipping needs a spread worth trusting: not in the first quarter of the warm-up.
  if (count_ > static_cast<std::uint32_t>(config_.warmup_points / 4))
    residual = std::clamp(residual, -config_.residual_clip * s, config_.residual_clip * s);
  level_ += std::max(1.0 / n, config_.level_rate) * residual;
  const double spread_weight = std::max(1.0 / n, config_.spread_rate);
  spread_ += spread_weight * (std::abs(residual) - spread_);
  shifts_.follow(raw.shift, spread_weight, config_.residual_clip);
  spread_changes_.follow(raw.spread_change, spread_weight, config_.residual_clip);
}

Detector::Scored Detector::range_break(double value) {
  Scored scored{0.0, Finding::none};
  const double range = highest_ - lowest_;
  if (config_.detect_range_breaks && count_ > static_cast<std::uint32_t>(config_.range_warmup_points) && range > 0.0) {
    const double above = (value - highest_) / range;
    const double below = (lowest_ - value) / range;
    const double overshoot = std::max(above, below);
    if (overshoot > config_.range_tolerance)
      scored = {std::clamp(0.5 + 0.2 * std::log10(overshoot / config_.range_alert_overshoot), 0.0, 1.0),
                above > below ? Finding::new_high : Finding::new_low};
  }
  lowest_ = count_ == 1 ? value : std::min(lowest_, value);
  highest_ = count_ == 1 ? value : std::max(highest_, value);
  return scored;
}

double Detector::Likelihood::weigh(double raw_score, std::uint32_t seen, const Config& config) {
  float& slot = recent[seen % kLikelihoodPoints];
  recent_sum += raw_score - slot;
  slot = static_cast<float>(raw_score);
  const double mean = recent_sum / std::min<std::uint32_t>(seen, kLikelihoodPoints);
  // Compared before it is learnt, as the baseline is. Until the moments have some history the
  // stage has no opinion (1: the raw score stands).
  double likelihood = 1.0;
  if (seen > static_cast<std::uint32_t>(config.warmup_points)) {
    const double deviation = std::sqrt(std::max(variance_of_means, 1e-6));
    const double p = 0.5 * std::erfc((mean - mean_of_means) / (deviation * std::sqrt(2.0)));
    likelihood = std::clamp(std::log(std::max(p, 1e-300)) / (2.0 * std::log(config.likelihood_risk)), 0.0, 1.0);
  }
  // Welford-style EWMA moments (weight 1/n at first, so the start converges).
  const double weight = std::max(1.0 / seen, config.likelihood_rate);
  const double delta = mean - mean_of_means;
  mean_of_means += weight * delta;
  variance_of_means = (1.0 - weight) * (variance_of_means + weight * delta * delta);
  return std::min(raw_score, std::sqrt(raw_score * likelihood));
}

double Detector::pattern_novelty(double x) {
  // Bins over the range seen before this point, in the model's scale (a log-scaled rate spends
  // its bins on decades, not on its largest burst); a value beyond the range falls in an edge
  // bin (the range break judges how far beyond).
  const double lowest = to_model(lowest_);
  const double range = to_model(highest_) - lowest;
  const int bin = range > 0.0 ? std::clamp(static_cast<int>((x - lowest) / range * kPatternBins), 0, kPatternBins - 1) : 0;
  int unmet = 0, pairs = 0;
  // Point 1 has no range to be binned in: pairs start from point 2.
  for (std::uint32_t lag = 1; lag <= kPatternLags && count_ - lag >= 2; ++lag) {
    const int before = patterns_.recent_bins[(count_ - lag) % kPatternLags];
    const unsigned pair = ((lag - 1) * kPatternBins + before) * kPatternBins + bin;
    const std::uint64_t mask = std::uint64_t{1} << (pair % 64);
    unmet += ((patterns_.met[0][pair / 64] | patterns_.met[1][pair / 64]) & mask) == 0;
    ++pairs;
    patterns_.met[0][pair / 64] |= mask;
  }
  patterns_.recent_bins[count_ % kPatternLags] = static_cast<std::uint8_t>(bin);
  if (++patterns_.generation_points >= static_cast<std::uint32_t>(config_.pattern_memory_points)) {
    std::copy(std::begin(patterns_.met[0]), std::end(patterns_.met[0]), std::begin(patterns_.met[1]));
    std::fill(std::begin(patterns_.met[0]), std::end(patterns_.met[0]), 0);
    patterns_.generation_points = 0;
  }
  return pairs > 0 ? static_cast<double>(unmet) / pairs : 0.0;
}

bool Detector::recurs(double x) {
  auto like = [&](float earlier) { return std::abs(x - earlier) <= 0.5 * std::abs(earlier - level_); };
  // The last like onset, and the last like onset before it.
  std::uint32_t last = 0, before = 0;
  for (int i = 0; i < Onsets::kSlots; ++i) {
    const std::uint32_t point = onsets_.points[i];
    if (point == 0 || !like(onsets_.values[i])) continue;
    if (point > last) {
      before = last;
      last = point;
    } else if (point > before) {
      before = point;
    }
  }
  // One beat or two: a beat may be missed (inside another episode, or too weak to be an onset).
  // The beat is the distance between the last two like onsets, or the rhythm's beat as last
  // recognised (after a missed beat, the last two are two beats apart).
  const double gap = count_ - last;
  const double tolerance = std::max(2.0, config_.recurrence_tolerance * gap);
  bool recurring = false;
  for (const std::uint32_t beat : {before != 0 ? last - before : 0u, last != 0 ? onsets_.beat : 0u}) {
    if (beat == 0 || recurring) continue;
    recurring = std::abs(gap - beat) <= tolerance || std::abs(gap - 2.0 * beat) <= tolerance;
    if (recurring) onsets_.beat = beat;
  }
  onsets_.points[onsets_.next] = count_;
  onsets_.values[onsets_.next] = static_cast<float>(x);
  onsets_.next = static_cast<std::uint8_t>((onsets_.next + 1) % Onsets::kSlots);
  return recurring;
}

double Detector::onset_novelty(Scored scored, double x) {
  // NAB-style consumers count every point over their threshold: only the onset of an episode (a
  // point after clear_points calm ones) carries the score, so an episode is one detection.
  const bool onset = calm_points_ >= config_.clear_points;
  if (onset) onsets_.recurring_episode = false;
  const double novelty = onset ? scored.score : 0.0;
  // A recurrence is the series' rhythm: it opens an episode, but neither it nor its echo in the
  // level and spread statistics is news. A point of its finding later in that episode which
  // does not recur is (the second spike of a cycle that used to have one).
  const bool judged = onset || (onsets_.recurring_episode && scored.finding == onsets_.recurring_finding);
  if (!config_.ignore_recurrences || !judged || scored.score < config_.clear_score) return novelty;
  if (!recurs(x)) {
    onsets_.recurring_episode = false;
    return scored.score;
  }
  if (onset) {
    onsets_.recurring_episode = true;
    onsets_.recurring_finding = scored.finding;
  }
  return 0.0;
}

Verdict Detector::advance_alert(Scored scored, double alarm_score, double x) {
  Verdict verdict;
  verdict.calibrated = true;
  verdict.score = scored.score;
  verdict.finding = scored.score > 0.0 ? scored.finding : Finding::none;
  verdict.novelty = onset_novelty(scored, x);
  if (onsets_.recurring_episode) alarm_score = 0.0;
  const bool calm = scored.score < config_.clear_score;
  calm_points_ = calm ? calm_points_ + 1 : 0;
  const bool episode_over = calm_points_ >= config_.clear_points;

  if (!alerting_) {
    if (alarm_score >= config_.alert_score) {
      alerting_ = true;
      verdict.alert = AlertState::raised;
    }
  } else if (episode_over) {
    alerting_ = false;
    verdict.alert = AlertState::cleared;
  } else {
    verdict.alert = AlertState::ongoing;
  }
  return verdict;
}

Verdict Detector::update(std::int64_t t, double value) {
  if (count_ > 0 && t <= last_time_) return last_;
  if (!std::isfinite(value)) return last_;
  last_time_ = t;
  ++count_;
  const double x = to_model(value);
  follow_runs(value);
  // Every point, warm-up included, so the pairs a series makes are met before they are judged.
  const double novelty = config_.detect_patterns ? pattern_novelty(x) : 0.0;
  const Scored range = range_break(value);
  if (count_ == 1) {
    level_ = fast_level_ = x;
    return last_ = Verdict{};
  }

  // The fast level and spread take this point in before the comparison, so that a change shows
  // at once; the slow baseline is compared before it learns from the point.
  const double fast_weight = std::max(1.0 / count_, config_.fast_rate);
  fast_spread_ += fast_weight * (std::abs(x - fast_level_) - fast_spread_);
  fast_level_ += fast_weight * (x - fast_level_);
  const Statistics raw = measure(x);
  const Statistics stats = standardise(raw);
  if (config_.detect_innovations) follow_innovations(x - level_, raw.innovation);

  if (count_ <= static_cast<std::uint32_t>(config_.warmup_points)) {
    // The tails learn from the second half of the warm-up, once the spread is meaningful.
    if (count_ > static_cast<std::uint32_t>(config_.warmup_points / 2)) learn(stats);
    update_baseline(x, raw);
    return last_ = Verdict{};
  }

  const Scored scored = score(stats);
  const double held_novelty = std::min(novelty, config_.pattern_score_limit);
  double pattern = held_novelty;
  Scored final_score = scored;
  if (config_.likelihood) {
    // The raw scores come after the warm-up: the rings and their long-run moments start there.
    const std::uint32_t seen = count_ - static_cast<std::uint32_t>(config_.warmup_points);
    final_score.score = surprises_.weigh(scored.score, seen, config_);
    if (config_.detect_patterns) pattern = pattern_surprises_.weigh(pattern, seen, config_);
  }
  if (range.score > final_score.score) final_score = range;
  // A pattern ranks a point but never raises an alert by itself (see Config::pattern_score_limit).
  const double alarm_score = final_score.score;
  if (pattern > final_score.score) final_score = {pattern, Finding::new_pattern};
  Verdict verdict = advance_alert(final_score, alarm_score, x);
  verdict.expected_high = from_model(level_ + spikes_.upper.quantile(config_.risk) * spread());
  verdict.expected_low = from_model(level_ - spikes_.lower.quantile(config_.risk) * spread());

  learn(stats);
  // Suspicious points stay out of the baseline (or a change would be learnt as normal while it
  // is still being judged), but only for a while, so an unalarmed new regime is adopted.
  suspicious_points_ = std::max(scored.score, held_novelty) >= config_.clear_score ? suspicious_points_ + 1 : 0;
  if (suspicious_points_ == 0 || suspicious_points_ > config_.quarantine_points) update_baseline(x, raw);
  // A confirmed change: accept the recent level (or spread) as the new normal, so the episode
  // ends and later points are judged against it.
  const bool level_change = scored.finding == Finding::level_up || scored.finding == Finding::level_down;
  const bool spread_change = scored.finding == Finding::variance_up || scored.finding == Finding::variance_down;
  if (level_change && scored.score >= kConfirmedLevelScore) level_ = fast_level_;
  if (spread_change && scored.score >= kConfirmedSpreadScore) spread_ = fast_spread_;
  return last_ = verdict;
}

}  // namespace nt::detect
