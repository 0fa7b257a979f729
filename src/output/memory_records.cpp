#include "output/memory_records.h"

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
  nlohmann::ordered_json record = {{"type", "memory"},
                                   {"v", kSchemaVersion},
                                   {"ts", ts},
                                   {"pid", p.key.tgid},
                                   {"start_time", p.key.start_ns},
                                   {"netns", p.key.netns},
                                   {"comm", p.comm}};
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
  nlohmann::ordered_json record = {{"type", "oom_kill"},
                                   {"v", kSchemaVersion},
                                   {"ts", static_cast<double>(kill.monotonic_ns) / 1e9 + to_unix},
                                   {"pid", kill.victim.tgid},
                                   {"start_time", kill.victim.start_ns},
                                   {"netns", kill.victim.netns},
                                   {"comm", kill.victim_comm}};
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

}  // namespace nt::output
