#include "rhythm.h"

#include <algorithm>
#include <cmath>

namespace nt::detect {

namespace {

// Autocorrelation of a mean-removed series at `lag`, per overlapping pair and over the variance
// per point (so 1 at lag 0 and comparable across lags whatever their overlap).
double correlation(const std::vector<double>& y, size_t lag, double variance_per_point) {
  if (lag >= y.size()) return 0;
  double sum = 0;
  for (size_t i = 0; i + lag < y.size(); ++i) sum += y[i] * y[i + lag];
  return sum / static_cast<double>(y.size() - lag) / variance_per_point;
}

// The series minus its mean, and its variance per point (0 for a flat one).
double center(std::vector<double>& y) {
  double mean = 0;
  for (double v : y) mean += v;
  mean /= static_cast<double>(y.size());
  double variance = 0;
  for (double& v : y) {
    v -= mean;
    variance += v * v;
  }
  return variance / static_cast<double>(y.size());
}

// Where the peak of a parabola through three equally spaced points lies, in (-0.5, 0.5) of a step.
double vertex_offset(double before, double at, double after) {
  const double curvature = before - 2 * at + after;
  if (curvature >= 0) return 0;  // not a maximum
  return std::clamp(0.5 * (before - after) / curvature, -0.5, 0.5);
}

// The bins (the first at `first_s`) folded over the period: one slot a bin's width, at least 8.
std::vector<double> fold(const std::vector<double>& bins, double bin_s, double first_s, double period_s) {
  const size_t slots = std::max<size_t>(8, static_cast<size_t>(std::lround(period_s / bin_s)));
  std::vector<double> profile(slots, 0.0);
  for (size_t i = 0; i < bins.size(); ++i) {
    const double phase = std::fmod(first_s + static_cast<double>(i) * bin_s, period_s);
    profile[std::min(slots - 1, static_cast<size_t>(phase / period_s * static_cast<double>(slots)))] += bins[i];
  }
  return profile;
}

// Where in the period sending begins, in [0, period): the window folded over the period into
// `slots` slots, the slot after the longest circular run of quiet ones (under 5% of the busiest).
double onset_phase(const std::vector<double>& bins, double bin_s, double first_s, double period_s) {
  const std::vector<double> profile = fold(bins, bin_s, first_s, period_s);
  const size_t slots = profile.size();
  const double busiest = *std::max_element(profile.begin(), profile.end());
  size_t best_end = 0, best_length = 0, length = 0;
  for (size_t k = 0; k < 2 * slots; ++k) {  // twice round: a quiet run may wrap
    if (profile[k % slots] <= 0.05 * busiest) {
      if (++length > best_length && length <= slots) {
        best_length = length;
        best_end = k % slots;
      }
    } else {
      length = 0;
    }
  }
  const size_t onset = best_length ? (best_end + 1) % slots : 0;
  return static_cast<double>(onset) * period_s / static_cast<double>(slots);
}

// How much of the period the series is busy at all: the period less its longest circular run of
// slots with nothing in them (under 1% of the busiest slot), from the same fold.
double busy_span(const std::vector<double>& bins, double bin_s, double first_s, double period_s) {
  const std::vector<double> profile = fold(bins, bin_s, first_s, period_s);
  const size_t slots = profile.size();
  const double busiest = *std::max_element(profile.begin(), profile.end());
  size_t best = 0, length = 0;
  for (size_t k = 0; k < 2 * slots; ++k) {
    length = profile[k % slots] <= 0.01 * busiest ? length + 1 : 0;
    best = std::max(best, std::min(length, slots));
  }
  return static_cast<double>(slots - best) * period_s / static_cast<double>(slots);
}

}  // namespace

Rhythm::Rhythm(RhythmConfig config)
    : config_(config),
      capacity_(static_cast<size_t>(std::max(1.0, std::round(config.window_s / config.bin_s)))),
      coarse_bins_(static_cast<size_t>(std::max(1.0, std::round(config.coarse_s / config.bin_s)))) {}

void Rhythm::add(uint64_t index, uint64_t bytes) {
  if (!bins_.empty()) {
    if (index < newest_) return;
    if (index == newest_) {
      bins_.back() += bytes;
      return;
    }
    const uint64_t skipped = index - newest_ - 1;
    if (skipped >= capacity_)
      bins_.clear();
    else
      bins_.insert(bins_.end(), static_cast<size_t>(skipped), 0);
  }
  bins_.push_back(bytes);
  newest_ = index;
  while (bins_.size() > capacity_) bins_.pop_front();
}

std::optional<RhythmEstimate> Rhythm::estimate() const {
  // Coarse bins, aligned on the newest end (the oldest partial one is left out).
  const size_t coarse_count = bins_.size() / coarse_bins_;
  if (coarse_count < 8) return std::nullopt;
  const size_t skip = bins_.size() - coarse_count * coarse_bins_;
  std::vector<double> coarse(coarse_count, 0.0), fine(bins_.size() - skip);
  double bytes = 0;
  const double per_coarse = static_cast<double>(coarse_bins_);
  for (size_t i = skip; i < bins_.size(); ++i) {
    const double v = static_cast<double>(bins_[i]);
    fine[i - skip] = v;
    bytes += v;
    // Shared between the two nearest coarse bins' centres by distance (linear binning): with plain
    // sums a step whose bursts sit near a coarse edge lands one bin early or late at random, and the
    // step's own lag loses its correlation to a multiple of it.
    const double at = (static_cast<double>(i - skip) + 0.5) / per_coarse - 0.5;
    const double lower = std::clamp(std::floor(at), 0.0, static_cast<double>(coarse_count - 1));
    const double upper_share = std::clamp(at - lower, 0.0, 1.0);
    const size_t low = static_cast<size_t>(lower), high = std::min(low + 1, coarse_count - 1);
    coarse[low] += v * (1 - upper_share);
    coarse[high] += v * upper_share;
  }
  const double coarse_variance = center(coarse);
  if (coarse_variance <= 0) return std::nullopt;

  const double coarse_s = config_.bin_s * static_cast<double>(coarse_bins_);
  const size_t shortest = std::max<size_t>(1, static_cast<size_t>(std::ceil(config_.min_period_s / coarse_s)));
  const size_t longest =
      std::min(static_cast<size_t>(config_.max_period_s / coarse_s), coarse_count / 3);
  if (longest <= shortest) return std::nullopt;
  std::vector<double> r(longest + 2, 0.0);
  for (size_t lag = shortest - 1; lag <= longest + 1; ++lag) r[lag] = correlation(coarse, lag, coarse_variance);
  double best = 0;
  for (size_t lag = shortest; lag <= longest; ++lag) best = std::max(best, r[lag]);
  if (best < config_.min_correlation) return std::nullopt;
  size_t period = 0;
  for (size_t lag = shortest; lag <= longest && !period; ++lag)
    if (r[lag] >= config_.peak_share * best && r[lag] >= r[lag - 1] && r[lag] >= r[lag + 1]) period = lag;
  if (!period) return std::nullopt;
  // A multiple of the step can win when the steps are uneven (timer jitter, alternating bursts): a
  // peak at a half or a third of it that holds `divisor_share` of its correlation is the step.
  for (size_t k : {3, 2}) {
    const size_t at = static_cast<size_t>(std::lround(static_cast<double>(period) / static_cast<double>(k)));
    if (at < shortest) continue;
    size_t found = 0;
    for (size_t lag = std::max(shortest, at - 1); lag <= std::min(longest, at + 1) && !found; ++lag)
      if (r[lag] >= std::max(config_.divisor_share * r[period], config_.min_correlation) && r[lag] >= r[lag - 1] &&
          r[lag] >= r[lag + 1])
        found = lag;
    if (found) {
      period = found;
      break;
    }
  }

  // Refine on the fine bins around the coarse peak.
  const double fine_variance = center(fine);
  const size_t low = std::max((period - 1) * coarse_bins_,
                              static_cast<size_t>(std::ceil(config_.min_period_s / config_.bin_s)));
  const size_t high = (period + 1) * coarse_bins_;
  size_t at = low;
  double at_r = -1;
  std::vector<double> fine_r(high + 2, 0.0);
  for (size_t lag = low; lag <= high + 1 && lag < fine.size(); ++lag) {
    fine_r[lag] = correlation(fine, lag, fine_variance);
    if (lag <= high && fine_r[lag] > at_r) {
      at_r = fine_r[lag];
      at = lag;
    }
  }
  double lag = static_cast<double>(at);
  if (at > 0 && at + 1 < fine_r.size()) lag += vertex_offset(fine_r[at - 1], fine_r[at], fine_r[at + 1]);

  RhythmEstimate estimate;
  estimate.period_s = lag * config_.bin_s;
  estimate.window_s = static_cast<double>(fine.size()) * config_.bin_s;
  estimate.bytes_per_step = bytes * estimate.period_s / estimate.window_s;
  estimate.correlation = std::clamp(r[period], 0.0, 1.0);
  if (auto onset = onset_at(estimate.period_s)) estimate.onset_s = *onset;
  if (auto span = span_at(estimate.period_s)) estimate.sending_s = *span;
  return estimate;
}

std::vector<uint64_t> Rhythm::tail(double seconds, uint64_t& first_index) const {
  const size_t count = std::min(bins_.size(), static_cast<size_t>(std::lround(seconds / config_.bin_s)));
  first_index = newest_ + 1 - count;
  return {bins_.end() - static_cast<std::ptrdiff_t>(count), bins_.end()};
}

std::optional<Rhythm::Recent> Rhythm::recent(double period_s) const {
  if (period_s <= 0 || bins_.empty()) return std::nullopt;
  // The last four periods only: an error in the period adds up over every period folded.
  const size_t count = std::min(bins_.size(), static_cast<size_t>(4 * period_s / config_.bin_s));
  Recent out{std::vector<double>(bins_.end() - static_cast<std::ptrdiff_t>(count), bins_.end()), 0};
  if (std::all_of(out.bins.begin(), out.bins.end(), [](double v) { return v <= 0; })) return std::nullopt;
  out.first_s = static_cast<double>(newest_ + 1 - out.bins.size()) * config_.bin_s;
  return out;
}

std::optional<double> Rhythm::onset_at(double period_s) const {
  auto folded = recent(period_s);
  if (!folded) return std::nullopt;
  const double end_s = static_cast<double>(newest_ + 1) * config_.bin_s;
  const double phase = onset_phase(folded->bins, config_.bin_s, folded->first_s, period_s);
  return std::floor((end_s - phase) / period_s) * period_s + phase;
}

std::optional<double> Rhythm::span_at(double period_s) const {
  auto folded = recent(period_s);
  if (!folded) return std::nullopt;
  return busy_span(folded->bins, config_.bin_s, folded->first_s, period_s);
}

}  // namespace nt::detect
