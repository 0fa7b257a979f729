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
#include "nab_stream.h"

namespace {

namespace fs = std::filesystem;
using nt::detect::AlertState;
using nt::detect::Config;
using nt::detect::Detector;
using nt::nab::Corpus;
using nt::nab::Profile;
using nt::nab::Scored;
using nt::nab::configuration_grid;
using nt::nab::describe;

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
    auto streamed = nt::nab::stream_series(series, config, error);
    if (!streamed) return std::nullopt;
    run.seconds += streamed->seconds;
    run.points += series.values.size();
    run.scores.push_back(std::move(streamed->scores));
    run.alerts.push_back(std::move(streamed->alerts));
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

// Protocol (c) for one profile: the normalised corpus score of the held-out predictions, and
// each held-out category's own normalised score.
struct HeldOut {
  double corpus_score = 0.0;
  std::map<std::string, double> by_category;
};

HeldOut leave_one_category_out(const Corpus& corpus, const std::vector<Config>& grid, const std::vector<Run>& runs,
                               const Profile& profile) {
  HeldOut result;
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
    const auto held_out = pair_up(corpus, runs[chosen].scores, category);
    const double raw = nt::nab::raw_score(held_out, profile, chosen_threshold);
    held_out_raw += raw;
    result.by_category[category] = normalised(held_out, profile, raw);
    std::printf("  c/%s held out %-22s %s threshold=%.4f raw=%.3f\n", profile.name.c_str(), category.c_str(),
                describe(grid[chosen]).c_str(), chosen_threshold, raw);
  }
  result.corpus_score = normalised(pair_up(corpus, runs.front().scores), profile, held_out_raw);
  return result;
}

// Each category's normalised score under the three protocols (standard profile). A category
// without windows has no normalised score (its null and perfect scores are both 0): its false
// positives are shown instead, as the raw score.
void print_categories(const Corpus& corpus, const Run& ours, double swept_threshold, const HeldOut& held_out) {
  const Profile& standard = corpus.profiles.front();
  std::printf("\nper category, standard profile (a: the corpus-wide swept threshold)\n");
  std::printf("%-24s %7s %8s %8s %8s\n", "category", "windows", "a", "b", "c");
  for (const auto& category : corpus.categories()) {
    const auto scores = pair_up(corpus, ours.scores, category);
    const auto alerts = pair_up(corpus, ours.alerts, category);
    const std::size_t windows = nt::nab::total_windows(scores);
    const double a_raw = nt::nab::raw_score(scores, standard, swept_threshold);
    const double b_raw = nt::nab::raw_score(alerts, standard, 0.5);
    if (windows == 0)
      std::printf("%-24s %7zu %7.2fr %7.2fr %8s\n", category.c_str(), windows, a_raw, b_raw, "-");
    else
      std::printf("%-24s %7zu %8.1f %8.1f %8.1f\n", category.c_str(), windows, normalised(scores, standard, a_raw),
                  normalised(alerts, standard, b_raw), held_out.by_category.at(category));
  }
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
  const std::vector<Config> grid = configuration_grid();
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
  double standard_threshold = 0.0;
  HeldOut standard_held_out;
  const auto all_scores = pair_up(*corpus, ours.scores);
  const auto all_alerts = pair_up(*corpus, ours.alerts);
  for (const auto& profile : corpus->profiles) {
    const auto best = nt::nab::best_threshold(all_scores, profile);
    swept[profile.name] = normalised(all_scores, profile, best.raw);
    std::printf("  a/%s threshold=%.4f\n", profile.name.c_str(), best.threshold);
    label_free[profile.name] = normalised(all_alerts, profile, nt::nab::raw_score(all_alerts, profile, 0.5));
    const HeldOut c = leave_one_category_out(*corpus, grid, runs, profile);
    held_out[profile.name] = c.corpus_score;
    if (&profile == &corpus->profiles.front()) {
      standard_threshold = best.threshold;
      standard_held_out = c;
    }
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
  print_categories(*corpus, ours, standard_threshold, standard_held_out);
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
