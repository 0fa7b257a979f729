// A stand-in agent for server tests and the benchmark: speaks neutracer.v1 over gRPC directly.
//
//   nt-ingest hostile --server HOST:PORT [--token T]
//       one stream per crafted batch (bad numbers, hostile strings, oversize); prints one JSON line
//       per case: {"case", "status" (gRPC code), "outcome" (STORED/DUPLICATE/REJECTED or "")}
//   nt-ingest load --server HOST:PORT [--token T] --agents N --processes P --interval-ms I --seconds S
//       N simulated hosts, each streaming a batch of P changing processes every I ms (0: as fast as
//       the server acknowledges); prints {"batches", "samples", "acked", "seconds"} at the end
//   nt-ingest remote --url URL --agents N --processes P --seconds S
//       the same batches, as the server forwards them (remote write, one connection per host), to
//       a Prometheus-compatible receiver as fast as it takes them; prints {"samples", "dropped", "seconds"}
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "neutracer/v1/ingest.grpc.pb.h"
#include "server/remote_write.h"
#include "server/series_export.h"

namespace {

using neutracer::v1::Ack;
using neutracer::v1::Batch;

double now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

Batch good_batch(const std::string& host, uint64_t seq, int processes, uint64_t step) {
  Batch batch;
  batch.mutable_host()->set_machine_id(host);
  batch.mutable_host()->set_hostname(host);
  batch.mutable_host()->set_agent_version("nt-ingest");
  batch.mutable_host()->set_agent_start_unix_ns(1);
  batch.set_seq(seq);
  batch.set_ts(now_s());
  batch.set_interval_s(1);
  for (int i = 0; i < processes; ++i) {
    auto* p = batch.add_processes();
    p->mutable_key()->set_tgid(1000 + i);
    p->mutable_key()->set_netns(4026531840u);
    p->mutable_key()->set_start_ns(1000000ull * (i + 1));
    p->set_comm("worker-" + std::to_string(i));
    for (int c = 0; c < 17; ++c) p->add_counters(step * (c + 1) * (i + 1));
  }
  return batch;
}

struct StreamResult {
  grpc::Status status;
  std::vector<Ack> acks;
};

StreamResult send(neutracer::v1::Ingest::Stub& stub, const std::string& token, const std::vector<Batch>& batches) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  auto stream = stub.Stream(&context);
  StreamResult result;
  for (const auto& batch : batches) {
    if (!stream->Write(batch)) break;
    Ack ack;
    if (!stream->Read(&ack)) break;
    result.acks.push_back(ack);
  }
  stream->WritesDone();
  result.status = stream->Finish();
  return result;
}

int hostile(neutracer::v1::Ingest::Stub& stub, const std::string& token) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<std::pair<std::string, Batch>> cases;
  auto add = [&](const std::string& name, auto mutate) {
    Batch batch = good_batch("hostile-host", 1, 2, 1);
    mutate(batch);
    cases.emplace_back(name, batch);
  };
  add("nan_anomaly", [&](Batch& b) {
    auto* a = b.add_anomalies();
    a->set_kind("process");
    a->set_metric("tx");
    a->set_detector("spike");
    a->set_value(nan);
  });
  add("infinite_ts", [&](Batch& b) { b.set_ts(std::numeric_limits<double>::infinity()); });
  add("far_future_ts", [&](Batch& b) { b.set_ts(now_s() + 10 * 86400); });
  add("far_past_ts", [&](Batch& b) { b.set_ts(1000); });
  add("zero_seq", [&](Batch& b) { b.set_seq(0); });
  add("empty_host", [&](Batch& b) { b.mutable_host()->set_machine_id(""); });
  add("control_bytes_in_host", [&](Batch& b) { b.mutable_host()->set_machine_id(std::string("a\x01\nb", 4)); });
  add("huge_comm", [&](Batch& b) { b.mutable_processes(0)->set_comm(std::string(100000, 'x')); });
  add("bad_label_name", [&](Batch& b) { (*b.mutable_host()->mutable_labels())["1; DROP TABLE hosts"] = "x"; });
  add("bad_address_length", [&](Batch& b) { b.add_flows()->mutable_local()->set_address("abc"); });
  add("too_many_counters", [&](Batch& b) {
    for (int i = 0; i < 1000; ++i) b.mutable_processes(0)->add_counters(1);
  });
  // Valid, if unfriendly: stored verbatim through prepared statements.
  add("sql_in_strings", [&](Batch& b) {
    b.mutable_host()->set_machine_id("hostile'); DROP TABLE hosts;--");
    b.mutable_processes(0)->set_comm(std::string("\xff\xfe'\"; DELETE FROM samples;--\0x", 34));
  });
  // Over the server's message limit (its default is 16 MiB).
  add("oversize", [&](Batch& b) {
    for (int i = 0; i < 200; ++i) b.add_identities()->set_cmdline(std::string(100000, 'y'));
  });
  for (const auto& [name, batch] : cases) {
    auto result = send(stub, token, {batch});
    std::string outcome = result.acks.empty() ? "" : Ack::Outcome_Name(result.acks[0].outcome());
    std::printf("{\"case\": \"%s\", \"status\": %d, \"outcome\": \"%s\"}\n", name.c_str(),
                static_cast<int>(result.status.error_code()), outcome.c_str());
  }
  return 0;
}

