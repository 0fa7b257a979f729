#include "nab.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace nt::nab {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

Loaded<json> read_json(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return Loaded<json>::failure("cannot open " + path.string());
  json doc = json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return Loaded<json>::failure("invalid JSON in " + path.string());
  return {std::move(doc), {}};
}

std::vector<std::string> split_csv_line(const std::string& line) {
  std::vector<std::string> fields;
  std::stringstream stream(line);
  std::string field;
  while (std::getline(stream, field, ',')) fields.push_back(field);
  if (!line.empty() && line.back() == ',') fields.emplace_back();
  return fields;
}

std::optional<double> parse_double(const std::string& text) {
  char* end = nullptr;
  double value = std::strtod(text.c_str(), &end);
  if (end == text.c_str()) return std::nullopt;
  return value;
}

// Label timestamps carry microseconds ("2014-04-10 07:15:00.000000"); data rows do not.
std::string strip_fraction(const std::string& timestamp) {
  return timestamp.substr(0, timestamp.find('.'));
}

Loaded<Series> load_series(const fs::path& csv, const std::string& category, const json& windows) {
  Series series;
  series.category = category;
  series.file = csv.filename().string();
  std::ifstream in(csv);
  if (!in) return Loaded<Series>::failure("cannot open " + csv.string());
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto fields = split_csv_line(line);
    auto value = fields.size() >= 2 ? parse_double(fields[1]) : std::nullopt;
    if (!value) return Loaded<Series>::failure(csv.string() + ": bad row '" + line + "'");
    series.timestamps.push_back(fields[0]);
    series.values.push_back(*value);
  }
  auto limits = windows.find(series.key());
  if (limits == windows.end())
    return Loaded<Series>::failure("no windows for " + series.key() + " in combined_windows.json");
  auto row_of = [&](const std::string& label) -> std::optional<std::size_t> {
    auto at = std::find(series.timestamps.begin(), series.timestamps.end(), strip_fraction(label));
    if (at == series.timestamps.end()) return std::nullopt;
    return static_cast<std::size_t>(at - series.timestamps.begin());
  };
  for (const auto& limit : *limits) {
    auto first = row_of(limit.at(0).get<std::string>());
    auto last = row_of(limit.at(1).get<std::string>());
    if (!first || !last || *last < *first)
      return Loaded<Series>::failure(series.key() + ": window does not match data timestamps");
    series.windows.push_back({*first, *last});
  }
  std::sort(series.windows.begin(), series.windows.end(),
            [](const Window& a, const Window& b) { return a.first_row < b.first_row; });
  return {std::move(series), {}};
}

// NAB's scaled sigmoid: +1 far before a window's end, 0 at it, towards -1 after; -1 beyond 3.
double scaled_sigmoid(double relative_position) {
  if (relative_position > 3.0) return -1.0;
  return 2.0 / (1.0 + std::exp(5.0 * relative_position)) - 1.0;
}

// What a detection at each scored row is worth, and which window (if any) it belongs to.
struct RowWorth {
  std::size_t row;
  int window;  // -1 outside windows
  double worth;
};

std::vector<RowWorth> row_worths(const Series& series, const Profile& profile) {
  const double max_tp = scaled_sigmoid(-1.0);
  std::vector<RowWorth> worths;
  std::size_t next_window = 0;
  std::optional<Window> previous;
  for (std::size_t row = series.probation_rows(); row < series.values.size(); ++row) {
    while (next_window < series.windows.size() && series.windows[next_window].last_row < row)
      previous = series.windows[next_window++];
    const bool inside = next_window < series.windows.size() && series.windows[next_window].first_row <= row;
    if (inside) {
      const Window& w = series.windows[next_window];
      const double width = static_cast<double>(w.last_row - w.first_row + 1);
      const double position = -static_cast<double>(w.last_row - row + 1) / width;
      worths.push_back({row, static_cast<int>(next_window), profile.tp_weight * scaled_sigmoid(position) / max_tp});
    } else if (previous) {
      const double width = static_cast<double>(previous->last_row - previous->first_row + 1);
      const double past = static_cast<double>(row - previous->last_row) / (width - 1.0);
      worths.push_back({row, -1, profile.fp_weight * scaled_sigmoid(past)});
    } else {
      worths.push_back({row, -1, -profile.fp_weight});
    }
  }
  return worths;
}

}  // namespace

std::size_t total_windows(const std::vector<Scored>& files) {
  std::size_t windows = 0;
  for (const auto& f : files) windows += f.series->windows.size();
  return windows;
}

std::size_t Series::probation_rows() const {
  return std::min<std::size_t>(static_cast<std::size_t>(std::floor(0.15 * static_cast<double>(values.size()))), 750);
}

std::vector<std::string> Corpus::categories() const {
  std::vector<std::string> names;
  for (const auto& s : series)
    if (names.empty() || names.back() != s.category) names.push_back(s.category);
  return names;
}

