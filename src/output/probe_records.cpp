#include "output/probe_records.h"

#include <set>

#include "output/json_lines.h"
#include "output/memory_records.h"

namespace nt::output {
namespace {

bool in_set(const model::ProbeTable& table, uint32_t index, std::initializer_list<model::ProbeSet> sets) {
  if (index >= table.functions.size()) return false;
  for (auto set : sets)
    if (table.functions[index].set == set) return true;
  return false;
}

// calls, errors by code, time in the function and its log2 histogram (trailing empty slots left off).
nlohmann::ordered_json calls_json(const model::FunctionCalls& calls) {
  nlohmann::ordered_json codes = nlohmann::ordered_json::object();
  for (const auto& [code, count] : calls.codes) codes[std::to_string(code)] = count;
  size_t used = calls.latency.size();
  while (used > 0 && calls.latency[used - 1] == 0) --used;
  return {{"calls", calls.calls},
          {"returns", calls.returns},
          {"errors", calls.errors},
          {"codes", std::move(codes)},
          {"time_ns", calls.total_ns},
          {"latency_log2_ns", std::vector<uint64_t>(calls.latency.begin(), calls.latency.begin() + used)}};
}

nlohmann::ordered_json dims(const std::array<uint32_t, 3>& d) { return {d[0], d[1], d[2]}; }

}  // namespace

std::vector<nlohmann::ordered_json> probe_records(const model::ProcessProbes& process, const model::ProbeTable& table,
                                                  double ts) {
  std::vector<nlohmann::ordered_json> records;
  for (const auto& [index, calls] : process.functions) {
    if (!in_set(table, index, {model::ProbeSet::kProbe, model::ProbeSet::kUsdt})) continue;
    if (calls.calls == calls.calls_at_interval_start && !(process.exited && !process.exit_shown)) continue;
    const auto& function = table.functions[index];
    auto record = process_record_head("probe", ts, process.key, process.comm);
    record["library"] = function.library;
    record["function"] = function.name;
    record["usdt"] = function.set == model::ProbeSet::kUsdt;
    record.update(calls_json(calls));
    record["exited"] = process.exited;
    records.push_back(std::move(record));
  }
  return records;
}

nlohmann::ordered_json collectives_json(const model::ProcessProbes& process, const model::ProbeTable& table) {
  nlohmann::ordered_json nccl = nlohmann::ordered_json::object();
  for (const auto& [index, calls] : process.functions) {
    if (!in_set(table, index, {model::ProbeSet::kNccl})) continue;
    const auto& name = table.functions[index].name;
    auto entry = calls_json(calls);
    if (auto counted = process.collectives.find(name); counted != process.collectives.end())
      entry["bytes"] = counted->second.bytes;
    nccl[name] = std::move(entry);
  }
  return nccl;
}

bool cuda_record_due(const model::ProcessProbes& process, const model::ProbeTable& table) {
  if (process.cuda.old_bytes() != process.cuda.old_bytes_at_interval_start) return true;
  for (const auto& [index, calls] : process.functions)
    if (in_set(table, index, {model::ProbeSet::kCuda, model::ProbeSet::kNccl}) &&
        (calls.calls != calls.calls_at_interval_start || (process.exited && !process.exit_shown)))
      return true;
  return false;
}

nlohmann::ordered_json cuda_record(const model::ProcessProbes& process, const model::ProbeTable& table, double ts) {
  nlohmann::ordered_json apis = nlohmann::ordered_json::object();
  std::set<std::string> libraries;
  for (const auto& [index, calls] : process.functions) {
    if (!in_set(table, index, {model::ProbeSet::kCuda, model::ProbeSet::kNccl})) continue;
    const auto& function = table.functions[index];
    libraries.insert(function.library);
    if (function.set == model::ProbeSet::kCuda) apis[function.name] = calls_json(calls);
  }
  nlohmann::ordered_json kernels = nlohmann::ordered_json::array();
  for (const auto& [name, launched] : process.cuda.kernels) {
    nlohmann::ordered_json streams = nlohmann::ordered_json::object();
    for (const auto& [stream, count] : launched.streams) {
      char hex[24];
      std::snprintf(hex, sizeof(hex), "0x%llx", static_cast<unsigned long long>(stream));
      streams[hex] = count;
    }
    kernels.push_back({{"name", name},
                       {"launches", launched.launches},
                       {"failed", launched.failed},
                       {"grid", dims(launched.grid)},
                       {"block", dims(launched.block)},
                       {"streams", std::move(streams)}});
  }
  nlohmann::ordered_json copies = nlohmann::ordered_json::array();
  for (bool async : {false, true})
    for (size_t kind = 0; kind < model::kCopyKinds; ++kind) {
      const auto& counts = (async ? process.cuda.async_copies : process.cuda.copies)[kind];
      if (counts.calls == 0) continue;
      copies.push_back({{"kind", model::copy_kind_name(kind)},
                        {"async", async},
                        {"calls", counts.calls},
                        {"failed", counts.failed},
                        {"bytes", counts.bytes}});
    }
  nlohmann::ordered_json old = nlohmann::ordered_json::array();
  for (const auto& stack : process.cuda.old_allocations)
    old.push_back({{"blocks", stack.blocks},
                   {"bytes", stack.bytes},
                   {"oldest_age_s", static_cast<double>(stack.oldest_age_ns) / 1e9},
                   {"frames", frames_json(stack.frames)}});
  const auto& cuda = process.cuda;
  auto record = process_record_head("cuda", ts, process.key, process.comm);
  record["libraries"] = std::vector<std::string>(libraries.begin(), libraries.end());
  record["apis"] = std::move(apis);
  record["kernels"] = std::move(kernels);
  record["device_memory"] = {{"live_bytes", cuda.live_bytes},       {"live_blocks", cuda.live_blocks},
                             {"high_water_bytes", cuda.high_water_bytes}, {"allocations", cuda.allocations},
                             {"frees", cuda.frees},                 {"unknown_frees", cuda.unknown_frees},
                             {"old_allocations", std::move(old)}};
  // An async copy returns once it is queued: its time is the enqueue's, not the transfer's.
  record["copies"] = std::move(copies);
  record["nccl"] = collectives_json(process, table);
  record["exited"] = process.exited;
  return record;
}

}  // namespace nt::output
