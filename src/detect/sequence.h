// Sequence surprise: how often this series has gone from the previous value's level to this one's.
//
// Values are quantised into kLevels levels over the range seen during the warm-up (values beyond it
// fall into the edge levels), and a table counts the transitions between consecutive levels. The
// surprise of a point is 1 - P(level | previous level), with add-half smoothing. A pattern that
// repeats (a daily cycle, a regular burst) becomes expected whatever its shape; a new one (a
// plateau at an unusual level, a missing peak, a different rhythm) is surprising. The idea is the
// one behind value-discretised context detectors such as NAB's contextOSE; the implementation is
// a first-order transition table.
//
// Bounded state: kLevels^2 one-byte counts; a row is halved when one of its counts saturates, so
// old habits fade.
#pragma once

#include <array>
#include <cstdint>

namespace nt::detect {

class SequenceModel {
 public:
  static constexpr int kLevels = 16;

  // Widens the quantisation range to include x (during the warm-up).
  void calibrate(double x);

  // Surprise of x after the previous point, in [0, 1]; then learns the transition.
  double update(double x);

 private:
  int level_of(double x) const;

  std::array<std::array<std::uint8_t, kLevels>, kLevels> counts_{};
  std::array<std::uint16_t, kLevels> row_totals_{};
  double low_ = 0.0;
  double high_ = 0.0;
  bool calibrated_ = false;
  std::int8_t previous_ = -1;
};

}  // namespace nt::detect
