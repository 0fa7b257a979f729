#include "output/json_lines.h"

#include <cerrno>
#include <utility>

#include "output/json_text.h"

namespace nt::output {
namespace {

nlohmann::ordered_json counters_json(const model::ProcessTraffic& process) {
  return {{"pid", process.key.tgid},           {"start_time", process.key.start_ns},
          {"comm", process.comm},              {"netns", process.key.netns},
          {"tx_bytes", process.total.tx_bytes}, {"rx_bytes", process.total.rx_bytes},
          {"tx_calls", process.total.tx_calls}, {"rx_calls", process.total.rx_calls}};
}

nlohmann::ordered_json losses_json(const model::LossCounters& losses) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (size_t i = 0; i < losses.size(); ++i) out[std::string(model::kLossNames[i])] = losses[i];
  return out;
}

const char* direction_name(model::Direction d) { return d == model::Direction::kTx ? "tx" : "rx"; }

nlohmann::ordered_json counters_fields(const model::DeviceCounters& c) {
  return {{"tx_bytes", c.tx_bytes}, {"rx_bytes", c.rx_bytes}, {"tx_packets", c.tx_packets}, {"rx_packets", c.rx_packets}};
}

nlohmann::ordered_json header(const char* type, double ts) { return {{"type", type}, {"v", kSchemaVersion}, {"ts", ts}}; }

}  // namespace

nlohmann::ordered_json process_record_head(const char* type, double ts, const model::ProcessKey& key,
                                           const std::string& comm) {
  auto record = header(type, ts);
  record["pid"] = key.tgid;
  record["start_time"] = key.start_ns;
  record["netns"] = key.netns;
  record["comm"] = comm;
  return record;
}

nlohmann::ordered_json socket_event_record(const model::SocketEvent& e, double wall_offset_s) {
  auto record = header("event", static_cast<double>(e.ts_ns) / 1e9 + wall_offset_s);
  record.update({{"ts_ns", e.ts_ns}, {"pid", e.pid}, {"tid", e.tid}, {"start_time", e.start_ns}, {"comm", e.comm},
                 {"netns", e.netns}, {"bytes", e.bytes}, {"dir", direction_name(e.direction)},
                 {"family", model::shown_family(e.local.family ? e.local : e.remote)},
                 {"proto", model::protocol_name(e.protocol)}, {"saddr", model::format_address(e.local)},
                 {"sport", e.local.port}, {"daddr", model::format_address(e.remote)}, {"dport", e.remote.port}});
  return record;
}

nlohmann::ordered_json packet_event_record(const model::PacketEvent& e, double wall_offset_s) {
  auto record = header("packet", static_cast<double>(e.ts_ns) / 1e9 + wall_offset_s);
  record.update({{"ts_ns", e.ts_ns}, {"netns", e.netns}, {"ifindex", e.ifindex}, {"pid", e.pid},
                 {"start_time", e.start_ns}, {"comm", e.comm}, {"len", e.len}, {"dir", direction_name(e.direction)},
                 {"ethertype", e.ethertype}});
  if (e.source.family) {
    record.update({{"family", model::shown_family(e.source)}, {"proto", model::protocol_name(e.protocol)},
                   {"saddr", model::format_address(e.source)}, {"sport", e.source.port},
                   {"daddr", model::format_address(e.destination)}, {"dport", e.destination.port}});
  }
  return record;
}

void flow_line(std::string& out, const model::FlowTraffic& flow, const model::FlowShown& shown,
               const std::string& comm, double ts) {
  const auto& k = flow.key;
  JsonObjectText record(out);
  record.text_field("type", "flow").unsigned_field("v", kSchemaVersion).real_field("ts", ts);
  record.unsigned_field("pid", k.process.tgid).unsigned_field("start_time", k.process.start_ns);
  record.text_field("comm", comm).unsigned_field("netns", k.process.netns);
  record.text_field("proto", shown.proto).unsigned_field("family", static_cast<uint64_t>(model::shown_family(k.local)));
  record.text_field("saddr", shown.saddr).unsigned_field("sport", k.local.port);
  record.text_field("daddr", shown.daddr).unsigned_field("dport", k.remote.port);
  record.unsigned_field("tx_bytes", flow.total.tx_bytes).unsigned_field("rx_bytes", flow.total.rx_bytes);
  record.unsigned_field("tx_calls", flow.total.tx_calls).unsigned_field("rx_calls", flow.total.rx_calls);
  record.real_field("tx_rate", shown.tx_rate).real_field("rx_rate", shown.rx_rate);
  record.unsigned_field("retrans", flow.retransmits).unsigned_field("spurious_retrans", flow.spurious_retransmits);
  record.unsigned_field("srtt_us", flow.srtt_us).bool_field("closed", flow.retired);
  record.close();
}

