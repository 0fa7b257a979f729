// Cost of the detectors: nanoseconds per point (Google Benchmark) and bytes per series.
//
// Bytes per series is sizeof(Detector): the detector owns no heap memory (it is trivially
// copyable, checked below), so its size is its whole state. It is reported as a counter.
// Each benchmark runs twice, side by side: `default` (range breaks, the likelihood stage,
// innovations, patterns, recurrences and stalls on) and `before` (all six off, and the slow
// rate, spread changes and clear_points of then: the detector of issue 8, whose sizeof was 1416
// bytes; the state of the new stages is still there, so the counter shows today's size).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <type_traits>
#include <vector>

#include "detector.h"

namespace {

static_assert(std::is_trivially_copyable_v<nt::detect::Detector>, "per-series state must not own heap memory");

// A rate-like series: log-normal noise around a level, with a spike every 1000 points and a level
// change every 5000, so the benchmark also exercises the alerting paths.
std::vector<double> rate_series(std::size_t n) {
  std::mt19937 random(42);
  std::normal_distribution<double> noise;
  std::vector<double> series(n);
  for (std::size_t i = 0; i < n; ++i) {
    const double level = (i / 5000) % 2 ? 2e6 : 1e6;
    series[i] = level * std::exp(0.1 * noise(random)) * (i % 1000 == 999 ? 5.0 : 1.0);
  }
  return series;
}

// state.range(0): 1 for the default configuration, 0 for the one before range breaks, the
// likelihood stage, innovations, patterns, recurrences and stalls.
nt::detect::Config configuration(std::int64_t with_new_stages) {
  nt::detect::Config config;
  if (with_new_stages) return config;
  config.detect_range_breaks = config.likelihood = config.detect_innovations = config.detect_patterns = false;
  config.ignore_recurrences = config.detect_stalls = false;
  config.level_rate = config.spread_rate = 0.015;
  config.detect_spread_changes = false;
  config.clear_points = 45;
  return config;
}

void BM_DetectorUpdate(benchmark::State& state) {
  const auto series = rate_series(1 << 16);
  nt::detect::Detector detector(configuration(state.range(0)));
  std::int64_t t = 0;
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(detector.update(++t, series[i]));
    i = (i + 1) & (series.size() - 1);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["bytes_per_series"] = sizeof(nt::detect::Detector);
  state.counters["ns_per_point"] = benchmark::Counter(static_cast<double>(state.iterations()),
                                                      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_DetectorUpdate)->ArgName("default")->Arg(0)->Arg(1);

// Many series updated in turn, as the agent does each interval: state no longer sits in L1.
void BM_DetectorUpdateManySeries(benchmark::State& state) {
  const auto series = rate_series(1 << 12);
  std::vector<nt::detect::Detector> detectors(static_cast<std::size_t>(state.range(0)),
                                              nt::detect::Detector(configuration(state.range(1))));
  std::int64_t t = 0;
  std::size_t i = 0;
  for (auto _ : state) {
    ++t;
    for (auto& detector : detectors) benchmark::DoNotOptimize(detector.update(t, series[i]));
    i = (i + 1) & (series.size() - 1);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
  state.counters["bytes_per_series"] = sizeof(nt::detect::Detector);
  state.counters["ns_per_point"] = benchmark::Counter(static_cast<double>(state.iterations() * state.range(0)),
                                                      benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
}
BENCHMARK(BM_DetectorUpdateManySeries)->ArgNames({"series", "default"})->Args({10000, 0})->Args({10000, 1});

}  // namespace

BENCHMARK_MAIN();
