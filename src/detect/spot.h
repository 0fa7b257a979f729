// Peaks-over-threshold tail model in the manner of SPOT (Siffer et al., KDD 2017).
//
// Values above a fixed initial threshold t are "peaks"; their excesses (x - t) are modelled by a
// generalised Pareto distribution, so the probability of anything beyond t is
//   P(X > x) = rate * (1 + gamma * (x - t) / sigma)^(-1 / gamma),  rate = P(X > t).
// Differences from the paper, chosen for a bounded, O(1) streaming state:
// - the GPD is fitted by the method of moments over the last kPeaks excesses kept in a ring, with
//   running sums, instead of Grimshaw's likelihood over every peak ever seen;
// - a few pseudo-peaks from an exponential prior make the model usable before real peaks arrive;
// - the caller decides which values feed the model (SPOT leaves out its own alarms).
#pragma once

#include <array>
#include <cstdint>

namespace nt::detect {

class TailModel {
 public:
  static constexpr int kPeaks = 32;

  // threshold: t, in the units of the statistic. prior_scale: mean excess assumed before data.
  TailModel(float threshold, float prior_scale);

  // Feeds one value of the statistic (every value counts towards the exceedance rate).
  void observe(double x);

  // P(X > x); 1 for x at or below the threshold (the model says nothing there).
  double tail_probability(double x) const;

  // The x whose tail probability is `risk` (risk below the exceedance rate).
  double quantile(double risk) const;

 private:
  struct Shape {
    double gamma;
    double sigma;
  };
  Shape fit() const;
  double exceedance_rate() const;

  std::array<float, kPeaks> excesses_{};
  float threshold_;
  float prior_scale_;
  double sum_ = 0.0;     // of the excesses in the ring
  double sum_sq_ = 0.0;  // of their squares
  std::uint32_t observed_ = 0;
  std::uint32_t exceeded_ = 0;
  std::uint8_t head_ = 0;
  std::uint8_t stored_ = 0;
};

}  // namespace nt::detect
