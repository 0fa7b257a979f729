#include "server/remote_write.h"

#include <httplib.h>
#include <snappy.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <regex>

#include "prometheus/remote_write.pb.h"

namespace nt::server {
namespace {

using Labels = std::vector<std::pair<std::string, std::string>>;

constexpr std::chrono::milliseconds kFirstPause{100};
constexpr std::chrono::milliseconds kLongestPause{5000};
constexpr std::chrono::milliseconds kStopBudget{2000};
constexpr std::chrono::milliseconds kStopPoll{50};
constexpr std::chrono::milliseconds kConnectTimeout{5000};
constexpr std::chrono::milliseconds kIoTimeout{30000};  // Prometheus' own remote_timeout
constexpr size_t kFailureTextLimit = 200;

// Label names are [a-zA-Z_][a-zA-Z0-9_]*; metric names may also hold ':'.
bool valid_name(const std::string& name, bool metric) {
  auto allowed = [metric](unsigned char c, bool first) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9') ||
           (metric && c == ':');
  };
  if (name.empty() || !allowed(name[0], true)) return false;
  return std::all_of(name.begin() + 1, name.end(), [&](unsigned char c) { return allowed(c, false); });
}

// Label values travel as protobuf strings, which must be UTF-8: shortest forms, no surrogates.
bool valid_utf8(const std::string& text) {
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  while (p < end) {
    if (*p < 0x80) {
      ++p;
      continue;
    }
    int extra;
    uint32_t code, least;
    if ((*p & 0xE0) == 0xC0) {
      extra = 1, code = *p & 0x1F, least = 0x80;
    } else if ((*p & 0xF0) == 0xE0) {
      extra = 2, code = *p & 0x0F, least = 0x800;
    } else if ((*p & 0xF8) == 0xF0) {
      extra = 3, code = *p & 0x07, least = 0x10000;
    } else {
      return false;
    }
    if (end - p <= extra) return false;
    for (int i = 1; i <= extra; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      code = (code << 6) | (p[i] & 0x3F);
    }
    if (code < least || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) return false;
    p += extra + 1;
  }
  return true;
}

// Puts the labels in the spec's order (by name) and says whether the sample may be sent at all: one
// invalid sample would make the receiver refuse the whole request it travels in.
bool normalize(RemoteSample& sample) {
  Labels& labels = sample.labels;
  std::erase_if(labels, [](const auto& label) { return label.second.empty(); });
  std::sort(labels.begin(), labels.end());
  bool named = false;
  for (size_t i = 0; i < labels.size(); ++i) {
    const auto& [name, value] = labels[i];
    if (!valid_name(name, false) || (i > 0 && name == labels[i - 1].first) || !valid_utf8(value)) return false;
    if (name == "__name__") {
      if (!valid_name(value, true)) return false;
      named = true;
    }
  }
  return named;
}

struct Encoded {
  std::string body;         // snappy block (not framed) of the serialized WriteRequest
  uint64_t samples = 0;     // in the body
  uint64_t superseded = 0;  // left out: a later sample of the batch has the same series and timestamp
};

// One TimeSeries per label set, its samples oldest first.
Encoded encode(const std::vector<RemoteSample>& batch) {
  auto labels_less = [](const Labels* a, const Labels* b) { return *a < *b; };
  std::map<const Labels*, std::vector<const RemoteSample*>, decltype(labels_less)> series(labels_less);
  for (const RemoteSample& sample : batch) series[&sample.labels].push_back(&sample);

  Encoded encoded;
  prometheus::WriteRequest request;
  for (auto& [labels, samples] : series) {
    std::stable_sort(samples.begin(), samples.end(),
                     [](const RemoteSample* a, const RemoteSample* b) { return a->timestamp_ms < b->timestamp_ms; });
    prometheus::TimeSeries* out = request.add_timeseries();
    for (const auto& [name, value] : *labels) {
      prometheus::Label* label = out->add_labels();
      label->set_name(name);
      label->set_value(value);
    }
    for (size_t i = 0; i < samples.size(); ++i) {
      // Two values at one instant: the receiver keeps one of its choosing; we keep the one enqueued last.
      if (i + 1 < samples.size() && samples[i + 1]->timestamp_ms == samples[i]->timestamp_ms) {
        ++encoded.superseded;
        continue;
      }
      prometheus::Sample* sample = out->add_samples();
      sample->set_value(samples[i]->value);
      sample->set_timestamp(samples[i]->timestamp_ms);
      ++encoded.samples;
    }
  }
  std::string serialized;
  request.SerializeToString(&serialized);
  snappy::Compress(serialized.data(), serialized.size(), &encoded.body);
  return encoded;
}

enum class Outcome { kAccepted, kRetry, kRejected };

struct Attempt {
  Outcome outcome;
  std::string failure;  // for last_failure()
};

Attempt judge(const httplib::Result& result) {
  if (!result) return {Outcome::kRetry, "no response: " + httplib::to_string(result.error())};
  const int status = result->status;
  if (status / 100 == 2) return {Outcome::kAccepted, {}};
  std::string body = result->body.substr(0, std::min(result->body.find('\n'), kFailureTextLimit));
  // The spec: retry 5xx, and 429 may be retried; anything else would fail the same way again.
  const Outcome outcome = status / 100 == 5 || status == 429 ? Outcome::kRetry : Outcome::kRejected;
  return {outcome, "HTTP " + std::to_string(status) + ": " + body};
}

std::chrono::milliseconds pause_after(int attempt) {
  return std::min(kLongestPause, kFirstPause * (1 << std::min(attempt - 1, 10)));
}

// The URL as an error message may show it: on one line.
std::string printable(std::string text) {
  std::replace_if(text.begin(), text.end(), [](unsigned char c) { return c < 0x20 || c == 0x7F; }, '?');
  return text;
}

}  // namespace

