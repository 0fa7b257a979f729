#include "http/webhook.h"

#include <netdb.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <regex>

#include "common/unique_fd.h"

namespace nt::http {
namespace {

constexpr size_t kQueueLimit = 1000;
constexpr size_t kBatch = 100;
constexpr int kAttempts = 4;
constexpr int kFirstPauseMs = 250;  // then 500, 1000
constexpr int kTimeoutS = 2;

std::string rfc3339(double unix_seconds) {
  time_t seconds = static_cast<time_t>(unix_seconds);
  tm utc{};
  gmtime_r(&seconds, &utc);
  char text[80];
  int ms = static_cast<int>(std::lround((unix_seconds - static_cast<double>(seconds)) * 1000)) % 1000;
  std::snprintf(text, sizeof(text), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, ms);
  return text;
}

std::string text_of(const nlohmann::ordered_json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

nlohmann::ordered_json alertmanager_alert(const nlohmann::ordered_json& anomaly) {
  nlohmann::ordered_json labels = {{"alertname", "NeuTracerAnomaly"}};
  for (const char* key :
       {"detector", "kind", "metric", "pid", "start_time", "comm", "netns", "flow", "ifname", "device", "job", "subject", "host"})
    if (anomaly.contains(key) && !anomaly[key].is_null()) labels[key] = text_of(anomaly[key]);
  std::string subject = anomaly.contains("job")      ? "job " + text_of(anomaly["job"]) + ": " + text_of(anomaly["subject"])
                        : anomaly.contains("ifname") ? text_of(anomaly["ifname"])
                        : anomaly.contains("device") ? "disk " + text_of(anomaly["device"])
                                                     : text_of(anomaly.value("comm", nlohmann::ordered_json(""))) +
                                                         " (pid " + text_of(anomaly.value("pid", nlohmann::ordered_json(0))) + ")";
  nlohmann::ordered_json annotations = {
      {"summary", anomaly.value("detector", "") + " on " + anomaly.value("metric", "") + " of " + subject},
      {"value", text_of(anomaly.value("value", nlohmann::ordered_json(0)))},
      {"expected", "[" + text_of(anomaly.value("expected_low", nlohmann::ordered_json(0))) + ", " +
                       text_of(anomaly.value("expected_high", nlohmann::ordered_json(0))) + "]"},
      {"score", text_of(anomaly.value("score", nlohmann::ordered_json(0)))}};
  return {{"labels", labels}, {"annotations", annotations}, {"startsAt", rfc3339(anomaly.value("ts", 0.0))}};
}

Result<std::unique_ptr<Webhook>> Webhook::start(const std::string& url) {
  static const std::regex kUrl(R"(http://([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?(/[^\s]*)?)");
  std::smatch m;
  if (!std::regex_match(url, m, kUrl)) return Error{"--webhook: not an http://HOST[:PORT][/PATH] URL: " + url};
  std::string host = m[1].str();
  if (host.front() == '[') host = host.substr(1, host.size() - 2);
  std::string port = m[2].matched ? m[2].str() : "80";
  if (std::stoi(port) < 1 || std::stoi(port) > 65535) return Error{"--webhook: bad port in " + url};
  return std::unique_ptr<Webhook>(new Webhook(host, port, m[3].matched ? m[3].str() : "/"));
}

Webhook::Webhook(std::string host, std::string port, std::string path)
    : host_(std::move(host)), port_(std::move(port)), path_(std::move(path)), thread_([this] { run(); }) {}

Webhook::~Webhook() { close(); }

void Webhook::close() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Webhook::post(const nlohmann::ordered_json& anomaly) {
  {
    std::lock_guard lock(mutex_);
    if (queue_.size() >= kQueueLimit) {
      ++counts_.dropped;
      return;
    }
    queue_.push_back(anomaly);
  }
  wake_.notify_all();
}

WebhookCounts Webhook::counts() const {
  std::lock_guard lock(mutex_);
  return counts_;
}

void Webhook::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping, nothing left
    nlohmann::ordered_json alerts = nlohmann::ordered_json::array();
    while (!queue_.empty() && alerts.size() < kBatch) {
      alerts.push_back(alertmanager_alert(queue_.front()));
      queue_.pop_front();
    }
    const bool last_chance = stopping_;
    lock.unlock();
    const std::string body = alerts.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    bool delivered = false;
    int failed = 0;
    for (int attempt = 0; attempt < (last_chance ? 1 : kAttempts) && !delivered; ++attempt) {
      if (attempt) std::this_thread::sleep_for(std::chrono::milliseconds(kFirstPauseMs << (attempt - 1)));
      delivered = deliver(body);
      if (!delivered) ++failed;
    }
    lock.lock();
    counts_.failed_attempts += failed;
    (delivered ? counts_.delivered : counts_.dropped) += alerts.size();
  }
}

bool Webhook::deliver(const std::string& body) const {
  addrinfo hints{}, *found = nullptr;
  hints.ai_socktype = SOCK_STREAM;
  if (getaddrinfo(host_.c_str(), port_.c_str(), &hints, &found) != 0) return false;
  std::unique_ptr<addrinfo, decltype(&freeaddrinfo)> addresses(found, freeaddrinfo);
  UniqueFd fd(socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd.valid()) return false;
  timeval timeout{kTimeoutS, 0};
  setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  if (connect(fd.get(), found->ai_addr, found->ai_addrlen) != 0) return false;
  std::string request = "POST " + path_ + " HTTP/1.1\r\nHost: " + host_ + ":" + port_ +
                        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                        "\r\nConnection: close\r\n\r\n" + body;
  for (size_t sent = 0; sent < request.size();) {
    ssize_t n = send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<size_t>(n);
  }
  char status[64] = {};
  ssize_t n = recv(fd.get(), status, sizeof(status) - 1, 0);
  // "HTTP/1.1 2xx ..."
  return n >= 12 && std::string(status, 9).rfind("HTTP/1.", 0) == 0 && status[9] == '2';
}

}  // namespace nt::http
