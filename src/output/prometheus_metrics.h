// Prometheus metrics: rendered once per interval from the model into metric families, served by
// prometheus-cpp's exposer from a custom Collectable (no Family per process: series come and go
// under the cardinality cap without breaking counter monotonicity).
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <map>
#include <string>

#include "bpf_runtime/features.h"
#include "bpf_runtime/prog_stats.h"
#include "common/result.h"
#include "model/events.h"
#include "model/loss.h"
#include "output/series_cap.h"

namespace nt::output {

struct MetricsView {
  const SeriesCap* processes = nullptr;
  const std::vector<model::DeviceStats>* devices = nullptr;
  const model::LossCounters* losses = nullptr;
  const std::vector<bpf::ProgramStats>* programs = nullptr;
  double agent_cpu_seconds = 0;
  uint64_t agent_rss_bytes = 0;
  size_t series_limit = 0;
  const std::map<std::string, uint64_t>* anomalies = nullptr;  // raised so far, by detector
  size_t anomaly_series = 0;                                  // series the detectors watch
  const std::vector<bpf::FeatureState>* features = nullptr;
};

std::vector<prometheus::MetricFamily> render_metrics(const MetricsView& view);

// The /metrics endpoint; what it serves is replaced as a whole by publish().
class MetricsExporter : public prometheus::Collectable {
 public:
  // "HOST:PORT", ":PORT" or "PORT" (host 127.0.0.1); port 0 picks a free one.
  static Result<std::shared_ptr<MetricsExporter>> start(const std::string& address);
  void publish(std::vector<prometheus::MetricFamily> families);
  std::vector<prometheus::MetricFamily> Collect() const override;
  int port() const;
  std::string address() const { return host_ + ":" + std::to_string(port()); }

 private:
  std::string host_;
  std::unique_ptr<prometheus::Exposer> exposer_;
  mutable std::mutex mutex_;
  std::vector<prometheus::MetricFamily> families_;
};

// The agent's own CPU time (user + system) and resident memory.
double self_cpu_seconds();
uint64_t self_rss_bytes();

}  // namespace nt::output
