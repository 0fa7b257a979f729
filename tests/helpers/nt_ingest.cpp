// A stand-in agent for server tests and the benchmark: speaks neutracer.v1 over gRPC directly.
//
//   nt-ingest hostile --server HOST:PORT [--token T]
//       one stream per crafted batch (bad numbers, hostile strings, oversize); prints one JSON line
//       per case: {"case", "status" (gRPC code), "outcome" (STORED/DUPLICATE/REJECTED or "")}
//   nt-ingest load --server HOST:PORT [--token T] --agents N --processes P --interval-ms I --seconds S
//       N simulated hosts, each streaming a batch of P changing processes every I ms (0: as fast as
//       the server acknowledges); prints {"batches", "samples", "acked", "seconds"} at the end
//   nt-ingest comms --server HOST:PORT [--token T] --host H --comm C [--comm C...] [--batches N] [--interval-ms I]
//       one host whose processes are named C..., each with an identity, a flow, a closed connection
//       and an anomaly carrying that name (the dashboard's hostile-text test); N batches (1), I ms apart
//   nt-ingest fleet --server HOST:PORT [--token T] --agents N --processes P --flows F --interval-ms I --seconds S
//       P processes and F TCP flows shared among N hosts (fleet-0, ...), every flow paired with one on
//       the next host (so the traffic matrix has both ends); each batch moves every process and a fifth
//       of the flows, the first all of them; prints {"batches", "acked", "seconds"} at the end
//   nt-ingest remote --url URL --agents N --processes P --seconds S
//       the same batches, as the server forwards them (remote write, one connection per host), to
//       a Prometheus-compatible receiver as fast as it takes them; prints {"samples", "dropped", "seconds"}
#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
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

// One agent's stream, as the agent's uplink runs it: the batches `next` makes (seq from 1) until
// `end` or until it makes none, at most kInFlight written and not yet acknowledged, one every
// interval_ms (0: as fast as the server acknowledges). Returns how many were written.
uint64_t stream_batches(neutracer::v1::Ingest::Stub& stub, const std::string& token,
                        std::chrono::steady_clock::time_point end, int interval_ms,
                        const std::function<std::optional<Batch>(uint64_t seq)>& next, std::atomic<uint64_t>& acked) {
  grpc::ClientContext context;
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  auto stream = stub.Stream(&context);
  constexpr uint64_t kInFlight = 32;
  std::mutex mutex;
  std::condition_variable acks;
  uint64_t mine = 0, written = 0;
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
  auto due = std::chrono::steady_clock::now();
  for (uint64_t seq = 1; std::chrono::steady_clock::now() < end; ++seq) {
    {
      std::unique_lock lock(mutex);
      acks.wait(lock, [&] { return ended || seq - 1 - mine < kInFlight; });
      if (ended) break;
    }
    auto batch = next(seq);
    if (!batch || !stream->Write(*batch)) break;
    ++written;
    if (interval_ms > 0) {
      due += std::chrono::milliseconds(interval_ms);
      std::this_thread::sleep_until(due);
    }
  }
  stream->WritesDone();  // the server answers what it was sent, then ends the stream: the reader sees it all
  reader.join();
  stream->Finish();
  return written;
}

int load(neutracer::v1::Ingest::Stub& stub, const std::string& token, int agents, int processes, int interval_ms,
         double seconds) {
  std::atomic<uint64_t> batches = 0, acked = 0;
  const auto started = std::chrono::steady_clock::now();
  const auto end = started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (int a = 0; a < agents; ++a)
    threads.emplace_back([&, a] {
      const std::string host = "sim-" + std::to_string(a);
      batches += stream_batches(stub, token, end, interval_ms,
                                [&](uint64_t seq) { return std::optional(good_batch(host, seq, processes, seq)); }, acked);
    });
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("{\"batches\": %llu, \"samples\": %llu, \"acked\": %llu, \"seconds\": %.3f}\n",
              static_cast<unsigned long long>(batches.load()),
              static_cast<unsigned long long>(batches.load() * static_cast<uint64_t>(processes)),
              static_cast<unsigned long long>(acked.load()), elapsed);
  return 0;
}

std::string ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return std::string{static_cast<char>(a), static_cast<char>(b), static_cast<char>(c), static_cast<char>(d)};
}

void set_endpoint(neutracer::v1::Endpoint* endpoint, const std::string& address, uint32_t port) {
  endpoint->set_address(address);
  endpoint->set_port(port);
}

