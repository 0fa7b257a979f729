#include "agent/replay.h"

#include <fstream>

#include "detect/watch.h"
#include "output/json_lines.h"

namespace nt::agent {

Result<int> run_replay(const std::string& input, const std::string& output) {
  std::ifstream in(input);
  if (!in) return errno_error("cannot read " + input, errno);
  auto sink = output::JsonLinesSink::open(output);
  if (!sink) return sink.error();
  std::optional<anomaly::Watch> watch;
  // One record: a field of the wrong type (a hand-edited or foreign file) is an error of its line.
  auto replay_record = [&](const nlohmann::ordered_json& record, const std::string& where) -> Status {
    const std::string type = record.value("type", "");
    if (type == "start") {
      if (!record.contains("detect"))
        return Error{input + " was recorded without anomaly detection (trace, or record --no-detect)"};
      anomaly::WatchOptions options;
      options.warmup_intervals = record["detect"].value("warmup_intervals", options.warmup_intervals);
      watch.emplace(options);
    } else if (!watch) {
      return Error{where + ": no start record before it (not a neutracer recording)"};
    } else if (type == "process" || type == "flow" || type == "device" || type == "conn" || type == "sched" ||
               type == "disk") {
      if (auto observation = anomaly::observe(record)) watch->add(std::move(*observation));
    } else if (type == "loss") {  // the last record of every interval
      for (const auto& anomaly : watch->close_interval(record.value("ts", 0.0)))
        if (auto ok = sink.value().write(output::anomaly_record(anomaly)); !ok) return ok;
    }
    return {};
  };
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    if (line.empty()) continue;
    const std::string where = input + ":" + std::to_string(number);
    auto record = nlohmann::ordered_json::parse(line, nullptr, false);
    if (record.is_discarded() || !record.is_object()) return Error{where + ": not a JSON object"};
    Status replayed;
    try {
      replayed = replay_record(record, where);
    } catch (const nlohmann::json::exception& e) {
      return Error{where + ": a field of the wrong type (" + e.what() + ")"};
    }
    if (!replayed) return replayed.error();
  }
  if (!watch) return Error{input + ": no start record (not a neutracer recording)"};
  if (auto ok = sink.value().flush(); !ok) return ok.error();
  return 0;
}

}  // namespace nt::agent
