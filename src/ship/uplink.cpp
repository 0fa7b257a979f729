#include "ship/uplink.h"

#include <grpcpp/grpcpp.h>

#include <atomic>

#include "ship/batch_builder.h"

namespace nt::ship {

namespace {

constexpr size_t kInFlight = 32;  // batches written but not acknowledged yet, at most
constexpr auto kFirstBackoff = std::chrono::milliseconds(100);
constexpr auto kLastBackoff = std::chrono::milliseconds(5000);

}  // namespace

Result<std::unique_ptr<Uplink>> Uplink::start(UplinkOptions options) {
  auto colon = options.server.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == options.server.size())
    return Error{"--server: HOST:PORT expected: " + options.server};
  grpc::ChannelArguments args;
  // gRPC's own reconnect backoff starts at 1 s and grows to 2 min: a restarted server would wait.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  // A server that vanished without a reset (host down) is noticed within seconds, not hours.
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  if (options.tls_ca_pem.empty()) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    grpc::SslCredentialsOptions tls;
    tls.pem_root_certs = options.tls_ca_pem;
    credentials = grpc::SslCredentials(tls);
  }
  std::unique_ptr<Uplink> uplink(new Uplink(std::move(options)));
  uplink->channel_ = grpc::CreateCustomChannel(uplink->options_.server, credentials, args);
  uplink->thread_ = std::thread(&Uplink::run, uplink.get());
  return uplink;
}

Uplink::Uplink(UplinkOptions options) : options_(std::move(options)) {}

Uplink::~Uplink() { close(std::chrono::milliseconds(0)); }

void Uplink::submit(neutracer::v1::Batch batch) {
  const size_t bytes = batch.ByteSizeLong();
  std::lock_guard lock(mutex_);
  ++counts_.batches_submitted;
  counts_.samples_submitted += samples_in(batch);
  pending_.push_back({std::move(batch), bytes, false});
  pending_bytes_ += bytes;
  // Batches on the wire are about to be stored: the oldest of the others give way. What is in
  // flight (kInFlight batches at most) may hold the buffer over its bound until acknowledged.
  while (pending_bytes_ > options_.buffer_bytes && std::any_of(pending_.begin(), pending_.end(),
                                                               [](const Pending& p) { return !p.sent; }))
    drop_front_locked();
  changed_.notify_all();
}

void Uplink::drop_front_locked() {
  auto oldest = std::find_if(pending_.begin(), pending_.end(), [](const Pending& p) { return !p.sent; });
  ++counts_.batches_dropped;
  counts_.samples_dropped += samples_in(oldest->batch);
  pending_bytes_ -= oldest->bytes;
  pending_.erase(oldest);
}

void Uplink::close(std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex_);
  if (!thread_.joinable()) return;
  stopping_ = true;
  stop_deadline_ = std::chrono::steady_clock::now() + timeout;
  changed_.notify_all();
  // A write the server does not read blocks in gRPC: past the deadline, cancel the stream.
  changed_.wait_until(lock, stop_deadline_, [&] { return pending_.empty() && current_ == nullptr; });
  if (current_) current_->TryCancel();
  lock.unlock();
  thread_.join();
  lock.lock();
  while (!pending_.empty()) {
    pending_.front().sent = false;
    drop_front_locked();
  }
}

UplinkCounts Uplink::counts() const {
  std::lock_guard lock(mutex_);
  UplinkCounts counts = counts_;
  counts.buffered_batches = pending_.size();
  counts.buffered_bytes = pending_bytes_;
  return counts;
}

// Stopping, and everything acknowledged or the drain's time is up.
bool Uplink::finished_locked() const {
  return stopping_ && (pending_.empty() || std::chrono::steady_clock::now() >= stop_deadline_);
}

void Uplink::run() {
  auto stub = neutracer::v1::Ingest::NewStub(channel_);
  auto backoff = kFirstBackoff;
  bool stop_seen = false;  // the stop cuts one backoff pause short: a last try at once
  while (true) {
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (finished_locked()) break;
    }
    const uint64_t acked_before = counts().batches_acked;
    stream_once(*stub);
    std::unique_lock lock(mutex_);
    if (finished_locked()) break;
    if (counts_.batches_acked > acked_before) backoff = kFirstBackoff;
    changed_.wait_for(lock, backoff, [&] {
      return stopping_ && (!stop_seen || std::chrono::steady_clock::now() >= stop_deadline_);
    });
    stop_seen = stopping_;
    backoff = std::min(backoff * 2, std::chrono::duration_cast<std::chrono::milliseconds>(kLastBackoff));
  }
  std::lock_guard lock(mutex_);
  changed_.notify_all();
}

void Uplink::stream_once(neutracer::v1::Ingest::Stub& stub) {
  grpc::ClientContext context;
  // While the server is unreachable the stream waits for the channel (which reconnects with its
  // own backoff, at most 5 s apart) instead of failing at once: close() cancels it at its deadline.
  context.set_wait_for_ready(true);
  if (!options_.token.empty()) context.AddMetadata("authorization", "Bearer " + options_.token);
  {
    std::lock_guard lock(mutex_);
    current_ = &context;
    ++counts_.connects;
  }
  auto stream = stub.Stream(&context);
  std::atomic<bool> broken = false;
  std::thread reader([&] {
    neutracer::v1::Ack ack;
    while (stream->Read(&ack)) {
      std::lock_guard lock(mutex_);
      counts_.connected = true;
      auto it = std::find_if(pending_.begin(), pending_.end(),
                             [&](const Pending& p) { return p.sent && p.batch.seq() == ack.seq(); });
      if (it == pending_.end()) continue;  // dropped meanwhile
      if (ack.outcome() == neutracer::v1::Ack::REJECTED) {
        ++counts_.rejected;
        ++counts_.batches_dropped;
        counts_.samples_dropped += samples_in(it->batch);
        counts_.last_error = "batch " + std::to_string(ack.seq()) + " rejected: " + ack.reason();
      } else {
        ++counts_.batches_acked;
        if (ack.outcome() == neutracer::v1::Ack::DUPLICATE) ++counts_.duplicates;
      }
      pending_bytes_ -= it->bytes;
      pending_.erase(it);
      changed_.notify_all();
    }
    broken = true;
    std::lock_guard lock(mutex_);
    changed_.notify_all();
  });
  while (true) {
    neutracer::v1::Batch next;
    {
      std::unique_lock lock(mutex_);
      auto unsent = [&] {
        size_t in_flight = 0;
        for (auto& p : pending_) {
          if (!p.sent) return in_flight < kInFlight ? &p : nullptr;
          ++in_flight;
        }
        return static_cast<Pending*>(nullptr);
      };
      changed_.wait(lock, [&] { return broken || finished_locked() || unsent() != nullptr; });
      if (broken || finished_locked()) break;
      Pending* p = unsent();
      p->sent = true;
      next = p->batch;
    }
    if (!stream->Write(next)) break;
  }
  if (!broken) {
    // Nothing more to send (stopping): let the server finish, unless the time is up.
    std::unique_lock lock(mutex_);
    if (!pending_.empty()) context.TryCancel();
  }
  stream->WritesDone();
  reader.join();
  grpc::Status status = stream->Finish();
  std::lock_guard lock(mutex_);
  current_ = nullptr;
  counts_.connected = false;
  if (!status.ok() && !stopping_) {
    ++counts_.stream_failures;
    counts_.last_error = status.error_message().empty() ? "stream ended" : status.error_message();
  }
  for (auto& p : pending_) p.sent = false;  // resent in order on the next stream
  changed_.notify_all();
}

}  // namespace nt::ship
