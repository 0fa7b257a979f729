#include "server/validate.h"

#include <algorithm>
#include <cctype>
#include <climits>
#include <cmath>

namespace nt::server {

namespace {

bool printable(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

bool name_like(std::string_view name, size_t max_bytes) {
  if (name.empty() || name.size() > max_bytes || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; });
}

Status too_many(const char* what, size_t count, size_t limit) {
  return Error{std::string(what) + ": " + std::to_string(count) + " in one batch, at most " + std::to_string(limit)};
}

Status check_endpoint(const neutracer::v1::Endpoint& endpoint, const char* what) {
  const size_t size = endpoint.address().size();
  if (size != 0 && size != 4 && size != 16) return Error{std::string(what) + ": an address has 4 or 16 bytes"};
  if (endpoint.port() > 65535) return Error{std::string(what) + ": port above 65535"};
  return {};
}

}  // namespace

Status validate_batch(const neutracer::v1::Batch& batch, double now, const BatchLimits& limits) {
  const auto& host = batch.host();
  if (host.machine_id().empty() || host.machine_id().size() > limits.max_name_bytes || !printable(host.machine_id()))
    return Error{"host.machine_id: 1 to " + std::to_string(limits.max_name_bytes) + " printable ASCII characters"};
  if (host.hostname().size() > limits.max_text_bytes || !printable(host.hostname()))
    return Error{"host.hostname: printable ASCII, bounded"};
  if (host.agent_version().size() > limits.max_name_bytes || !printable(host.agent_version()))
    return Error{"host.agent_version: printable ASCII, bounded"};
  if (host.labels_size() > static_cast<int>(limits.max_labels)) return too_many("host.labels", host.labels_size(), limits.max_labels);
  for (const auto& [name, value] : host.labels()) {
    if (!name_like(name, limits.max_name_bytes) || name.find('.') != std::string::npos)
      return Error{"host.labels: a name is [a-zA-Z_][a-zA-Z0-9_]*, bounded"};
    if (value.size() > limits.max_name_bytes || !printable(value)) return Error{"host.labels: a value is printable ASCII, bounded"};
  }
  if (batch.seq() == 0) return Error{"seq: counts from 1"};
  if (!std::isfinite(batch.ts()) || batch.ts() > now + limits.max_future_s || batch.ts() < now - limits.max_past_s)
    return Error{"ts: not a time near the server's clock"};
  if (!std::isfinite(batch.interval_s()) || batch.interval_s() < 0 || batch.interval_s() > 86400)
    return Error{"interval_s: 0 to 86400 seconds"};

  if (static_cast<size_t>(batch.processes_size()) > limits.max_processes)
    return too_many("processes", batch.processes_size(), limits.max_processes);
  for (const auto& process : batch.processes()) {
    if (process.comm().size() > limits.max_comm_bytes) return Error{"processes.comm: too long"};
    if (static_cast<size_t>(process.counters_size()) > limits.max_counters)
      return too_many("processes.counters", process.counters_size(), limits.max_counters);
  }
  if (static_cast<size_t>(batch.identities_size()) > limits.max_processes)
    return too_many("identities", batch.identities_size(), limits.max_processes);
  for (const auto& identity : batch.identities()) {
    if (identity.cmdline().size() > limits.max_text_bytes || identity.cgroup().size() > limits.max_text_bytes ||
        identity.user().size() > limits.max_name_bytes || identity.container_id().size() > limits.max_name_bytes ||
        identity.job().size() > limits.max_name_bytes)
      return Error{"identities: a string is too long"};
    if (!printable(identity.container_id()) || !printable(identity.job()))
      return Error{"identities: container_id and job are printable ASCII"};
  }
  if (static_cast<size_t>(batch.flows_size()) > limits.max_flows) return too_many("flows", batch.flows_size(), limits.max_flows);
  for (const auto& flow : batch.flows()) {
    if (flow.protocol() > 255) return Error{"flows.protocol: above 255"};
    if (auto ok = check_endpoint(flow.local(), "flows.local"); !ok) return ok;
    if (auto ok = check_endpoint(flow.remote(), "flows.remote"); !ok) return ok;
  }
  if (static_cast<size_t>(batch.devices_size()) > limits.max_devices)
    return too_many("devices", batch.devices_size(), limits.max_devices);
  for (const auto& device : batch.devices())
    if (device.name().size() > limits.max_comm_bytes) return Error{"devices.name: too long"};
  if (static_cast<size_t>(batch.connections_size()) > limits.max_connections)
    return too_many("connections", batch.connections_size(), limits.max_connections);
  for (const auto& conn : batch.connections()) {
    if (conn.comm().size() > limits.max_comm_bytes) return Error{"connections.comm: too long"};
    if (auto ok = check_endpoint(conn.local(), "connections.local"); !ok) return ok;
    if (auto ok = check_endpoint(conn.remote(), "connections.remote"); !ok) return ok;
  }
  if (static_cast<size_t>(batch.losses_size()) > limits.max_losses)
    return too_many("losses", batch.losses_size(), limits.max_losses);
  for (const auto& [name, value] : batch.losses())
    if (!name_like(name, limits.max_name_bytes)) return Error{"losses: a reason is a bounded [a-z0-9_] name"};
  if (static_cast<size_t>(batch.anomalies_size()) > limits.max_anomalies)
    return too_many("anomalies", batch.anomalies_size(), limits.max_anomalies);
  for (const auto& anomaly : batch.anomalies()) {
    for (double number : {anomaly.ts(), anomaly.value(), anomaly.expected_low(), anomaly.expected_high(), anomaly.score()})
      if (!std::isfinite(number)) return Error{"anomalies: NaN or infinity"};
    if (!name_like(anomaly.kind(), limits.max_name_bytes) || !name_like(anomaly.metric(), limits.max_name_bytes) ||
        !name_like(anomaly.detector(), limits.max_name_bytes))
      return Error{"anomalies: kind, metric and detector are bounded names"};
    if (anomaly.comm().size() > limits.max_comm_bytes || anomaly.subject().size() > limits.max_text_bytes)
      return Error{"anomalies: comm or subject too long"};
  }
  if (static_cast<size_t>(batch.jobs_size()) > limits.max_jobs) return too_many("jobs", batch.jobs_size(), limits.max_jobs);
  for (const auto& job : batch.jobs()) {
    if (job.name().empty() || job.name().size() > limits.max_name_bytes || !printable(job.name()))
      return Error{"jobs.name: 1 to 128 printable ASCII characters"};
    if (static_cast<size_t>(job.ranks_size()) > limits.max_ranks) return too_many("jobs.ranks", job.ranks_size(), limits.max_ranks);
    for (const auto& rank : job.ranks()) {
      if (!std::isfinite(rank.step_s()) || rank.step_s() < 0 || rank.step_s() > 3600 ||
          !std::isfinite(rank.bytes_per_step()) || rank.bytes_per_step() < 0 || !std::isfinite(rank.onset_unix_s()) ||
          !std::isfinite(rank.active_s()) || rank.active_s() < 0 || rank.active_s() > rank.step_s())
        return Error{"jobs.ranks: step_s from 0 to 3600, bytes_per_step finite and not negative, active_s within the step"};
      if (rank.busy_slots().size() > 256 || (!rank.busy_slots().empty() && rank.busy_start_unix_ms() <= 0))
        return Error{"jobs.ranks: busy_slots at most 256 bytes, with a start"};
    }
  }
  return {};
}

Result<neutracer::v1::Batch> decode_batch(std::string_view bytes, double now, const BatchLimits& limits) {
  neutracer::v1::Batch batch;
  if (bytes.size() > INT32_MAX || !batch.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
    return Error{"not a neutracer.v1.Batch"};
  if (auto ok = validate_batch(batch, now, limits); !ok) return ok.error();
  return batch;
}

}  // namespace nt::server
