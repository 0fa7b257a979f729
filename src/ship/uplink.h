// The agent's link to neutracer-server: batches go out on one gRPC stream and stay buffered until
// the server acknowledges them as stored. A server that is down or slow never holds the recording:
// the buffer is bounded in bytes, the oldest batches give way first (counted), and the link
// reconnects with backoff and resends what was not acknowledged, in order (the server stores each
// (host, agent run, seq) once, so a resend never doubles anything).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/result.h"
#include "neutracer/v1/ingest.grpc.pb.h"

namespace nt::ship {

struct UplinkOptions {
  std::string server;            // HOST:PORT
  std::string token;             // sent as "authorization: Bearer TOKEN" when not empty
  std::string tls_ca_pem;        // TLS with this CA when not empty; plaintext otherwise
  size_t buffer_bytes = 64u << 20;
};

struct UplinkCounts {
  uint64_t batches_submitted = 0;
  uint64_t samples_submitted = 0;
  uint64_t batches_acked = 0;      // stored, or found stored already (duplicates)
  uint64_t duplicates = 0;
  uint64_t rejected = 0;           // refused as invalid by the server (not retried)
  uint64_t batches_dropped = 0;    // no room in the buffer, or still unacknowledged at the end
  uint64_t samples_dropped = 0;
  uint64_t connects = 0;           // streams opened
  uint64_t stream_failures = 0;
  uint64_t buffered_batches = 0;
  uint64_t buffered_bytes = 0;
  bool connected = false;
  std::string last_error;          // why the last stream ended, "" while none has
};

class Uplink {
 public:
  static Result<std::unique_ptr<Uplink>> start(UplinkOptions options);
  ~Uplink();  // what is still unacknowledged is counted as dropped (call close() first to wait for it)
  Uplink(const Uplink&) = delete;
  Uplink& operator=(const Uplink&) = delete;

  // Never blocks on the network.
  void submit(neutracer::v1::Batch batch);
  // Waits up to `timeout` for every batch to be acknowledged, then stops; the rest counts as dropped.
  void close(std::chrono::milliseconds timeout);
  UplinkCounts counts() const;

 private:
  struct Pending {
    neutracer::v1::Batch batch;
    size_t bytes = 0;
    bool sent = false;  // on the current stream
  };
  explicit Uplink(UplinkOptions options);
  void run();
  // One stream's life: writes pending batches while a reader thread takes the acks.
  void stream_once(neutracer::v1::Ingest::Stub& stub);
  void drop_front_locked();
  bool finished_locked() const;

  UplinkOptions options_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Pending> pending_;  // oldest first; acks come in order
  size_t pending_bytes_ = 0;
  UplinkCounts counts_;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point stop_deadline_{};
  std::shared_ptr<grpc::Channel> channel_;
  grpc::ClientContext* current_ = nullptr;  // the live stream's context, to cancel it at the end
  std::thread thread_;
};

}  // namespace nt::ship