nlohmann::ordered_json conn_record(const model::ConnEvent& e, double wall_offset_s) {
  auto record = header("conn", static_cast<double>(e.ts_ns) / 1e9 + wall_offset_s);
  record.update({{"event", e.open ? "open" : "close"}, {"pid", e.owner.tgid}, {"start_time", e.owner.start_ns},
                 {"comm", e.comm}, {"netns", e.owner.netns}, {"proto", "tcp"},
                 {"family", model::shown_family(e.local)}, {"saddr", model::format_address(e.local)},
                 {"sport", e.local.port}, {"daddr", model::format_address(e.remote)}, {"dport", e.remote.port},
                 {"direction", e.active ? "active" : "passive"}, {"preexisting", e.preexisting}});
  if (e.open) return record;
  record["duration_ms"] = e.duration_ns ? nlohmann::ordered_json(static_cast<double>(*e.duration_ns) / 1e6) : nullptr;
  record.update({{"tx_bytes", e.tx_bytes}, {"rx_bytes", e.rx_bytes}, {"retrans", e.retransmits},
                 {"srtt_us", e.srtt_us}, {"delivered", e.delivered}, {"lost", e.lost},
                 {"resets_sent", e.resets_sent}, {"resets_received", e.resets_received},
                 {"rcvqueue_full", e.rcvqueue_full}});
  return record;
}

namespace {
nlohmann::ordered_json optional_int(const std::optional<int>& value) {
  return value ? nlohmann::ordered_json(*value) : nlohmann::ordered_json(nullptr);
}
}  // namespace

nlohmann::ordered_json process_info_record(const model::ProcessKey& key, const std::string& comm,
                                           const model::ProcessIdentity& id, double ts) {
  auto record = header("process_info", ts);
  record.update({{"pid", key.tgid}, {"start_time", key.start_ns}, {"comm", comm}, {"cmdline", id.cmdline},
                 {"uid", id.uid}, {"user", id.user}, {"cgroup", id.cgroup},
                 {"container", id.container_id.empty() ? nlohmann::ordered_json(nullptr)
                                                       : nlohmann::ordered_json(id.container_id)},
                 {"job", id.job.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(id.job)},
                 {"rank", optional_int(id.rank)}, {"local_rank", optional_int(id.local_rank)},
                 {"world_size", optional_int(id.world_size)}, {"rank_status", id.rank ? "known" : "unknown"}});
  return record;
}

nlohmann::ordered_json job_record(const model::Job& job, double ts) {
  auto record = header("job", ts);
  nlohmann::ordered_json ranks = nlohmann::ordered_json::array();
  for (const auto& [rank, process] : job.ranks) {
    ranks.push_back({{"rank", rank}, {"pid", process.tgid}, {"start_time", process.start_ns}});
    if (auto step = job.steps.find(rank); step != job.steps.end())
      ranks.back().update({{"step_s", step->second.step_s},
                           {"bytes_per_step", step->second.bytes_per_step},
                           {"regularity", step->second.regularity},
                           {"onset", step->second.onset_unix_s},
                           {"sending_s", step->second.sending_s},
                           {"active_s", step->second.active_s}});
  }
  record.update({{"job", job.name}, {"world_size", optional_int(job.world_size)}, {"ranks", ranks},
                 {"bytes_between_ranks", job.bytes_between_ranks}});
  return record;
}

nlohmann::ordered_json device_record(const model::DeviceStats& d, double ts) {
  auto record = header("device", ts);
  record.update({{"netns", d.key.netns}, {"ifindex", d.key.ifindex}, {"ifname", d.ifname}});
  record.update(counters_fields(d.counters));
  record["drops"] = d.drops;
  return record;
}

nlohmann::ordered_json device_packets_record(const model::DeviceStats& d, double ts) {
  auto record = header("device_packets", ts);
  record.update({{"netns", d.key.netns}, {"ifindex", d.key.ifindex}, {"ifname", d.ifname}});
  record.update(counters_fields(d.counters));
  return record;
}

nlohmann::ordered_json packet_owner_record(const model::PacketOwnerCounters& o, const std::string& ifname, double ts) {
  auto record = header("packet_owner", ts);
  record.update({{"netns", o.device.netns}, {"ifindex", o.device.ifindex}, {"ifname", ifname}, {"pid", o.pid},
                 {"start_time", o.start_ns}, {"comm", o.comm}});
  record.update(counters_fields(o.counters));
  return record;
}

nlohmann::ordered_json unseen_record(const model::UnseenBytes& u, double ts) {
  auto record = header("unattributed", ts);
  record.update({{"pid", u.pid}, {"start_time", u.start_ns}, {"comm", u.comm}, {"netns", u.netns},
                 {"tx_bytes", u.tx_bytes}, {"rx_bytes", u.rx_bytes}, {"sockets", u.sockets}});
  return record;
}

nlohmann::ordered_json start_record(const RunInfo& run) {
  return {{"type", "start"}, {"v", kSchemaVersion}, {"ts", run.start_ts}, {"mode", run.mode},
          {"interval_ms", run.interval_ms}};
}

