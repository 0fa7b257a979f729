#include "output/block_io_records.h"

#include "output/json_lines.h"

namespace nt::output {
namespace {

// Cumulative requests and bytes by kind, and the summed latencies: "read": {"ops", "bytes"}, ...
void add_totals(nlohmann::ordered_json& record, const model::IoCounters& total) {
  for (size_t i = 0; i < total.by_kind.size(); ++i)
    record[model::kIoKindNames[i]] = {{"ops", total.by_kind[i].ops}, {"bytes", total.by_kind[i].bytes}};
  record["queue_ms"] = static_cast<double>(total.queue_ns) / 1e6;
  record["device_ms"] = static_cast<double>(total.device_ns) / 1e6;
}

}  // namespace

nlohmann::ordered_json io_record(const model::ProcessIo& process, double ts) {
  const auto delta = process.total - process.at_interval_start;
  auto record = process_record_head("io", ts, process.key, process.comm);
  record["kernel_thread"] = process.kernel_thread;
  add_totals(record, process.total);
  record["p50_us"] = model::quantile_upper_us(delta.device_hist, 0.5);
  record["p99_us"] = model::quantile_upper_us(delta.device_hist, 0.99);
  record["exited"] = process.exited;
  return record;
}

nlohmann::ordered_json disk_record(const model::DeviceIo& device, double ts) {
  const auto delta = device.total - device.at_interval_start;
  nlohmann::ordered_json record = {{"type", "disk"},
                                   {"v", kSchemaVersion},
                                   {"ts", ts},
                                   {"device", device.name},
                                   {"major", device.device.major},
                                   {"minor", device.device.minor}};
  add_totals(record, device.total);
  record["queue_hist"] = delta.queue_hist;
  record["device_hist"] = delta.device_hist;
  record["unattributed"] = {{"ops", device.unattributed.ops}, {"bytes", device.unattributed.bytes}};
  if (const uint64_t ops = model::ops_of(delta)) {  // absent when no request finished in the interval
    record["queue_wait_us_mean"] = static_cast<double>(delta.queue_ns) / 1e3 / static_cast<double>(ops);
    record["device_wait_us_mean"] = static_cast<double>(delta.device_ns) / 1e3 / static_cast<double>(ops);
  }
  return record;
}

bool io_record_due(const model::ProcessIo& process) {
  return !(process.total == process.at_interval_start) || (process.exited && !process.exit_shown);
}

bool disk_record_due(const model::DeviceIo& device) { return !(device.total == device.at_interval_start); }

}  // namespace nt::output
