// NAB (Numenta Anomaly Benchmark v1.1): corpus loading and an independent scorer.
//
// The scorer follows the rules stated in the dataset's README: a probation period of
// min(floor(0.15 * N), 750) rows is not scored; a detection inside a window is worth the scaled
// sigmoid of its position (earliest detection per window counts); a detection outside windows costs
// fpWeight times the sigmoid of its distance past the previous window (or the full fpWeight before
// the first window); an undetected window costs fnWeight. Raw scores sum over files and are
// normalised between the null detector (0) and the perfect one (100).
#pragma once

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace nt::nab {

// A value or the reason there is none; errors are values here, the binaries print them.
template <class T>
struct Loaded {
  std::optional<T> value;
  std::string error;
  explicit operator bool() const { return value.has_value(); }
  static Loaded failure(std::string why) { return {std::nullopt, std::move(why)}; }
};

struct Window {
  std::size_t first_row;  // inclusive
  std::size_t last_row;   // inclusive
};

struct Series {
  std::string category;  // e.g. "realKnownCause"
  std::string file;      // e.g. "nyc_taxi.csv"
  std::vector<std::string> timestamps;
  std::vector<double> values;
  std::vector<Window> windows;  // sorted, disjoint

  std::string key() const { return category + "/" + file; }
  std::size_t probation_rows() const;
};

struct Profile {
  std::string name;  // "standard", "reward_low_FP_rate", "reward_low_FN_rate"
  double tp_weight = 1.0;
  double fp_weight = 0.11;
  double fn_weight = 1.0;
};

struct Corpus {
  std::vector<Series> series;  // sorted by key
  std::vector<Profile> profiles;  // standard first
  // Published normalised scores: detector -> profile -> score.
  std::map<std::string, std::map<std::string, double>> scoreboard;
  // Published thresholds: detector -> profile -> threshold.
  std::map<std::string, std::map<std::string, double>> thresholds;

  std::vector<std::string> categories() const;
};

Loaded<Corpus> load_corpus(const std::string& nab_dir);

// Reads the anomaly_score column of a per-point result file in NAB's format; it must have one row
// per row of `series`.
Loaded<std::vector<double>> load_scores(const std::string& csv_path, const Series& series);

// Path of a per-point result file inside a results tree, in NAB's layout.
std::string result_path(const std::string& results_dir, const std::string& detector, const Series& series);

// A set of series with one score vector each (same length as the series).
struct Scored {
  const Series* series;
  const std::vector<double>* scores;
};

// Labelled windows in these files.
std::size_t total_windows(const std::vector<Scored>& files);

// Raw (unnormalised) NAB score when every point with score >= threshold is a detection.
double raw_score(const std::vector<Scored>& files, const Profile& profile, double threshold);

// Raw scores of the null detector (detects nothing) and of the perfect one (left window edges).
double null_raw_score(const std::vector<Scored>& files, const Profile& profile);
double perfect_raw_score(const std::vector<Scored>& files, const Profile& profile);

double normalise(double raw, double null_raw, double perfect_raw);

struct SweepResult {
  double threshold;  // scores >= threshold are detections
  double raw;
};

// The threshold maximising the raw score over all distinct score values (plus "detect nothing").
SweepResult best_threshold(const std::vector<Scored>& files, const Profile& profile);

}  // namespace nt::nab
