// The server's own metrics (/metrics): ingest, duplicates, rejections by reason, storage, and how
// fresh each host's data is.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace nt::server {

class ServerMetrics {
 public:
  ServerMetrics();

  void batch_stored(const std::string& host, double batch_ts, uint64_t samples, double commit_seconds);
  void batch_duplicate();
  void rejected(std::string_view reason);  // unauthenticated, wrong_token, invalid_batch, bad_query, ...
  void stream_opened();
  void stream_closed();
  // Refreshed before each scrape: storage size, hosts' freshness, what remote write did.
  void set_storage_bytes(uint64_t bytes);
  void set_remote_write(uint64_t sent, uint64_t failed_attempts, uint64_t dropped, uint64_t queued);
  // A job's rank or link named by the server's peer comparison (job_watch.h), and its end.
  void job_finding(const std::string& job, const std::string& kind, const std::string& subject,
                   const std::string& metric, bool ongoing);
  void set_webhook(uint64_t delivered, uint64_t failed_attempts, uint64_t dropped);
  // Departures not named because an ongoing finding explains them (JobWatch::inhibited).
  void set_job_findings_inhibited(uint64_t inhibited);
  std::string render(double now);

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& batches_;
  prometheus::Counter& stored_;
  prometheus::Counter& duplicates_;
  prometheus::Counter& samples_;
  prometheus::Family<prometheus::Counter>& rejected_;
  prometheus::Histogram& commit_seconds_;
  prometheus::Gauge& streams_;
  prometheus::Gauge& storage_bytes_;
  prometheus::Family<prometheus::Gauge>& host_age_;
  prometheus::Family<prometheus::Counter>& remote_write_;
  prometheus::Gauge& remote_write_queued_;
  prometheus::Family<prometheus::Counter>& job_findings_;
  prometheus::Family<prometheus::Gauge>& job_findings_ongoing_;
  prometheus::Counter& job_findings_inhibited_;
  prometheus::Family<prometheus::Counter>& webhook_;
  std::mutex mutex_;
  std::map<std::string, double> last_batch_ts_;  // by host
  uint64_t remote_sent_ = 0, remote_failed_ = 0, remote_dropped_ = 0;
  uint64_t webhook_delivered_ = 0, webhook_failed_ = 0, webhook_dropped_ = 0;
  uint64_t job_inhibited_ = 0;
};

}  // namespace nt::server
