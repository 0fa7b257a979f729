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
  std::mutex mutex_;
  std::map<std::string, double> last_batch_ts_;  // by host
  uint64_t remote_sent_ = 0, remote_failed_ = 0, remote_dropped_ = 0;
};

}  // namespace nt::server
