// The rhythm of a data-parallel rank's traffic: every training step ends in collectives (all-reduce
// of the gradients), so what a rank sends comes in bursts that repeat once a step. From the bytes
// sent per fixed time bin, this estimates the period of that pattern (the step time) and the bytes
// each step moves, online and with bounded memory.
//
//   nt::detect::Rhythm rhythm(nt::detect::RhythmConfig{});
//   for (each bin) rhythm.add(bin_index, bytes);   // bins in increasing order; skipped bins are 0
//   if (auto step = rhythm.estimate()) use(step->period_s, step->bytes_per_step);
//
// How: the mean-removed series over the window is autocorrelated on coarse bins (10 ms, each fine
// bin shared between the two nearest by distance, so jitter across an edge costs little) for every
// lag from min_period to max_period; the period is the shortest lag whose correlation is a local
// peak within `peak_share` of the best (so a multiple of the period never wins over the period
// itself), refined on the fine bins and by a parabola through the peak. Bytes per step are the
// window's bytes over the number of periods it holds. Pure C++, no clocks: a replay gives the same
// estimates.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

namespace nt::detect {

struct RhythmConfig {
  double bin_s = 0.002;        // the width of one input bin
  double coarse_s = 0.010;     // the search's bin width (a multiple of bin_s)
  double window_s = 12.0;      // the history kept
  double min_period_s = 0.02;  // shortest step considered
  double max_period_s = 4.0;   // longest (the window must hold at least three)
  double min_correlation = 0.3;  // below this, no rhythm is claimed
  double peak_share = 0.85;      // a shorter peak within this share of the best is the period
  double divisor_share = 0.4;    // ... and a peak at a half or a third of it, within this share of it
};

struct RhythmEstimate {
  double period_s = 0;
  double bytes_per_step = 0;
  double correlation = 0;  // at the period, in (0, 1]: how regular the pattern is
  double window_s = 0;     // the history it was estimated over
  // When the newest step's sending began, in the bins' clock (index x bin_s): the window folded
  // over the period, the end of its longest quiet stretch. Ranks of one job compared on one clock
  // show which one enters the collectives last: the straggler the others wait for.
  double onset_s = 0;
  // How long in each step the rank sends at all (the step less its longest silence): a rank that
  // waits inside the collectives for a late peer sends over a longer span than the late one.
  double sending_s = 0;
};

class Rhythm {
 public:
  explicit Rhythm(RhythmConfig config);

  // Adds bin `index` (time / bin_s); a bin older than the newest is ignored, skipped ones are 0.
  void add(uint64_t index, uint64_t bytes);
  // None until the history holds three periods of a repeating pattern.
  std::optional<RhythmEstimate> estimate() const;
  void clear() { bins_.clear(); }
  // The newest `seconds` of bins (fewer while the history is short); `first_index` gets the first's.
  std::vector<uint64_t> tail(double seconds, uint64_t& first_index) const;
  // The newest onset of this series folded over `period_s`; none without history or traffic.
  std::optional<double> onset_at(double period_s) const;
  // How long in each period the series is busy at all: the period less its longest silence, over
  // the last four periods folded (a rank's sending and receiving together, folded over the step its
  // sending shows, is how long it takes part in the step's exchange); none without traffic.
  std::optional<double> span_at(double period_s) const;

 private:
  struct Recent {
    std::vector<double> bins;  // the last four periods' bins (fewer while the history is short)
    double first_s;            // the first one's time
  };
  std::optional<Recent> recent(double period_s) const;

  RhythmConfig config_;
  size_t capacity_;     // bins in the window
  size_t coarse_bins_;  // fine bins per coarse bin
  std::deque<uint64_t> bins_;
  uint64_t newest_ = 0;
};

}  // namespace nt::detect
