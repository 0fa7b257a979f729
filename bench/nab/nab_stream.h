// How the NAB runner feeds a series to the detector, shared with the test that checks it uses no
// information from a file's future (tests/unit/detect/nab_causality_test.cpp).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "detector.h"
#include "nab.h"

namespace nt::nab {

// One configuration's output on one series.
struct Streamed {
  std::vector<double> scores;  // the detector's novelty: what NAB thresholds
  std::vector<double> alerts;  // 1 where an alert was raised, else 0
  double seconds = 0.0;        // time spent in the detector
};

// Streams the series' rows in order through a fresh detector (time = the row's timestamp in
// seconds); the output at a row depends on the rows up to it alone.
std::optional<Streamed> stream_series(const Series& series, const detect::Config& config, std::string& error);

// The configurations protocol (c) chooses from (the default first), and a one-line description.
std::vector<detect::Config> configuration_grid();
std::string describe(const detect::Config& config);

}  // namespace nt::nab
