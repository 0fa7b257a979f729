// Sends samples to a Prometheus remote-write 1.0 receiver (prometheus.io/docs/specs/remote_write_spec):
// Prometheus with --web.enable-remote-write-receiver, Mimir, Thanos, VictoriaMetrics. Delivery runs on
// a thread of its own so that a slow or dead receiver never holds the caller; the queue is bounded,
// and every sample ends in exactly one of sent_samples, dropped_samples or queued_samples.
//
// Order across requests is the caller's: a series' samples must be enqueued oldest first, because a
// receiver refuses a sample older than one it already holds for the same series (and with it the
// whole request). Within one request the writer sorts them itself.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "common/result.h"

namespace httplib {
class ClientImpl;
}

namespace nt::server {

// One value of one series.
struct RemoteSample {
  // Includes {"__name__", metric}; any order (the writer sorts). A label with an empty value is the
  // same as no label (Prometheus' data model) and is left out.
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
  int64_t timestamp_ms = 0;  // since the epoch
};

struct RemoteWriteOptions {
  std::string url;                        // http(s)://HOST[:PORT]/PATH, e.g. http://127.0.0.1:9090/api/v1/write
  size_t max_queued_samples = 500000;     // beyond: dropped and counted
  size_t max_samples_per_request = 5000;
  int max_attempts = 6;                   // per request; pauses of 100 ms doubling, at most 5 s
  std::string bearer_token;               // optional Authorization: Bearer
};

struct RemoteWriteCounts {
  uint64_t sent_samples = 0;     // accepted by the receiver (2xx)
  uint64_t sent_requests = 0;
  uint64_t failed_attempts = 0;  // POSTs without a 2xx: no connection, timeout, any other status
  // Refused by a full queue, invalid (a label name that is empty, repeated or not [a-zA-Z_][a-zA-Z0-9_]*,
  // no metric name, a value that is not UTF-8), superseded by a later sample of the same series and
  // timestamp, refused by the receiver (4xx but 429), out of attempts, or still queued at stop.
  uint64_t dropped_samples = 0;
  uint64_t queued_samples = 0;   // waiting or in flight
};

class RemoteWriter {
 public:
  // Checks the URL and the options; connects only when there is something to send.
  static Result<std::unique_ptr<RemoteWriter>> start(const RemoteWriteOptions& options);
  // Tries what is queued once more, for at most about 2 s in all, then counts the rest as dropped.
  ~RemoteWriter();
  RemoteWriter(const RemoteWriter&) = delete;
  RemoteWriter& operator=(const RemoteWriter&) = delete;

  // Never waits on the network.
  void enqueue(std::vector<RemoteSample> samples);
  RemoteWriteCounts counts() const;
  // Why the last failed attempt failed ("HTTP 400: <the body's first line>", "no response: Connection");
  // empty while none has.
  std::string last_failure() const;
  // Waits until the queue is empty and no request is in flight; false when the timeout came first.
  bool flush(std::chrono::milliseconds timeout);

 private:
  using Clock = std::chrono::steady_clock;

  RemoteWriter(const RemoteWriteOptions& options, std::string path, std::unique_ptr<httplib::ClientImpl> client);
  void run();
  // Called and returns with mutex_ held; true once the receiver accepted body.
  bool deliver(const std::string& body, std::unique_lock<std::mutex>& lock);

  const RemoteWriteOptions options_;
  const std::string path_;
  const std::unique_ptr<httplib::ClientImpl> client_;  // used by the thread; stop() may cut it short

  mutable std::mutex mutex_;
  std::condition_variable wake_;     // to the thread: samples queued, or stopping
  std::condition_variable settled_;  // from the thread: nothing queued or in flight, or finished
  std::deque<RemoteSample> queue_;
  size_t in_flight_ = 0;
  RemoteWriteCounts counts_;
  std::string last_failure_;
  bool stopping_ = false;
  Clock::time_point stop_deadline_;
  bool finished_ = false;
  std::thread thread_;  // last: starts once everything above is built
};

}  // namespace nt::server
