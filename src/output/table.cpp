#include "output/table.h"

#include "output/live_view.h"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace nt::output {
namespace {

std::string human_bytes(uint64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) {
    value /= 1024;
    ++unit;
  }
  char text[32];
  if (unit == 0)
    std::snprintf(text, sizeof(text), "%llu B", static_cast<unsigned long long>(bytes));
  else
    std::snprintf(text, sizeof(text), "%.1f %s", value, kUnits[unit]);
  return text;
}

}  // namespace

std::string render_process_table(const model::ProcessTable& table) {
  std::vector<const model::ProcessTraffic*> rows;
  for (const auto& [key, process] : table.processes()) rows.push_back(&process);
  std::stable_sort(rows.begin(), rows.end(), [](const auto* a, const auto* b) {
    return a->total.tx_bytes + a->total.rx_bytes > b->total.tx_bytes + b->total.rx_bytes;
  });
  std::string out;
  char line[160];
  std::snprintf(line, sizeof(line), "%8s %-16s %10s %12s %12s %10s %10s\n", "PID", "COMM", "NETNS", "TX", "RX",
                "TX_CALLS", "RX_CALLS");
  out += line;
  for (const auto* p : rows) {
    std::snprintf(line, sizeof(line), "%8u %-16s %10u %12s %12s %10llu %10llu\n", p->key.tgid,
                  printable(p->comm).c_str(), p->key.netns, human_bytes(p->total.tx_bytes).c_str(),
                  human_bytes(p->total.rx_bytes).c_str(), static_cast<unsigned long long>(p->total.tx_calls),
                  static_cast<unsigned long long>(p->total.rx_calls));
    out += line;
  }
  return out;
}

}  // namespace nt::output
