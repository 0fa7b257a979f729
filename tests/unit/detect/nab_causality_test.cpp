// No information from a file's future: every NAB file is streamed whole and cut short at several
// rows, under every configuration the runner scores, and each point's score and alert must be the
// same in both. A detector (or a runner) that looked ahead, normalised by a file's range, or
// chose anything per file from its later rows fails here.
#include <gtest/gtest.h>

#include <algorithm>

#include "nab_corpus.h"
#include "nab_stream.h"

namespace {

using nt::nab::Series;
using nt::nab::testing::corpus;

Series first_rows(const Series& whole, std::size_t rows) {
  Series cut;
  cut.category = whole.category;
  cut.file = whole.file;
  cut.timestamps.assign(whole.timestamps.begin(), whole.timestamps.begin() + rows);
  cut.values.assign(whole.values.begin(), whole.values.begin() + rows);
  return cut;
}

TEST(Causality, EachPointScoresTheSameWhetherOrNotTheRestOfTheFileFollows) {
  ASSERT_FALSE(corpus().series.empty());
  const auto grid = nt::nab::configuration_grid();
  std::size_t points_compared = 0;
  for (std::size_t g = 0; g < grid.size(); ++g) {
    for (const auto& series : corpus().series) {
      std::string error;
      const auto whole = nt::nab::stream_series(series, grid[g], error);
      ASSERT_TRUE(whole) << error;
      const std::size_t n = series.values.size();
      // Cuts in the warm-up, at the end of probation, through the middle and one row short.
      for (std::size_t rows : {std::size_t{50}, series.probation_rows(), n / 2, (2 * n) / 3 + 1, n - 1}) {
        rows = std::clamp<std::size_t>(rows, 1, n);
        const auto cut = nt::nab::stream_series(first_rows(series, rows), grid[g], error);
        ASSERT_TRUE(cut) << error;
        for (std::size_t i = 0; i < rows; ++i) {
          ASSERT_EQ(cut->scores[i], whole->scores[i])
              << series.key() << " row " << i << " cut at " << rows << " config " << nt::nab::describe(grid[g]);
          ASSERT_EQ(cut->alerts[i], whole->alerts[i]) << series.key() << " row " << i << " cut at " << rows;
        }
        points_compared += rows;
      }
    }
  }
  RecordProperty("points_compared", static_cast<int>(points_compared));
}

}  // namespace