// Every kind of row the dashboard shows text of, named after each comm: the process itself (its
// command line, container and job too), a flow, a closed connection and an anomaly.
Batch comms_batch(const std::string& host, uint64_t start_ns, uint64_t seq, const std::vector<std::string>& comms) {
  Batch batch = good_batch(host, seq, 0, seq);
  batch.mutable_host()->set_agent_start_unix_ns(start_ns);
  const std::string local = ipv4(10, 77, 0, 1), remote = ipv4(10, 77, 0, 2);
  for (size_t i = 0; i < comms.size(); ++i) {
    const uint32_t tgid = 7000 + static_cast<uint32_t>(i);
    const uint64_t started = 1000000ull * (i + 1) + 7;
    auto* p = batch.add_processes();
    p->mutable_key()->set_tgid(tgid);
    p->mutable_key()->set_netns(4026531840u);
    p->mutable_key()->set_start_ns(started);
    p->set_comm(comms[i]);
    for (int c = 0; c < 17; ++c) p->add_counters(seq * 1000 * (c + 1) * (i + 1));
    auto* info = batch.add_identities();
    *info->mutable_key() = p->key();
    info->set_cmdline(comms[i] + " --flag " + comms[i]);
    info->set_user(comms[i]);
    info->set_container_id(comms[i]);
    info->set_job(comms[i]);
    info->set_rank(static_cast<int32_t>(i));
    info->set_world_size(static_cast<int32_t>(comms.size()));
    auto* flow = batch.add_flows();
    *flow->mutable_process() = p->key();
    flow->set_protocol(6);
    set_endpoint(flow->mutable_local(), local, 40000 + static_cast<uint32_t>(i));
    set_endpoint(flow->mutable_remote(), remote, 443);
    flow->set_tx_bytes(seq * 5000 * (i + 1));
    flow->set_rx_bytes(seq * 700 * (i + 1));
    flow->set_srtt_us(250);
    auto* conn = batch.add_connections();
    conn->set_close_unix_ns(static_cast<uint64_t>(now_s() * 1e9) - 1000 * seq);
    *conn->mutable_owner() = p->key();
    conn->set_comm(comms[i]);
    set_endpoint(conn->mutable_local(), local, 41000 + static_cast<uint32_t>(i));
    set_endpoint(conn->mutable_remote(), remote, 443);
    conn->set_active(true);
    conn->set_duration_ns(1500000000);
    conn->set_tx_bytes(1234);
    conn->set_rx_bytes(5678);
    conn->set_retransmits(static_cast<uint32_t>(i % 2));
    auto* anomaly = batch.add_anomalies();
    anomaly->set_ts(batch.ts());
    anomaly->set_kind("process");
    *anomaly->mutable_process() = p->key();
    anomaly->set_comm(comms[i]);
    anomaly->set_subject(comms[i]);
    anomaly->set_metric("tx_rate");
    anomaly->set_detector("burst");
    anomaly->set_value(1e6);
    anomaly->set_expected_low(1e3);
    anomaly->set_expected_high(1e4);
    anomaly->set_score(0.9);
  }
  return batch;
}

int comms(neutracer::v1::Ingest::Stub& stub, const std::string& token, const std::string& host,
          const std::vector<std::string>& names, int batches, int interval_ms) {
  const uint64_t start_ns = static_cast<uint64_t>(now_s() * 1e9);  // a new agent run: never a duplicate
  std::atomic<uint64_t> acked = 0;
  const auto written = stream_batches(
      stub, token, std::chrono::steady_clock::now() + std::chrono::hours(1), interval_ms,
      [&](uint64_t seq) -> std::optional<Batch> {
        if (seq > static_cast<uint64_t>(batches)) return std::nullopt;
        return comms_batch(host, start_ns, seq, names);
      },
      acked);
  std::printf("{\"batches\": %llu, \"acked\": %llu}\n", static_cast<unsigned long long>(written),
              static_cast<unsigned long long>(acked.load()));
  return written == static_cast<uint64_t>(batches) && acked == written ? 0 : 1;
}

// Per-second rates of the 17 counters (src/model/process_counters.h's order) of a middling
// process: the fleet's processes run at 1 to 37 times these.
constexpr uint64_t kFleetRates[17] = {200000, 150000, 40, 35, 1, 1, 0, 50000000, 2000000, 900000000, 1000000,
                                      300, 20, 40000, 90000, 10, 22};

