// The /metrics endpoint: prometheus-cpp's exposer serving the families output::render_metrics made,
// from a custom Collectable.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/exposer.h>
#include <prometheus/metric_family.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/result.h"

namespace nt::http {

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

}  // namespace nt::http
