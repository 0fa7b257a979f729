// The server's storage: one SQLite file (WAL), written by one thread in batched transactions, read
// by the HTTP API through connections of its own. Schema and migrations: docs/server.md.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "neutracer/v1/ingest.pb.h"
#include "server/query.h"

namespace nt::server {

struct StoreOptions {
  std::string path = "neutracer.db";      // a file: readers open it by name
  double retention_s = 7 * 86400.0;        // samples, flows' samples, connections, anomalies older: deleted
  double downsample_after_s = 3600.0;      // per-interval samples older: summed into one per minute
};

enum class IngestOutcome { kStored, kDuplicate };

// A rank or a link of a training job that departs from its peers (server/job_watch.h), as stored:
// one row per episode, and an anomaly row (kind "job") on the host of the rank it names.
struct JobFinding {
  std::string job, kind, subject, metric;  // kind: straggler | slow_link
  int rank = -1, from_rank = -1, to_rank = -1;  // -1 where it does not apply
  std::string host;                              // the machine of the rank it names (a link: the receiver)
  int64_t process = 0;                           // that rank's process row (0: unknown)
  uint32_t tgid = 0, netns = 0;
  uint64_t start_ns = 0;
  double value = 0, peers_median = 0, score = 0;
  double since = 0, ts = 0;  // the first departing look, and when it was named
};

class Store {
 public:
  static Result<std::unique_ptr<Store>> open(const StoreOptions& options);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Stores validated batches in one transaction, committed (durable: synchronous=FULL) before it
  // returns. A batch whose (host, agent run, seq) is stored already is a duplicate: it changes nothing but
  // its host's count of duplicates.
  // Writer side: one caller at a time.
  Result<std::vector<IngestOutcome>> ingest(const std::vector<const neutracer::v1::Batch*>& batches);
  // Retention and downsampling, as of `now` (unix seconds).
  Status maintain(double now);
  // A finding named now (returns its id), and the end of its episode. Writer thread only.
  Result<int64_t> record_job_finding(const JobFinding& finding);
  Status end_job_finding(int64_t id, double ended);
  uint64_t size_bytes() const;  // the database file and its WAL

  // Reader side: answers for the HTTP API, each a JSON document (docs/openapi.yaml). Safe from many
  // threads at once (each thread reads through a connection of its own).
  Result<nlohmann::json> answer(const Query& query) const;

 private:
  explicit Store(StoreOptions options);
  StoreOptions options_;
  struct Writer;   // the one read-write connection and its prepared statements
  struct Readers;  // read-only connections, one lent to each answering thread at a time
  std::unique_ptr<Writer> writer_;
  std::unique_ptr<Readers> readers_;
};

}  // namespace nt::server
