#include "spot.h"

#include <algorithm>
#include <cmath>

namespace nt::detect {
namespace {
// Pseudo-peaks drawn from an exponential tail (gamma = 0) with the prior scale: enough to give a
// usable tail before real peaks arrive, few enough that 32 real peaks dominate.
constexpr double kPriorPeaks = 4.0;
// Shape bounds keep the method-of-moments fit sane on few or tied peaks.
constexpr double kMinGamma = 0.0;
constexpr double kMaxGamma = 0.8;
}  // namespace

TailModel::TailModel(float threshold, float prior_scale) : threshold_(threshold), prior_scale_(prior_scale) {}

void TailModel::observe(double x) {
  ++observed_;
  if (!(x > threshold_)) return;
  ++exceeded_;
  const float excess = static_cast<float>(x - threshold_);
  if (stored_ == kPeaks) {
    const double old = excesses_[head_];
    sum_ -= old;
    sum_sq_ -= old * old;
  } else {
    ++stored_;
  }
  excesses_[head_] = excess;
  sum_ += excess;
  sum_sq_ += static_cast<double>(excess) * excess;
  head_ = static_cast<std::uint8_t>((head_ + 1) % kPeaks);
  if (head_ == 0) {
    // Once per lap, recompute the sums so add/subtract rounding cannot accumulate.
    sum_ = sum_sq_ = 0.0;
    for (float e : excesses_) {
      sum_ += e;
      sum_sq_ += static_cast<double>(e) * e;
    }
  }
}

TailModel::Shape TailModel::fit() const {
  const double prior_mean = prior_scale_;
  const double count = stored_ + kPriorPeaks;
  const double mean = (sum_ + kPriorPeaks * prior_mean) / count;
  // An exponential's second moment is 2 * scale^2.
  const double second = (sum_sq_ + kPriorPeaks * 2.0 * prior_mean * prior_mean) / count;
  const double variance = std::max(second - mean * mean, 1e-12);
  const double ratio = mean * mean / variance;
  const double gamma = std::clamp(0.5 * (1.0 - ratio), kMinGamma, kMaxGamma);
  // Method of moments: sigma = mean * (1 - gamma) for the GPD.
  return {gamma, std::max(mean * (1.0 - gamma), 1e-9)};
}

double TailModel::exceedance_rate() const {
  return (exceeded_ + 1.0) / (observed_ + 2.0);
}

double TailModel::tail_probability(double x) const {
  if (!(x > threshold_)) return 1.0;
  const auto [gamma, sigma] = fit();
  const double excess = x - threshold_;
  double survival;
  if (std::abs(gamma) < 1e-6) {
    survival = std::exp(-excess / sigma);
  } else {
    const double base = 1.0 + gamma * excess / sigma;
    survival = base <= 0.0 ? 0.0 : std::pow(base, -1.0 / gamma);
  }
  return exceedance_rate() * survival;
}

double TailModel::quantile(double risk) const {
  const double rate = exceedance_rate();
  if (risk >= rate) return threshold_;
  const auto [gamma, sigma] = fit();
  const double ratio = risk / rate;
  if (std::abs(gamma) < 1e-6) return threshold_ - sigma * std::log(ratio);
  return threshold_ + sigma / gamma * (std::pow(ratio, -gamma) - 1.0);
}

}  // namespace nt::detect
