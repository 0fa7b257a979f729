// Prometheus metrics: rendered once per interval from the model into metric families (no Family
// per process: series come and go under the cardinality cap without breaking counter
// monotonicity); http/metrics_exporter serves them.
#pragma once

#include <prometheus/metric_family.h>

#include <map>
#include <string>
#include <vector>

#include "model/features.h"
#include "model/programs.h"
#include "model/events.h"
#include "model/loss.h"
#include "output/series_cap.h"

namespace nt::output {

// Which collectors run: only their per-process families are rendered.
struct MetricDomains {
  bool net = true, cpu = false, io = false, syscalls = false, memory = false;
};

struct MetricsView {
  const SeriesCap* processes = nullptr;
  MetricDomains domains;
  const std::vector<model::DeviceStats>* devices = nullptr;
  const model::LossCounters* losses = nullptr;
  const std::vector<model::ProgramStats>* programs = nullptr;
  double agent_cpu_seconds = 0;
  uint64_t agent_rss_bytes = 0;
  size_t series_limit = 0;
  const std::map<std::string, uint64_t>* anomalies = nullptr;  // raised so far, by detector
  size_t anomaly_series = 0;                                  // series the detectors watch
  const std::vector<model::FeatureState>* features = nullptr;
};

std::vector<prometheus::MetricFamily> render_metrics(const MetricsView& view);

// The agent's own CPU time (user + system) and resident memory.
double self_cpu_seconds();
uint64_t self_rss_bytes();

}  // namespace nt::output
