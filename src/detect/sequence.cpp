#include "sequence.h"

#include <algorithm>
#include <cmath>

namespace nt::detect {

void SequenceModel::calibrate(double x) {
  if (!calibrated_) {
    low_ = high_ = x;
    calibrated_ = true;
  }
  low_ = std::min(low_, x);
  high_ = std::max(high_, x);
}

int SequenceModel::level_of(double x) const {
  if (!(high_ > low_)) return 0;
  const double position = (x - low_) / (high_ - low_);
  return std::clamp(static_cast<int>(position * kLevels), 0, kLevels - 1);
}

double SequenceModel::update(double x) {
  const int level = level_of(x);
  double surprise = 0.0;
  if (previous_ >= 0) {
    auto& row = counts_[previous_];
    surprise = 1.0 - (row[level] + 0.5) / (row_totals_[previous_] + 0.5 * kLevels);
    if (row[level] == UINT8_MAX) {
      for (auto& count : row) count /= 2;
      row_totals_[previous_] = 0;
      for (auto count : row) row_totals_[previous_] += count;
    }
    ++row[level];
    ++row_totals_[previous_];
  }
  previous_ = static_cast<std::int8_t>(level);
  return surprise;
}

}  // namespace nt::detect
