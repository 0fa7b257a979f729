#include "ship/batch_builder.h"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <fstream>

#include "model/process_counters.h"

namespace nt::ship {

namespace {

constexpr size_t kMaxLabels = 32;
constexpr size_t kMaxLabelBytes = 128;

void set_key(neutracer::v1::ProcessKey* out, const model::ProcessKey& key) {
  out->set_tgid(key.tgid);
  out->set_netns(key.netns);
  out->set_start_ns(key.start_ns);
}

void set_endpoint(neutracer::v1::Endpoint* out, const model::Endpoint& endpoint) {
  const size_t length = endpoint.family == 6 ? 16 : endpoint.family == 4 ? 4 : 0;
  out->set_address(std::string(endpoint.addr.begin(), endpoint.addr.begin() + length));
  out->set_port(endpoint.port);
}

bool label_name_ok(const std::string& name) {
  if (name.empty() || name.size() > kMaxLabelBytes || std::isdigit(static_cast<unsigned char>(name[0]))) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

bool label_value_ok(const std::string& value) {
  return value.size() <= kMaxLabelBytes &&
         std::all_of(value.begin(), value.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
}

}  // namespace

Result<HostIdentity> local_host_identity(const std::string& host_id, const std::vector<std::string>& labels) {
  HostIdentity host;
  host.machine_id = host_id;
  if (host.machine_id.empty()) {
    std::ifstream file("/etc/machine-id");
    std::getline(file, host.machine_id);
    if (host.machine_id.empty()) return Error{"no /etc/machine-id: give this host a name with --host-id"};
  }
  if (host.machine_id.size() > kMaxLabelBytes || !label_value_ok(host.machine_id))
    return Error{"--host-id: at most 128 printable ASCII characters"};
  char name[256] = {};
  gethostname(name, sizeof(name) - 1);
  host.hostname = name;
  for (const auto& label : labels) {
    auto equals = label.find('=');
    if (equals == std::string::npos) return Error{"--label: KEY=VALUE expected: " + label};
    std::string key = label.substr(0, equals), value = label.substr(equals + 1);
    if (!label_name_ok(key)) return Error{"--label: a name is [a-zA-Z_][a-zA-Z0-9_]*, at most 128 bytes: " + key};
    if (!label_value_ok(value)) return Error{"--label: a value is printable ASCII, at most 128 bytes: " + key};
    host.labels[key] = value;
  }
  if (host.labels.size() > kMaxLabels) return Error{"--label: at most 32 labels"};
  host.agent_start_unix_ns = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
  return host;
}

neutracer::v1::Batch BatchBuilder::build(const model::Snapshot& snapshot, bool full) {
  neutracer::v1::Batch batch;
  auto* host = batch.mutable_host();
  host->set_machine_id(host_.machine_id);
  host->set_hostname(host_.hostname);
  host->mutable_labels()->insert(host_.labels.begin(), host_.labels.end());
  host->set_agent_version(NT_VERSION);
  host->set_agent_start_unix_ns(host_.agent_start_unix_ns);
  batch.set_seq(next_seq_++);
  batch.set_ts(snapshot.ts);
  batch.set_interval_s(snapshot.interval_s);

  for (const auto& [key, totals] : model::process_totals(snapshot.processes, snapshot.sched, snapshot.block_io, snapshot.syscalls, snapshot.memory)) {
    auto& sent = processes_sent_[key];
    const std::pair<model::ProcessCounters, bool> now{totals.total, totals.exited};
    if (!full && sent == now) continue;
    sent = now;
    auto* sample = batch.add_processes();
    set_key(sample->mutable_key(), key);
    sample->set_comm(totals.comm);
    for (uint64_t value : totals.total) sample->add_counters(value);
    sample->set_exited(totals.exited);
  }
  if (full) identities_sent_.clear();
  if (snapshot.identities)
    for (const auto& [key, identity] : *snapshot.identities) {
      if (!identities_sent_.insert(key).second) continue;
      auto* info = batch.add_identities();
      set_key(info->mutable_key(), key);
      info->set_cmdline(identity.cmdline);
      info->set_uid(identity.uid);
      info->set_user(identity.user);
      info->set_cgroup(identity.cgroup);
      info->set_container_id(identity.container_id);
      info->set_job(identity.job);
      info->set_rank(identity.rank.value_or(-1));
      info->set_local_rank(identity.local_rank.value_or(-1));
      info->set_world_size(identity.world_size.value_or(-1));
    }
  if (snapshot.flows)
    for (const auto& [key, flow] : snapshot.flows->flows()) {
      if (!full && flow.total == flow.at_interval_start && !flow.retired) continue;
      auto* sample = batch.add_flows();
      set_key(sample->mutable_process(), key.process);
      sample->set_protocol(key.protocol);
      set_endpoint(sample->mutable_local(), key.local);
      set_endpoint(sample->mutable_remote(), key.remote);
      sample->set_tx_bytes(flow.total.tx_bytes);
      sample->set_rx_bytes(flow.total.rx_bytes);
      sample->set_srtt_us(flow.srtt_us);
      sample->set_retransmits(flow.retransmits);
      sample->set_retired(flow.retired);
    }
  if (snapshot.devices)
    for (const auto& device : *snapshot.devices) {
      auto* sample = batch.add_devices();
      sample->set_netns(device.key.netns);
      sample->set_ifindex(device.key.ifindex);
      sample->set_name(device.ifname);
      sample->set_tx_bytes(device.counters.tx_bytes);
      sample->set_rx_bytes(device.counters.rx_bytes);
      sample->set_tx_packets(device.counters.tx_packets);
      sample->set_rx_packets(device.counters.rx_packets);
      sample->set_drops(device.drops);
    }
  if (snapshot.closed_conns) {
    // Connection events carry monotonic time; the interval's end is known in both clocks.
    const double wall_offset_s = snapshot.ts - snapshot.monotonic_s;
    for (const auto& event : *snapshot.closed_conns) {
      auto* conn = batch.add_connections();
      conn->set_close_unix_ns(static_cast<uint64_t>((static_cast<double>(event.ts_ns) / 1e9 + wall_offset_s) * 1e9));
      set_key(conn->mutable_owner(), event.owner);
      conn->set_comm(event.comm);
      set_endpoint(conn->mutable_local(), event.local);
      set_endpoint(conn->mutable_remote(), event.remote);
      conn->set_active(event.active);
      conn->set_duration_ns(event.duration_ns.value_or(0));
      conn->set_tx_bytes(event.tx_bytes);
      conn->set_rx_bytes(event.rx_bytes);
      conn->set_srtt_us(event.srtt_us);
      conn->set_retransmits(event.retransmits);
      conn->set_lost(event.lost);
      conn->set_resets_sent(event.resets_sent);
      conn->set_resets_received(event.resets_received);
    }
  }
  if (snapshot.losses)
    for (size_t i = 0; i < snapshot.losses->size(); ++i)
      (*batch.mutable_losses())[std::string(model::kLossNames[i])] = (*snapshot.losses)[i];
  if (snapshot.anomalies) {
    const size_t fresh = std::min(snapshot.new_anomalies, snapshot.anomalies->size());
    for (auto it = snapshot.anomalies->end() - static_cast<std::ptrdiff_t>(fresh); it != snapshot.anomalies->end(); ++it) {
      auto* anomaly = batch.add_anomalies();
      anomaly->set_ts(it->ts);
      anomaly->set_kind(it->kind);
      set_key(anomaly->mutable_process(), it->process);
      anomaly->set_comm(it->comm);
      anomaly->set_subject(it->subject);
      anomaly->set_metric(it->metric);
      anomaly->set_detector(it->detector);
      anomaly->set_value(it->value);
      anomaly->set_expected_low(it->expected_low);
      anomaly->set_expected_high(it->expected_high);
      anomaly->set_score(it->score);
    }
  }
  if (snapshot.jobs)
    for (const auto& [name, job] : snapshot.jobs->jobs()) {
      auto* out = batch.add_jobs();
      out->set_name(name);
      out->set_world_size(job.world_size.value_or(-1));
      for (const auto& [rank, process] : job.ranks) {
        auto* member = out->add_ranks();
        member->set_rank(rank);
        set_key(member->mutable_process(), process);
        if (auto step = job.steps.find(rank); step != job.steps.end()) {
          member->set_step_s(step->second.step_s);
          member->set_bytes_per_step(step->second.bytes_per_step);
          member->set_onset_unix_s(step->second.onset_unix_s);
          member->set_active_s(step->second.active_s);
        }
        if (auto busy = job.participation.find(rank); busy != job.participation.end()) {
          member->set_busy_start_unix_ms(busy->second.start_ms);
          member->set_busy_slots(busy->second.slots);
        }
      }
      out->set_bytes_between_ranks(job.bytes_between_ranks);
    }
  return batch;
}

}  // namespace nt::ship