int load(neutracer::v1::Ingest::Stub& stub, const std::string& token, int agents, int processes, int interval_ms,
         double seconds) {
  std::atomic<uint64_t> batches = 0, samples = 0, acked = 0;
  const auto started = std::chrono::steady_clock::now();
  const auto end = started + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  for (int a = 0; a < agents; ++a)
    threads.emplace_back([&, a] {
      grpc::ClientContext context;
      if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
      auto stream = stub.Stream(&context);
      // As the agent's uplink: at most kInFlight batches written and not yet acknowledged.
      constexpr uint64_t kInFlight = 32;
      std::mutex mutex;
      std::condition_variable acks;
      uint64_t mine = 0;
      bool ended = false;
      std::thread reader([&] {
        Ack ack;
        while (stream->Read(&ack)) {
          ++acked;
          std::lock_guard lock(mutex);
          ++mine;
          acks.notify_all();
        }
        std::lock_guard lock(mutex);
        ended = true;
        acks.notify_all();
      });
      auto next = std::chrono::steady_clock::now();
      for (uint64_t seq = 1; std::chrono::steady_clock::now() < end; ++seq) {
        {
          std::unique_lock lock(mutex);
          acks.wait(lock, [&] { return ended || seq - 1 - mine < kInFlight; });
          if (ended) break;
        }
        if (!stream->Write(good_batch("sim-" + std::to_string(a), seq, processes, seq))) break;
        ++batches;
        samples += static_cast<uint64_t>(processes);
        if (interval_ms > 0) {
          next += std::chrono::milliseconds(interval_ms);
          std::this_thread::sleep_until(next);
        }
      }
      stream->WritesDone();
      reader.join();
      stream->Finish();
    });
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("{\"batches\": %llu, \"samples\": %llu, \"acked\": %llu, \"seconds\": %.3f}\n",
              static_cast<unsigned long long>(batches.load()), static_cast<unsigned long long>(samples.load()),
              static_cast<unsigned long long>(acked.load()), elapsed);
  return 0;
}

int remote(const std::string& url, int agents, int processes, double seconds) {
  std::atomic<uint64_t> sent = 0, dropped = 0;
  const auto started = std::chrono::steady_clock::now();
  const auto end = started + std::chrono::duration<double>(seconds);
  std::vector<std::thread> threads;
  for (int a = 0; a < agents; ++a)
    threads.emplace_back([&, a] {
      nt::server::RemoteWriteOptions options;
      options.url = url;
      auto writer = nt::server::RemoteWriter::start(options);
      if (!writer) {
        std::fprintf(stderr, "nt-ingest: %s\n", writer.error().message.c_str());
        return;
      }
      // Each batch is a new interval: its timestamp must grow, or the receiver refuses it. Batches
      // are grouped up to a full request (as Prometheus's own senders fill theirs), one request in
      // flight per host: the receiver's pace.
      uint64_t seq = 0;
      while (std::chrono::steady_clock::now() < end) {
        size_t queued = 0;
        while (queued + static_cast<size_t>(processes) * 17 <= options.max_samples_per_request || queued == 0) {
          ++seq;
          Batch batch = good_batch("sim-" + std::to_string(a), seq, processes, seq);
          batch.set_ts(now_s() - 300 + static_cast<double>(seq) * 1e-3);
          auto samples = nt::server::remote_samples(batch);
          queued += samples.size();
          writer.value()->enqueue(std::move(samples));
        }
        writer.value()->flush(std::chrono::seconds(30));
      }
      auto counts = writer.value()->counts();
      sent += counts.sent_samples;
      dropped += counts.dropped_samples;
    });
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("{\"samples\": %llu, \"dropped\": %llu, \"seconds\": %.3f}\n",
              static_cast<unsigned long long>(sent.load()), static_cast<unsigned long long>(dropped.load()), elapsed);
  return 0;
}

const char* flag(int argc, char** argv, const char* name, const char* fallback) {
  for (int i = 2; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return argv[i + 1];
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: nt-ingest hostile|load --server HOST:PORT [...]\n");
    return 2;
  }
  const std::string mode = argv[1];
  const std::string server = flag(argc, argv, "--server", "127.0.0.1:50051");
  const std::string token = flag(argc, argv, "--token", "");
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(64 << 20);
  auto stub = neutracer::v1::Ingest::NewStub(grpc::CreateCustomChannel(server, grpc::InsecureChannelCredentials(), args));
  if (mode == "hostile") return hostile(*stub, token);
  if (mode == "remote")
    return remote(flag(argc, argv, "--url", ""), std::stoi(flag(argc, argv, "--agents", "1")),
                  std::stoi(flag(argc, argv, "--processes", "100")), std::stod(flag(argc, argv, "--seconds", "10")));
  if (mode == "load")
    return load(*stub, token, std::stoi(flag(argc, argv, "--agents", "1")), std::stoi(flag(argc, argv, "--processes", "100")),
                std::stoi(flag(argc, argv, "--interval-ms", "1000")), std::stod(flag(argc, argv, "--seconds", "10")));
  std::fprintf(stderr, "nt-ingest: unknown mode %s\n", mode.c_str());
  return 2;
}
