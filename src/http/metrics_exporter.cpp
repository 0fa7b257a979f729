#include "http/metrics_exporter.h"

#include <exception>

namespace nt::http {

Result<std::shared_ptr<MetricsExporter>> MetricsExporter::start(const std::string& address) {
  std::string host = "127.0.0.1", port = address;
  if (auto colon = address.rfind(':'); colon != std::string::npos) {
    if (colon > 0) host = address.substr(0, colon);
    port = address.substr(colon + 1);
  }
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) > 65535)
    return Error{"--metrics: not HOST:PORT: " + address};
  auto exporter = std::make_shared<MetricsExporter>();
  exporter->host_ = host;
  try {
    exporter->exposer_ = std::make_unique<prometheus::Exposer>(host + ":" + port, 1);
  } catch (const std::exception& e) {
    return Error{"--metrics: cannot listen on " + host + ":" + port + " (" + e.what() + ")"};
  }
  exporter->exposer_->RegisterCollectable(exporter);
  return exporter;
}

void MetricsExporter::publish(std::vector<prometheus::MetricFamily> families) {
  std::lock_guard lock(mutex_);
  families_ = std::move(families);
}

std::vector<prometheus::MetricFamily> MetricsExporter::Collect() const {
  std::lock_guard lock(mutex_);
  return families_;
}

int MetricsExporter::port() const {
  auto ports = exposer_->GetListeningPorts();
  return ports.empty() ? 0 : ports.front();
}

}  // namespace nt::http
