// The HTTP API's queries, parsed and bounded before any of them reaches the database. Pure: no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace nt::server {

enum class QueryKind {
  kHosts,        // GET /api/v1/hosts: every host, its identity, freshness, batches and what it lost
  kProcesses,    // GET /api/v1/processes: top processes over [from, to] by `sort`, with their totals
  kSeries,       // GET /api/v1/series: one process's per-interval values of `counter` over [from, to]
  kFlows,        // GET /api/v1/flows: top flows over [from, to]
  kMatrix,       // GET /api/v1/matrix: bytes between hosts (level=host) or processes (level=process)
  kConnections,  // GET /api/v1/connections: closed TCP connections and their health
  kLosses,       // GET /api/v1/losses: every host's loss counters, by reason
  kAnomalies,    // GET /api/v1/anomalies: what the agents' detectors raised
  kJobs,         // GET /api/v1/jobs
  kJob,          // GET /api/v1/job: one job across its hosts: each rank's step, lateness and shares
  kDetect,       // GET /api/v1/detect: the agent's detectors run here over one process's stored series
};

struct Query {
  QueryKind kind = QueryKind::kHosts;
  std::optional<std::string> host;     // machine id
  std::optional<int64_t> process;      // the id the API gave the process
  std::optional<std::string> job;      // a job's name (as the agents give it)
  double from = 0, to = 0;             // unix seconds; default: the last hour
  size_t limit = 20;                   // 1..1000
  std::string sort = "tx_bytes";       // a counter name (model/process_counters.h)
  std::string counter = "tx_bytes";
  std::string level = "host";          // matrix: host or process
  double now = 0;                      // when it was asked: hosts' freshness is measured from it
};

// Bounds every query keeps to.
inline constexpr size_t kMaxLimit = 1000;
inline constexpr double kMaxRangeSeconds = 31 * 86400.0;

// The kind a request path names (/api/v1/hosts, ...); none for any other path.
std::optional<QueryKind> query_kind(std::string_view path);

// `path` is the request's path; `params` its decoded query parameters. `now` in unix seconds.
Result<Query> parse_query(std::string_view path, const std::multimap<std::string, std::string>& params, double now);
// The raw form (what the fuzzer feeds): "PATH?k=v&k=v", percent-decoded here.
Result<Query> parse_query_string(std::string_view target, double now);

}  // namespace nt::server