Result<std::unique_ptr<RemoteWriter>> RemoteWriter::start(const RemoteWriteOptions& options) {
  static const std::regex kUrl(R"((https?)://([A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::([0-9]{1,5}))?(/\S*)?)");
  std::smatch m;
  if (!std::regex_match(options.url, m, kUrl))
    return Error{"remote write: not an http(s)://HOST[:PORT]/PATH URL: '" + printable(options.url) + "'"};
  const bool https = m[1].str() == "https";
  std::string host = m[2].str();
  if (host.front() == '[') host = host.substr(1, host.size() - 2);
  const int port = m[3].matched ? std::stoi(m[3].str()) : https ? 443 : 80;
  if (port < 1 || port > 65535) return Error{"remote write: port out of range in '" + printable(options.url) + "'"};
  if (options.max_queued_samples < 1 || options.max_samples_per_request < 1 || options.max_attempts < 1)
    return Error{"remote write: max_queued_samples, max_samples_per_request and max_attempts must be at least 1"};

  std::unique_ptr<httplib::ClientImpl> client;
  if (https)
    client = std::make_unique<httplib::SSLClient>(host, port);
  else
    client = std::make_unique<httplib::ClientImpl>(host, port);
  if (!client->is_valid())
    return Error{"remote write: cannot set up a client for '" + printable(options.url) + "' (TLS)"};
  client->set_keep_alive(true);  // the spec's "streaming": one connection, request after request
  if (!options.bearer_token.empty()) client->set_bearer_token_auth(options.bearer_token);
  return std::unique_ptr<RemoteWriter>(
      new RemoteWriter(options, m[4].matched ? m[4].str() : "/", std::move(client)));
}

RemoteWriter::RemoteWriter(const RemoteWriteOptions& options, std::string path,
                           std::unique_ptr<httplib::ClientImpl> client)
    : options_(options), path_(std::move(path)), client_(std::move(client)), thread_([this] { run(); }) {}

