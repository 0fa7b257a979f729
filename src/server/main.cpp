// neutracer-server: gathers agents' batches over gRPC, stores them in SQLite, serves the HTTP API
// and /metrics, and forwards series to Prometheus-compatible storage. Errors below main are values;
// here each becomes one stderr line and a non-zero exit (docs/errors.md).
#include <CLI/CLI.hpp>
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "common/clock.h"
#include "common/token_file.h"
#include "http/webhook.h"
#include "server/http_api.h"
#include "server/ingest_service.h"
#include "server/job_watch.h"
#include "server/preface_gate.h"
#include "server/remote_write.h"
#include "server/server_metrics.h"
#include "server/series_export.h"
#include "server/store.h"

namespace {

constexpr int kUsageError = 2;
constexpr int kRuntimeError = 1;

struct ServerOptions {
  std::string listen = "127.0.0.1:50051";
  std::string http = "127.0.0.1:9470";
  std::string db = "neutracer.db";
  std::string retention = "7d";
  std::string downsample_after = "1h";
  std::string token_file;
  std::string tls_cert, tls_key;
  std::string remote_write;
  std::string webhook;
  size_t max_message_bytes = 16u << 20;
  std::string web_root = NT_WEB_ROOT;  // the build's web/dist, so that a built tree serves its dashboard
};

int fail(const std::string& message, int status) {
  std::fprintf(stderr, "neutracer-server: %s\n", message.c_str());
  return status;
}

// "90s", "30m", "12h", "7d" (or plain seconds).
nt::Result<double> parse_duration(const std::string& flag, const std::string& text) {
  static const std::pair<char, double> kUnits[] = {{'s', 1}, {'m', 60}, {'h', 3600}, {'d', 86400}, {'w', 604800}};
  double unit = 1;
  std::string number = text;
  for (auto [suffix, seconds] : kUnits)
    if (!text.empty() && text.back() == suffix) {
      unit = seconds;
      number = text.substr(0, text.size() - 1);
    }
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(number, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != number.size() || !(value > 0) || value * unit > 100 * 365 * 86400.0)
    return nt::Error{flag + ": a duration such as 90s, 30m, 12h or 7d: " + text};
  return value * unit;
}

nt::Result<std::string> read_file(const std::string& flag, const std::string& path) {
  std::ifstream file(path);
  if (!file) return nt::Error{flag + ": cannot read " + path};
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

bool loopback(const std::string& address) {
  std::string host = address.substr(0, address.rfind(':'));
  return host == "localhost" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

int run(const ServerOptions& options) {
  auto retention = parse_duration("--retention", options.retention);
  if (!retention) return fail(retention.error().message, kUsageError);
  auto downsample = parse_duration("--downsample-after", options.downsample_after);
  if (!downsample) return fail(downsample.error().message, kUsageError);
  std::string token;
  if (!options.token_file.empty()) {
    auto read = nt::read_token_file(options.token_file);
    if (!read) return fail("--token-file: " + read.error().message, kUsageError);
    token = read.value();
  }
  if (token.empty() && (!loopback(options.listen) || !loopback(options.http)))
    return fail("listening beyond loopback needs a token: give --token-file", kUsageError);
  if (options.tls_cert.empty() != options.tls_key.empty())
    return fail("--tls-cert and --tls-key go together", kUsageError);
  std::string cert_pem, key_pem;
  if (!options.tls_cert.empty()) {
    auto cert = read_file("--tls-cert", options.tls_cert);
    if (!cert) return fail(cert.error().message, kUsageError);
    auto key = read_file("--tls-key", options.tls_key);
    if (!key) return fail(key.error().message, kUsageError);
    cert_pem = cert.value(), key_pem = key.value();
  }

  // Before any thread starts: every thread inherits the mask, and only sigwait below takes them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  nt::server::StoreOptions store_options;
  store_options.path = options.db;
  store_options.retention_s = retention.value();
  store_options.downsample_after_s = downsample.value();
  auto store = nt::server::Store::open(store_options);
  if (!store) return fail(store.error().message, kRuntimeError);

  nt::server::ServerMetrics metrics;
  std::unique_ptr<nt::server::RemoteWriter> remote;
  if (!options.remote_write.empty()) {
    nt::server::RemoteWriteOptions remote_options;
    remote_options.url = options.remote_write;
    auto started = nt::server::RemoteWriter::start(remote_options);
    if (!started) return fail("--remote-write: " + started.error().message, kUsageError);
    remote = std::move(started).value();
  }
  std::unique_ptr<nt::http::Webhook> webhook;
  if (!options.webhook.empty()) {
    auto started = nt::http::Webhook::start(options.webhook);
    if (!started) return fail(started.error().message, kUsageError);
    webhook = std::move(started).value();
  }
  // Findings on jobs: stored (and an anomaly row), counted on /metrics, posted to the webhook.
  nt::server::JobWatch job_watch(
      nt::server::JobWatchConfig{},
      [&](const nt::server::JobFinding& finding) -> int64_t {
        metrics.job_finding(finding.job, finding.kind, finding.subject, finding.metric, true);
        if (webhook)
          webhook->post({{"ts", finding.ts}, {"kind", "job"}, {"detector", finding.kind}, {"job", finding.job},
                         {"subject", finding.subject}, {"host", finding.host}, {"metric", finding.metric},
                         {"value", finding.value}, {"expected_low", finding.peers_median},
                         {"expected_high", finding.peers_median}, {"score", finding.score}, {"since", finding.since}});
        auto id = store.value()->record_job_finding(finding);
        if (!id) {
          std::fprintf(stderr, "neutracer-server: storing a job finding: %s\n", id.error().message.c_str());
          return 0;
        }
        return *id;
      },
      [&](int64_t id, double ts) {
        if (auto ok = store.value()->end_job_finding(id, ts); !ok)
          std::fprintf(stderr, "neutracer-server: ending a job finding: %s\n", ok.error().message.c_str());
      });
  nt::server::BatchWriter writer(*store.value(), metrics, [&](const neutracer::v1::Batch& batch) {
    if (remote) remote->enqueue(nt::server::remote_samples(batch));
    job_watch.look(*store.value(), nt::unix_seconds());
  });
  nt::server::BatchLimits limits;
  nt::server::IngestService service(writer, metrics, token, limits);

  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (!cert_pem.empty()) {
    grpc::SslServerCredentialsOptions tls;
    tls.pem_key_cert_pairs.push_back({key_pem, cert_pem});
    credentials = grpc::SslServerCredentials(tls);
  }
  grpc::ServerBuilder builder;
  int grpc_port = 0;
  // Plaintext: our own listener checks each connection's first bytes (preface_gate.h); TLS: gRPC's.
  if (!cert_pem.empty()) builder.AddListeningPort(options.listen, credentials, &grpc_port);
  builder.SetMaxReceiveMessageSize(static_cast<int>(options.max_message_bytes));
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> grpc_server = builder.BuildAndStart();
  if (!grpc_server || (!cert_pem.empty() && grpc_port == 0))
    return fail("--listen: cannot listen on " + options.listen, kRuntimeError);
  std::unique_ptr<nt::server::PrefaceGate> gate;
  if (cert_pem.empty()) {
    auto started = nt::server::PrefaceGate::start(options.listen, *grpc_server,
                                                  [&](std::string_view reason) { metrics.rejected(reason); });
    if (!started) {
      grpc_server->Shutdown();
      return fail(started.error().message, kRuntimeError);
    }
    gate = std::move(started).value();
    grpc_port = gate->port();
  }

  nt::server::HttpOptions http_options;
  http_options.listen = options.http;
  http_options.token = token;
  http_options.tls_cert = options.tls_cert;
  http_options.tls_key = options.tls_key;
  http_options.web_root = options.web_root;
  nt::server::HttpHooks hooks;
  hooks.now = [] { return nt::unix_seconds(); };
  hooks.rejected = [&](std::string_view reason) { metrics.rejected(reason); };
  hooks.metrics_text = [&] {
    metrics.set_storage_bytes(store.value()->size_bytes());
    metrics.set_job_findings_inhibited(job_watch.inhibited());
    if (webhook) {
      auto counts = webhook->counts();
      metrics.set_webhook(counts.delivered, counts.failed_attempts, counts.dropped);
    }
    if (remote) {
      auto counts = remote->counts();
      metrics.set_remote_write(counts.sent_samples, counts.failed_attempts, counts.dropped_samples, counts.queued_samples);
    }
    return metrics.render(nt::unix_seconds());
  };
  auto http = nt::server::HttpApi::start(http_options, *store.value(), hooks);
  if (!http) {
    grpc_server->Shutdown();
    return fail(http.error().message, kRuntimeError);
  }
  const std::string grpc_address = options.listen.substr(0, options.listen.rfind(':') + 1) + std::to_string(grpc_port);
  std::fprintf(stderr, "neutracer-server: listening grpc=%s http=%s db=%s%s\n", grpc_address.c_str(),
               http.value()->address().c_str(), options.db.c_str(), cert_pem.empty() ? "" : " tls");

  // Retention and downsampling once a minute; a stop signal ends the wait at once.
  constexpr int kMaintainSeconds = 60;
  while (true) {
    timespec wait{kMaintainSeconds, 0};
    int sig = sigtimedwait(&stop_signals, nullptr, &wait);
    if (sig == SIGINT || sig == SIGTERM) break;
    if (auto ok = store.value()->maintain(nt::unix_seconds()); !ok)
      std::fprintf(stderr, "neutracer-server: maintenance: %s\n", ok.error().message.c_str());
  }
  http.value().reset();
  gate.reset();
  grpc_server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
  if (remote) remote->flush(std::chrono::seconds(2));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"neutracer-server: many NeuTracer agents in one place", "neutracer-server"};
  ServerOptions options;
  app.add_option("--listen", options.listen, "gRPC address agents stream to (HOST:PORT; port 0 picks one)");
  app.add_option("--http", options.http, "HTTP API and /metrics address (HOST:PORT)");
  app.add_option("--db", options.db, "SQLite database file (created if missing)");
  app.add_option("--retention", options.retention, "Keep samples this long (90s, 30m, 12h, 7d)");
  app.add_option("--downsample-after", options.downsample_after, "Sum samples older than this into one per minute");
  app.add_option("--token-file", options.token_file, "Agents and HTTP clients must send this bearer token");
  app.add_option("--tls-cert", options.tls_cert, "PEM certificate: TLS on both ports");
  app.add_option("--tls-key", options.tls_key, "PEM private key of --tls-cert");
  app.add_option("--remote-write", options.remote_write, "Forward series to this Prometheus remote-write URL");
  app.add_option("--webhook", options.webhook, "POST the findings on jobs to this http URL as Alertmanager alerts");
  app.add_option("--web-root", options.web_root, "The dashboard's built files, served at / (default: the build's)");
  app.add_option("--max-message-bytes", options.max_message_bytes, "Largest batch accepted")
      ->check(CLI::Range(size_t{1} << 16, size_t{1} << 30));
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::ParseError& error) {
    return fail(error.what(), kUsageError);
  }
  return run(options);
}
