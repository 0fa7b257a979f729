// Anomaly likelihood: how unusual the recent level of a raw anomaly score is, given its history.
//
// A raw score (here the detector's per-point surprise) is noisy: a heavy-tailed series gives many
// isolated moderate scores. Following the idea of Numenta's anomaly likelihood (Ahmad et al.,
// Neurocomputing 2017), the mean of the last kShortWindow raw scores is compared with a Gaussian
// fitted to the long-run history of that mean; the tail probability of the short mean is the
// likelihood. A point that is unusual for this series (rather than unusual in absolute terms)
// gives a small probability once, at the onset; a series that is always jumpy does not.
//
// Bounded state: a ring of kShortWindow floats and EWMA moments (weight 1/n at first).
#pragma once

#include <array>
#include <cstdint>

#include "spot.h"

namespace nt::detect {

class AnomalyLikelihood {
 public:
  static constexpr int kShortWindow = 10;

  AnomalyLikelihood(double history_rate, double risk, float tail_threshold);

  // Feeds one raw score in [0, 1]; returns P(short mean >= its current value) under the history.
  double update(double raw_score);

 private:
  std::array<float, kShortWindow> recent_{};
  TailModel tail_;  // of the standardised short mean
  double risk_;
  double history_rate_;
  double recent_sum_ = 0.0;
  double mean_ = 0.0;
  double variance_ = 0.0;
  std::uint32_t seen_ = 0;
  std::uint8_t head_ = 0;
};

}  // namespace nt::detect
