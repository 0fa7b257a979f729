// Posts anomalies to an HTTP endpoint as Alertmanager alerts (POST a JSON array to, for example,
// http://alertmanager:9093/api/v2/alerts; any receiver of JSON works). Delivery runs on a thread of
// its own, so a slow or dead receiver never holds the interval loop; each batch is tried up to four
// times with growing pauses. The queue is bounded, and every alert that is not delivered is counted.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace nt::http {

struct WebhookCounts {
  uint64_t delivered = 0;        // alerts the receiver accepted (2xx)
  uint64_t failed_attempts = 0;  // POSTs that failed (connection, timeout, non-2xx) and were retried or given up
  uint64_t dropped = 0;          // alerts given up after the last attempt, or refused by a full queue
};

class Webhook {
 public:
  // url: http://HOST[:PORT][/PATH]; checked here, resolved at each delivery.
  static Result<std::unique_ptr<Webhook>> start(const std::string& url);
  ~Webhook();  // close()
  // Tries what is queued once more (briefly), then stops delivering; counts() stays readable.
  void close();
  Webhook(const Webhook&) = delete;
  Webhook& operator=(const Webhook&) = delete;

  void post(const nlohmann::ordered_json& anomaly);
  WebhookCounts counts() const;

 private:
  Webhook(std::string host, std::string port, std::string path);
  void run();
  bool deliver(const std::string& body) const;

  std::string host_, port_, path_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<nlohmann::ordered_json> queue_;
  WebhookCounts counts_;
  bool stopping_ = false;
  std::thread thread_;
};

// One anomaly record as an Alertmanager alert (labels and annotations are strings).
nlohmann::ordered_json alertmanager_alert(const nlohmann::ordered_json& anomaly);

}  // namespace nt::http