RemoteWriter::~RemoteWriter() {
  std::unique_lock lock(mutex_);
  stopping_ = true;
  stop_deadline_ = Clock::now() + kStopBudget;
  wake_.notify_all();
  // A request that was in flight before the stop keeps its long timeouts: once the budget is spent its
  // socket is shut down (a connect under way has no socket yet, hence the polling).
  auto until = stop_deadline_;
  while (!settled_.wait_until(lock, until, [this] { return finished_; })) {
    client_->stop();
    until = Clock::now() + kStopPoll;
  }
  lock.unlock();
  thread_.join();
}

void RemoteWriter::enqueue(std::vector<RemoteSample> samples) {
  std::vector<RemoteSample> valid;  // in the order given: the order each series is sent in
  valid.reserve(samples.size());
  for (RemoteSample& sample : samples)
    if (normalize(sample)) valid.push_back(std::move(sample));
  std::lock_guard lock(mutex_);
  const size_t taken = std::min(options_.max_queued_samples - queue_.size(), valid.size());
  queue_.insert(queue_.end(), std::make_move_iterator(valid.begin()),
                std::make_move_iterator(valid.begin() + static_cast<ptrdiff_t>(taken)));
  counts_.dropped_samples += samples.size() - taken;
  if (taken > 0) wake_.notify_all();
}

RemoteWriteCounts RemoteWriter::counts() const {
  std::lock_guard lock(mutex_);
  RemoteWriteCounts counts = counts_;
  counts.queued_samples = queue_.size() + in_flight_;
  return counts;
}

std::string RemoteWriter::last_failure() const {
  std::lock_guard lock(mutex_);
  return last_failure_;
}

bool RemoteWriter::flush(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  return settled_.wait_for(lock, timeout, [this] { return queue_.empty() && in_flight_ == 0; });
}

void RemoteWriter::run() {
  std::unique_lock lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
    if (stopping_ && (queue_.empty() || Clock::now() >= stop_deadline_)) {
      counts_.dropped_samples += queue_.size();
      queue_.clear();
      finished_ = true;
      settled_.notify_all();
      return;
    }
    const size_t n = std::min(queue_.size(), options_.max_samples_per_request);
    std::vector<RemoteSample> batch(std::make_move_iterator(queue_.begin()),
                                    std::make_move_iterator(queue_.begin() + static_cast<ptrdiff_t>(n)));
    queue_.erase(queue_.begin(), queue_.begin() + static_cast<ptrdiff_t>(n));
    in_flight_ = n;
    lock.unlock();
    const Encoded request = encode(batch);
    lock.lock();
    const bool sent = deliver(request.body, lock);
    counts_.dropped_samples += request.superseded + (sent ? 0 : request.samples);
    if (sent) {
      counts_.sent_samples += request.samples;
      ++counts_.sent_requests;
    }
    in_flight_ = 0;
    if (queue_.empty()) settled_.notify_all();
  }
}

bool RemoteWriter::deliver(const std::string& body, std::unique_lock<std::mutex>& lock) {
  static const httplib::Headers kHeaders = {
      {"Content-Encoding", "snappy"},
      {"User-Agent", "neutracer-server/" NT_VERSION},
      {"X-Prometheus-Remote-Write-Version", "0.1.0"},
  };
  using std::chrono::milliseconds;
  for (int attempt = 1;; ++attempt) {
    // Once stopping, a request gets one more try, within what is left of the stop budget.
    const bool last = stopping_ || attempt >= options_.max_attempts;
    const auto timeout = stopping_ ? std::chrono::duration_cast<milliseconds>(stop_deadline_ - Clock::now()) : kIoTimeout;
    if (timeout <= milliseconds::zero()) return false;
    lock.unlock();
    client_->set_connection_timeout(std::min(timeout, kConnectTimeout));
    client_->set_read_timeout(timeout);
    client_->set_write_timeout(timeout);
    Attempt result = judge(client_->Post(path_, kHeaders, body, "application/x-protobuf"));
    lock.lock();
    if (result.outcome == Outcome::kAccepted) return true;
    ++counts_.failed_attempts;
    last_failure_ = std::move(result.failure);
    if (result.outcome == Outcome::kRejected || last) return false;
    wake_.wait_for(lock, pause_after(attempt), [this] { return stopping_; });
  }
}

}  // namespace nt::server
