// Streams the NAB corpus through nt_detect, writes per-point results in NAB's layout and prints
// our scores under three protocols next to the published scoreboard.
//
//   nt_nab_runner --nab-dir DIR --out OUT_DIR
//
// a. swept:  one threshold per profile for the whole corpus, chosen with the labels (how the
//            published detectors were scored);
// b. label-free: the detector's own alerts (1 at each raised alert), threshold 0.5, no sweep;
// c. leave-one-category-out: for each category, the configuration (from a fixed grid) and the
//    threshold are chosen on the other categories only, then the held-out category is scored;
//    the held-out raw scores are summed and normalised over the corpus.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "detector.h"
#include "nab.h"

namespace {

namespace fs = std::filesystem;
using nt::detect::AlertState;
using nt::detect::Config;
using nt::detect::Detector;
using nt::nab::Corpus;
using nt::nab::Profile;
using nt::nab::Scored;

struct Options {
  std::string nab_dir;
  std::string out_dir;
};

std::optional<Options> parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--nab-dir") options.nab_dir = argv[i + 1];
    else if (flag == "--out") options.out_dir = argv[i + 1];
    else return std::nullopt;
  }
  if (argc % 2 == 0 || options.nab_dir.empty() || options.out_dir.empty()) return std::nullopt;
  return options;
}

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

// One configuration's output on every series of the corpus, in corpus order.
struct Run {
  std::vector<std::vector<double>> scores;  // continuous score
  std::vector<std::vector<double>> alerts;  // 1 where an alert was raised, else 0
  std::size_t points = 0;
  double seconds = 0.0;
};

std::optional<Run> run_detector(const Corpus& corpus, const Config& config, std::string& error) {
  Run run;
  for (const auto& series : corpus.series) {
    Detector detector(config);
    std::vector<double> scores(series.values.size()), alerts(series.values.size());
    std::vector<std::int64_t> times(series.values.size());
    for (std::size_t i = 0; i < series.values.size(); ++i) {
      auto t = epoch_seconds(series.timestamps[i]);
      if (!t) {
        error = series.key() + ": bad timestamp '" + series.timestamps[i] + "'";
        return std::nullopt;
      }
      times[i] = *t;
    }
    const auto start = std::chrono::steady_clock::now();
    for (std::size_t i = 0; i < series.values.size(); ++i) {
      const auto verdict = detector.update(times[i], series.values[i]);
      scores[i] = verdict.novelty;
      alerts[i] = verdict.alert == AlertState::raised ? 1.0 : 0.0;
    }
    run.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    run.points += series.values.size();
    run.scores.push_back(std::move(scores));
    run.alerts.push_back(std::move(alerts));
  }
  return run;
}

std::vector<Scored> pair_up(const Corpus& corpus, const std::vector<std::vector<double>>& scores,
                            const std::string& only_category = {}, const std::string& except_category = {}) {
  std::vector<Scored> files;
  for (std::size_t i = 0; i < corpus.series.size(); ++i) {
    const auto& category = corpus.series[i].category;
    if (!only_category.empty() && category != only_category) continue;
    if (!except_category.empty() && category == except_category) continue;
    files.push_back({&corpus.series[i], &scores[i]});
  }
  return files;
}

double normalised(const std::vector<Scored>& files, const Profile& profile, double raw) {
  return nt::nab::normalise(raw, nt::nab::null_raw_score(files, profile), nt::nab::perfect_raw_score(files, profile));
}

bool write_results(const std::string& out_dir, const std::string& detector, const Corpus& corpus,
                   const std::vector<std::vector<double>>& scores, std::string& error) {
  for (std::size_t i = 0; i < corpus.series.size(); ++i) {
    const auto& series = corpus.series[i];
    const fs::path path = nt::nab::result_path(out_dir, detector, series);
    std::error_code ec;
    fs::create_directories(path.parent_path(), ec);
    std::ofstream out(path);
    if (ec || !out) {
      error = "cannot write " + path.string();
      return false;
    }
    out << "timestamp,value,anomaly_score\n";
    char value[32], score[32];
    for (std::size_t row = 0; row < series.values.size(); ++row) {
      *std::to_chars(value, value + sizeof value - 1, series.values[row]).ptr = '\0';
      *std::to_chars(score, score + sizeof score - 1, scores[i][row]).ptr = '\0';
      out << series.timestamps[row] << ',' << value << ',' << score << '\n';
    }
    if (!out) {
      error = "cannot write " + path.string();
      return false;
    }
  }
  return true;
}

// The configurations protocol (c) chooses from: the default and its neighbours along the
// settings that mattered most while developing (baseline rate halved or doubled, a shorter
// episode, spread changes on). Protocols (a) and (b) use the default alone.
std::vector<Config> configuration_grid() {
  const Config defaults;
  std::vector<Config> grid;
  for (auto transform : {nt::detect::Transform::identity, nt::detect::Transform::log})
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
                c.transform == nt::detect::Transform::log ? "log" : "identity", c.level_rate, c.clear_points,
                c.detect_spread_changes ? "on" : "off");
  return text;
}

