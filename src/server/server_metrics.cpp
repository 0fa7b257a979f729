#include "server/server_metrics.h"

#include <prometheus/text_serializer.h>

namespace nt::server {

namespace {

// Remote write and the webhook count cumulatively; a counter takes the growth since the last look.
void add_growth(prometheus::Family<prometheus::Counter>& family, const char* outcome, uint64_t now, uint64_t& seen) {
  family.Add({{"outcome", outcome}}).Increment(static_cast<double>(now - seen));
  seen = now;
}

}  // namespace

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
                               .Add({})),
      job_findings_(prometheus::BuildCounter()
                        .Name("neutracer_server_job_findings_total")
                        .Help("Ranks and links of training jobs named as departing from their peers")
                        .Register(*registry_)),
      job_findings_ongoing_(prometheus::BuildGauge()
                                .Name("neutracer_server_job_findings_ongoing")
                                .Help("1 while a named rank or link still departs from its peers, 0 after")
                                .Register(*registry_)),
      job_findings_inhibited_(prometheus::BuildCounter()
                                  .Name("neutracer_server_job_findings_inhibited_total")
                                  .Help("Departing ranks held back while an ongoing finding explains them "
                                        "(a rank waiting on a slow link)")
                                  .Register(*registry_)
                                  .Add({})),
      webhook_(prometheus::BuildCounter()
                   .Name("neutracer_server_webhook_alerts_total")
                   .Help("Alerts posted to --webhook, by outcome")
                   .Register(*registry_)) {}

void ServerMetrics::job_finding(const std::string& job, const std::string& kind, const std::string& subject,
                                const std::string& metric, bool ongoing) {
  const std::map<std::string, std::string> labels = {{"job", job}, {"kind", kind}, {"subject", subject}, {"metric", metric}};
  if (ongoing) job_findings_.Add(labels).Increment();
  job_findings_ongoing_.Add(labels).Set(ongoing ? 1 : 0);
}

void ServerMetrics::set_webhook(uint64_t delivered, uint64_t failed_attempts, uint64_t dropped) {
  std::lock_guard lock(mutex_);
  add_growth(webhook_, "delivered", delivered, webhook_delivered_);
  add_growth(webhook_, "failed_attempt", failed_attempts, webhook_failed_);
  add_growth(webhook_, "dropped", dropped, webhook_dropped_);
}

void ServerMetrics::set_job_findings_inhibited(uint64_t inhibited) {
  std::lock_guard lock(mutex_);
  job_findings_inhibited_.Increment(static_cast<double>(inhibited - job_inhibited_));
  job_inhibited_ = inhibited;
}

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
  add_growth(remote_write_, "sent", sent, remote_sent_);
  add_growth(remote_write_, "failed_attempt", failed_attempts, remote_failed_);
  add_growth(remote_write_, "dropped", dropped, remote_dropped_);
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
