#include "server/store.h"

#include <arpa/inet.h>
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <tuple>

#include "detect/detector.h"
#include "detect/participation.h"
#include "detect/watch.h"
#include "model/process_counters.h"

namespace nt::server {
namespace {

using neutracer::v1::Batch;
using Json = nlohmann::json;
constexpr size_t kCounters = model::kProcessCounterCount;

// ---- SQLite owners -------------------------------------------------------------------------

struct CloseDatabase {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
using Database = std::unique_ptr<sqlite3, CloseDatabase>;

// SQL in one line and short, for an error message.
std::string describe(std::string_view sql) {
  std::string out;
  for (char c : sql) {
    if (out.size() >= 60) return out + "...";
    const bool space = c == ' ' || c == '\n' || c == '\t';
    if (!space || (!out.empty() && out.back() != ' ')) out += space ? ' ' : c;
  }
  return out;
}

Error sqlite_error(sqlite3* db, std::string_view doing) {
  return Error{"sqlite: " + std::string(sqlite3_errmsg(db)) + " (" + std::string(doing) + ")"};
}

// Statements and pragmas that carry no values (schema, transactions).
Status execute(sqlite3* db, const std::string& sql) {
  if (sqlite3_exec(db, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) return sqlite_error(db, describe(sql));
  return {};
}

// SQLite's integers are signed: the few counters beyond 2^63 (none in practice) are held at the top.
int64_t sql_integer(uint64_t value) {
  return static_cast<int64_t>(std::min<uint64_t>(value, std::numeric_limits<int64_t>::max()));
}
uint64_t from_sql(int64_t value) { return value < 0 ? 0 : static_cast<uint64_t>(value); }

struct Blob {
  std::string_view bytes;
};

// One prepared statement. Values are only ever bound, never written into SQL text; identifiers
// in SQL text come from this file's constants (counter names) alone.
class Statement {
 public:
  Statement() = default;

  static Result<Statement> prepare(sqlite3* db, const std::string& sql) {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), static_cast<int>(sql.size() + 1), &raw, nullptr) != SQLITE_OK)
      return sqlite_error(db, "preparing " + describe(sql));
    Statement statement;
    statement.statement_.reset(raw);
    return statement;
  }

  // Starts afresh (reset, no bindings) and binds the arguments to ?1, ?2, ...
  template <class... Args>
  Statement& bind(const Args&... args) {
    start();
    [[maybe_unused]] int index = 0;
    (set(++index, args), ...);
    return *this;
  }
  Statement& start() {
    sqlite3_reset(statement_.get());
    sqlite3_clear_bindings(statement_.get());
    bind_failed_ = false;
    return *this;
  }

