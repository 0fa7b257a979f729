#include "server/server_metrics.h"

#include <prometheus/text_serializer.h>

namespace nt::server {

ServerMetrics::ServerMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      batches_(prometheus::BuildCounter()
                   .Name("neutracer_server_batches_total")
                   .Help("Batches received from agents, by outcome")
                   .Register(*registry_)),
      stored_(batches_.Add({{"outcome", "stored"}})),
      duplicates_(batches_.Add({{"outcome", "duplicate"}})),
      samples_(prometheus::BuildCounter()
                   .Name("neutracer_server_samples_total")
                   .Help("Process samples stored (one per process per interval)")
                   .Register(*registry_)
                   .Add({})),
      rejected_(prometheus::BuildCounter()
                    .Name("neutracer_server_rejected_total")
                    .Help("Requests refused, by reason")
                    .Register(*registry_)),
      commit_seconds_(prometheus::BuildHistogram()
                          .Name("neutracer_server_commit_seconds")
                          .Help("Time to store and commit a group of batches")
                          .Register(*registry_)
                          .Add({}, prometheus::Histogram::BucketBoundaries{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                                                          0.1, 0.25, 0.5, 1})),
      streams_(prometheus::BuildGauge()
                   .Name("neutracer_server_agent_streams")
                   .Help("Agents connected now")
                   .Register(*registry_)
                   .Add({})),
      storage_bytes_(prometheus::BuildGauge()
                         .Name("neutracer_server_storage_bytes")
                         .Help("Size of the database file and its write-ahead log")
                         .Register(*registry_)
                         .Add({})),
      host_age_(prometheus::BuildGauge()
                    .Name("neutracer_server_host_data_age_seconds")
                    .Help("Seconds since the end of the newest interval stored for each host")
                    .Register(*registry_)),
      remote_write_(prometheus::BuildCounter()
                        .Name("neutracer_server_remote_write_samples_total")
                        .Help("Samples forwarded by remote write, by outcome")
                        .Register(*registry_)),
      remote_write_queued_(prometheus::BuildGauge()
                               .Name("neutracer_server_remote_write_queued_samples")
                               .Help("Samples waiting to be forwarded")
                               .Register(*registry_)
                               .Add({})) {}

void ServerMetrics::batch_stored(const std::string& host, double batch_ts, uint64_t samples, double commit_seconds) {
  stored_.Increment();
  samples_.Increment(static_cast<double>(samples));
  commit_seconds_.Observe(commit_seconds);
  std::lock_guard lock(mutex_);
  auto& last = last_batch_ts_[host];
  last = std::max(last, batch_ts);
}

void ServerMetrics::batch_duplicate() { duplicates_.Increment(); }

void ServerMetrics::rejected(std::string_view reason) { rejected_.Add({{"reason", std::string(reason)}}).Increment(); }

void ServerMetrics::stream_opened() { streams_.Increment(); }

void ServerMetrics::stream_closed() { streams_.Decrement(); }

void ServerMetrics::set_storage_bytes(uint64_t bytes) { storage_bytes_.Set(static_cast<double>(bytes)); }

void ServerMetrics::set_remote_write(uint64_t sent, uint64_t failed_attempts, uint64_t dropped, uint64_t queued) {
  std::lock_guard lock(mutex_);
  // The writer counts cumulatively; the counters take the growth since the last look.
  remote_write_.Add({{"outcome", "sent"}}).Increment(static_cast<double>(sent - remote_sent_));
  remote_write_.Add({{"outcome", "failed_attempt"}}).Increment(static_cast<double>(failed_attempts - remote_failed_));
  remote_write_.Add({{"outcome", "dropped"}}).Increment(static_cast<double>(dropped - remote_dropped_));
  remote_sent_ = sent, remote_failed_ = failed_attempts, remote_dropped_ = dropped;
  remote_write_queued_.Set(static_cast<double>(queued));
}

std::string ServerMetrics::render(double now) {
  {
    std::lock_guard lock(mutex_);
    for (const auto& [host, ts] : last_batch_ts_) host_age_.Add({{"host", host}}).Set(now - ts);
  }
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

}  // namespace nt::server
