#include "likelihood.h"

#include <algorithm>
#include <cmath>

namespace nt::detect {
namespace {
// A floor on the history's standard deviation: a series whose raw score has always been zero would
// otherwise make the first small raw score infinitely unlikely.
constexpr double kMinDeviation = 0.02;
}  // namespace

AnomalyLikelihood::AnomalyLikelihood(double history_rate, double risk, float tail_threshold)
    : tail_(tail_threshold, 1.0f / tail_threshold), risk_(risk), history_rate_(history_rate) {}

double AnomalyLikelihood::update(double raw_score) {
  recent_sum_ += raw_score - recent_[head_];
  recent_[head_] = static_cast<float>(raw_score);
  head_ = static_cast<std::uint8_t>((head_ + 1) % kShortWindow);
  if (head_ == 0) {
    // Once per lap, recompute the sum so add/subtract rounding cannot accumulate.
    recent_sum_ = 0.0;
    for (float r : recent_) recent_sum_ += r;
  }
  ++seen_;
  const double short_mean = recent_sum_ / kShortWindow;
  const double deviation = std::max(std::sqrt(variance_), kMinDeviation);
  const double z = (short_mean - mean_) / deviation;
  const double tail = tail_.tail_probability(z);
  if (tail >= risk_) tail_.observe(z);
  // The history learns after judging, so the onset of a change is judged against the past only.
  const double weight = std::max(1.0 / seen_, history_rate_);
  const double residual = short_mean - mean_;
  mean_ += weight * residual;
  variance_ += weight * (residual * residual * (1.0 - weight) - variance_);
  return tail;
}

}  // namespace nt::detect
