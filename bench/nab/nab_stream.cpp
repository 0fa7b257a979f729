#include "nab_stream.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>

namespace nt::nab {
namespace {

using detect::Config;

// "YYYY-MM-DD HH:MM:SS" to seconds since 1970 (UTC, proleptic Gregorian), without the C locale.
std::optional<std::int64_t> epoch_seconds(const std::string& text) {
  int year, month, day, hour, minute, second;
  if (std::sscanf(text.c_str(), "%d-%d-%d %d:%d:%d", &year, &month, &day, &hour, &minute, &second) != 6)
    return std::nullopt;
  // Days from civil date (H. Hinnant's algorithm).
  year -= month <= 2;
  const std::int64_t era = (year >= 0 ? year : year - 399) / 400;
  const std::int64_t year_of_era = year - era * 400;
  const std::int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const std::int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  const std::int64_t days = era * 146097 + day_of_era - 719468;
  return days * 86400 + hour * 3600 + minute * 60 + second;
}

// The median gap between the first rows, in seconds.
double warmup_interval(const std::vector<std::int64_t>& times, int warmup_points) {
  std::vector<double> gaps;
  for (std::size_t i = 1; i < times.size() && i <= static_cast<std::size_t>(warmup_points); ++i)
    gaps.push_back(static_cast<double>(times[i] - times[i - 1]));
  if (gaps.empty()) return 1.0;
  std::nth_element(gaps.begin(), gaps.begin() + gaps.size() / 2, gaps.end());
  return gaps[gaps.size() / 2];
}

}  // namespace

std::optional<Streamed> stream_series(const Series& series, const Config& config, std::string& error) {
  std::vector<std::int64_t> times(series.values.size());
  for (std::size_t i = 0; i < series.values.size(); ++i) {
    auto t = epoch_seconds(series.timestamps[i]);
    if (!t) {
      error = series.key() + ": bad timestamp '" + series.timestamps[i] + "'";
      return std::nullopt;
    }
    times[i] = *t;
  }
  Streamed streamed;
  streamed.scores.resize(series.values.size());
  streamed.alerts.resize(series.values.size());
  // Alerts spend the false-alarm budget per second of the series' own sampling interval, read
  // from the warm-up's rows (no alert can be raised before the warm-up ends).
  detect::Config sampled = config;
  sampled.alert_score = detect::alert_score_for_interval(warmup_interval(times, config.warmup_points), config);
  detect::Detector detector(sampled);
  const auto start = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < series.values.size(); ++i) {
    const auto verdict = detector.update(times[i], series.values[i]);
    streamed.scores[i] = verdict.novelty;
    streamed.alerts[i] = verdict.alert == detect::AlertState::raised ? 1.0 : 0.0;
  }
  streamed.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return streamed;
}

// The configurations protocol (c) chooses from: the default and its neighbours along the
// settings that mattered most while developing (baseline rate halved or doubled, a shorter
// episode, spread changes on or off). Protocols (a) and (b) use the default alone, which comes first.
std::vector<Config> configuration_grid() {
  const Config defaults;
  std::vector<Config> grid{defaults};
  for (auto transform : {detect::Transform::identity, detect::Transform::log})
    for (double rate_factor : {0.5, 1.0, 2.0})
      for (int clear_points : {defaults.clear_points / 3, defaults.clear_points})
        for (bool spread_changes : {false, true}) {
          Config config;
          config.transform = transform;
          config.level_rate = config.spread_rate = rate_factor * defaults.level_rate;
          config.clear_points = clear_points;
          config.detect_spread_changes = spread_changes;
          grid.push_back(config);
        }
  return grid;
}

std::string describe(const Config& c) {
  char text[112];
  std::snprintf(text, sizeof text, "transform=%s rate=%g clear_points=%d spread_changes=%s",
                c.transform == detect::Transform::log ? "log" : "identity", c.level_rate, c.clear_points,
                c.detect_spread_changes ? "on" : "off");
  return text;
}

}  // namespace nt::nab
