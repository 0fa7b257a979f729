#include "output/prometheus_metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <fstream>

namespace nt::output {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

ClientMetric metric(std::vector<ClientMetric::Label> labels, double value, MetricType type) {
  ClientMetric m;
  m.label = std::move(labels);
  if (type == MetricType::Counter)
    m.counter.value = value;
  else
    m.gauge.value = value;
  return m;
}

enum class Domain { kNet, kCpu, kIo, kSyscalls, kMemory };

struct ProcessFamily {
  const char* name;
  const char* help;
  Domain domain;
  double scale;  // counter units to the family's (ns to seconds)
};
constexpr ProcessFamily kProcessFamilies[kProcessCounterCount] = {
    {"neutracer_process_sent_bytes_total", "Payload bytes the process sent through sockets", Domain::kNet, 1},
    {"neutracer_process_received_bytes_total", "Payload bytes the process received through sockets", Domain::kNet, 1},
    {"neutracer_process_send_calls_total", "Successful socket send calls", Domain::kNet, 1},
    {"neutracer_process_receive_calls_total", "Successful socket receive calls", Domain::kNet, 1},
    {"neutracer_process_connections_opened_total", "TCP connections the process opened or accepted", Domain::kNet, 1},
    {"neutracer_process_connections_closed_total", "TCP connections of the process that closed", Domain::kNet, 1},
    {"neutracer_process_tcp_retransmits_total", "Retransmits of the process's TCP connections, counted at close",
     Domain::kNet, 1},
    {"neutracer_process_cpu_seconds_total", "Time the process's threads ran on a CPU", Domain::kCpu, 1e-9},
    {"neutracer_process_runqueue_wait_seconds_total", "Time its threads were runnable but waiting for a CPU",
     Domain::kCpu, 1e-9},
    {"neutracer_process_off_cpu_voluntary_seconds_total", "Time its threads were off CPU after blocking or sleeping",
     Domain::kCpu, 1e-9},
    {"neutracer_process_off_cpu_involuntary_seconds_total", "Time its threads were off CPU after preemption",
     Domain::kCpu, 1e-9},
    {"neutracer_process_voluntary_switches_total", "Context switches of its threads that blocked or slept",
     Domain::kCpu, 1},
    {"neutracer_process_involuntary_switches_total", "Context switches of its threads that were preempted",
     Domain::kCpu, 1},
    {"neutracer_process_disk_read_bytes_total", "Bytes of block read requests it issued, when completed", Domain::kIo, 1},
    {"neutracer_process_disk_written_bytes_total", "Bytes of block write requests it issued, when completed",
     Domain::kIo, 1},
    {"neutracer_process_disk_reads_total", "Block read requests it issued, when completed", Domain::kIo, 1},
    {"neutracer_process_disk_writes_total", "Block write requests it issued, when completed", Domain::kIo, 1},
    {"neutracer_process_syscalls_total", "Syscalls its threads made, when they returned", Domain::kSyscalls, 1},
    {"neutracer_process_syscall_errors_total", "Syscalls that returned an errno", Domain::kSyscalls, 1},
    {"neutracer_process_syscall_seconds_total", "Time its threads spent in syscalls, entry to exit", Domain::kSyscalls,
     1e-9},
    {"neutracer_process_minor_faults_total", "Page faults served without I/O, since the tracer saw the process",
     Domain::kMemory, 1},
    {"neutracer_process_major_faults_total", "Page faults that read from disk, since the tracer saw the process",
     Domain::kMemory, 1},
};
static_assert(kProcessFamilies[kProcessCounterCount - 1].name != nullptr, "every process counter has a family");

bool runs(const MetricDomains& domains, Domain domain) {
  switch (domain) {
    case Domain::kNet: return domains.net;
    case Domain::kCpu: return domains.cpu;
    case Domain::kIo: return domains.io;
    case Domain::kSyscalls: return domains.syscalls;
    case Domain::kMemory: return domains.memory;
  }
  return false;
}

std::vector<ClientMetric::Label> member_labels(const model::ProcessKey& key, const ProcessLabels& l) {
  return {{"comm", l.comm},
          {"container", l.container},
          {"job", l.job},
          {"pid", std::to_string(key.tgid)},
          {"start_time", std::to_string(key.start_ns)}};
}

// Label values are text: kernel bytes that are not printable ASCII become '?'.
std::string label_text(const std::string& raw) {
  std::string out = raw;
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
  return out;
}

}  // namespace

