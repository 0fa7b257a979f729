// The NAB scorer must reproduce the published scoreboard from the published per-point results.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "nab.h"
#include "nab_corpus.h"

namespace {

using nt::nab::testing::corpus;
using nt::nab::testing::nab_dir;
using nt::nab::Corpus;
using nt::nab::Profile;
using nt::nab::Scored;
using nt::nab::Series;

// Scores of a published detector, one vector per series, in corpus order.
std::vector<std::vector<double>> published_scores(const std::string& detector) {
  std::vector<std::vector<double>> scores;
  for (const auto& s : corpus().series) {
    auto loaded = nt::nab::load_scores(nt::nab::result_path(nab_dir() + "/results", detector, s), s);
    EXPECT_TRUE(loaded) << loaded.error;
    scores.push_back(loaded ? *loaded.value : std::vector<double>(s.values.size(), 0.0));
  }
  return scores;
}

std::vector<Scored> pair_up(const std::vector<Series>& series, const std::vector<std::vector<double>>& scores) {
  std::vector<Scored> files;
  for (std::size_t i = 0; i < series.size(); ++i) files.push_back({&series[i], &scores[i]});
  return files;
}

double normalised(const std::vector<Scored>& files, const Profile& profile, double threshold) {
  return nt::nab::normalise(nt::nab::raw_score(files, profile, threshold), nt::nab::null_raw_score(files, profile),
                            nt::nab::perfect_raw_score(files, profile));
}

double one_decimal(double x) { return std::round(x * 10.0) / 10.0; }

TEST(Scorer, CorpusShape) {
  ASSERT_EQ(corpus().series.size(), 58u);
  std::size_t points = 0, windows = 0;
  for (const auto& s : corpus().series) {
    points += s.values.size();
    windows += s.windows.size();
  }
  EXPECT_EQ(points, 365558u);
  EXPECT_EQ(windows, 116u);
  EXPECT_EQ(corpus().categories().size(), 7u);
}

// Acceptance 1: numenta 70.1 and windowedGaussian 39.6 (standard), and every profile of both
// detectors equal to the scoreboard to one decimal.
TEST(Scorer, ReproducesPublishedScores) {
  ASSERT_EQ(corpus().series.size(), 58u);
  for (const std::string detector : {"numenta", "windowedGaussian"}) {
    const auto scores = published_scores(detector);
    const auto files = pair_up(corpus().series, scores);
    for (const auto& profile : corpus().profiles) {
      const double ours = normalised(files, profile, corpus().thresholds.at(detector).at(profile.name));
      const double published = corpus().scoreboard.at(detector).at(profile.name);
      EXPECT_EQ(one_decimal(ours), one_decimal(published)) << detector << " " << profile.name << " ours=" << ours;
      if (profile.name == "standard") {
        EXPECT_DOUBLE_EQ(one_decimal(ours), detector == "numenta" ? 70.1 : 39.6) << detector;
      }
      std::printf("%s %s: ours %.6f published %.6f\n", detector.c_str(), profile.name.c_str(), ours, published);
    }
  }
}

// The sweep can only do as well as or better than any fixed threshold.
TEST(Scorer, SweepFindsAtLeastThePublishedThreshold) {
  ASSERT_EQ(corpus().series.size(), 58u);
  const auto scores = published_scores("numenta");
  const auto files = pair_up(corpus().series, scores);
  const auto& standard = corpus().profiles.front();
  const auto best = nt::nab::best_threshold(files, standard);
  EXPECT_GE(best.raw, nt::nab::raw_score(files, standard, corpus().thresholds.at("numenta").at("standard")) - 1e-9);
  EXPECT_NEAR(best.raw, nt::nab::raw_score(files, standard, best.threshold), 1e-9);
}

// The rules on a hand-made series: 100 rows (probation 15), one window on rows 50..59.
TEST(Scorer, RulesOnAHandMadeSeries) {
  Series s;
  s.values.assign(100, 0.0);
  s.timestamps.assign(100, "");
  s.windows = {{50, 59}};
  const Profile standard{"standard", 1.0, 0.11, 1.0};
  auto score_with = [&](std::vector<std::size_t> detections) {
    std::vector<double> scores(100, 0.0);
    for (auto row : detections) scores[row] = 1.0;
    return nt::nab::raw_score({{&s, &scores}}, standard, 0.5);
  };
  EXPECT_DOUBLE_EQ(score_with({}), -1.0);                   // missed window
  EXPECT_NEAR(score_with({50}), 1.0, 1e-12);               // left edge: full reward
  EXPECT_NEAR(score_with({50, 55}), 1.0, 1e-12);           // only the best detection counts
  EXPECT_NEAR(score_with({10}), -1.0, 1e-12);              // inside probation: not scored
  EXPECT_NEAR(score_with({20}), -1.0 - 0.11, 1e-12);       // before any window: full fp weight
  auto sigmoid = [](double x) { return 2.0 / (1.0 + std::exp(5.0 * x)) - 1.0; };
  const double right_edge = sigmoid(-1.0 / 10.0) / sigmoid(-1.0);  // row 59 of a 10-row window
  const double just_after = 0.11 * sigmoid(1.0 / 9.0);             // row 60: 1 row past, width - 1 = 9
  EXPECT_NEAR(score_with({59, 60}), right_edge + just_after, 1e-12);
  EXPECT_NEAR(score_with({99}), -1.0 + 0.11 * -1.0, 1e-12);  // 40 rows past > 3 widths: full fp weight
}

}  // namespace
