#pragma once

#include <string>

#include "common/result.h"

namespace nt::agent {

// `neutracer replay FILE`: runs the anomaly detectors over a recorded JSON Lines file, with the
// options the recording used (its start record), and writes the anomalies they raise. The same
// records give the same anomalies: the recording's own anomaly records are what to compare with.
Result<int> run_replay(const std::string& input, const std::string& output);

}  // namespace nt::agent