std::vector<MetricFamily> render_metrics(const MetricsView& view) {
  std::vector<MetricFamily> families;
  if (view.processes) {
    for (size_t i = 0; i < kProcessCounterCount; ++i) {
      const auto& spec = kProcessFamilies[i];
      if (!runs(view.domains, spec.domain)) continue;
      MetricFamily family{spec.name, spec.help, MetricType::Counter, {}};
      for (const auto& [key, member] : view.processes->members()) {
        ProcessLabels labels{label_text(member.labels.comm), member.labels.container, member.labels.job};
        family.metric.push_back(metric(member_labels(key, labels), static_cast<double>(member.series()[i]) * spec.scale,
                                       MetricType::Counter));
      }
      family.metric.push_back(metric({{"comm", "other"}}, static_cast<double>(view.processes->other()[i]) * spec.scale,
                                     MetricType::Counter));
      families.push_back(std::move(family));
    }
  }
  if (view.devices) {
    const std::pair<const char*, uint64_t model::DeviceCounters::*> device_counters[] = {
        {"neutracer_device_sent_bytes_total", &model::DeviceCounters::tx_bytes},
        {"neutracer_device_received_bytes_total", &model::DeviceCounters::rx_bytes},
        {"neutracer_device_sent_packets_total", &model::DeviceCounters::tx_packets},
        {"neutracer_device_received_packets_total", &model::DeviceCounters::rx_packets},
    };
    for (const auto& [name, field] : device_counters) {
      MetricFamily family{name, "The device's own statistics (rtnetlink)", MetricType::Counter, {}};
      for (const auto& d : *view.devices)
        family.metric.push_back(metric({{"netns", std::to_string(d.key.netns)}, {"ifname", d.ifname}},
                                       static_cast<double>(d.counters.*field), MetricType::Counter));
      families.push_back(std::move(family));
    }
    MetricFamily drops{"neutracer_device_dropped_packets_total", "Packets the device dropped (rx + tx)",
                       MetricType::Counter, {}};
    for (const auto& d : *view.devices)
      drops.metric.push_back(metric({{"netns", std::to_string(d.key.netns)}, {"ifname", d.ifname}},
                                    static_cast<double>(d.drops), MetricType::Counter));
    families.push_back(std::move(drops));
  }
  if (view.losses) {
    MetricFamily family{"neutracer_lost_total", "Data the tracer could not keep, by reason", MetricType::Counter, {}};
    for (size_t i = 0; i < view.losses->size(); ++i)
      family.metric.push_back(metric({{"reason", std::string(model::kLossNames[i])}},
                                     static_cast<double>((*view.losses)[i]), MetricType::Counter));
    families.push_back(std::move(family));
  }
  if (view.anomalies) {
    MetricFamily family{"neutracer_anomalies_total", "Anomalies raised, by detector", MetricType::Counter, {}};
    for (const auto& [detector, count] : *view.anomalies)
      family.metric.push_back(metric({{"detector", detector}}, static_cast<double>(count), MetricType::Counter));
    families.push_back(std::move(family));
    MetricFamily series{"neutracer_anomaly_series", "Series the anomaly detectors watch", MetricType::Gauge, {}};
    series.metric.push_back(metric({}, static_cast<double>(view.anomaly_series), MetricType::Gauge));
    families.push_back(std::move(series));
  }
  if (view.programs) {
    MetricFamily runs{"neutracer_bpf_program_runs_total", "Times each BPF program ran (while stats are enabled)",
                      MetricType::Counter, {}};
    MetricFamily time{"neutracer_bpf_program_run_seconds_total", "Time spent in each BPF program",
                      MetricType::Counter, {}};
    MetricFamily misses{"neutracer_bpf_program_recursion_misses_total",
                        "Runs of each BPF program skipped because another was running", MetricType::Counter, {}};
    for (const auto& p : *view.programs) {
      runs.metric.push_back(metric({{"program", p.name}}, static_cast<double>(p.run_count), MetricType::Counter));
      time.metric.push_back(metric({{"program", p.name}}, static_cast<double>(p.run_time_ns) / 1e9, MetricType::Counter));
      misses.metric.push_back(
          metric({{"program", p.name}}, static_cast<double>(p.recursion_misses), MetricType::Counter));
    }
    families.push_back(std::move(runs));
    families.push_back(std::move(time));
    families.push_back(std::move(misses));
  }
  if (view.features) {
    MetricFamily family{"neutracer_feature_available",
                        "Whether a collector feature runs (1) or the kernel refused it (0); see `neutracer doctor`",
                        MetricType::Gauge, {}};
    for (const auto& f : *view.features)
      family.metric.push_back(metric({{"feature", f.name}, {"via", f.via}}, f.available ? 1 : 0, MetricType::Gauge));
    families.push_back(std::move(family));
  }
  families.push_back({"neutracer_agent_cpu_seconds_total", "CPU time of the agent itself", MetricType::Counter,
                      {metric({}, view.agent_cpu_seconds, MetricType::Counter)}});
  families.push_back({"neutracer_agent_resident_memory_bytes", "Resident memory of the agent itself",
                      MetricType::Gauge, {metric({}, static_cast<double>(view.agent_rss_bytes), MetricType::Gauge)}});
  families.push_back({"neutracer_process_series_limit", "Processes that keep series of their own (the rest: other)",
                      MetricType::Gauge, {metric({}, static_cast<double>(view.series_limit), MetricType::Gauge)}});
  return families;
}

double self_cpu_seconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

uint64_t self_rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

}  // namespace nt::output