// Protocol (c) for one profile: the normalised corpus score of the held-out predictions.
double leave_one_category_out(const Corpus& corpus, const std::vector<Config>& grid, const std::vector<Run>& runs,
                              const Profile& profile) {
  double held_out_raw = 0.0;
  for (const auto& category : corpus.categories()) {
    double best_training = -1e300;
    double chosen_threshold = 1.0;
    std::size_t chosen = 0;
    for (std::size_t g = 0; g < runs.size(); ++g) {
      const auto training = nt::nab::best_threshold(pair_up(corpus, runs[g].scores, {}, category), profile);
      if (training.raw > best_training) {
        best_training = training.raw;
        chosen_threshold = training.threshold;
        chosen = g;
      }
    }
    const double raw = nt::nab::raw_score(pair_up(corpus, runs[chosen].scores, category), profile, chosen_threshold);
    held_out_raw += raw;
    std::printf("  c/%s held out %-22s %s threshold=%.4f raw=%.3f\n", profile.name.c_str(), category.c_str(),
                describe(grid[chosen]).c_str(), chosen_threshold, raw);
  }
  return normalised(pair_up(corpus, runs.front().scores), profile, held_out_raw);
}

void print_row(const std::string& name, const std::map<std::string, double>& by_profile) {
  std::printf("%-34s %8.1f %8.1f %8.1f\n", name.c_str(), by_profile.at("standard"),
              by_profile.at("reward_low_FP_rate"), by_profile.at("reward_low_FN_rate"));
}

void print_ours(const std::string& protocol, const std::map<std::string, double>& by_profile) {
  std::printf("ours %s standard=%.1f low_fp=%.1f low_fn=%.1f\n", protocol.c_str(), by_profile.at("standard"),
              by_profile.at("reward_low_FP_rate"), by_profile.at("reward_low_FN_rate"));
}

}  // namespace

int main(int argc, char** argv) {
  const auto options = parse_options(argc, argv);
  if (!options) {
    std::fprintf(stderr, "usage: %s --nab-dir DIR --out OUT_DIR\n", argv[0]);
    return 2;
  }
  auto loaded = nt::nab::load_corpus(options->nab_dir);
  if (!loaded) {
    std::fprintf(stderr, "nt_nab_runner: %s\n", loaded.error.c_str());
    return 1;
  }
  const auto corpus = &*loaded.value;

  // The default configuration comes first in the runs, then the grid protocol (c) chooses from.
  std::vector<Config> grid = configuration_grid();
  grid.insert(grid.begin(), Config{});
  std::vector<Run> runs;
  std::string error;
  for (const auto& config : grid) {
    auto run = run_detector(*corpus, config, error);
    if (!run) {
      std::fprintf(stderr, "nt_nab_runner: %s\n", error.c_str());
      return 1;
    }
    runs.push_back(std::move(*run));
  }
  const Run& ours = runs.front();
  if (!write_results(options->out_dir, "neutracer", *corpus, ours.scores, error) ||
      !write_results(options->out_dir, "neutracer_alerts", *corpus, ours.alerts, error)) {
    std::fprintf(stderr, "nt_nab_runner: %s\n", error.c_str());
    return 1;
  }

  std::map<std::string, double> swept, label_free, held_out;
  const auto all_scores = pair_up(*corpus, ours.scores);
  const auto all_alerts = pair_up(*corpus, ours.alerts);
  for (const auto& profile : corpus->profiles) {
    const auto best = nt::nab::best_threshold(all_scores, profile);
    swept[profile.name] = normalised(all_scores, profile, best.raw);
    std::printf("  a/%s threshold=%.4f\n", profile.name.c_str(), best.threshold);
    label_free[profile.name] = normalised(all_alerts, profile, nt::nab::raw_score(all_alerts, profile, 0.5));
    held_out[profile.name] = leave_one_category_out(*corpus, grid, runs, profile);
  }

  std::printf("\nNAB v1.1, %zu files, %zu points; default configuration: %s\n", corpus->series.size(), ours.points,
              describe(Config{}).c_str());
  std::printf("%-34s %8s %8s %8s\n", "detector", "standard", "low_fp", "low_fn");
  std::vector<std::pair<std::string, std::map<std::string, double>>> board(corpus->scoreboard.begin(),
                                                                           corpus->scoreboard.end());
  board.emplace_back("ours a (swept threshold)", swept);
  board.emplace_back("ours b (label-free alerts)", label_free);
  board.emplace_back("ours c (leave-one-category-out)", held_out);
  std::sort(board.begin(), board.end(),
            [](const auto& x, const auto& y) { return x.second.at("standard") > y.second.at("standard"); });
  for (const auto& [name, by_profile] : board) print_row(name, by_profile);
  std::printf("\n");
  print_ours("a-swept", swept);
  print_ours("b-label-free", label_free);
  print_ours("c-leave-one-category-out", held_out);
  double seconds = 0.0;
  for (const auto& r : runs) seconds += r.seconds;
  std::printf("detector time: %.1f ns/point over %zu configurations (bench/nab/detect_cost.cpp measures it properly)\n",
              1e9 * seconds / static_cast<double>(ours.points * runs.size()), runs.size());
  return 0;
}