  void set(int index, int64_t value) { check(sqlite3_bind_int64(statement_.get(), index, value)); }
  void set(int index, uint64_t value) { set(index, sql_integer(value)); }
  void set(int index, int32_t value) { set(index, static_cast<int64_t>(value)); }
  void set(int index, uint32_t value) { set(index, static_cast<int64_t>(value)); }
  void set(int index, bool value) { set(index, static_cast<int64_t>(value)); }
  void set(int index, double value) { check(sqlite3_bind_double(statement_.get(), index, value)); }
  void set(int index, std::string_view text) {
    check(sqlite3_bind_text64(statement_.get(), index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  }
  void set(int index, const std::string& text) { set(index, std::string_view(text)); }
  void set(int index, const char* text) { set(index, std::string_view(text)); }
  void set(int index, Blob blob) {
    check(sqlite3_bind_blob64(statement_.get(), index, blob.bytes.data(), blob.bytes.size(), SQLITE_TRANSIENT));
  }
  void set(int, std::nullopt_t) {}  // unbound parameters are NULL
  template <class T>
  void set(int index, const std::optional<T>& value) {
    if (value) set(index, *value);
  }

  // True while a row is ready.
  Result<bool> step() {
    sqlite3* db = sqlite3_db_handle(statement_.get());
    if (bind_failed_) return sqlite_error(db, "binding " + describe(sqlite3_sql(statement_.get())));
    const int rc = sqlite3_step(statement_.get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    return sqlite_error(db, describe(sqlite3_sql(statement_.get())));
  }
  Status run() {
    for (;;) {
      auto row = step();
      if (!row) return row.error();
      if (!*row) break;
    }
    sqlite3_reset(statement_.get());
    return {};
  }

  int64_t integer(int column) const { return sqlite3_column_int64(statement_.get(), column); }
  double real(int column) const { return sqlite3_column_double(statement_.get(), column); }
  bool null(int column) const { return sqlite3_column_type(statement_.get(), column) == SQLITE_NULL; }
  std::string bytes(int column) const {
    const void* data = sqlite3_column_blob(statement_.get(), column);
    const int size = sqlite3_column_bytes(statement_.get(), column);
    return data ? std::string(static_cast<const char*>(data), static_cast<size_t>(size)) : std::string();
  }

 private:
  void check(int rc) { bind_failed_ |= rc != SQLITE_OK; }
  struct Finalize {
    void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
  };
  std::unique_ptr<sqlite3_stmt, Finalize> statement_;
  bool bind_failed_ = false;
};

// Rolls back unless committed: an error anywhere in between leaves the database as it was.
class Transaction {
 public:
  static Result<Transaction> begin(sqlite3* db, const char* how) {
    if (auto s = execute(db, how); !s) return s.error();
    return Transaction(db);
  }
  Transaction(Transaction&& other) noexcept : db_(std::exchange(other.db_, nullptr)) {}
  Transaction& operator=(Transaction&&) = delete;
  ~Transaction() {
    if (db_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Status commit() { return execute(std::exchange(db_, nullptr), "COMMIT"); }

 private:
  explicit Transaction(sqlite3* db) : db_(db) {}
  sqlite3* db_;
};

Result<Database> open_database(const std::string& path, int flags) {
  sqlite3* raw = nullptr;
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  Database db(raw);
  if (rc != SQLITE_OK)
    return Error{"sqlite: cannot open " + path + ": " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc))};
  // Readers meet the writer's checkpoints and the writer meets readers' WAL recovery: a short wait,
  // not a failure.
  sqlite3_busy_timeout(raw, 5000);
  return db;
}

// ---- Schema --------------------------------------------------------------------------------

// The counters schema version 1 has columns for, and those version 3 added (syscalls, faults). A counter
// appended to model::ProcessCounter needs a migration adding its columns to processes and samples;
// this assertion is the reminder.
constexpr size_t kSchemaV1Counters = 17;
constexpr size_t kSchemaV3Counters = 22;
static_assert(kCounters == kSchemaV3Counters, "a new process counter needs a schema migration adding its columns");

// ", tx_bytes INTEGER NOT NULL DEFAULT 0, ..." with each name prefixed, for counters [first, last).
std::string counter_columns(std::string_view prefix, size_t first = 0, size_t last = kSchemaV1Counters) {
  std::string out;
  for (size_t i = first; i < last; ++i)
    out += ",\n  " + std::string(prefix) + std::string(model::kProcessCounterNames[i]) + " INTEGER NOT NULL DEFAULT 0";
  return out;
}

// The columns of counters [first, last) added to the tables that hold counters: processes (totals
// and the current run's), samples (the interval's and the totals).
std::string add_counter_columns(size_t first, size_t last) {
  std::string out;
  for (const auto& [table, prefixes] : {std::pair{"processes", std::array{"", "run_"}}, {"samples", {"", "total_"}}})
    for (const char* prefix : prefixes)
      for (size_t i = first; i < last; ++i)
        out += std::string("ALTER TABLE ") + table + " ADD COLUMN " + prefix +
               std::string(model::kProcessCounterNames[i]) + " INTEGER NOT NULL DEFAULT 0;\n";
  return out;
}

// Totals per host and per agent run: agents count from 0 again when they restart, so every
// cumulative figure an agent reports is kept per run and summed over runs.
std::string schema_v1() {
  return R"(
CREATE TABLE hosts (
  id INTEGER PRIMARY KEY,
  machine_id TEXT NOT NULL UNIQUE,
  hostname TEXT NOT NULL DEFAULT '',
  labels TEXT NOT NULL DEFAULT '{}',
  agent_version TEXT NOT NULL DEFAULT '',
  agent_start_unix_ns INTEGER NOT NULL DEFAULT 0,
  first_seen REAL NOT NULL,
  last_seen REAL NOT NULL,
  batches_stored INTEGER NOT NULL DEFAULT 0,
  samples_stored INTEGER NOT NULL DEFAULT 0,
  duplicates INTEGER NOT NULL DEFAULT 0,
  batches_dropped INTEGER NOT NULL DEFAULT 0,
  samples_dropped INTEGER NOT NULL DEFAULT 0,
  missing_batches INTEGER NOT NULL DEFAULT 0);
CREATE TABLE agent_runs (
  host_id INTEGER NOT NULL REFERENCES hosts(id),
  agent_start_unix_ns INTEGER NOT NULL,
  highest_seq INTEGER NOT NULL,
  batches_stored INTEGER NOT NULL,
  batches_dropped INTEGER NOT NULL,
  samples_dropped INTEGER NOT NULL,
  PRIMARY KEY (host_id, agent_start_unix_ns)) WITHOUT ROWID;
CREATE TABLE batches (
  host_id INTEGER NOT NULL REFERENCES hosts(id),
  agent_start_unix_ns INTEGER NOT NULL,
  seq INTEGER NOT NULL,
  ts REAL NOT NULL,
  PRIMARY KEY (host_id, agent_start_unix_ns, seq)) WITHOUT ROWID;
CREATE INDEX batches_by_ts ON batches(ts);
CREATE TABLE processes (
  id INTEGER PRIMARY KEY,
  host_id INTEGER NOT NULL REFERENCES hosts(id),
  tgid INTEGER NOT NULL,
  netns INTEGER NOT NULL,
  start_ns INTEGER NOT NULL,
  comm BLOB NOT NULL DEFAULT x'',
  cmdline BLOB NOT NULL DEFAULT x'',
  uid INTEGER,
  user BLOB NOT NULL DEFAULT x'',
  cgroup BLOB NOT NULL DEFAULT x'',
  container_id TEXT NOT NULL DEFAULT '',
  job TEXT NOT NULL DEFAULT '',
  rank INTEGER NOT NULL DEFAULT -1,
  local_rank INTEGER NOT NULL DEFAULT -1,
  world_size INTEGER NOT NULL DEFAULT -1,
  first_ts REAL NOT NULL,
  last_ts REAL NOT NULL,
  exited INTEGER NOT NULL DEFAULT 0,
  run_start_ns INTEGER NOT NULL DEFAULT 0)" +
         counter_columns("") + counter_columns("run_") + R"(,
  UNIQUE (host_id, tgid, netns, start_ns));
CREATE INDEX processes_by_last_ts ON processes(last_ts);
CREATE TABLE samples (
  process_id INTEGER NOT NULL REFERENCES processes(id),
  ts REAL NOT NULL,
  interval_s REAL NOT NULL,
  resolution_s REAL NOT NULL DEFAULT 0)" +
         counter_columns("") + counter_columns("total_") + R"();
CREATE INDEX samples_by_process ON samples(process_id, ts);
CREATE INDEX samples_by_ts ON samples(ts);
CREATE TABLE flows (
  id INTEGER PRIMARY KEY,
  host_id INTEGER NOT NULL REFERENCES hosts(id),
  process_id INTEGER NOT NULL REFERENCES processes(id),
  netns INTEGER NOT NULL,
  protocol INTEGER NOT NULL,
  local_addr BLOB NOT NULL,
  local_port INTEGER NOT NULL,
  remote_addr BLOB NOT NULL,
  remote_port INTEGER NOT NULL,
  first_ts REAL NOT NULL,
  last_ts REAL NOT NULL,
  retired INTEGER NOT NULL DEFAULT 0,
  srtt_us INTEGER NOT NULL DEFAULT 0,
  run_start_ns INTEGER NOT NULL DEFAULT 0,
  run_tx_bytes INTEGER NOT NULL DEFAULT 0,
  run_rx_bytes INTEGER NOT NULL DEFAULT 0,
  run_retransmits INTEGER NOT NULL DEFAULT 0,
  tx_bytes INTEGER NOT NULL DEFAULT 0,
  rx_bytes INTEGER NOT NULL DEFAULT 0,
  retransmits INTEGER NOT NULL DEFAULT 0,
  UNIQUE (process_id, protocol, local_addr, local_port, remote_addr, remote_port));
CREATE INDEX flows_by_local_end ON flows(protocol, local_addr, local_port);
CREATE TABLE flow_samples (
  flow_id INTEGER NOT NULL REFERENCES flows(id),
  ts REAL NOT NULL,
  interval_s REAL NOT NULL,
  tx_bytes INTEGER NOT NULL,
  rx_bytes INTEGER NOT NULL,
  retransmits INTEGER NOT NULL,
  srtt_us INTEGER NOT NULL,
  total_tx_bytes INTEGER NOT NULL,
  total_rx_bytes INTEGER NOT NULL,
  total_retransmits INTEGER NOT NULL);
CREATE INDEX flow_samples_by_flow ON flow_samples(flow_id, ts);
CREATE INDEX flow_samples_by_ts ON flow_samples(ts);
CREATE TABLE devices (
  host_id INTEGER NOT NULL REFERENCES hosts(id),
  netns INTEGER NOT NULL,
  ifindex INTEGER NOT NULL,
  name BLOB NOT NULL,
  tx_bytes INTEGER NOT NULL,
  rx_bytes INTEGER NOT NULL,
  tx_packets INTEGER NOT NULL,
  rx_packets INTEGER NOT NULL,
  drops INTEGER NOT NULL,
  last_ts REAL NOT NULL,
  PRIMARY KEY (host_id, netns, ifindex)) WITHOUT ROWID;
CREATE TABLE connections (
  id INTEGER PRIMARY KEY,
  host_id INTEGER NOT NULL REFERENCES hosts(id),
  process_id INTEGER REFERENCES processes(id),
  close_unix_ns INTEGER NOT NULL,
  comm BLOB NOT NULL,
  local_addr BLOB NOT NULL,
  local_port INTEGER NOT NULL,
  remote_addr BLOB NOT NULL,
  remote_port INTEGER NOT NULL,
  active INTEGER NOT NULL,
  duration_ns INTEGER NOT NULL,
  tx_bytes INTEGER NOT NULL,
  rx_bytes INTEGER NOT NULL,
  srtt_us INTEGER NOT NULL,
  retransmits INTEGER NOT NULL,
  lost INTEGER NOT NULL,
  resets_sent INTEGER NOT NULL,
  resets_received INTEGER NOT NULL);
CREATE INDEX connections_by_close ON connections(close_unix_ns);
CREATE INDEX connections_by_process ON connections(process_id);
CREATE TABLE losses (
  host_id INTEGER NOT NULL REFERENCES hosts(id),
  agent_start_unix_ns INTEGER NOT NULL,
  reason TEXT NOT NULL,
  value INTEGER NOT NULL,
  PRIMARY KEY (host_id, agent_start_unix_ns, reason)) WITHOUT ROWID;
CREATE TABLE anomalies (
  id INTEGER PRIMARY KEY,
  host_id INTEGER NOT NULL REFERENCES hosts(id),
  process_id INTEGER REFERENCES processes(id),
  ts REAL NOT NULL,
  kind TEXT NOT NULL,
  tgid INTEGER NOT NULL,
  netns INTEGER NOT NULL,
  start_ns INTEGER NOT NULL,
  comm BLOB NOT NULL,
  subject BLOB NOT NULL,
  metric TEXT NOT NULL,
  detector TEXT NOT NULL,
  value REAL NOT NULL,
  expected_low REAL NOT NULL,
  expected_high REAL NOT NULL,
  score REAL NOT NULL);
CREATE INDEX anomalies_by_ts ON anomalies(ts);
CREATE INDEX anomalies_by_process ON anomalies(process_id);
CREATE TABLE jobs (
  host_id INTEGER NOT NULL REFERENCES hosts(id),
  name TEXT NOT NULL,
  world_size INTEGER NOT NULL,
  ranks TEXT NOT NULL,
  bytes_between_ranks INTEGER NOT NULL,
  first_ts REAL NOT NULL,
  last_ts REAL NOT NULL,
  PRIMARY KEY (host_id, name)) WITHOUT ROWID;
)";
}

// Issue 16: the server's own findings over a job's ranks and links, one row per episode.
std::string schema_v2() {
  return R"(
CREATE TABLE job_findings (
  id INTEGER PRIMARY KEY,
  job TEXT NOT NULL,
  kind TEXT NOT NULL,
  subject TEXT NOT NULL,
  rank INTEGER NOT NULL,
  from_rank INTEGER NOT NULL,
  to_rank INTEGER NOT NULL,
  metric TEXT NOT NULL,
  value REAL NOT NULL,
  peers_median REAL NOT NULL,
  since REAL NOT NULL,
  ts REAL NOT NULL,
  ended REAL);
CREATE INDEX job_findings_by_job ON job_findings(job, since);
)";
}

// Issue 17: the syscall and page-fault counters of every process.
std::string schema_v3() { return add_counter_columns(kSchemaV1Counters, kSchemaV3Counters); }

// Version N of the schema is what the first N entries make; entries are appended, never edited.
std::vector<std::string> migrations() { return {schema_v1(), schema_v2(), schema_v3()}; }

Status migrate(sqlite3* db) {
  Result<Statement> version = Statement::prepare(db, "PRAGMA user_version");
  if (!version) return version.error();
  auto row = version->start().step();
  if (!row) return row.error();
  const int64_t current = *row ? version->integer(0) : 0;
  version->start();
  const auto steps = migrations();
  if (current > static_cast<int64_t>(steps.size()))
    return Error{"database schema version " + std::to_string(current) + " is newer than this server's (" +
                 std::to_string(steps.size()) + "): a newer neutracer-server wrote it"};
  for (size_t next = static_cast<size_t>(current); next < steps.size(); ++next) {
    auto transaction = Transaction::begin(db, "BEGIN IMMEDIATE");
    if (!transaction) return transaction.error();
    if (auto s = execute(db, steps[next]); !s) return s.error();
    // PRAGMA takes no bound values: the version is this loop's own number.
    if (auto s = execute(db, "PRAGMA user_version = " + std::to_string(next + 1)); !s) return s.error();
    if (auto s = transaction->commit(); !s) return s.error();
  }
  return {};
}

// "tx_bytes, rx_bytes, ..." with each name prefixed (and optionally wrapped: "sum(s.tx_bytes)").
std::string counter_list(std::string_view before, std::string_view after = "") {
  std::string out;
  for (size_t i = 0; i < kCounters; ++i) {
    out += i ? ", " : "";
    out += std::string(before) + std::string(model::kProcessCounterNames[i]) + std::string(after);
  }
  return out;
}

// "?4, ?5, ..." for the counters, numbered from `first`.
std::string counter_parameters(int first) {
  std::string out;
  for (size_t i = 0; i < kCounters; ++i) out += (i ? ", ?" : "?") + std::to_string(first + static_cast<int>(i));
  return out;
}

std::optional<size_t> counter_index(std::string_view name) {
  for (size_t i = 0; i < kCounters; ++i)
    if (model::kProcessCounterNames[i] == name) return i;
  return std::nullopt;
}

// ---- Cumulative counters into deltas -------------------------------------------------------

// A process's (or flow's) counters as its agent run last reported them.
template <size_t N>
struct RunCounters {
  int64_t run = 0;  // agent_start_unix_ns
  std::array<uint64_t, N> values{};
};

// How far each counter moved since the stored reading, and the stored reading moved on. A new agent
// run counts from 0 again, so its first reading is all delta. A reading from an earlier run than the
// stored one (a batch delayed past its agent's restart) cannot be differenced: none.
template <size_t N>
std::optional<std::array<uint64_t, N>> advance(RunCounters<N>& stored, int64_t run, const std::array<uint64_t, N>& reading) {
  if (run < stored.run) return std::nullopt;
  const bool same_run = run == stored.run;
  std::array<uint64_t, N> delta{};
  for (size_t i = 0; i < N; ++i) {
    const uint64_t before = same_run ? stored.values[i] : 0;
    delta[i] = reading[i] > before ? reading[i] - before : 0;  // counters only grow: never negative
    stored.values[i] = std::max(before, reading[i]);
  }
  stored.run = run;
  return delta;
}

// ---- Rendering ------------------------------------------------------------------------------

// Length of the valid UTF-8 sequence at the start of `s`, 0 when it is not one.
size_t utf8_sequence(std::string_view s) {
  const auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  const unsigned char lead = byte(0);
  if (lead < 0x80) return 1;
  size_t length = 0;
  unsigned char low = 0x80, high = 0xbf;  // the second byte's range (narrowed for overlongs and surrogates)
  if (lead >= 0xc2 && lead <= 0xdf) length = 2;
  else if (lead == 0xe0) length = 3, low = 0xa0;
  else if (lead >= 0xe1 && lead <= 0xef) length = 3, high = lead == 0xed ? 0x9f : 0xbf;
  else if (lead == 0xf0) length = 4, low = 0x90;
  else if (lead >= 0xf1 && lead <= 0xf4) length = 4, high = lead == 0xf4 ? 0x8f : 0xbf;
  if (length == 0 || s.size() < length || byte(1) < low || byte(1) > high) return 0;
  for (size_t i = 2; i < length; ++i)
    if (byte(i) < 0x80 || byte(i) > 0xbf) return 0;
  return length;
}

// The kernel's bytes (comm, cmdline) as a JSON string: valid UTF-8 as it is, every other byte as
// \xNN, and a backslash as \\ so that the text reads back to exactly the bytes.
std::string bytes_text(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < bytes.size();) {
    const size_t length = utf8_sequence(bytes.substr(i));
    if (bytes[i] == '\\') {
      out += "\\\\";
      ++i;
    } else if (length) {
      out.append(bytes.substr(i, length));
      i += length;
    } else {
      const auto c = static_cast<unsigned char>(bytes[i++]);
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

std::string address_text(std::string_view address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.size() == 4 && inet_ntop(AF_INET, address.data(), text, sizeof text)) return text;
  if (address.size() == 16 && inet_ntop(AF_INET6, address.data(), text, sizeof text)) return text;
  return bytes_text(address);
}

std::string endpoint_text(std::string_view address, int64_t port) {
  const std::string host = address_text(address);
  return (address.size() == 16 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

// Loopback ends name a place only within their own network namespace.
bool loopback(std::string_view address) {
  static constexpr unsigned char kV6Loopback[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  static constexpr unsigned char kV4MappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (address.size() == 4) return static_cast<unsigned char>(address[0]) == 127;
  if (address.size() != 16) return false;
  if (std::equal(address.begin(), address.end(), kV6Loopback, kV6Loopback + 16,
                 [](char a, unsigned char b) { return static_cast<unsigned char>(a) == b; }))
    return true;
  return std::equal(address.begin(), address.begin() + 12, kV4MappedPrefix, kV4MappedPrefix + 12,
                    [](char a, unsigned char b) { return static_cast<unsigned char>(a) == b; }) &&
         static_cast<unsigned char>(address[12]) == 127;
}

int64_t unix_ns(double seconds) {
  constexpr double kLast = 9.2e18;  // within int64's nanoseconds
  return static_cast<int64_t>(std::clamp(seconds * 1e9, 0.0, kLast));
}

Json counters_object(const Statement& row, int first_column) {
  Json out = Json::object();
  for (size_t i = 0; i < kCounters; ++i)
    out[std::string(model::kProcessCounterNames[i])] = row.integer(first_column + static_cast<int>(i));
  return out;
}

const char* connection_health(const Statement& row, int resets_sent, int resets_received, int lost, int retransmits) {
  if (row.integer(resets_sent) + row.integer(resets_received) > 0) return "reset";
  if (row.integer(lost) > 0) return "lossy";
  if (row.integer(retransmits) > 0) return "retransmitting";
  return "ok";
}

// The write-ahead log is checkpointed in full and emptied once it grows past this.
constexpr uint64_t kWalRestartBytes = 64ull << 20;

// Every query that reads a range takes the intervals that end in (from, to]: adjacent ranges
// share none.
constexpr const char* kInRange = "ts > ?1 AND ts <= ?2";

}  // namespace

// ---- Writer ---------------------------------------------------------------------------------

struct Store::Writer {
  Database db;
  Statement host_select, host_insert, host_update, host_duplicate, run_upsert, batch_insert;
  Statement process_select, process_insert, process_update, identity_update, sample_insert;
  Statement flow_select, flow_insert, flow_update, flow_sample_insert;
  Statement device_upsert, connection_insert, loss_upsert, anomaly_insert, job_upsert;
  Statement finding_insert, finding_end;
  std::vector<std::pair<double, Statement>> retention;  // (units per second of ?1, the statement)
  Statement fold, fold_delete, fold_insert, fold_clear;

  struct ProcessRow {
    int64_t id = 0;
    RunCounters<kCounters> counters;
    std::array<uint64_t, kCounters> totals{};  // over every agent run, before this batch
    double last_ts = 0;                         // of its newest sample
  };

  Status prepare_all();
  Result<IngestOutcome> ingest(const Batch& batch);
  Result<int64_t> host_id(const Batch& batch);
  Result<ProcessRow> process_row(int64_t host_id, const neutracer::v1::ProcessKey& key, double ts);
  Status store_process(int64_t host_id, int64_t run, const Batch& batch, const neutracer::v1::ProcessSample& sample);
  Status store_identity(int64_t host_id, double ts, const neutracer::v1::ProcessInfo& info);
  Status store_flow(int64_t host_id, int64_t run, const Batch& batch, const neutracer::v1::FlowSample& flow);
  Status store_events(int64_t host_id, int64_t run, const Batch& batch);
  Status maintain(double retention_cut, double downsample_cut);
};

Status Store::Writer::prepare_all() {
  const std::string counters = counter_list("");
  const std::string run_counters = counter_list("run_");
  std::string process_set;
  for (size_t i = 0; i < kCounters; ++i) {
    const std::string name(model::kProcessCounterNames[i]);
    process_set += ", run_" + name + " = ?" + std::to_string(6 + i);
    process_set += ", " + name + " = " + name + " + ?" + std::to_string(6 + kCounters + i);
  }
  const std::pair<Statement*, std::string> statements[] = {
      {&host_select, "SELECT id FROM hosts WHERE machine_id = ?1"},
      {&host_insert, "INSERT INTO hosts (machine_id, first_seen, last_seen) VALUES (?1, ?2, ?2)"},
      // The newest batch says who the host is now; drops and gaps are summed over its agent runs.
      {&host_update, R"(UPDATE hosts SET
         hostname = iif(?2 >= last_seen, ?3, hostname),
         labels = iif(?2 >= last_seen, ?4, labels),
         agent_version = iif(?2 >= last_seen, ?5, agent_version),
         agent_start_unix_ns = max(agent_start_unix_ns, ?6),
         first_seen = min(first_seen, ?2), last_seen = max(last_seen, ?2),
         batches_stored = batches_stored + 1,
         samples_stored = samples_stored + ?7,
         batches_dropped = (SELECT sum(r.batches_dropped) FROM agent_runs r WHERE r.host_id = ?1),
         samples_dropped = (SELECT sum(r.samples_dropped) FROM agent_runs r WHERE r.host_id = ?1),
         missing_batches = (SELECT sum(max(0, r.highest_seq - r.batches_stored)) FROM agent_runs r WHERE r.host_id = ?1)
       WHERE id = ?1)"},
      {&host_duplicate, "UPDATE hosts SET duplicates = duplicates + 1 WHERE id = ?1"},
      // Within a run the agent's drop counters only grow: the largest reading is the latest.
      {&run_upsert, R"(INSERT INTO agent_runs VALUES (?1, ?2, ?3, 1, ?4, ?5)
         ON CONFLICT (host_id, agent_start_unix_ns) DO UPDATE SET
         highest_seq = max(highest_seq, excluded.highest_seq), batches_stored = batches_stored + 1,
         batches_dropped = max(batches_dropped, excluded.batches_dropped),
         samples_dropped = max(samples_dropped, excluded.samples_dropped))"},
      {&batch_insert, "INSERT OR IGNORE INTO batches VALUES (?1, ?2, ?3, ?4)"},
      {&process_select, "SELECT id, run_start_ns, " + run_counters + ", " + counters + ", last_ts" +
                            " FROM processes WHERE host_id = ?1 AND tgid = ?2 AND netns = ?3 AND start_ns = ?4"},
      {&process_insert,
       "INSERT INTO processes (host_id, tgid, netns, start_ns, first_ts, last_ts) VALUES (?1, ?2, ?3, ?4, ?5, ?5)"},
      {&process_update, "UPDATE processes SET comm = iif(length(?2) > 0, ?2, comm), first_ts = min(first_ts, ?3), "
                        "last_ts = max(last_ts, ?3), exited = max(exited, ?4), run_start_ns = ?5" +
                            process_set + " WHERE id = ?1"},
      {&identity_update, "UPDATE processes SET cmdline = ?2, uid = ?3, user = ?4, cgroup = ?5, container_id = ?6, "
                         "job = ?7, rank = ?8, local_rank = ?9, world_size = ?10 WHERE id = ?1"},
      {&sample_insert, "INSERT INTO samples (process_id, ts, interval_s, resolution_s, " + counters + ", " +
                           counter_list("total_") + ") VALUES (?1, ?2, ?3, 0, " + counter_parameters(4) + ", " +
                           counter_parameters(4 + static_cast<int>(kCounters)) + ")"},
      {&flow_select, "SELECT id, run_start_ns, run_tx_bytes, run_rx_bytes, run_retransmits, tx_bytes, rx_bytes, "
                     "retransmits, last_ts FROM flows WHERE "
                     "process_id = ?1 AND protocol = ?2 AND local_addr = ?3 AND local_port = ?4 AND "
                     "remote_addr = ?5 AND remote_port = ?6"},
      {&flow_insert, "INSERT INTO flows (host_id, process_id, netns, protocol, local_addr, local_port, remote_addr, "
                     "remote_port, first_ts, last_ts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9)"},
      {&flow_update, "UPDATE flows SET first_ts = min(first_ts, ?2), last_ts = max(last_ts, ?2), "
                     "retired = max(retired, ?3), srtt_us = iif(?2 >= last_ts, ?4, srtt_us), run_start_ns = ?5, "
                     "run_tx_bytes = ?6, run_rx_bytes = ?7, run_retransmits = ?8, tx_bytes = tx_bytes + ?9, "
                     "rx_bytes = rx_bytes + ?10, retransmits = retransmits + ?11 WHERE id = ?1"},
      {&flow_sample_insert, "INSERT INTO flow_samples (flow_id, ts, interval_s, tx_bytes, rx_bytes, retransmits, "
                            "srtt_us, total_tx_bytes, total_rx_bytes, total_retransmits) "
                            "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"},
      {&device_upsert, R"(INSERT INTO devices VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (host_id, netns, ifindex) DO UPDATE SET name = excluded.name,
         tx_bytes = excluded.tx_bytes, rx_bytes = excluded.rx_bytes, tx_packets = excluded.tx_packets,
         rx_packets = excluded.rx_packets, drops = excluded.drops,
         last_ts = excluded.last_ts WHERE excluded.last_ts >= devices.last_ts)"},
      {&connection_insert, "INSERT INTO connections (host_id, process_id, close_unix_ns, comm, local_addr, local_port, "
                           "remote_addr, remote_port, active, duration_ns, tx_bytes, rx_bytes, srtt_us, retransmits, "
                           "lost, resets_sent, resets_received) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
                           "?11, ?12, ?13, ?14, ?15, ?16, ?17)"},
      {&loss_upsert, "INSERT INTO losses VALUES (?1, ?2, ?3, ?4) ON CONFLICT (host_id, agent_start_unix_ns, reason) "
                     "DO UPDATE SET value = max(value, excluded.value)"},
      {&anomaly_insert, "INSERT INTO anomalies (host_id, process_id, ts, kind, tgid, netns, start_ns, comm, subject, "
                        "metric, detector, value, expected_low, expected_high, score) VALUES (?1, ?2, ?3, ?4, ?5, "
                        "?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)"},
      {&job_upsert, R"(INSERT INTO jobs VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)
         ON CONFLICT (host_id, name) DO UPDATE SET world_size = excluded.world_size, ranks = excluded.ranks,
         bytes_between_ranks = excluded.bytes_between_ranks, last_ts = excluded.last_ts
         WHERE excluded.last_ts >= jobs.last_ts)"},
      // Downsampling: each (process, minute) that still has per-interval rows older than the cut-off
      // becomes one row summing every row of that minute, an earlier minute row included, so that a
      // minute folded in parts (it straddled a cut-off, or a batch came late) still ends as one row.
      {&fold, "INSERT INTO temp.folded SELECT process_id, CAST(ts / 60 AS INTEGER) AS minute, max(ts), "
              "sum(interval_s), " + counter_list("sum(", ")") + ", " + counter_list("max(total_", ")") +
                  " FROM samples WHERE ts < ?1 AND (process_id, CAST(ts / 60 AS INTEGER)) IN "
                  "(SELECT process_id, CAST(ts / 60 AS INTEGER) FROM samples WHERE resolution_s = 0 AND ts < ?1) "
                  "GROUP BY process_id, minute"},
      {&fold_delete, "DELETE FROM samples WHERE ts < ?1 AND (process_id, CAST(ts / 60 AS INTEGER)) IN "
                     "(SELECT process_id, minute FROM temp.folded)"},
      {&fold_insert, "INSERT INTO samples (process_id, ts, interval_s, resolution_s, " + counters + ", " +
                         counter_list("total_") + ") SELECT process_id, ts, interval_s, 60, " + counters + ", " +
                         counter_list("total_") + " FROM temp.folded"},
      {&fold_clear, "DELETE FROM temp.folded"},
      {&finding_insert, "INSERT INTO job_findings (job, kind, subject, rank, from_rank, to_rank, metric, value, "
                        "peers_median, since, ts) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"},
      {&finding_end, "UPDATE job_findings SET ended = ?2 WHERE id = ?1 AND ended IS NULL"},
  };
  for (const auto& [statement, sql] : statements) {
    auto prepared = Statement::prepare(db.get(), sql);
    if (!prepared) return prepared.error();
    *statement = std::move(prepared.value());
  }
  // Rows go in this order so that nothing is left pointing at a deleted row: events and samples,
  // then flows with no samples left, then processes nothing refers to any more. Batch keys go with
  // the rest: a batch replayed after the retention is stored again, and falls to the next maintain().
  const std::pair<double, const char*> kRetention[] = {
      {1, "DELETE FROM samples WHERE ts < ?1"},
      {1, "DELETE FROM flow_samples WHERE ts < ?1"},
      {1e9, "DELETE FROM connections WHERE close_unix_ns < ?1"},
      {1, "DELETE FROM anomalies WHERE ts < ?1"},
      {1, "DELETE FROM job_findings WHERE coalesce(ended, ts) < ?1"},
      {1, "DELETE FROM batches WHERE ts < ?1"},
      {1, "DELETE FROM jobs WHERE last_ts < ?1"},
      {1, "DELETE FROM devices WHERE last_ts < ?1"},
      {1, "DELETE FROM flows WHERE last_ts < ?1 AND NOT EXISTS (SELECT 1 FROM flow_samples WHERE flow_id = flows.id)"},
      {1, "DELETE FROM processes WHERE last_ts < ?1 "
          "AND NOT EXISTS (SELECT 1 FROM samples WHERE process_id = processes.id) "
          "AND NOT EXISTS (SELECT 1 FROM flows WHERE process_id = processes.id) "
          "AND NOT EXISTS (SELECT 1 FROM connections WHERE process_id = processes.id) "
          "AND NOT EXISTS (SELECT 1 FROM anomalies WHERE process_id = processes.id)"},
  };
  for (const auto& [per_second, sql] : kRetention) {
    auto prepared = Statement::prepare(db.get(), sql);
    if (!prepared) return prepared.error();
    retention.emplace_back(per_second, std::move(prepared.value()));
  }
  return {};
}

Result<int64_t> Store::Writer::host_id(const Batch& batch) {
  auto found = host_select.bind(batch.host().machine_id()).step();
  if (!found) return found.error();
  if (*found) {
    const int64_t id = host_select.integer(0);
    host_select.start();
    return id;
  }
  if (auto s = host_insert.bind(batch.host().machine_id(), batch.ts()).run(); !s) return s.error();
  return sqlite3_last_insert_rowid(db.get());
}

Result<Store::Writer::ProcessRow> Store::Writer::process_row(int64_t host_id, const neutracer::v1::ProcessKey& key,
                                                             double ts) {
  auto found = process_select.bind(host_id, key.tgid(), key.netns(), key.start_ns()).step();
  if (!found) return found.error();
  ProcessRow row;
  if (*found) {
    row.id = process_select.integer(0);
    row.counters.run = process_select.integer(1);
    for (size_t i = 0; i < kCounters; ++i) {
      row.counters.values[i] = from_sql(process_select.integer(2 + static_cast<int>(i)));
      row.totals[i] = from_sql(process_select.integer(2 + static_cast<int>(kCounters + i)));
    }
    row.last_ts = process_select.real(2 + static_cast<int>(2 * kCounters));
    process_select.start();
    return row;
  }
  if (auto s = process_insert.bind(host_id, key.tgid(), key.netns(), key.start_ns(), ts).run(); !s) return s.error();
  row.id = sqlite3_last_insert_rowid(db.get());
  return row;
}

Status Store::Writer::store_process(int64_t host_id, int64_t run, const Batch& batch,
                                    const neutracer::v1::ProcessSample& sample) {
  auto row = process_row(host_id, sample.key(), batch.ts());
  if (!row) return row.error();
  std::array<uint64_t, kCounters> reading{};  // a shorter list (an older agent): the rest are 0
  for (size_t i = 0; i < kCounters && i < static_cast<size_t>(sample.counters_size()); ++i)
    reading[i] = sample.counters(static_cast<int>(i));
  const auto delta = advance(row->counters, run, reading);
  process_update.bind(row->id, Blob{sample.comm()}, batch.ts(), sample.exited(), row->counters.run);
  for (size_t i = 0; i < kCounters; ++i) {
    process_update.set(6 + static_cast<int>(i), row->counters.values[i]);
    process_update.set(6 + static_cast<int>(kCounters + i), delta ? (*delta)[i] : 0);
  }
  if (auto s = process_update.run(); !s) return s;
  if (!delta) return {};
  // A process's rows keep their running totals in time order (the top-processes query subtracts
  // them): a reading stamped earlier than one already stored (the agent's clock stepped back) is
  // still the newer one, so it is stored at the newest time.
  sample_insert.bind(row->id, std::max(batch.ts(), row->last_ts), batch.interval_s());
  for (size_t i = 0; i < kCounters; ++i) {
    sample_insert.set(4 + static_cast<int>(i), (*delta)[i]);
    sample_insert.set(4 + static_cast<int>(kCounters + i), row->totals[i] + (*delta)[i]);
  }
  return sample_insert.run();
}

Status Store::Writer::store_identity(int64_t host_id, double ts, const neutracer::v1::ProcessInfo& info) {
  auto row = process_row(host_id, info.key(), ts);
  if (!row) return row.error();
  return identity_update
      .bind(row->id, Blob{info.cmdline()}, info.uid(), Blob{info.user()}, Blob{info.cgroup()}, info.container_id(),
            info.job(), info.rank(), info.local_rank(), info.world_size())
      .run();
}

Status Store::Writer::store_flow(int64_t host_id, int64_t run, const Batch& batch,
                                 const neutracer::v1::FlowSample& flow) {
  auto process = process_row(host_id, flow.process(), batch.ts());
  if (!process) return process.error();
  const Blob local{flow.local().address()}, remote{flow.remote().address()};
  auto found = flow_select.bind(process->id, flow.protocol(), local, flow.local().port(), remote, flow.remote().port()).step();
  if (!found) return found.error();
  int64_t id = 0;
  RunCounters<3> counters;
  std::array<uint64_t, 3> totals{};
  double last_ts = batch.ts();
  if (*found) {
    id = flow_select.integer(0);
    counters.run = flow_select.integer(1);
    for (int i = 0; i < 3; ++i) {
      counters.values[i] = from_sql(flow_select.integer(2 + i));
      totals[i] = from_sql(flow_select.integer(5 + i));
    }
    last_ts = flow_select.real(8);
    flow_select.start();
  } else {
    if (auto s = flow_insert
                     .bind(host_id, process->id, flow.process().netns(), flow.protocol(), local, flow.local().port(),
                           remote, flow.remote().port(), batch.ts())
                     .run();
        !s)
      return s;
    id = sqlite3_last_insert_rowid(db.get());
  }
  const auto delta = advance(counters, run, std::array<uint64_t, 3>{flow.tx_bytes(), flow.rx_bytes(), flow.retransmits()});
  const std::array<uint64_t, 3> moved = delta.value_or(std::array<uint64_t, 3>{});
  if (auto s = flow_update
                   .bind(id, batch.ts(), flow.retired(), flow.srtt_us(), counters.run, counters.values[0],
                         counters.values[1], counters.values[2], moved[0], moved[1], moved[2])
                   .run();
      !s)
    return s;
  if (!delta) return {};
  // Running totals in time order, as for processes: a flow's movement over a range is two lookups.
  return flow_sample_insert
      .bind(id, std::max(batch.ts(), last_ts), batch.interval_s(), moved[0], moved[1], moved[2], flow.srtt_us(),
            totals[0] + moved[0], totals[1] + moved[1], totals[2] + moved[2])
      .run();
}

Status Store::Writer::store_events(int64_t host_id, int64_t run, const Batch& batch) {
  for (const auto& device : batch.devices()) {
    if (auto s = device_upsert
                     .bind(host_id, device.netns(), device.ifindex(), Blob{device.name()}, device.tx_bytes(),
                           device.rx_bytes(), device.tx_packets(), device.rx_packets(), device.drops(),
                           batch.ts())
                     .run();
        !s)
      return s;
  }
  // Events name their process by key; it gets a row (if the batch had no sample of it) so that the
  // API can name it by id.
  auto process_id = [&](const neutracer::v1::ProcessKey& key) -> Result<std::optional<int64_t>> {
    if (key.tgid() == 0) return std::optional<int64_t>();  // a device's or a disk's, not a process's
    auto row = process_row(host_id, key, batch.ts());
    if (!row) return row.error();
    return std::optional<int64_t>(row->id);
  };
  for (const auto& c : batch.connections()) {
    auto owner = process_id(c.owner());
    if (!owner) return owner.error();
    if (auto s = connection_insert
                     .bind(host_id, *owner, c.close_unix_ns(), Blob{c.comm()}, Blob{c.local().address()},
                           c.local().port(), Blob{c.remote().address()}, c.remote().port(), c.active(),
                           c.duration_ns(), c.tx_bytes(), c.rx_bytes(), c.srtt_us(), c.retransmits(), c.lost(),
                           c.resets_sent(), c.resets_received())
                     .run();
        !s)
      return s;
  }
  for (const auto& [reason, value] : batch.losses())
    if (auto s = loss_upsert.bind(host_id, run, reason, value).run(); !s) return s;
  for (const auto& a : batch.anomalies()) {
    auto process = process_id(a.process());
    if (!process) return process.error();
    if (auto s = anomaly_insert
                     .bind(host_id, *process, a.ts(), a.kind(), a.process().tgid(), a.process().netns(),
                           a.process().start_ns(), Blob{a.comm()}, Blob{a.subject()}, a.metric(), a.detector(),
                           a.value(), a.expected_low(), a.expected_high(), a.score())
                     .run();
        !s)
      return s;
  }
  for (const auto& job : batch.jobs()) {
    Json ranks = Json::array();
    for (const auto& rank : job.ranks()) {
      auto process = process_id(rank.process());
      if (!process) return process.error();
      ranks.push_back({{"rank", rank.rank()},
                       {"process", *process ? Json(**process) : Json()},
                       {"pid", rank.process().tgid()},
                       {"netns", rank.process().netns()},
                       {"start_ns", rank.process().start_ns()}});
      if (rank.step_s() > 0)
        ranks.back().update({{"step_s", rank.step_s()}, {"bytes_per_step", rank.bytes_per_step()},
                             {"onset", rank.onset_unix_s()}});
      if (rank.active_s() > 0) ranks.back()["active_s"] = rank.active_s();
      if (!rank.busy_slots().empty())
        ranks.back()["busy"] = {{"start_ms", rank.busy_start_unix_ms()}, {"slots", detect::to_hex(rank.busy_slots())}};
    }
    if (auto s = job_upsert
                     .bind(host_id, job.name(), job.world_size(), ranks.dump(), job.bytes_between_ranks(), batch.ts())
                     .run();
        !s)
      return s;
  }
  return {};
}

Result<IngestOutcome> Store::Writer::ingest(const Batch& batch) {
  const auto& host = batch.host();
  auto id = host_id(batch);
  if (!id) return id.error();
  const int64_t run = sql_integer(host.agent_start_unix_ns());
  if (auto s = batch_insert.bind(*id, run, batch.seq(), batch.ts()).run(); !s) return s.error();
  if (sqlite3_changes(db.get()) == 0) {
    if (auto s = host_duplicate.bind(*id).run(); !s) return s.error();
    return IngestOutcome::kDuplicate;
  }
  if (auto s = run_upsert.bind(*id, run, batch.seq(), batch.batches_dropped(), batch.samples_dropped()).run(); !s)
    return s.error();
  Json labels = Json::object();
  for (const auto& [key, value] : host.labels()) labels[key] = value;
  if (auto s = host_update
                   .bind(*id, batch.ts(), host.hostname(), labels.dump(-1, ' ', false, Json::error_handler_t::replace),
                         host.agent_version(), run, static_cast<int64_t>(batch.processes_size()))
                   .run();
      !s)
    return s.error();
  for (const auto& sample : batch.processes())
    if (auto s = store_process(*id, run, batch, sample); !s) return s.error();
  for (const auto& info : batch.identities())
    if (auto s = store_identity(*id, batch.ts(), info); !s) return s.error();
  for (const auto& flow : batch.flows())
    if (auto s = store_flow(*id, run, batch, flow); !s) return s.error();
  if (auto s = store_events(*id, run, batch); !s) return s.error();
  return IngestOutcome::kStored;
}

Status Store::Writer::maintain(double retention_cut, double downsample_cut) {
  auto transaction = Transaction::begin(db.get(), "BEGIN IMMEDIATE");
  if (!transaction) return transaction.error();
  for (auto& [per_second, statement] : retention)
    if (auto s = statement.bind(retention_cut * per_second).run(); !s) return s;
  for (Statement* step : {&fold, &fold_delete})
    if (auto s = step->bind(downsample_cut).run(); !s) return s;
  for (Statement* step : {&fold_insert, &fold_clear})
    if (auto s = step->bind().run(); !s) return s;
  return transaction->commit();
}

// ---- Readers --------------------------------------------------------------------------------

struct Store::Readers {
  std::string path;
  std::mutex mutex;
  std::vector<Database> idle;  // at most kMaxIdle kept: more threads than that open their own

  static constexpr size_t kMaxIdle = 16;

  Result<Database> take() {
    {
      std::lock_guard lock(mutex);
      if (!idle.empty()) {
        Database db = std::move(idle.back());
        idle.pop_back();
        return db;
      }
    }
    return open_database(path, SQLITE_OPEN_READONLY);
  }
  void give_back(Database db) {
    std::lock_guard lock(mutex);
    if (idle.size() < kMaxIdle) idle.push_back(std::move(db));
  }
};

namespace {

// Each answer reads one consistent state of the database (one read transaction).
class Answerer {
 public:
  Answerer(sqlite3* db, const Query& query) : db_(db), query_(query) {}

  Result<Json> answer() {
    switch (query_.kind) {
      case QueryKind::kHosts: return hosts();
      case QueryKind::kProcesses: return processes();
      case QueryKind::kSeries: return series();
      case QueryKind::kFlows: return flows();
      case QueryKind::kMatrix: return matrix();
      case QueryKind::kConnections: return connections();
      case QueryKind::kLosses: return losses();
      case QueryKind::kAnomalies: return anomalies();
      case QueryKind::kJobs: return jobs();
      case QueryKind::kJob: return job();
      case QueryKind::kDetect: return detect();
    }
    return Error{"unknown query kind"};
  }

 private:
  // Runs `sql` with `args` bound and calls `each` on every row.
  template <class Each, class... Args>
  Status rows(const std::string& sql, Each&& each, const Args&... args) {
    auto statement = Statement::prepare(db_, sql);
    if (!statement) return statement.error();
    statement->bind(args...);
    for (;;) {
      auto row = statement->step();
      if (!row) return row.error();
      if (!*row) return {};
      each(*statement);
    }
  }

  Json range() const { return {{"from", query_.from}, {"to", query_.to}}; }

  Result<size_t> counter(const std::string& name) const {
    auto index = counter_index(name);
    if (!index) return Error{"not a counter name: " + name};
    return *index;
  }

  Result<Json> hosts() {
    Json list = Json::array();
    auto s = rows(
        "SELECT machine_id, hostname, labels, agent_version, agent_start_unix_ns, first_seen, last_seen, "
        "batches_stored, duplicates, missing_batches, batches_dropped, samples_dropped, samples_stored FROM hosts "
        "WHERE ?1 IS NULL OR machine_id = ?1 ORDER BY machine_id",
        [&](const Statement& r) {
          Json labels = Json::parse(r.bytes(2), nullptr, false);
          list.push_back({{"machine_id", r.bytes(0)},
                          {"hostname", r.bytes(1)},
                          {"labels", labels.is_discarded() ? Json::object() : labels},
                          {"agent_version", r.bytes(3)},
                          {"agent_start_unix_ns", r.integer(4)},
                          {"first_seen", r.real(5)},
                          {"last_seen", r.real(6)},
                          {"freshness_s", query_.now - r.real(6)},
                          {"batches_stored", r.integer(7)},
                          {"duplicates", r.integer(8)},
                          {"missing_batches", r.integer(9)},
                          {"batches_dropped", r.integer(10)},
                          {"samples_dropped", r.integer(11)},
                          {"samples_stored", r.integer(12)}});
        },
        query_.host);
    if (!s) return s.error();
    return Json{{"now", query_.now}, {"hosts", std::move(list)}};
  }

  // What process `id` moved over (from, to] of every counter: its running totals at the range's
  // last row less those before its first row (zeros for a process with no row in the range).
  Result<std::array<int64_t, kCounters>> moved_in_range(int64_t id) {
    static const std::string range_end = "SELECT " + counter_list("total_") +
                                         " FROM samples WHERE process_id = ?1 AND ts <= ?3 ORDER BY ts DESC LIMIT 1";
    static const std::string before_start = [] {
      std::string sql = "SELECT ";
      for (size_t i = 0; i < kCounters; ++i) {
        const std::string name(model::kProcessCounterNames[i]);
        sql += (i ? ", total_" : "total_") + name + " - " + name;
      }
      return sql + " FROM samples WHERE process_id = ?1 AND ts > ?2 AND ts <= ?3 ORDER BY ts LIMIT 1";
    }();
    std::array<int64_t, kCounters> end{}, start{}, moved{};
    bool any = false;
    auto read = [&](const std::string& sql, std::array<int64_t, kCounters>& into) {
      return rows(sql, [&](const Statement& r) {
        any = true;
        for (size_t i = 0; i < kCounters; ++i) into[i] = r.integer(static_cast<int>(i));
      }, id, query_.from, query_.to);
    };
    if (auto ok = read(before_start, start); !ok) return ok.error();
    if (!any) return moved;  // no row in the range
    if (auto ok = read(range_end, end); !ok) return ok.error();
    for (size_t i = 0; i < kCounters; ++i) moved[i] = end[i] - start[i];
    return moved;
  }

  // Top processes over (from, to]. Each sample row carries the process's running totals, so what a
  // process moved in the range is its totals at the range's last row minus those before its first
  // row: two index lookups per process seen in the range, however many rows the range holds.
  Result<Json> processes() {
    auto sort = counter(query_.sort);
    if (!sort) return sort.error();
    const std::string sort_name(model::kProcessCounterNames[*sort]);
    const std::string ranking =
        "WITH moved AS (SELECT p.id, "
        "(SELECT total_" + sort_name + " FROM samples WHERE process_id = p.id AND ts <= ?2 ORDER BY ts DESC LIMIT 1) - "
        "(SELECT total_" + sort_name + " - " + sort_name +
        " FROM samples WHERE process_id = p.id AND ts > ?1 AND ts <= ?2 ORDER BY ts LIMIT 1) AS amount "
        "FROM processes p JOIN hosts h ON h.id = p.host_id "
        "WHERE p.last_ts > ?1 AND p.first_ts <= ?2 AND (?3 IS NULL OR h.machine_id = ?3)) "
        "SELECT id FROM moved WHERE amount IS NOT NULL ORDER BY amount DESC, id LIMIT ?4";
    std::vector<int64_t> top;
    auto ranked = rows(ranking, [&](const Statement& r) { top.push_back(r.integer(0)); }, query_.from, query_.to,
                       query_.host, static_cast<int64_t>(query_.limit));
    if (!ranked) return ranked.error();
    Json list = Json::array();
    const int first_total = 16;
    const std::string describe =
        "SELECT p.id, h.machine_id, p.tgid, p.netns, p.start_ns, p.comm, p.exited, p.first_ts, p.last_ts, "
        "p.cmdline, p.user, p.container_id, p.job, p.rank, p.world_size, p.uid, " + counter_list("p.") +
        " FROM processes p JOIN hosts h ON h.id = p.host_id WHERE p.id = ?1";
    for (int64_t id : top) {
      auto moved = moved_in_range(id);
      if (!moved) return moved.error();
      Json delta = Json::object();
      for (size_t i = 0; i < kCounters; ++i) delta[std::string(model::kProcessCounterNames[i])] = (*moved)[i];
      auto described = rows(
          describe,
          [&](const Statement& r) {
            list.push_back({{"id", r.integer(0)},
                            {"host", r.bytes(1)},
                            {"pid", r.integer(2)},
                            {"netns", r.integer(3)},
                            {"start_ns", r.integer(4)},
                            {"comm", bytes_text(r.bytes(5))},
                            {"exited", r.integer(6) != 0},
                            {"first_ts", r.real(7)},
                            {"last_ts", r.real(8)},
                            {"cmdline", bytes_text(r.bytes(9))},
                            {"user", bytes_text(r.bytes(10))},
                            {"uid", r.null(15) ? Json() : Json(r.integer(15))},
                            {"container_id", r.bytes(11)},
                            {"job", r.bytes(12)},
                            {"rank", r.integer(13)},
                            {"world_size", r.integer(14)},
                            {"delta", delta},
                            {"total", counters_object(r, first_total)}});
          },
          id);
      if (!described) return described.error();
    }
    Json out = range();
    out["sort"] = query_.sort;
    out["processes"] = std::move(list);
    return out;
  }

  // One process's rows of one counter over the range: (ts, interval_s, delta).
  struct Point {
    double ts, interval_s;
    int64_t delta;
  };
  Result<std::vector<Point>> points() {
    auto index = counter(query_.counter);
    if (!index) return index.error();
    std::vector<Point> out;
    auto s = rows("SELECT ts, interval_s, " + std::string(model::kProcessCounterNames[*index]) +
                      " FROM samples WHERE process_id = ?3 AND " + kInRange + " ORDER BY ts",
                  [&](const Statement& r) { out.push_back({r.real(0), r.real(1), r.integer(2)}); }, query_.from,
                  query_.to, query_.process.value_or(0));
    if (!s) return s.error();
    return out;
  }

  static Json per_second(const Point& p) {
    return p.interval_s > 0 ? Json(static_cast<double>(p.delta) / p.interval_s) : Json();
  }

  Result<Json> series() {
    auto list = points();
    if (!list) return list.error();
    Json values = Json::array();
    for (const auto& p : *list) values.push_back(Json::array({p.ts, per_second(p)}));
    Json out = range();
    out["process"] = query_.process.value_or(0);
    out["counter"] = query_.counter;
    out["points"] = std::move(values);
    return out;
  }

  Result<Json> detect() {
    auto list = points();
    if (!list) return list.error();
    detect::Detector detector(anomaly::detector_config(anomaly::WatchOptions{}));
    Json flagged = Json::array();
    int64_t t = 0;
    bool moved = false;
    for (const auto& p : *list) {
      if (p.interval_s <= 0) continue;
      const double value = static_cast<double>(p.delta) / p.interval_s;
      // As the agent does for rates: the warm-up counts from the first movement, so that a series
      // idle until its job started has no baseline of zeros to burst out of.
      moved |= value != 0;
      if (!moved) continue;
      const auto verdict = detector.update(++t, value);
      if (verdict.alert != detect::AlertState::raised && verdict.alert != detect::AlertState::ongoing) continue;
      flagged.push_back({{"ts", p.ts},
                         {"value", value},
                         {"score", verdict.score},
                         {"finding", std::string(detect::finding_name(verdict.finding))},
                         {"alert", verdict.alert == detect::AlertState::raised ? "raised" : "ongoing"},
                         {"expected_low", verdict.expected_low},
                         {"expected_high", verdict.expected_high}});
    }
    Json out = range();
    out["process"] = query_.process.value_or(0);
    out["counter"] = query_.counter;
    out["points"] = list->size();
    out["flagged"] = std::move(flagged);
    return out;
  }

  // What flow f moved in (from, to] (?1, ?2) of the named counters, summed: its running totals at
  // the range's last row less those before its first row (NULL for a flow with no row in the range).
  static std::string flow_moved(std::initializer_list<std::string_view> counters) {
    std::string totals, deltas;
    for (auto name : counters) {
      totals += (totals.empty() ? "total_" : " + total_") + std::string(name);
      deltas += (deltas.empty() ? "" : " + ") + std::string(name);
    }
    return "((SELECT " + totals + " FROM flow_samples WHERE flow_id = f.id AND ts <= ?2 ORDER BY ts DESC, rowid DESC "
           "LIMIT 1) - (SELECT " + totals + " - (" + deltas + ") FROM flow_samples WHERE flow_id = f.id AND ts > ?1 "
           "AND ts <= ?2 ORDER BY ts, rowid LIMIT 1))";
  }

  Result<Json> flows() {
    Json list = Json::array();
    auto s = rows(
        "WITH top AS (SELECT f.id, " + flow_moved({"tx_bytes", "rx_bytes"}) + " AS amount "
        "FROM flows f JOIN hosts h ON h.id = f.host_id WHERE f.last_ts > ?1 AND f.first_ts <= ?2 "
        "AND (?3 IS NULL OR h.machine_id = ?3) AND (?4 IS NULL OR f.process_id = ?4) AND amount IS NOT NULL "
        "ORDER BY amount DESC, f.id LIMIT ?5) "
        "SELECT f.id, h.machine_id, f.process_id, p.tgid, p.comm, f.protocol, f.local_addr, f.local_port, "
        "f.remote_addr, f.remote_port, f.srtt_us, f.retired, f.last_ts, " + flow_moved({"tx_bytes"}) + ", " +
        flow_moved({"rx_bytes"}) + ", " + flow_moved({"retransmits"}) + ", f.tx_bytes, f.rx_bytes "
        "FROM top JOIN flows f ON f.id = top.id JOIN processes p ON p.id = f.process_id "
        "JOIN hosts h ON h.id = f.host_id ORDER BY top.amount DESC, f.id",
        [&](const Statement& r) {
          list.push_back({{"id", r.integer(0)},
                          {"host", r.bytes(1)},
                          {"process", r.integer(2)},
                          {"pid", r.integer(3)},
                          {"comm", bytes_text(r.bytes(4))},
                          {"protocol", r.integer(5)},
                          {"local", endpoint_text(r.bytes(6), r.integer(7))},
                          {"remote", endpoint_text(r.bytes(8), r.integer(9))},
                          {"srtt_us", r.integer(10)},
                          {"retired", r.integer(11) != 0},
                          {"last_ts", r.real(12)},
                          {"tx_bytes", r.integer(13)},
                          {"rx_bytes", r.integer(14)},
                          {"bytes", r.integer(13) + r.integer(14)},
                          {"retransmits", r.integer(15)},
                          {"total", {{"tx_bytes", r.integer(16)}, {"rx_bytes", r.integer(17)}}}});
        },
        query_.from, query_.to, query_.host, query_.process, static_cast<int64_t>(query_.limit));
    if (!s) return s.error();
    Json out = range();
    out["flows"] = std::move(list);
    return out;
  }

  // The bytes each flow sent over the range go to the end its remote address names: the host (or
  // process) with a flow whose local end is that address and port. Where several could be meant,
  // the one whose own remote end is this flow's local end is; loopback ends only name their own
  // host and namespace. Bytes whose other end is not among the stored flows, or is not one end
  // alone, are counted apart.
  Result<Json> matrix() {
    struct Sent {
      int64_t host_id, process_id, netns, protocol, local_port, remote_port, bytes;
      std::string host, local_addr, remote_addr;
    };
    std::vector<Sent> sent;
    auto s = rows(
        "SELECT * FROM (SELECT f.host_id, h.machine_id, f.process_id, f.netns, f.protocol, f.local_addr, "
        "f.local_port, f.remote_addr, f.remote_port, " + flow_moved({"tx_bytes"}) + " AS sent FROM flows f "
        "JOIN hosts h ON h.id = f.host_id WHERE f.last_ts > ?1 AND f.first_ts <= ?2) WHERE sent > 0",
        [&](const Statement& r) {
          sent.push_back({r.integer(0), r.integer(2), r.integer(3), r.integer(4), r.integer(6), r.integer(8),
                          r.integer(9), r.bytes(1), r.bytes(5), r.bytes(7)});
        },
        query_.from, query_.to);
    if (!s) return s.error();

    auto peers = Statement::prepare(db_,
                                    "SELECT DISTINCT f.host_id, h.machine_id, f.process_id, f.netns, "
                                    "f.remote_addr = ?4 AND f.remote_port = ?5 FROM flows f JOIN hosts h ON "
                                    "h.id = f.host_id WHERE f.protocol = ?1 AND f.local_addr = ?2 AND f.local_port = ?3");
    if (!peers) return peers.error();
    const bool by_process = query_.level == "process";
    struct End {
      std::string host;
      int64_t process_id;
      bool operator<(const End& o) const { return std::tie(host, process_id) < std::tie(o.host, o.process_id); }
    };
    std::map<std::pair<End, End>, int64_t> edges;
    int64_t unattributed = 0;
    for (const auto& flow : sent) {
      struct Peer {
        End end;
        bool exact;
      };
      std::vector<Peer> candidates;
      peers->bind(flow.protocol, Blob{flow.remote_addr}, flow.remote_port, Blob{flow.local_addr}, flow.local_port);
      for (;;) {
        auto row = peers->step();
        if (!row) return row.error();
        if (!*row) break;
        const bool same_place = peers->integer(0) == flow.host_id && peers->integer(3) == flow.netns;
        if (loopback(flow.remote_addr) && !same_place) continue;
        candidates.push_back({{peers->bytes(1), by_process ? peers->integer(2) : 0}, peers->integer(4) != 0});
      }
      if (std::any_of(candidates.begin(), candidates.end(), [](const Peer& p) { return p.exact; }))
        std::erase_if(candidates, [](const Peer& p) { return !p.exact; });
      std::set<End> ends;
      for (const auto& c : candidates) ends.insert(c.end);
      if (ends.size() != 1) {
        unattributed += flow.bytes;
        continue;
      }
      edges[{End{flow.host, by_process ? flow.process_id : 0}, *ends.begin()}] += flow.bytes;
    }

    std::vector<std::pair<std::pair<End, End>, int64_t>> ranked(edges.begin(), edges.end());
    std::stable_sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    if (ranked.size() > query_.limit) ranked.resize(query_.limit);
    Json list = Json::array();
    std::set<End> nodes;
    for (const auto& [ends, bytes] : ranked) {
      Json edge = {{"from", ends.first.host}, {"to", ends.second.host}, {"bytes", bytes}};
      if (by_process) {
        edge["from_process"] = ends.first.process_id;
        edge["to_process"] = ends.second.process_id;
      }
      list.push_back(std::move(edge));
      nodes.insert(ends.first);
      nodes.insert(ends.second);
    }
    Json node_list = Json::array();
    if (by_process) {
      auto node = Statement::prepare(db_, "SELECT p.tgid, p.comm FROM processes p WHERE p.id = ?1");
      if (!node) return node.error();
      for (const auto& end : nodes) {
        auto row = node->bind(end.process_id).step();
        if (!row) return row.error();
        node_list.push_back({{"host", end.host},
                             {"process", end.process_id},
                             {"pid", *row ? node->integer(0) : 0},
                             {"comm", *row ? bytes_text(node->bytes(1)) : ""}});
      }
    } else {
      for (const auto& end : nodes) node_list.push_back({{"host", end.host}});
    }
    Json out = range();
    out["level"] = query_.level;
    out["nodes"] = std::move(node_list);
    out["edges"] = std::move(list);
    out["unattributed_bytes"] = unattributed;
    return out;
  }

  Result<Json> connections() {
    Json list = Json::array();
    auto s = rows(
        "SELECT h.machine_id, c.process_id, p.tgid, c.comm, c.close_unix_ns, c.local_addr, c.local_port, "
        "c.remote_addr, c.remote_port, c.active, c.duration_ns, c.tx_bytes, c.rx_bytes, c.srtt_us, c.retransmits, "
        "c.lost, c.resets_sent, c.resets_received FROM connections c JOIN hosts h ON h.id = c.host_id "
        "LEFT JOIN processes p ON p.id = c.process_id WHERE c.close_unix_ns > ?1 AND c.close_unix_ns <= ?2 "
        "AND (?3 IS NULL OR h.machine_id = ?3) AND (?4 IS NULL OR c.process_id = ?4) "
        "ORDER BY c.close_unix_ns DESC, c.id DESC LIMIT ?5",
        [&](const Statement& r) {
          list.push_back({{"host", r.bytes(0)},
                          {"process", r.null(1) ? Json() : Json(r.integer(1))},
                          {"pid", r.null(2) ? Json() : Json(r.integer(2))},
                          {"comm", bytes_text(r.bytes(3))},
                          {"close_ts", static_cast<double>(r.integer(4)) / 1e9},
                          {"local", endpoint_text(r.bytes(5), r.integer(6))},
                          {"remote", endpoint_text(r.bytes(7), r.integer(8))},
                          {"active", r.integer(9) != 0},
                          {"duration_s", static_cast<double>(r.integer(10)) / 1e9},
                          {"tx_bytes", r.integer(11)},
                          {"rx_bytes", r.integer(12)},
                          {"srtt_us", r.integer(13)},
                          {"retransmits", r.integer(14)},
                          {"lost", r.integer(15)},
                          {"resets_sent", r.integer(16)},
                          {"resets_received", r.integer(17)},
                          {"health", connection_health(r, 16, 17, 15, 14)}});
        },
        unix_ns(query_.from), unix_ns(query_.to), query_.host, query_.process,
        static_cast<int64_t>(query_.limit));
    if (!s) return s.error();
    Json out = range();
    out["connections"] = std::move(list);
    return out;
  }

  Result<Json> losses() {
    Json list = Json::array();
    auto s = rows(
        "SELECT h.machine_id, l.reason, sum(l.value) FROM hosts h JOIN losses l ON l.host_id = h.id "
        "WHERE ?1 IS NULL OR h.machine_id = ?1 GROUP BY h.id, l.reason ORDER BY h.machine_id, l.reason",
        [&](const Statement& r) {
          const std::string host = r.bytes(0);
          if (list.empty() || list.back()["host"] != host) list.push_back({{"host", host}, {"losses", Json::object()}});
          list.back()["losses"][r.bytes(1)] = r.integer(2);
        },
        query_.host);
    if (!s) return s.error();
    return Json{{"hosts", std::move(list)}};
  }

  Result<Json> anomalies() {
    Json list = Json::array();
    auto s = rows(
        "SELECT a.ts, h.machine_id, a.process_id, a.kind, a.tgid, a.netns, a.start_ns, a.comm, a.subject, a.metric, "
        "a.detector, a.value, a.expected_low, a.expected_high, a.score FROM anomalies a "
        "JOIN hosts h ON h.id = a.host_id WHERE a.ts > ?1 AND a.ts <= ?2 AND (?3 IS NULL OR h.machine_id = ?3) "
        "AND (?4 IS NULL OR a.process_id = ?4) ORDER BY a.ts DESC, a.id DESC LIMIT ?5",
        [&](const Statement& r) {
          list.push_back({{"ts", r.real(0)},
                          {"source", "agent"},
                          {"host", r.bytes(1)},
                          {"process", r.null(2) ? Json() : Json(r.integer(2))},
                          {"kind", r.bytes(3)},
                          {"pid", r.integer(4)},
                          {"netns", r.integer(5)},
                          {"start_ns", r.integer(6)},
                          {"comm", bytes_text(r.bytes(7))},
                          {"subject", bytes_text(r.bytes(8))},
                          {"metric", r.bytes(9)},
                          {"detector", r.bytes(10)},
                          {"value", r.real(11)},
                          {"expected_low", r.real(12)},
                          {"expected_high", r.real(13)},
                          {"score", r.real(14)}});
        },
        query_.from, query_.to, query_.host, query_.process, static_cast<int64_t>(query_.limit));
    if (!s) return s.error();
    Json out = range();
    out["anomalies"] = std::move(list);
    return out;
  }

  // One job across its hosts, rank by rank: the ranks each host last reported in the range, with
  // their step (from the send rhythm), how often the others exchanged without each (its absent
  // share, detect/participation.h), and what each process moved over the range, as rates and
  // shares of the range; the links between them and the server's findings.
  Result<Json> job() {
    std::vector<Json> ranks;
    int64_t world_size = -1;
    auto s = rows(
        "SELECT h.machine_id, j.world_size, j.ranks FROM jobs j JOIN hosts h ON h.id = j.host_id "
        "WHERE j.name = ?1 AND j.last_ts > ?2 AND j.first_ts <= ?3 ORDER BY h.machine_id",
        [&](const Statement& r) {
          world_size = std::max(world_size, r.integer(1));
          Json list = Json::parse(r.bytes(2), nullptr, false);
          if (!list.is_array()) return;
          for (auto& rank : list) {
            rank["host"] = r.bytes(0);
            ranks.push_back(std::move(rank));
          }
        },
        *query_.job, query_.from, query_.to);
    if (!s) return s.error();
    std::sort(ranks.begin(), ranks.end(), [](const Json& a, const Json& b) { return a.value("rank", 0) < b.value("rank", 0); });

    // Idle while the others exchange: the rank they wait for (detect/participation.h).
    std::map<int, detect::Participation> participation;
    for (const auto& rank : ranks) {
      if (!rank.contains("busy")) continue;
      auto slots = detect::from_hex(rank["busy"].value("slots", ""));
      if (slots && !slots->empty()) participation[rank.value("rank", -1)] = {rank["busy"].value("start_ms", int64_t{0}), *slots};
    }
    const auto absent = detect::absent_shares(participation);
    for (auto& rank : ranks)
      if (auto share = absent.find(rank.value("rank", -1)); share != absent.end()) rank["absent_share"] = share->second;

    const double range_s = std::max(query_.to - query_.from, 1e-9);
    const auto counter = [](const std::array<int64_t, kCounters>& moved, model::ProcessCounter c) {
      return static_cast<double>(moved[static_cast<size_t>(c)]);
    };
    for (auto& rank : ranks) {
      if (!rank.contains("process") || !rank["process"].is_number_integer()) continue;
      auto moved = moved_in_range(rank["process"].get<int64_t>());
      if (!moved) return moved.error();
      using C = model::ProcessCounter;
      rank["tx_bytes_per_s"] = counter(*moved, C::kTxBytes) / range_s;
      rank["rx_bytes_per_s"] = counter(*moved, C::kRxBytes) / range_s;
      rank["on_cpu_share"] = counter(*moved, C::kOnCpuNs) / 1e9 / range_s;
      rank["runq_share"] = counter(*moved, C::kRunqNs) / 1e9 / range_s;
      rank["off_voluntary_share"] = counter(*moved, C::kOffVoluntaryNs) / 1e9 / range_s;
      rank["io_bytes_per_s"] = (counter(*moved, C::kIoReadBytes) + counter(*moved, C::kIoWriteBytes)) / range_s;
    }
    auto links = job_links(ranks, range_s);
    if (!links) return links.error();
    auto findings = job_findings();
    if (!findings) return findings.error();
    Json out = range();
    out["job"] = *query_.job;
    out["world_size"] = world_size;
    out["ranks"] = ranks;
    out["links"] = std::move(*links);
    out["findings"] = std::move(*findings);
    return out;
  }

  // Rank to rank over the range: what each rank sent to each other rank and what that one received
  // from it (the flows of the ranks' processes, paired by their ends as matrix() pairs them), the
  // sender's retransmits, and its smoothed RTT averaged over the range, weighted by bytes sent.
  Result<Json> job_links(const std::vector<Json>& ranks, double range_s) {
    struct Flow {
      int rank;
      int64_t host_id, netns, protocol, local_port, remote_port, sent, received, retransmits;
      std::string local_addr, remote_addr;
      double srtt_us;  // 0: none sampled in the range
    };
    std::vector<Flow> flows;
    for (const auto& rank : ranks) {
      if (!rank.contains("process") || !rank["process"].is_number_integer()) continue;
      const int number = rank.value("rank", -1);
      auto s = rows(
          "SELECT f.host_id, f.netns, f.protocol, f.local_addr, f.local_port, f.remote_addr, f.remote_port, "
          "coalesce(" + flow_moved({"tx_bytes"}) + ", 0), coalesce(" + flow_moved({"rx_bytes"}) + ", 0), "
          "coalesce(" + flow_moved({"retransmits"}) + ", 0), "
          "coalesce((SELECT avg(srtt_us) FROM flow_samples WHERE flow_id = f.id AND ts > ?1 AND ts <= ?2 "
          "AND srtt_us > 0), 0) FROM flows f WHERE f.process_id = ?3 AND f.last_ts > ?1 AND f.first_ts <= ?2",
          [&](const Statement& r) {
            flows.push_back({number, r.integer(0), r.integer(1), r.integer(2), r.integer(4), r.integer(6),
                             r.integer(7), r.integer(8), r.integer(9), r.bytes(3), r.bytes(5), r.real(10)});
          },
          query_.from, query_.to, rank["process"].get<int64_t>());
      if (!s) return s.error();
    }
    struct Link {
      int64_t sent = 0, received = 0, retransmits = 0;
      double srtt_weighted = 0, srtt_bytes = 0;
    };
    std::map<std::pair<int, int>, Link> links;
    for (const auto& flow : flows) {
      // The rank at the far end: a rank's flow whose local end is this flow's remote end (on a
      // loopback address, only in the same host and namespace).
      const Flow* peer = nullptr;
      for (const auto& other : flows)
        if (other.rank != flow.rank && other.protocol == flow.protocol && other.local_addr == flow.remote_addr &&
            other.local_port == flow.remote_port && other.remote_addr == flow.local_addr &&
            other.remote_port == flow.local_port &&
            (!loopback(flow.remote_addr) || (other.host_id == flow.host_id && other.netns == flow.netns)))
          peer = &other;
      if (!peer) continue;
      if (flow.sent > 0 || flow.retransmits > 0) {  // a link is a direction something moved in
        auto& out = links[{flow.rank, peer->rank}];
        out.sent += flow.sent;
        out.retransmits += flow.retransmits;
        if (flow.srtt_us > 0) {
          const double weight = static_cast<double>(std::max<int64_t>(flow.sent, 1));
          out.srtt_weighted += flow.srtt_us * weight;
          out.srtt_bytes += weight;
        }
      }
      if (flow.received > 0) links[{peer->rank, flow.rank}].received += flow.received;
    }
    std::map<int, std::string> host_of;
    for (const auto& rank : ranks) host_of[rank.value("rank", -1)] = rank.value("host", "");
    Json list = Json::array();
    for (const auto& [ends, link] : links) {
      Json item = {{"from_rank", ends.first},
                   {"to_rank", ends.second},
                   {"from_host", host_of[ends.first]},
                   {"to_host", host_of[ends.second]},
                   {"bytes", link.sent},
                   {"bytes_received", link.received},
                   {"bytes_per_s", static_cast<double>(link.sent) / range_s},
                   {"retransmits", link.retransmits},
                   {"retransmits_per_s", static_cast<double>(link.retransmits) / range_s}};
      if (link.srtt_bytes > 0) item["srtt_us"] = link.srtt_weighted / link.srtt_bytes;
      list.push_back(std::move(item));
    }
    return list;
  }

  // The server's findings on the job (server/job_watch.h) whose episode overlaps the range, newest first.
  Result<Json> job_findings() {
    Json list = Json::array();
    auto s = rows(
        "SELECT ts, since, ended, kind, subject, rank, from_rank, to_rank, metric, value, peers_median "
        "FROM job_findings WHERE job = ?1 AND since <= ?3 AND (ended IS NULL OR ended > ?2) "
        "ORDER BY ts DESC, id DESC LIMIT 100",
        [&](const Statement& r) {
          Json item = {{"ts", r.real(0)},          {"since", r.real(1)},  {"ongoing", r.null(2)},
                       {"kind", r.bytes(3)},       {"subject", r.bytes(4)}, {"metric", r.bytes(8)},
                       {"value", r.real(9)},       {"peers_median", r.real(10)}};
          if (!r.null(2)) item["ended"] = r.real(2);
          for (const auto& [column, name] : {std::pair{5, "rank"}, {6, "from_rank"}, {7, "to_rank"}})
            if (r.integer(column) >= 0) item[name] = r.integer(column);
          list.push_back(std::move(item));
        },
        *query_.job, query_.from, query_.to);
    if (!s) return s.error();
    return list;
  }

  Result<Json> jobs() {
    Json list = Json::array();
    auto s = rows(
        "SELECT j.name, h.machine_id, j.world_size, j.ranks, j.bytes_between_ranks, j.first_ts, j.last_ts "
        "FROM jobs j JOIN hosts h ON h.id = j.host_id WHERE j.last_ts > ?1 AND j.first_ts <= ?2 "
        "AND (?3 IS NULL OR h.machine_id = ?3) ORDER BY j.name, h.machine_id",
        [&](const Statement& r) {
          const std::string name = r.bytes(0);
          if (list.empty() || list.back()["name"] != name)
            list.push_back({{"name", name}, {"world_size", -1}, {"hosts", Json::array()}});
          Json& job = list.back();
          job["world_size"] = std::max(job["world_size"].get<int64_t>(), r.integer(2));
          Json ranks = Json::parse(r.bytes(3), nullptr, false);
          job["hosts"].push_back({{"host", r.bytes(1)},
                                  {"ranks", ranks.is_discarded() ? Json::array() : ranks},
                                  {"bytes_between_ranks", r.integer(4)},
                                  {"first_ts", r.real(5)},
                                  {"last_ts", r.real(6)}});
        },
        query_.from, query_.to, query_.host);
    if (!s) return s.error();
    Json out = range();
    out["jobs"] = std::move(list);
    return out;
  }

  sqlite3* db_;
  const Query& query_;
};

}  // namespace

// ---- Store ----------------------------------------------------------------------------------

Store::Store(StoreOptions options) : options_(std::move(options)) {}
Store::~Store() = default;

Result<std::unique_ptr<Store>> Store::open(const StoreOptions& options) {
  if (!(options.retention_s > 0) || !(options.downsample_after_s >= 0))
    return Error{"store: retention must be positive and downsampling not negative"};
  auto db = open_database(options.path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  if (!db) return db.error();
  sqlite3* raw = db->get();
  // WAL: readers never wait for the writer. FULL: a batch acknowledged is a batch on disk.
  auto mode = Statement::prepare(raw, "PRAGMA journal_mode = WAL");
  if (!mode) return mode.error();
  auto row = mode->start().step();
  if (!row) return row.error();
  if (!*row || mode->bytes(0) != "wal")
    return Error{"store: " + options.path + " cannot be put in WAL mode (a file system without shared memory?)"};
  mode = Statement();
  for (const char* pragma : {"PRAGMA synchronous = FULL", "PRAGMA foreign_keys = ON"})
    if (auto s = execute(raw, pragma); !s) return s.error();
  if (auto s = migrate(raw); !s) return s.error();
  // Per connection, not part of the schema: the minutes being folded by maintain().
  if (auto s = execute(raw, "CREATE TEMP TABLE folded (process_id INTEGER, minute INTEGER, ts REAL, interval_s REAL, " +
                                counter_list("", " INTEGER") + ", " + counter_list("total_", " INTEGER") + ")");
      !s)
    return s.error();

  std::unique_ptr<Store> store(new Store(options));
  store->writer_ = std::make_unique<Writer>();
  store->writer_->db = std::move(db.value());
  if (auto s = store->writer_->prepare_all(); !s) return s.error();
  store->readers_ = std::make_unique<Readers>();
  store->readers_->path = options.path;
  return store;
}

Result<std::vector<IngestOutcome>> Store::ingest(const std::vector<const Batch*>& batches) {
  auto transaction = Transaction::begin(writer_->db.get(), "BEGIN IMMEDIATE");
  if (!transaction) return transaction.error();
  std::vector<IngestOutcome> outcomes;
  outcomes.reserve(batches.size());
  for (const Batch* batch : batches) {
    auto outcome = writer_->ingest(*batch);
    if (!outcome) return outcome.error();
    outcomes.push_back(*outcome);
  }
  if (auto s = transaction->commit(); !s) return s.error();
  // Readers that never pause keep SQLite's automatic (passive) checkpoints from ever reaching the
  // end of the log, and the log then grows without bound. Past a bound, wait (the busy timeout) for
  // the readers of older snapshots to finish, copy everything back and start the log again.
  std::error_code error;
  const auto wal_bytes = std::filesystem::file_size(options_.path + "-wal", error);
  if (!error && wal_bytes > kWalRestartBytes)
    sqlite3_wal_checkpoint_v2(writer_->db.get(), nullptr, SQLITE_CHECKPOINT_TRUNCATE, nullptr, nullptr);
  return outcomes;
}

Result<int64_t> Store::record_job_finding(const JobFinding& f) {
  auto transaction = Transaction::begin(writer_->db.get(), "BEGIN IMMEDIATE");
  if (!transaction) return transaction.error();
  auto& w = *writer_;
  if (auto s = w.finding_insert
                   .bind(f.job, f.kind, f.subject, f.rank, f.from_rank, f.to_rank, f.metric, f.value, f.peers_median,
                         f.since, f.ts)
                   .run();
      !s)
    return s.error();
  const int64_t id = sqlite3_last_insert_rowid(w.db.get());
  // The anomaly row, on the named rank's host (known once any of its batches was stored).
  auto host = w.host_select.bind(f.host).step();
  if (!host) return host.error();
  if (*host) {
    const int64_t host_id = w.host_select.integer(0);
    w.host_select.start();
    // What was expected is what its peers show: their median.
    if (auto s = w.anomaly_insert
                     .bind(host_id, f.process ? std::optional<int64_t>(f.process) : std::nullopt, f.ts, "job", f.tgid,
                           f.netns, static_cast<int64_t>(f.start_ns), Blob{""}, Blob{f.job + " " + f.subject}, f.metric,
                           f.kind, f.value, f.peers_median, f.peers_median, f.score)
                     .run();
        !s)
      return s.error();
  }
  if (auto s = transaction->commit(); !s) return s.error();
  return id;
}

Status Store::end_job_finding(int64_t id, double ended) { return writer_->finding_end.bind(id, ended).run(); }

Status Store::maintain(double now) {
  if (!std::isfinite(now)) return Error{"store: maintain needs a time"};
  return writer_->maintain(now - options_.retention_s, now - options_.downsample_after_s);
}

uint64_t Store::size_bytes() const {
  uint64_t total = 0;
  for (const std::string& file : {options_.path, options_.path + "-wal"}) {
    std::error_code error;
    const auto size = std::filesystem::file_size(file, error);
    if (!error) total += size;
  }
  return total;
}

Result<Json> Store::answer(const Query& query) const {
  auto db = readers_->take();
  if (!db) return db.error();
  Result<Json> out = Error{};
  {
    auto transaction = Transaction::begin(db->get(), "BEGIN");
    if (!transaction) return transaction.error();
    out = Answerer(db->get(), query).answer();
  }  // read transactions end the same whichever way: rolled back
  readers_->give_back(std::move(db.value()));
  return out;
}

}  // namespace nt::server
