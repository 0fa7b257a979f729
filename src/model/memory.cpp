#include "model/memory.h"

#include <cstdio>

namespace nt::model {

std::optional<MemoryPressure> parse_pressure(std::string_view text) {
  MemoryPressure pressure;  // a file with no "full" line (some kernels' root) reads 0 there
  bool some = false;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    const std::string line(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view{} : text.substr(end + 1);
    char kind[8] = {};
    double avg10 = 0, avg60 = 0, avg300 = 0;
    unsigned long long total = 0;
    if (std::sscanf(line.c_str(), "%7s avg10=%lf avg60=%lf avg300=%lf total=%llu", kind, &avg10, &avg60, &avg300,
                    &total) != 5)
      continue;
    if (std::string_view(kind) == "some") {
      pressure.some_avg10 = avg10;
      pressure.some_total_us = total;
      some = true;
    } else if (std::string_view(kind) == "full") {
      pressure.full_avg10 = avg10;
      pressure.full_total_us = total;
    }
  }
  if (!some) return std::nullopt;
  return pressure;
}

ProcessMemory& MemoryTable::process(const ProcessKey& key) {
  auto [it, inserted] = processes_.try_emplace(key);
  if (inserted) it->second.key = key;
  return it->second;
}

void MemoryTable::mark_exited(const ProcessKey& key) {
  if (auto it = processes_.find(key); it != processes_.end()) it->second.exited = true;
}

void MemoryTable::start_interval() {
  for (auto& [key, p] : processes_) {
    p.rss_at_interval_start = p.rss;
    p.min_faults_at_interval_start = p.min_faults;
    p.maj_faults_at_interval_start = p.maj_faults;
    p.exit_shown = p.exited;
  }
  oom_kills_.clear();
}

}  // namespace nt::model
