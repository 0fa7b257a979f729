#include "model/timeline.h"

#include <algorithm>
#include <cstdio>

#include "model/events.h"
#include "model/syscall_names.h"

namespace nt::model {
namespace {

std::string endpoint_text(const Endpoint& endpoint) {
  const std::string address = format_address(endpoint);
  return (shown_family(endpoint) == 6 ? "[" + address + "]" : address) + ":" + std::to_string(endpoint.port);
}

std::string number(double value) {
  char text[32];
  std::snprintf(text, sizeof(text), "%.6g", value);
  return text;
}

}  // namespace

TimelineEvent timeline_event(const SlowSyscall& call) {
  TimelineEvent event{TimelineEvent::Kind::kSlice, call.key.tgid, call.tid,
                      call.exit_monotonic_ns - std::min(call.latency_ns, call.exit_monotonic_ns), call.latency_ns,
                      "syscall", syscall_name(call.nr), {}};
  event.args = {{"ret", std::to_string(call.ret)}};
  return event;
}

std::optional<TimelineEvent> connection_slice(const ConnEvent& close) {
  if (close.open || !close.duration_ns || *close.duration_ns > close.ts_ns) return std::nullopt;
  TimelineEvent event{TimelineEvent::Kind::kSlice, close.owner.tgid, close.owner.tgid,
                      close.ts_ns - *close.duration_ns, *close.duration_ns, "net",
                      "tcp " + endpoint_text(close.local) + " > " + endpoint_text(close.remote), {}};
  event.args = {{"direction", close.active ? "active" : "passive"},
                {"tx_bytes", std::to_string(close.tx_bytes)},
                {"rx_bytes", std::to_string(close.rx_bytes)},
                {"srtt_us", std::to_string(close.srtt_us)},
                {"retransmits", std::to_string(close.retransmits)}};
  return event;
}

std::optional<TimelineEvent> tcp_trouble(const ConnEvent& close) {
  if (close.open) return std::nullopt;
  const std::pair<const char*, uint32_t> counts[] = {{"retransmits", close.retransmits},
                                                     {"lost", close.lost},
                                                     {"resets_sent", close.resets_sent},
                                                     {"resets_received", close.resets_received},
                                                     {"rcvqueue_full", close.rcvqueue_full}};
  TimelineEvent event{TimelineEvent::Kind::kInstant, close.owner.tgid, close.owner.tgid, close.ts_ns, 0, "tcp",
                      "tcp trouble " + endpoint_text(close.remote), {}};
  for (const auto& [name, count] : counts)
    if (count) event.args.emplace_back(name, std::to_string(count));
  if (event.args.empty()) return std::nullopt;
  return event;
}

TimelineEvent timeline_event(const Anomaly& anomaly, double to_monotonic_s) {
  const uint32_t pid = anomaly.names_process() ? anomaly.process.tgid : 0;
  const double at_s = anomaly.ts + to_monotonic_s;
  TimelineEvent event{TimelineEvent::Kind::kInstant, pid, pid,
                      at_s > 0 ? static_cast<uint64_t>(at_s * 1e9) : 0, 0, "anomaly",
                      anomaly.metric + " " + anomaly.detector, {}};
  event.args = {{"kind", anomaly.kind},
                {"subject", anomaly.subject},
                {"value", number(anomaly.value)},
                {"expected", number(anomaly.expected_low) + ".." + number(anomaly.expected_high)},
                {"score", number(anomaly.score)}};
  return event;
}

}  // namespace nt::model