Loaded<Corpus> load_corpus(const std::string& nab_dir) {
  const fs::path root(nab_dir);
  if (!fs::is_directory(root / "data"))
    return Loaded<Corpus>::failure("no NAB corpus at " + nab_dir + " (expected a data/ folder)");
  auto windows = read_json(root / "labels" / "combined_windows.json");
  auto profiles = read_json(root / "config" / "profiles.json");
  auto scoreboard = read_json(root / "results" / "final_results.json");
  auto thresholds = read_json(root / "config" / "thresholds.json");
  for (const auto* doc : {&windows, &profiles, &scoreboard, &thresholds})
    if (!*doc) return Loaded<Corpus>::failure(doc->error);

  Corpus corpus;
  std::vector<fs::path> files;
  for (const auto& dir : fs::directory_iterator(root / "data"))
    if (dir.is_directory())
      for (const auto& file : fs::directory_iterator(dir.path()))
        if (file.path().extension() == ".csv") files.push_back(file.path());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    auto series = load_series(file, file.parent_path().filename().string(), *windows.value);
    if (!series) return Loaded<Corpus>::failure(series.error);
    corpus.series.push_back(std::move(*series.value));
  }
  if (corpus.series.empty()) return Loaded<Corpus>::failure("no CSV files under " + (root / "data").string());

  for (const char* name : {"standard", "reward_low_FP_rate", "reward_low_FN_rate"}) {
    auto entry = profiles.value->find(name);
    if (entry == profiles.value->end()) return Loaded<Corpus>::failure(std::string("profile missing: ") + name);
    const auto& costs = entry->at("CostMatrix");
    corpus.profiles.push_back({name, costs.at("tpWeight").get<double>(), costs.at("fpWeight").get<double>(),
                               costs.at("fnWeight").get<double>()});
  }
  for (const auto& [detector, by_profile] : scoreboard.value->items())
    for (const auto& [profile, score] : by_profile.items()) corpus.scoreboard[detector][profile] = score.get<double>();
  for (const auto& [detector, by_profile] : thresholds.value->items())
    for (const auto& [profile, entry] : by_profile.items())
      corpus.thresholds[detector][profile] = entry.at("threshold").get<double>();
  return {std::move(corpus), {}};
}

std::string result_path(const std::string& results_dir, const std::string& detector, const Series& series) {
  return (fs::path(results_dir) / detector / series.category / (detector + "_" + series.file)).string();
}

Loaded<std::vector<double>> load_scores(const std::string& csv_path, const Series& series) {
  using Result = Loaded<std::vector<double>>;
  std::ifstream in(csv_path);
  if (!in) return Result::failure("cannot open " + csv_path);
  std::string line;
  std::getline(in, line);
  auto header = split_csv_line(line);
  auto column = std::find(header.begin(), header.end(), "anomaly_score");
  if (column == header.end()) return Result::failure(csv_path + ": no anomaly_score column");
  const auto index = static_cast<std::size_t>(column - header.begin());
  std::vector<double> scores;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    auto fields = split_csv_line(line);
    auto score = index < fields.size() ? parse_double(fields[index]) : std::nullopt;
    if (!score) return Result::failure(csv_path + ": bad row '" + line + "'");
    scores.push_back(*score);
  }
  if (scores.size() != series.values.size())
    return Result::failure(csv_path + ": " + std::to_string(scores.size()) + " rows, expected " +
                           std::to_string(series.values.size()));
  return {std::move(scores), {}};
}

double raw_score(const std::vector<Scored>& files, const Profile& profile, double threshold) {
  double total = 0.0;
  for (const auto& f : files) {
    std::vector<std::optional<double>> best(f.series->windows.size());
    for (const auto& r : row_worths(*f.series, profile)) {
      if ((*f.scores)[r.row] < threshold) continue;
      if (r.window < 0) {
        total += r.worth;
      } else {
        auto& b = best[static_cast<std::size_t>(r.window)];
        b = std::max(b.value_or(r.worth), r.worth);
      }
    }
    for (const auto& b : best) total += b ? *b : -profile.fn_weight;
  }
  return total;
}

double null_raw_score(const std::vector<Scored>& files, const Profile& profile) {
  return -profile.fn_weight * static_cast<double>(total_windows(files));
}

double perfect_raw_score(const std::vector<Scored>& files, const Profile& profile) {
  // A detection at a window's left edge is worth exactly tpWeight (sigmoid position -1).
  return profile.tp_weight * static_cast<double>(total_windows(files));
}

double normalise(double raw, double null_raw, double perfect_raw) {
  return 100.0 * (raw - null_raw) / (perfect_raw - null_raw);
}

SweepResult best_threshold(const std::vector<Scored>& files, const Profile& profile) {
  // Lower the threshold through every distinct score, adding detections as they appear; a
  // window's worth is its best detection so far.
  struct Candidate {
    double score;
    double worth;
    std::size_t window;  // global window index, or SIZE_MAX outside windows
  };
  constexpr std::size_t outside = static_cast<std::size_t>(-1);
  std::vector<Candidate> candidates;
  std::size_t window_base = 0;
  for (const auto& f : files) {
    for (const auto& r : row_worths(*f.series, profile))
      candidates.push_back({(*f.scores)[r.row], r.worth,
                            r.window < 0 ? outside : window_base + static_cast<std::size_t>(r.window)});
    window_base += f.series->windows.size();
  }
  std::sort(candidates.begin(), candidates.end(), [](const Candidate& a, const Candidate& b) { return a.score > b.score; });

  std::vector<std::optional<double>> best(window_base);
  double raw = null_raw_score(files, profile);
  SweepResult result{candidates.empty() ? 1.0 : std::nextafter(candidates.front().score, INFINITY), raw};
  for (std::size_t i = 0; i < candidates.size();) {
    const double level = candidates[i].score;
    for (; i < candidates.size() && candidates[i].score == level; ++i) {
      const auto& c = candidates[i];
      if (c.window == outside) {
        raw += c.worth;
      } else if (!best[c.window]) {
        raw += profile.fn_weight + c.worth;
        best[c.window] = c.worth;
      } else if (c.worth > *best[c.window]) {
        raw += c.worth - *best[c.window];
        best[c.window] = c.worth;
      }
    }
    if (raw > result.raw) result = {level, raw};
  }
  return result;
}

}  // namespace nt::nab
