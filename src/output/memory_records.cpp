#include "output/memory_records.h"

#include <cstdio>

#include "output/json_lines.h"

namespace nt::output {
namespace {

nlohmann::ordered_json rss_json(const model::RssBytes& rss) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (size_t i = 0; i < rss.size(); ++i) out[model::kRssKindNames[i]] = rss[i];
  return out;
}

}  // namespace

bool memory_record_due(const model::ProcessMemory& p) {
  return p.rss != p.rss_at_interval_start || p.min_faults != p.min_faults_at_interval_start ||
         p.maj_faults != p.maj_faults_at_interval_start || (p.exited && !p.exit_shown);
}

nlohmann::ordered_json memory_record(const model::ProcessMemory& p, double ts) {
  auto record = process_record_head("memory", ts, p.key, p.comm);
  if (p.rss_known) {
    record["rss"] = rss_json(p.rss);
    record["rss_bytes"] = model::resident_bytes(p.rss);
    record["rss_growth_bytes"] =
        static_cast<int64_t>(model::resident_bytes(p.rss)) - static_cast<int64_t>(model::resident_bytes(p.rss_at_interval_start));
    record["peak_rss_bytes"] = p.peak_rss_bytes;
  }
  if (!p.cgroup.empty()) record["cgroup"] = p.cgroup;
  record["minflt"] = p.min_faults;
  record["majflt"] = p.maj_faults;
  record["exited"] = p.exited;
  return record;
}

nlohmann::ordered_json oom_record(const model::OomKill& kill, double to_unix) {
  auto record =
      process_record_head("oom_kill", static_cast<double>(kill.monotonic_ns) / 1e9 + to_unix, kill.victim, kill.victim_comm);
  if (model::resident_bytes(kill.victim_rss) > 0) {
    record["rss"] = rss_json(kill.victim_rss);
    record["rss_bytes"] = model::resident_bytes(kill.victim_rss);
    record["total_vm_bytes"] = kill.total_vm_bytes;
    record["oom_score_adj"] = kill.oom_score_adj;
  }
  record["cgroup"] = kill.cgroup;
  record["cgroup_id"] = kill.memcg_id;
  record["trigger"] = {{"pid", kill.trigger_tgid}, {"comm", kill.trigger_comm}};
  return record;
}

nlohmann::ordered_json pressure_record(const std::string& cgroup, const model::MemoryPressure& pressure, double ts) {
  return {{"type", "memory_pressure"},        {"v", kSchemaVersion},
          {"ts", ts},                         {"cgroup", cgroup},
          {"some_avg10", pressure.some_avg10}, {"full_avg10", pressure.full_avg10},
          {"some_total_us", pressure.some_total_us}, {"full_total_us", pressure.full_total_us}};
}

bool heap_record_due(const model::ProcessHeap& p) {
  return p.allocations != p.allocations_at_interval_start || p.frees != p.frees_at_interval_start ||
         p.reported_bytes() != p.reported_bytes_at_interval_start || (p.exited && !p.exit_shown);
}

nlohmann::ordered_json frames_json(const std::vector<model::HeapFrame>& frames) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& frame : frames) {
    char address[24];
    std::snprintf(address, sizeof(address), "0x%llx", static_cast<unsigned long long>(frame.address));
    nlohmann::ordered_json f = {{"addr", address}, {"symbol", frame.symbol}, {"module", frame.module}};
    if (!frame.source.empty()) f["source"] = frame.source;
    out.push_back(std::move(f));
  }
  return out;
}

nlohmann::ordered_json heap_record(const model::ProcessHeap& p, const model::HeapTable& table, double ts) {
  nlohmann::ordered_json stacks = nlohmann::ordered_json::array();
  for (const auto& stack : p.stacks)
    stacks.push_back({{"blocks", stack.blocks},
                      {"bytes", stack.bytes},
                      {"oldest_age_s", static_cast<double>(stack.oldest_age_ns) / 1e9},
                      {"frames", frames_json(stack.frames)}});
  auto record = process_record_head("heap", ts, p.key, p.comm);
  record.update({{"sample_every", table.sample_every},
                 {"allocations", p.allocations},
                 {"sampled", p.sampled},
                 {"frees", p.frees},
                 {"outstanding_blocks", p.outstanding_blocks},
                 {"outstanding_bytes", p.outstanding_bytes},
                 {"min_age_s", static_cast<double>(table.min_age_ns) / 1e9},
                 {"stacks", std::move(stacks)},
                 {"stacks_omitted", p.stacks_omitted},
                 {"exited", p.exited}});
  return record;
}

}  // namespace nt::output
