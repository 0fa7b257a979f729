#include "server/ingest_service.h"

#include <chrono>

#include "common/clock.h"

namespace nt::server {

namespace {

constexpr size_t kMaxGroup = 256;  // batches in one transaction, at most
constexpr auto kCancelMarkWait = std::chrono::milliseconds(50);

bool cancelled_soon(const grpc::ServerContext& context) {
  const auto deadline = std::chrono::steady_clock::now() + kCancelMarkWait;
  while (!context.IsCancelled()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace

BatchWriter::BatchWriter(Store& store, ServerMetrics& metrics, OnStored on_stored)
    : store_(store), metrics_(metrics), on_stored_(std::move(on_stored)), thread_(&BatchWriter::run, this) {}

BatchWriter::~BatchWriter() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

Result<IngestOutcome> BatchWriter::store(const neutracer::v1::Batch& batch) {
  Job job{&batch, {}};
  auto done = job.done.get_future();
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return Error{"the server is stopping"};
    queue_.push_back(&job);
  }
  wake_.notify_one();
  return done.get();
}

void BatchWriter::run() {
  while (true) {
    std::vector<Job*> group;
    {
      std::unique_lock lock(mutex_);
      wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      while (!queue_.empty() && group.size() < kMaxGroup) {
        group.push_back(queue_.front());
        queue_.pop_front();
      }
      if (group.empty() && stopping_) return;
    }
    std::vector<const neutracer::v1::Batch*> batches;
    for (auto* job : group) batches.push_back(job->batch);
    const auto started = std::chrono::steady_clock::now();
    auto outcomes = store_.ingest(batches);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    for (size_t i = 0; i < group.size(); ++i) {
      if (!outcomes) {
        group[i]->done.set_value(outcomes.error());
        continue;
      }
      const auto outcome = outcomes.value()[i];
      if (outcome == IngestOutcome::kStored) {
        metrics_.batch_stored(batches[i]->host().machine_id(), batches[i]->ts(),
                              static_cast<uint64_t>(batches[i]->processes_size()), seconds);
        if (on_stored_) on_stored_(*batches[i]);
      } else {
        metrics_.batch_duplicate();
      }
      group[i]->done.set_value(outcome);
    }
  }
}

grpc::Status IngestService::Stream(grpc::ServerContext* context,
                                   grpc::ServerReaderWriter<neutracer::v1::Ack, neutracer::v1::Batch>* stream) {
  const auto& metadata = context->client_metadata();
  auto header = metadata.find("authorization");
  const auto verdict =
      check_bearer(header == metadata.end() ? std::string_view{} : std::string_view(header->second.data(), header->second.size()),
                   token_);
  if (verdict == AuthVerdict::kMissing) {
    metrics_.rejected("unauthenticated");
    return {grpc::StatusCode::UNAUTHENTICATED, "a bearer token is required"};
  }
  if (verdict == AuthVerdict::kWrong) {
    metrics_.rejected("wrong_token");
    return {grpc::StatusCode::PERMISSION_DENIED, "wrong token"};
  }
  metrics_.stream_opened();
  struct Closed {
    ServerMetrics& metrics;
    ~Closed() { metrics.stream_closed(); }
  } closed{metrics_};
  neutracer::v1::Batch batch;
  while (stream->Read(&batch)) {
    neutracer::v1::Ack ack;
    ack.set_seq(batch.seq());
    if (auto valid = validate_batch(batch, unix_seconds(), limits_); !valid) {
      metrics_.rejected("invalid_batch");
      ack.set_outcome(neutracer::v1::Ack::REJECTED);
      ack.set_reason(valid.error().message);
    } else {
      auto stored = writer_.store(batch);
      if (!stored) return {grpc::StatusCode::UNAVAILABLE, "storing: " + stored.error().message};
      ack.set_outcome(stored.value() == IngestOutcome::kStored ? neutracer::v1::Ack::STORED
                                                               : neutracer::v1::Ack::DUPLICATE);
    }
    if (!stream->Write(ack)) break;
  }
  // A message over the size limit, or a broken connection, cancels the call under us, but Read fails
  // before gRPC has marked the call cancelled (about a millisecond later here; a stream the agent
  // closed itself never is). Asking once missed a third of them, so wait a little for the mark.
  if (cancelled_soon(*context)) metrics_.rejected("aborted_stream");
  return grpc::Status::OK;
}

}  // namespace nt::server