// Agent `a` of `agents`: its processes and flows, the flows' other ends on agent a+1 (the last
// agent's on agent 0), each flow of agent a sending what its peer receives.
Batch fleet_batch(int a, int agents, uint64_t start_ns, uint64_t seq, int processes, int flows) {
  const std::string host = "fleet-" + std::to_string(a);
  Batch batch = good_batch(host, seq, 0, seq);
  batch.mutable_host()->set_agent_start_unix_ns(start_ns);
  (*batch.mutable_host()->mutable_labels())["rack"] = "r" + std::to_string(a % 4);
  const int mine = processes / agents + (a < processes % agents ? 1 : 0);
  const int my_flows = flows / agents;
  auto key = [&](int i, neutracer::v1::ProcessKey* k) {
    k->set_tgid(20000 + static_cast<uint32_t>(i));
    k->set_netns(4026531840u);
    k->set_start_ns(1000000ull * (i + 1));
  };
  for (int i = 0; i < mine; ++i) {
    auto* p = batch.add_processes();
    key(i, p->mutable_key());
    p->set_comm(i % 8 == 0 ? "python3" : "worker-" + std::to_string(i));
    for (int c = 0; c < 17; ++c) p->add_counters(seq * kFleetRates[c] * (1 + i % 37));
    if (seq == 1) {
      auto* info = batch.add_identities();
      key(i, info->mutable_key());
      info->set_cmdline("worker --shard " + std::to_string(i));
      info->set_container_id("c" + std::to_string(a) + std::string(11, '0') + std::to_string(i % 10));
      if (i % 8 == 0) {
        info->set_job("10.0.0.1:29500");
        info->set_rank(static_cast<int32_t>(a * mine + i / 8));
        info->set_world_size(static_cast<int32_t>(processes / 8));
      } else {
        info->set_rank(-1);
        info->set_world_size(-1);
      }
    }
  }
  const auto address = [](int agent) { return ipv4(10, 50, static_cast<uint8_t>(agent), 1); };
  const int peer = (a + 1) % agents, from = (a + agents - 1) % agents;
  for (int j = 0; j < my_flows; ++j) {
    // The first batch has every flow; then each flow moves in one batch of five.
    if (seq > 1 && static_cast<uint64_t>(j % 5) != seq % 5) continue;
    auto* f = batch.add_flows();
    key(j % mine, f->mutable_process());
    f->set_protocol(6);
    // Even flows connect from this host to the next; odd ones are the far ends of the previous
    // host's even flows. A port pair names one connection, so each end has exactly one peer.
    const uint32_t client_port = 10000 + static_cast<uint32_t>(j & ~1), server_port = 40000 + static_cast<uint32_t>(j & ~1);
    if (j % 2 == 0) {
      set_endpoint(f->mutable_local(), address(a), client_port);
      set_endpoint(f->mutable_remote(), address(peer), server_port);
    } else {
      set_endpoint(f->mutable_local(), address(a), server_port);
      set_endpoint(f->mutable_remote(), address(from), client_port);
    }
    f->set_tx_bytes(seq * 1000 * (1 + j % 50));
    f->set_rx_bytes(seq * 300 * (1 + j % 50));
    f->set_srtt_us(100 + static_cast<uint32_t>(j % 900));
    f->set_retransmits(static_cast<uint32_t>(j % 97 == 0 ? seq : 0));
  }
  return batch;
}

int fleet(neutracer::v1::Ingest::Stub& stub, const std::string& token, int agents, int processes, int flows,
          int interval_ms, double seconds) {
  std::atomic<uint64_t> batches = 0, acked = 0;
  const uint64_t start_ns = static_cast<uint64_t>(now_s() * 1e9);
  const auto started = std::chrono::steady_clock::now();
  const auto end = started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (int a = 0; a < agents; ++a)
    threads.emplace_back([&, a] {
      batches += stream_batches(
          stub, token, end, interval_ms,
          [&](uint64_t seq) { return std::optional(fleet_batch(a, agents, start_ns, seq, processes, flows)); }, acked);
    });
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("{\"batches\": %llu, \"acked\": %llu, \"seconds\": %.3f}\n",
              static_cast<unsigned long long>(batches.load()), static_cast<unsigned long long>(acked.load()), elapsed);
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
    std::fprintf(stderr, "usage: nt-ingest hostile|load|comms|fleet|remote --server HOST:PORT [...]\n");
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
  if (mode == "comms") {
    std::vector<std::string> names;
    for (int i = 2; i + 1 < argc; ++i)
      if (std::strcmp(argv[i], "--comm") == 0) names.emplace_back(argv[i + 1]);
    return comms(*stub, token, flag(argc, argv, "--host", "hostile-host"), names,
                 std::stoi(flag(argc, argv, "--batches", "1")), std::stoi(flag(argc, argv, "--interval-ms", "1000")));
  }
  if (mode == "fleet")
    return fleet(*stub, token, std::stoi(flag(argc, argv, "--agents", "2")),
                 std::stoi(flag(argc, argv, "--processes", "1000")), std::stoi(flag(argc, argv, "--flows", "10000")),
                 std::stoi(flag(argc, argv, "--interval-ms", "1000")), std::stod(flag(argc, argv, "--seconds", "60")));
  if (mode == "load")
    return load(*stub, token, std::stoi(flag(argc, argv, "--agents", "1")), std::stoi(flag(argc, argv, "--processes", "100")),
                std::stoi(flag(argc, argv, "--interval-ms", "1000")), std::stod(flag(argc, argv, "--seconds", "10")));
  std::fprintf(stderr, "nt-ingest: unknown mode %s\n", mode.c_str());
  return 2;
}
