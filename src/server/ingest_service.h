// The gRPC side of the server: agents' streams in, acks out. Each batch is checked, then stored by
// one writer thread that commits whatever the streams have handed it in one transaction (group
// commit); a batch is acknowledged only after its transaction is durable.
#pragma once

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>

#include "neutracer/v1/ingest.grpc.pb.h"
#include "server/bearer.h"
#include "server/server_metrics.h"
#include "server/store.h"
#include "server/validate.h"

namespace nt::server {

class BatchWriter {
 public:
  using OnStored = std::function<void(const neutracer::v1::Batch&)>;
  BatchWriter(Store& store, ServerMetrics& metrics, OnStored on_stored);
  ~BatchWriter();
  BatchWriter(const BatchWriter&) = delete;
  BatchWriter& operator=(const BatchWriter&) = delete;

  // Blocks until the batch's transaction has committed (or failed).
  Result<IngestOutcome> store(const neutracer::v1::Batch& batch);

 private:
  struct Job {
    const neutracer::v1::Batch* batch;
    std::promise<Result<IngestOutcome>> done;
  };
  void run();

  Store& store_;
  ServerMetrics& metrics_;
  OnStored on_stored_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job*> queue_;
  bool stopping_ = false;
  std::thread thread_;
};

class IngestService final : public neutracer::v1::Ingest::Service {
 public:
  IngestService(BatchWriter& writer, ServerMetrics& metrics, std::string token, BatchLimits limits)
      : writer_(writer), metrics_(metrics), token_(std::move(token)), limits_(limits) {}
  grpc::Status Stream(grpc::ServerContext* context,
                      grpc::ServerReaderWriter<neutracer::v1::Ack, neutracer::v1::Batch>* stream) override;

 private:
  BatchWriter& writer_;
  ServerMetrics& metrics_;
  std::string token_;
  BatchLimits limits_;
};

}  // namespace nt::server
