// JSON Lines renderer of the model (schema: docs/json-schema.md). Kernel strings are arbitrary
// bytes; invalid UTF-8 is replaced so that every line stays valid JSON.
#pragma once

#include <cstdio>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "model/features.h"
#include "model/programs.h"
#include "common/result.h"
#include "model/events.h"
#include "model/flows.h"
#include "model/identity.h"
#include "model/jobs.h"
#include "model/loss.h"
#include "model/process.h"
#include "model/process_counters.h"
#include "model/snapshot.h"

namespace nt::output {

inline constexpr int kSchemaVersion = 1;

struct RunInfo {
  double start_ts = 0;
  uint32_t interval_ms = 0;
  std::string mode;  // "record"
};

nlohmann::ordered_json start_record(const RunInfo& run);
// The head every per-process record starts with: type, v, ts, pid, start_time, netns, comm.
nlohmann::ordered_json process_record_head(const char* type, double ts, const model::ProcessKey& key,
                                           const std::string& comm);
// One process's interval: cumulative bytes and the rates over the interval just closed.
nlohmann::ordered_json process_record(const model::ProcessTraffic& process, double ts, double interval_s);
nlohmann::ordered_json loss_record(const model::LossCounters& losses, double ts);
// One process's totals across every collector (the summary's `totals`): pid, start_time, comm,
// netns, exited and every counter of model/process_counters.h by name.
nlohmann::ordered_json totals_json(const model::ProcessTotals& process);
// At exit: every process's totals, the losses, and what each BPF program cost (run_time_ns
// grows only while kernel.bpf_stats_enabled is on).
nlohmann::ordered_json summary_record(const model::ProcessTable& table, const model::LossCounters& losses,
                                      const std::vector<model::ProgramStats>& programs, double ts, double duration_s,
                                      std::optional<int> exit_status);

// Each collector feature: {"net.tcp_health": {"available": true, "via": "tp"}}, with "needs" and
// "reason" for one the kernel refused (and "reason" for the alternatives refused before "via").
nlohmann::ordered_json features_json(const std::vector<model::FeatureState>& features);

// trace: one socket call / one packet. `wall_offset_s` turns CLOCK_MONOTONIC into Unix time.
nlohmann::ordered_json socket_event_record(const model::SocketEvent& event, double wall_offset_s);
nlohmann::ordered_json packet_event_record(const model::PacketEvent& event, double wall_offset_s);
// The kernel's own device statistics (cumulative since the device was created).
nlohmann::ordered_json device_record(const model::DeviceStats& device, double ts);
// Packet mode: what the packet hooks counted since the start, per device and per socket owner.
nlohmann::ordered_json device_packets_record(const model::DeviceStats& device, double ts);
nlohmann::ordered_json packet_owner_record(const model::PacketOwnerCounters& owner, const std::string& ifname,
                                           double ts);
// Bytes TCP sockets counted but no socket hook saw, per owner, summed at close.
nlohmann::ordered_json unseen_record(const model::UnseenBytes& unseen, double ts);

// One active flow's interval: cumulative bytes, rates over the interval, TCP health. Written as
// text straight into `out` (appended; no newline): at 10,000 flows it is most of what the agent writes.
void flow_line(std::string& out, const model::FlowTraffic& flow, const model::FlowShown& shown,
               const std::string& comm, double ts);
// A TCP connection end opening or closing.
nlohmann::ordered_json conn_record(const model::ConnEvent& event, double wall_offset_s);

// Who a process is: written once, when the process is first seen.
nlohmann::ordered_json process_info_record(const model::ProcessKey& key, const std::string& comm,
                                           const model::ProcessIdentity& identity, double ts);
// A distributed job: its ranks and what they sent each other.
nlohmann::ordered_json job_record(const model::Job& job, double ts);
// A raised anomaly (docs/json-schema.md): what it names, then the metric, value and expected range.
nlohmann::ordered_json anomaly_record(const model::Anomaly& anomaly);

// Serialises one record on one line.
std::string to_line(const nlohmann::ordered_json& record);

// Writes lines to stdout or a file; write errors come back as values.
class JsonLinesSink {
 public:
  static Result<JsonLinesSink> open(const std::string& path);  // "" or "-" is stdout
  static Result<JsonLinesSink> discard();                      // writes nothing (serve)
  JsonLinesSink(JsonLinesSink&& other) noexcept;
  JsonLinesSink& operator=(JsonLinesSink&&) = delete;
  ~JsonLinesSink();

  Status write(const nlohmann::ordered_json& record);
  Status write_line(std::string_view line);  // one JSON text, without its newline
  Status flush();

 private:
  JsonLinesSink(FILE* file, bool owned, std::string path) : file_(file), owned_(owned), path_(std::move(path)) {}
  FILE* file_;
  bool owned_;
  std::string path_;
};

}  // namespace nt::output
