// Everything an agent sends is checked here before it reaches the store: sizes, string lengths,
// label names and values, numbers that must be finite, timestamps near the server's clock. Pure:
// no I/O (a libFuzzer target drives decode_batch with arbitrary bytes).
#pragma once

#include <cstddef>
#include <string_view>

#include "common/result.h"
#include "neutracer/v1/ingest.pb.h"

namespace nt::server {

struct BatchLimits {
  size_t max_processes = 100000;     // samples, identities
  size_t max_flows = 200000;
  size_t max_devices = 4096;
  size_t max_connections = 100000;
  size_t max_anomalies = 10000;
  size_t max_jobs = 1000;
  size_t max_ranks = 100000;
  size_t max_counters = 64;          // per process sample
  size_t max_losses = 128;
  size_t max_labels = 32;
  size_t max_name_bytes = 128;       // machine id, label names and values, metric and detector names
  size_t max_comm_bytes = 64;
  size_t max_text_bytes = 4096;      // command lines, cgroups, hostnames, subjects
  double max_future_s = 3600;        // a batch's time may be ahead of the server's clock by this much
  double max_past_s = 30 * 86400.0;  // ... or behind it by this much
};

// What is wrong with the batch (one line), or nothing.
Status validate_batch(const neutracer::v1::Batch& batch, double now, const BatchLimits& limits = {});
// Parses and validates a serialized batch.
Result<neutracer::v1::Batch> decode_batch(std::string_view bytes, double now, const BatchLimits& limits = {});

}  // namespace nt::server
