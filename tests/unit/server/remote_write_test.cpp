// RemoteWriter against a real Prometheus (what it stores is read back and compared exactly) and
// against scripted receivers: the bytes on the wire, retries, refusals, drops, a bounded stop.
#include "server/remote_write.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <signal.h>
#include <snappy.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <nlohmann/json.hpp>

#include "common/unique_fd.h"
#include "prometheus/remote_write.pb.h"

namespace {

using namespace std::chrono_literals;
using nt::server::RemoteSample;
using nt::server::RemoteWriteCounts;
using nt::server::RemoteWriter;
using Labels = std::vector<std::pair<std::string, std::string>>;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Polls until done() or the deadline; true when done() came first.
template <class Done>
bool eventually(Done done, std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(20ms);
  }
  return true;
}

// A loopback port nobody listens on: bound to port 0, then released.
int free_port() {
  nt::UniqueFd fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof(address);
  if (!fd.valid() || bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0)
    return 0;
  return ntohs(address.sin_port);
}

class TempDir {
 public:
  TempDir() {
    char name[] = "/tmp/nt-remote-write-XXXXXX";
    if (mkdtemp(name)) path_ = name;
  }
  ~TempDir() {
    std::error_code ignored;
    if (!path_.empty()) std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A Prometheus of the test's own: a fresh TSDB in a temporary folder and a free port. Killed with its
// owner, and with the test process should that die first (PR_SET_PDEATHSIG).
class Prometheus {
 public:
  static nt::Result<std::unique_ptr<Prometheus>> start() {
    std::unique_ptr<Prometheus> prometheus(new Prometheus);
    const auto& dir = prometheus->dir_.path();
    if (dir.empty()) return nt::Error{"mkdtemp failed"};
    std::ofstream(dir / "prometheus.yml") << "global:\n  scrape_interval: 1h\n";
    prometheus->port_ = free_port();
    if (prometheus->port_ == 0) return nt::Error{"no free port"};

    const std::vector<std::string> args = {
        "/usr/bin/prometheus",
        "--config.file=" + (dir / "prometheus.yml").string(),
        "--storage.tsdb.path=" + (dir / "data").string(),
        "--web.listen-address=127.0.0.1:" + std::to_string(prometheus->port_),
        "--web.enable-remote-write-receiver",
    };
    std::vector<char*> argv;
    for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    const std::string log = (dir / "prometheus.log").string();
    prometheus->log_ = log;

    prometheus->pid_ = fork();
    if (prometheus->pid_ < 0) return nt::errno_error("fork", errno);
    if (prometheus->pid_ == 0) {  // only async-signal-safe calls until exec
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      int out = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (out >= 0) dup2(out, STDOUT_FILENO), dup2(out, STDERR_FILENO);
      execv(argv[0], argv.data());
      _exit(127);
    }

    httplib::Client client("127.0.0.1", prometheus->port_);
    client.set_connection_timeout(1s);
    client.set_read_timeout(1s);
    bool exited = false;
    const bool ready = eventually(
        [&] {
          int status;
          if (waitpid(prometheus->pid_, &status, WNOHANG) == prometheus->pid_) {
            prometheus->pid_ = -1;
            return exited = true;
          }
          auto response = client.Get("/-/ready");
          return response && response->status == 200;
        },
        60s);
    if (exited || !ready)
      return nt::Error{std::string(exited ? "prometheus exited" : "prometheus not ready in 60 s") + "; its log:\n" +
                       prometheus->log()};
    return prometheus;
  }

  ~Prometheus() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    waitpid(pid_, nullptr, 0);
  }

  std::string write_url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/api/v1/write"; }
  std::string log() const {
    std::ifstream in(log_);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  }

  // Series -> (timestamp ms, value) pairs, as Prometheus returns them.
  using Stored = std::map<std::map<std::string, std::string>, std::vector<std::pair<int64_t, double>>>;

  // Every sample of the series matching selector from the last 10 minutes.
  nt::Result<Stored> samples(const std::string& selector) const {
    httplib::Client client("127.0.0.1", port_);
    client.set_read_timeout(10s);
    const httplib::Params params = {{"query", selector + "[10m]"}, {"time", std::to_string(now_ms() / 1000.0)}};
    auto response = client.Get("/api/v1/query", params, httplib::Headers{});
    if (!response) return nt::Error{"query: " + httplib::to_string(response.error())};
    if (response->status != 200)
      return nt::Error{"query: HTTP " + std::to_string(response->status) + " " + response->body};
    const auto body = nlohmann::json::parse(response->body);
    Stored stored;
    for (const auto& series : body.at("data").at("result")) {
      auto& values = stored[series.at("metric").get<std::map<std::string, std::string>>()];
      for (const auto& point : series.at("values"))
        values.emplace_back(std::llround(point.at(0).get<double>() * 1000),
                            std::strtod(point.at(1).get<std::string>().c_str(), nullptr));
    }
    return stored;
  }

 private:
  Prometheus() = default;

  TempDir dir_;
  std::string log_;
  int port_ = 0;
  pid_t pid_ = -1;
};

struct Received {
  httplib::Headers headers;
  std::string body;
};

// An HTTP receiver that answers each POST with the next status of a script (the last one repeats) and
// keeps what it got. With hold, each POST waits for release() before it is answered.
class ScriptedReceiver {
 public:
  explicit ScriptedReceiver(std::vector<int> statuses, bool hold = false)
      : statuses_(std::move(statuses)), hold_(hold) {
    server_.set_keep_alive_timeout(1);  // stop() waits out idle connections
    server_.Post("/api/v1/write", [this](const httplib::Request& request, httplib::Response& response) {
      std::unique_lock lock(mutex_);
      received_.push_back({request.headers, request.body});
      response.status = statuses_[std::min(received_.size(), statuses_.size()) - 1];
      if (response.status == 400) response.set_content("out of order sample\nmore detail", "text/plain");
      changed_.notify_all();
      if (hold_) changed_.wait_for(lock, 20s, [this] { return released_; });
    });
    port_ = server_.bind_to_any_port("127.0.0.1");  // listening from here on
    thread_ = std::thread([this] { server_.listen_after_bind(); });
  }
  ~ScriptedReceiver() {
    release();
    server_.stop();
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/api/v1/write"; }
  std::vector<Received> received() const {
    std::lock_guard lock(mutex_);
    return received_;
  }
  void release() {
    std::lock_guard lock(mutex_);
    released_ = true;
    changed_.notify_all();
  }

 private:
  const std::vector<int> statuses_;
  const bool hold_;
  httplib::Server server_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<Received> received_;
  bool released_ = false;
  int port_ = 0;
  std::thread thread_;
};

// A request body as text, one series a line: "{name=value,...} ts:value ts:value".
std::string render(const std::string& body) {
  std::string serialized;
  if (!snappy::Uncompress(body.data(), body.size(), &serialized)) return "not snappy";
  prometheus::WriteRequest request;
  if (!request.ParseFromString(serialized)) return "not a WriteRequest";
  std::ostringstream text;
  for (const auto& series : request.timeseries()) {
    text << "{";
    for (int i = 0; i < series.labels_size(); ++i)
      text << (i ? "," : "") << series.labels(i).name() << "=" << series.labels(i).value();
    text << "}";
    for (const auto& sample : series.samples()) text << " " << sample.timestamp() << ":" << sample.value();
    text << "\n";
  }
  return text.str();
}

RemoteSample sample(Labels labels, double value, int64_t timestamp_ms) {
  return RemoteSample{std::move(labels), value, timestamp_ms};
}

// The defaults for url, with change applied.
nt::server::RemoteWriteOptions options(std::string url, void (*change)(nt::server::RemoteWriteOptions&) = nullptr) {
  nt::server::RemoteWriteOptions result;
  result.url = std::move(url);
  if (change) change(result);
  return result;
}

std::unique_ptr<RemoteWriter> start_writer(const nt::server::RemoteWriteOptions& options) {
  auto writer = RemoteWriter::start(options);
  EXPECT_TRUE(writer.ok()) << (writer.ok() ? "" : writer.error().message);
  return writer.ok() ? std::move(writer).value() : nullptr;
}

TEST(RemoteWriter, PrometheusStoresExactlyWhatWasSent) {
  auto prometheus = Prometheus::start();
  ASSERT_TRUE(prometheus.ok()) << prometheus.error().message;
  // 4 samples a request: the first batch below spans 3 requests, series split across them.
  auto writer = start_writer(options((*prometheus)->write_url(), [](auto& o) { o.max_samples_per_request = 4; }));
  ASSERT_TRUE(writer);

  // Close to now: Prometheus refuses samples far behind its head.
  const int64_t base = now_ms() - 120'000;
  const Labels bytes_alpha = {{"zone", "x"}, {"__name__", "nt_rw_bytes"}, {"job", "alpha"}};
  const Labels bytes_beta = {{"job", "beta"}, {"empty", ""}, {"__name__", "nt_rw_bytes"}};
  const Labels calls = {{"__name__", "nt_rw_calls_total"}, {"pid", "4242"}};
  const std::vector<double> alpha_values = {0.1, 1e300, -2.5};
  const std::vector<double> beta_values = {123456789.123456789, 5e-324, 0};
  const std::vector<double> calls_values = {1.0 / 3, 9007199254740992.0, INFINITY};
  std::vector<RemoteSample> first;
  for (int i = 0; i < 3; ++i) {
    first.push_back(sample(bytes_alpha, alpha_values[i], base + i * 1000 + 7));
    first.push_back(sample(bytes_beta, beta_values[i], base + i * 1000 + 500));
    first.push_back(sample(calls, calls_values[i], base + i * 1000 + 999));
  }
  writer->enqueue(first);
  ASSERT_TRUE(writer->flush(30s));

  // Newest first, all in one request: the writer puts them in order.
  const Labels latency = {{"quantile", "0.99"}, {"__name__", "nt_rw_latency_seconds"}};
  std::vector<RemoteSample> second;
  for (int k = 3; k >= 0; --k) second.push_back(sample(latency, 0.25 * k + 0.001, base + 10'000 + k * 1000));
  writer->enqueue(second);
  ASSERT_TRUE(writer->flush(30s));

  const RemoteWriteCounts counts = writer->counts();
  EXPECT_EQ(counts.sent_samples, 13u);
  EXPECT_EQ(counts.sent_requests, 4u);
  EXPECT_EQ(counts.failed_attempts, 0u) << writer->last_failure();
  EXPECT_EQ(counts.dropped_samples, 0u);
  EXPECT_EQ(counts.queued_samples, 0u);

  Prometheus::Stored expected;
  for (int i = 0; i < 3; ++i) {
    expected[{{"__name__", "nt_rw_bytes"}, {"job", "alpha"}, {"zone", "x"}}].emplace_back(base + i * 1000 + 7,
                                                                                         alpha_values[i]);
    expected[{{"__name__", "nt_rw_bytes"}, {"job", "beta"}}].emplace_back(base + i * 1000 + 500, beta_values[i]);
    expected[{{"__name__", "nt_rw_calls_total"}, {"pid", "4242"}}].emplace_back(base + i * 1000 + 999,
                                                                               calls_values[i]);
  }
  for (int k = 0; k < 4; ++k)
    expected[{{"__name__", "nt_rw_latency_seconds"}, {"quantile", "0.99"}}].emplace_back(base + 10'000 + k * 1000,
                                                                                        0.25 * k + 0.001);
  auto stored = (*prometheus)->samples(R"({__name__=~"nt_rw_.*"})");
  ASSERT_TRUE(stored.ok()) << stored.error().message;
  EXPECT_EQ(*stored, expected);
}

TEST(RemoteWriter, SpeaksRemoteWrite10OnTheWire) {
  ScriptedReceiver receiver({204});
  auto writer = start_writer(options(receiver.url(), [](auto& o) { o.bearer_token = "s3cret"; }));
  ASSERT_TRUE(writer);
  const Labels m = {{"b", "2"}, {"__name__", "m"}, {"a", "1"}};
  writer->enqueue({sample(m, 3, 3000), sample(m, 1, 1000), sample(m, 2, 2000), sample({{"__name__", "a_first"}}, 9, 5),
                   sample(m, 2.5, 2000)});
  ASSERT_TRUE(writer->flush(10s));

  const auto received = receiver.received();
  ASSERT_EQ(received.size(), 1u);
  const auto header = [&](const std::string& name) {
    auto found = received[0].headers.find(name);
    return found == received[0].headers.end() ? std::string("(none)") : found->second;
  };
  EXPECT_EQ(header("Content-Encoding"), "snappy");
  EXPECT_EQ(header("Content-Type"), "application/x-protobuf");
  EXPECT_EQ(header("X-Prometheus-Remote-Write-Version"), "0.1.0");
  EXPECT_EQ(header("Authorization"), "Bearer s3cret");
  EXPECT_EQ(header("User-Agent"), "neutracer-server/" NT_VERSION);
  // Series in label order, labels by name, samples oldest first; at 2000 the later value wins.
  EXPECT_EQ(render(received[0].body), "{__name__=a_first} 5:9\n{__name__=m,a=1,b=2} 1000:1 2000:2.5 3000:3\n");
  const RemoteWriteCounts counts = writer->counts();
  EXPECT_EQ(counts.sent_samples, 4u);
  EXPECT_EQ(counts.dropped_samples, 1u);  // the superseded 2
}

TEST(RemoteWriter, Retries5xxAnd429ThenDelivers) {
  ScriptedReceiver receiver({503, 429, 500, 204});
  auto writer = start_writer(options(receiver.url(), [](auto& o) { o.max_attempts = 6; }));
  ASSERT_TRUE(writer);
  writer->enqueue({sample({{"__name__", "m"}}, 1, 1), sample({{"__name__", "m"}}, 2, 2)});
  ASSERT_TRUE(writer->flush(20s));
  EXPECT_EQ(receiver.received().size(), 4u);
  const RemoteWriteCounts counts = writer->counts();
  EXPECT_EQ(counts.sent_samples, 2u);
  EXPECT_EQ(counts.sent_requests, 1u);
  EXPECT_EQ(counts.failed_attempts, 3u);
  EXPECT_EQ(counts.dropped_samples, 0u);
  EXPECT_EQ(writer->last_failure().rfind("HTTP 500", 0), 0u) << writer->last_failure();
}

TEST(RemoteWriter, GivesUpAfterMaxAttempts) {
  ScriptedReceiver receiver({503});
  auto writer = start_writer(options(receiver.url(), [](auto& o) { o.max_attempts = 3; }));
  ASSERT_TRUE(writer);
  writer->enqueue({sample({{"__name__", "m"}}, 1, 1), sample({{"__name__", "m"}}, 2, 2)});
  ASSERT_TRUE(writer->flush(20s));
  EXPECT_EQ(receiver.received().size(), 3u);
  const RemoteWriteCounts counts = writer->counts();
  EXPECT_EQ(counts.failed_attempts, 3u);
  EXPECT_EQ(counts.dropped_samples, 2u);
  EXPECT_EQ(counts.sent_samples, 0u);
}

TEST(RemoteWriter, DropsA400WithoutRetrying) {
  ScriptedReceiver receiver({400, 204});
  auto writer = start_writer(options(receiver.url(), [](auto& o) { o.max_attempts = 6; }));
  ASSERT_TRUE(writer);
  std::vector<RemoteSample> samples;
  for (int i = 0; i < 5; ++i) samples.push_back(sample({{"__name__", "m"}}, i, i));
  writer->enqueue(samples);
  ASSERT_TRUE(writer->flush(20s));
  EXPECT_EQ(receiver.received().size(), 1u);
  const RemoteWriteCounts counts = writer->counts();
  EXPECT_EQ(counts.failed_attempts, 1u);
  EXPECT_EQ(counts.dropped_samples, 5u);
  EXPECT_EQ(counts.sent_samples, 0u);
  EXPECT_EQ(writer->last_failure(), "HTTP 400: out of order sample");
}

TEST(RemoteWriter, CountsRefusedConnectionsThenDrops) {
  const int port = free_port();
  ASSERT_NE(port, 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/api/v1/write";
  auto writer = start_writer(options(url, [](auto& o) { o.max_attempts = 3; }));
  ASSERT_TRUE(writer);
  std::vector<RemoteSample> samples;
  for (int i = 0; i < 7; ++i) samples.push_back(sample({{"__name__", "m"}, {"i", std::to_string(i)}}, i, 1));
  writer->enqueue(samples);
  ASSERT_TRUE(writer->flush(20s));
  const RemoteWriteCounts counts = writer->counts();
  EXPECT_EQ(counts.failed_attempts, 3u);
  EXPECT_EQ(counts.dropped_samples, 7u);
  EXPECT_EQ(counts.sent_samples, 0u);
  EXPECT_EQ(counts.queued_samples, 0u);
  EXPECT_EQ(writer->last_failure().rfind("no response: Connection", 0), 0u) << writer->last_failure();
}

TEST(RemoteWriter, CountsOverflowAndInvalidSamplesAsDropped) {
  ScriptedReceiver receiver({204});
  auto writer = start_writer(options(receiver.url(), [](auto& o) { o.max_queued_samples = 5; }));
  ASSERT_TRUE(writer);
  std::vector<RemoteSample> samples = {
      sample({{"job", "x"}}, 0, 0),                                // no metric name
      sample({{"__name__", ""}}, 0, 0),                            // an empty metric name
      sample({{"__name__", "1m"}}, 0, 0),                          // not a metric name
      sample({{"__name__", "m"}, {"job", "a"}, {"job", "b"}}, 0, 0),  // a name twice
      sample({{"__name__", "m"}, {"", "v"}}, 0, 0),                // an empty name
      sample({{"__name__", "m"}, {"bad-name", "v"}}, 0, 0),        // not a label name
      sample({{"__name__", "m"}, {"comm", "\xff\xfe"}}, 0, 0),     // not UTF-8
  };
  for (int i = 1; i <= 8; ++i) samples.push_back(sample({{"__name__", "m"}}, i, i));
  writer->enqueue(samples);
  EXPECT_EQ(writer->counts().dropped_samples, 7u + 3u);  // the invalid ones, then what did not fit
  ASSERT_TRUE(writer->flush(10s));

  const RemoteWriteCounts counts = writer->counts();
  EXPECT_EQ(counts.sent_samples, 5u);
  EXPECT_EQ(counts.dropped_samples, 10u);
  EXPECT_EQ(counts.sent_samples + counts.dropped_samples + counts.queued_samples, samples.size());
  const auto received = receiver.received();
  ASSERT_EQ(received.size(), 1u);
  EXPECT_EQ(render(received[0].body), "{__name__=m} 1:1 2:2 3:3 4:4 5:5\n");  // the newest were refused
}

TEST(RemoteWriter, RefusesBadUrlsAndOptionsWithOneLine) {
  for (const std::string url : {"", "127.0.0.1:9090/api/v1/write", "ftp://host/x", "http://", "http://host:0/x",
                                "http://host:65536/x", "http://ho st/x", "http://host/x y", "http://user@host/x",
                                "http://host\n/x"}) {
    auto writer = RemoteWriter::start(options(url));
    ASSERT_FALSE(writer.ok()) << url;
    EXPECT_EQ(writer.error().message.rfind("remote write: ", 0), 0u) << writer.error().message;
    EXPECT_EQ(writer.error().message.find('\n'), std::string::npos) << writer.error().message;
  }
  EXPECT_FALSE(RemoteWriter::start(options("http://h/x", [](auto& o) { o.max_queued_samples = 0; })).ok());
  EXPECT_FALSE(RemoteWriter::start(options("http://h/x", [](auto& o) { o.max_samples_per_request = 0; })).ok());
  EXPECT_FALSE(RemoteWriter::start(options("http://h/x", [](auto& o) { o.max_attempts = 0; })).ok());
  for (const std::string url :
       {"http://127.0.0.1:9090/api/v1/write", "https://example.com/api/v1/push", "http://[::1]:9090/write", "http://h"})
    EXPECT_TRUE(RemoteWriter::start(options(url)).ok()) << url;
}

TEST(RemoteWriter, StopIsBoundedWhenTheReceiverHangs) {
  ScriptedReceiver receiver({204}, /*hold=*/true);
  auto writer = start_writer(options(receiver.url()));
  ASSERT_TRUE(writer);
  writer->enqueue({sample({{"__name__", "m"}}, 1, 1)});
  ASSERT_TRUE(eventually([&] { return receiver.received().size() == 1; }, 10s));
  const auto begin = std::chrono::steady_clock::now();
  writer.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 3500ms);
}

TEST(RemoteWriter, StopIsBoundedWhileBackingOff) {
  ScriptedReceiver receiver({503});
  auto writer = start_writer(options(receiver.url(), [](auto& o) { o.max_attempts = 20; }));
  ASSERT_TRUE(writer);
  writer->enqueue({sample({{"__name__", "m"}}, 1, 1)});
  // After the 6th failure the pause is 3.2 s: the stop must not wait it out.
  ASSERT_TRUE(eventually([&] { return writer->counts().failed_attempts >= 6; }, 20s));
  const auto begin = std::chrono::steady_clock::now();
  writer.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - begin, 1000ms);
  EXPECT_EQ(receiver.received().size(), 7u);  // one more try at stop
}

}  // namespace