nlohmann::ordered_json process_record(const model::ProcessTraffic& process, double ts, double interval_s) {
  auto delta = process.total - process.at_interval_start;
  nlohmann::ordered_json record = {{"type", "process"}, {"v", kSchemaVersion}, {"ts", ts}};
  record.update(counters_json(process));
  record["tx_rate"] = model::per_second(delta.tx_bytes, interval_s);
  record["rx_rate"] = model::per_second(delta.rx_bytes, interval_s);
  return record;
}

nlohmann::ordered_json loss_record(const model::LossCounters& losses, double ts) {
  nlohmann::ordered_json record = {{"type", "loss"}, {"v", kSchemaVersion}, {"ts", ts}};
  record.update(losses_json(losses));
  return record;
}

nlohmann::ordered_json summary_record(const model::ProcessTable& table, const model::LossCounters& losses,
                                      const std::vector<model::ProgramStats>& programs, double ts, double duration_s,
                                      std::optional<int> exit_status) {
  nlohmann::ordered_json processes = nlohmann::ordered_json::array();
  for (const auto& [key, process] : table.processes())
    if (!(process.total == model::TrafficCounters{})) processes.push_back(counters_json(process));
  nlohmann::ordered_json record = {{"type", "summary"}, {"v", kSchemaVersion},     {"ts", ts},
                           {"duration_s", duration_s}, {"processes", processes}, {"loss", losses_json(losses)}};
  nlohmann::ordered_json cost = nlohmann::ordered_json::array();
  for (const auto& p : programs)
    cost.push_back({{"name", p.name}, {"run_count", p.run_count}, {"run_time_ns", p.run_time_ns},
                    {"recursion_misses", p.recursion_misses}});
  record["bpf_programs"] = cost;
  if (exit_status) record["exit_status"] = *exit_status;
  return record;
}

nlohmann::ordered_json totals_json(const model::ProcessTotals& process) {
  nlohmann::ordered_json out = {{"pid", process.key.tgid},
                                {"start_time", process.key.start_ns},
                                {"comm", process.comm},
                                {"netns", process.key.netns},
                                {"exited", process.exited}};
  for (size_t i = 0; i < model::kProcessCounterCount; ++i)
    out[std::string(model::kProcessCounterNames[i])] = process.total[i];
  return out;
}

nlohmann::ordered_json features_json(const std::vector<model::FeatureState>& features) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const auto& f : features) {
    nlohmann::ordered_json feature = {{"available", f.available}};
    if (f.required) feature["required"] = true;
    if (f.available) feature["via"] = f.via;
    if (!f.available) feature["needs"] = f.needs;
    if (!f.reason.empty()) feature["reason"] = f.reason;
    out[f.name] = std::move(feature);
  }
  return out;
}

nlohmann::ordered_json anomaly_record(const model::Anomaly& a) {
  auto record = header("anomaly", a.ts);
  record["kind"] = a.kind;
  if (a.kind == "device") {
    record.update({{"netns", a.process.netns}, {"ifname", a.subject}});
  } else if (a.kind == "disk") {
    record["device"] = a.subject;
  } else {
    record.update({{"pid", a.process.tgid}, {"start_time", a.process.start_ns}, {"comm", a.comm},
                   {"netns", a.process.netns}});
  }
  record["flow"] = a.kind == "flow" ? nlohmann::ordered_json(a.subject) : nlohmann::ordered_json(nullptr);
  record.update({{"metric", a.metric}, {"value", a.value}, {"expected_low", a.expected_low},
                 {"expected_high", a.expected_high}, {"score", a.score}, {"detector", a.detector}});
  return record;
}

std::string to_line(const nlohmann::ordered_json& record) {
  return record.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

Result<JsonLinesSink> JsonLinesSink::open(const std::string& path) {
  if (path.empty() || path == "-") return JsonLinesSink(stdout, false, "stdout");
  FILE* file = std::fopen(path.c_str(), "w");
  if (!file) return errno_error("cannot write output file " + path, errno);
  return JsonLinesSink(file, true, path);
}

Result<JsonLinesSink> JsonLinesSink::discard() { return JsonLinesSink(nullptr, false, "nowhere"); }

JsonLinesSink::JsonLinesSink(JsonLinesSink&& other) noexcept
    : file_(std::exchange(other.file_, nullptr)), owned_(other.owned_), path_(std::move(other.path_)) {}

JsonLinesSink::~JsonLinesSink() {
  if (file_ && owned_) std::fclose(file_);
}

Status JsonLinesSink::write(const nlohmann::ordered_json& record) {
  if (!file_) return {};
  return write_line(to_line(record));
}

Status JsonLinesSink::write_line(std::string_view line) {
  if (!file_) return {};
  if (std::fwrite(line.data(), 1, line.size(), file_) != line.size() || std::fputc('\n', file_) == EOF)
    return errno_error("writing to " + path_, errno);
  return {};
}

Status JsonLinesSink::flush() {
  if (!file_) return {};
  if (std::fflush(file_) != 0) return errno_error("writing to " + path_, errno);
  return {};
}

}  // namespace nt::output
