// The server's store and its HTTP API: hand-built batches in, exact answers out.
#include "server/store.h"

#include <algorithm>
#include <gtest/gtest.h>
#include <httplib.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <filesystem>
#include <mutex>
#include <set>
#include <thread>

#include "model/process_counters.h"
#include "server/http_api.h"

namespace {

using neutracer::v1::Batch;
using nt::server::IngestOutcome;
using nt::server::Query;
using nt::server::QueryKind;
using nt::server::Store;
using nt::server::StoreOptions;
using Json = nlohmann::json;

constexpr double kT0 = 1'700'000'000.0;
constexpr uint32_t kNetns = 4026531840u;

Batch batch(const std::string& host, uint64_t run, uint64_t seq, double ts) {
  Batch b;
  auto* identity = b.mutable_host();
  identity->set_machine_id(host);
  identity->set_hostname(host + ".example");
  (*identity->mutable_labels())["rack"] = "r1";
  identity->set_agent_version("0.1.0");
  identity->set_agent_start_unix_ns(run);
  b.set_seq(seq);
  b.set_ts(ts);
  b.set_interval_s(10);
  return b;
}

void set_key(neutracer::v1::ProcessKey* key, uint32_t tgid) {
  key->set_tgid(tgid);
  key->set_netns(kNetns);
  key->set_start_ns(tgid * 1000ull);
}

void add_process(Batch& b, uint32_t tgid, const std::string& comm, const std::vector<uint64_t>& counters) {
  auto* p = b.add_processes();
  set_key(p->mutable_key(), tgid);
  p->set_comm(comm);
  for (uint64_t c : counters) p->add_counters(c);
}

std::string ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) { return std::string{char(a), char(b), char(c), char(d)}; }

void add_flow(Batch& b, uint32_t tgid, const std::string& local, uint32_t local_port, const std::string& remote,
              uint32_t remote_port, uint64_t tx, uint64_t rx) {
  auto* f = b.add_flows();
  set_key(f->mutable_process(), tgid);
  f->set_protocol(6);
  f->mutable_local()->set_address(local);
  f->mutable_local()->set_port(local_port);
  f->mutable_remote()->set_address(remote);
  f->mutable_remote()->set_port(remote_port);
  f->set_tx_bytes(tx);
  f->set_rx_bytes(rx);
  f->set_srtt_us(120);
}

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("nt-store-" + std::string(::testing::UnitTest::GetInstance()->current_test_info()->name()) + "-" +
            std::to_string(getpid()));
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
    options_.path = (dir_ / "store.db").string();
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }

  Store& open() {
    store_.reset();
    auto store = Store::open(options_);
    if (!store) ADD_FAILURE() << store.error().message;
    store_ = std::move(store.value());
    return *store_;
  }

  std::vector<IngestOutcome> ingest_all(const std::vector<const Batch*>& batches) {
    auto outcomes = store_->ingest(batches);
    if (!outcomes) ADD_FAILURE() << outcomes.error().message;
    return outcomes ? outcomes.value() : std::vector<IngestOutcome>{};
  }
  IngestOutcome ingest(const Batch& b) {
    auto outcomes = ingest_all({&b});
    return outcomes.empty() ? IngestOutcome::kDuplicate : outcomes[0];
  }

  Json answer(Query query) {
    auto json = store_->answer(query);
    if (!json) ADD_FAILURE() << json.error().message;
    return json ? json.value() : Json();
  }
  static Query over(QueryKind kind, double from, double to) {
    Query query;
    query.kind = kind;
    query.from = from;
    query.to = to;
    query.now = to + 10;
    return query;
  }
  Json processes(double from, double to, std::string sort = "tx_bytes") {
    Query query = over(QueryKind::kProcesses, from, to);
    query.sort = std::move(sort);
    return answer(query)["processes"];
  }
  Json host(const std::string& machine_id) {
    Query query = over(QueryKind::kHosts, 0, kT0);
    query.now = kT0 + 100;
    query.host = machine_id;
    Json hosts = answer(query)["hosts"];
    return hosts.size() == 1 ? hosts[0] : Json();
  }
  // One SQL value read straight from the file, beside the store.
  std::string sql(const std::string& text) {
    sqlite3* db = nullptr;
    sqlite3_open_v2(options_.path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr);
    sqlite3_stmt* statement = nullptr;
    std::string value = "(no row)";
    if (sqlite3_prepare_v2(db, text.c_str(), -1, &statement, nullptr) == SQLITE_OK &&
        sqlite3_step(statement) == SQLITE_ROW && sqlite3_column_text(statement, 0))
      value = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
    sqlite3_finalize(statement);
    sqlite3_close(db);
    return value;
  }

  std::filesystem::path dir_;
  StoreOptions options_;
  std::unique_ptr<Store> store_;
};

const Json* find_pid(const Json& processes, int64_t pid) {
  for (const auto& p : processes)
    if (p["pid"] == pid) return &p;
  return nullptr;
}

TEST_F(StoreTest, DeltasAndTotalsOfTwoHostsAreExact) {
  open();
  Batch a1 = batch("host-a", 1, 1, kT0 + 10);
  add_process(a1, 100, "python", {1000, 10, 5, 2});
  Batch a2 = batch("host-a", 1, 2, kT0 + 20);
  add_process(a2, 100, "python", {1500, 30, 8, 3});
  add_process(a2, 101, "nccl", {4000});
  Batch b1 = batch("host-b", 7, 1, kT0 + 20);
  add_process(b1, 200, "server", {300, 7000});
  EXPECT_EQ(ingest_all({&a1, &a2, &b1}), std::vector<IngestOutcome>(3, IngestOutcome::kStored));

  Json all = processes(kT0, kT0 + 20);
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(all[0]["pid"], 101);
  EXPECT_EQ(all[1]["pid"], 100);
  EXPECT_EQ(all[2]["pid"], 200);
  const Json& python = *find_pid(all, 100);
  EXPECT_EQ(python["host"], "host-a");
  EXPECT_EQ(python["comm"], "python");
  EXPECT_EQ(python["netns"], kNetns);
  EXPECT_EQ(python["start_ns"], 100000);
  EXPECT_EQ(python["delta"]["tx_bytes"], 1500);
  EXPECT_EQ(python["delta"]["rx_bytes"], 30);
  EXPECT_EQ(python["delta"]["tx_calls"], 8);
  EXPECT_EQ(python["delta"]["rx_calls"], 3);
  EXPECT_EQ(python["total"]["tx_bytes"], 1500);
  ASSERT_EQ(python["delta"].size(), nt::model::kProcessCounterCount);
  ASSERT_EQ(python["total"].size(), nt::model::kProcessCounterCount);
  for (auto name : nt::model::kProcessCounterNames) EXPECT_TRUE(python["total"].contains(std::string(name))) << name;

  // The second interval alone: its deltas, the same totals.
  Json second = processes(kT0 + 10, kT0 + 20);
  EXPECT_EQ((*find_pid(second, 100))["delta"]["tx_bytes"], 500);
  EXPECT_EQ((*find_pid(second, 100))["delta"]["rx_bytes"], 20);
  EXPECT_EQ((*find_pid(second, 100))["total"]["tx_bytes"], 1500);

  EXPECT_EQ(processes(kT0, kT0 + 20, "rx_bytes")[0]["pid"], 200);
  Query limited = over(QueryKind::kProcesses, kT0, kT0 + 20);
  limited.limit = 1;
  limited.host = "host-b";
  Json only_b = answer(limited)["processes"];
  ASSERT_EQ(only_b.size(), 1u);
  EXPECT_EQ(only_b[0]["pid"], 200);

  Query series = over(QueryKind::kSeries, kT0, kT0 + 20);
  series.process = python["id"].get<int64_t>();
  EXPECT_EQ(answer(series)["points"], Json::parse("[[1700000010.0, 100.0], [1700000020.0, 50.0]]"));

  Json a = host("host-a");
  EXPECT_EQ(a["hostname"], "host-a.example");
  EXPECT_EQ(a["labels"], Json({{"rack", "r1"}}));
  EXPECT_EQ(a["last_seen"], kT0 + 20);
  EXPECT_EQ(a["freshness_s"], 80.0);  // asked at kT0 + 100
  EXPECT_EQ(a["batches_stored"], 2);
}

TEST_F(StoreTest, DuplicatesAreRecognisedAndChangeNothing) {
  open();
  Batch first = batch("host-a", 1, 1, kT0 + 10);
  add_process(first, 100, "python", {1000});
  Batch second = batch("host-a", 1, 2, kT0 + 20);
  add_process(second, 100, "python", {1500});
  EXPECT_EQ(ingest(first), IngestOutcome::kStored);
  EXPECT_EQ(ingest_all({&first, &second, &second}),
            (std::vector<IngestOutcome>{IngestOutcome::kDuplicate, IngestOutcome::kStored, IngestOutcome::kDuplicate}));
  Json python = *find_pid(processes(kT0, kT0 + 20), 100);
  EXPECT_EQ(python["delta"]["tx_bytes"], 1500);
  EXPECT_EQ(python["total"]["tx_bytes"], 1500);
  EXPECT_EQ(sql("SELECT count(*) FROM samples"), "2");
  Json a = host("host-a");
  EXPECT_EQ(a["batches_stored"], 2);
  EXPECT_EQ(a["duplicates"], 2);
  EXPECT_EQ(a["missing_batches"], 0);
}

TEST_F(StoreTest, GapsInTheSequenceAreMissingUntilTheyArrive) {
  open();
  Batch b1 = batch("host-a", 1, 1, kT0 + 10), b2 = batch("host-a", 1, 2, kT0 + 20), b5 = batch("host-a", 1, 5, kT0 + 50);
  ingest_all({&b1, &b2, &b5});
  EXPECT_EQ(host("host-a")["missing_batches"], 2);
  Batch b3 = batch("host-a", 1, 3, kT0 + 30);
  EXPECT_EQ(ingest(b3), IngestOutcome::kStored);
  EXPECT_EQ(host("host-a")["missing_batches"], 1);
  EXPECT_EQ(host("host-a")["last_seen"], kT0 + 50);  // a late batch does not move it back
}

TEST_F(StoreTest, ANewAgentRunCountsAfreshAndTotalsSumOverRuns) {
  open();
  Batch r1s1 = batch("host-a", 1000, 1, kT0 + 10);
  (*r1s1.mutable_losses())["ringbuf_full"] = 5;
  r1s1.set_batches_dropped(2);
  r1s1.set_samples_dropped(20);
  add_process(r1s1, 100, "python", {1000});
  Batch r1s2 = batch("host-a", 1000, 2, kT0 + 20);
  (*r1s2.mutable_losses())["ringbuf_full"] = 7;
  r1s2.set_batches_dropped(3);
  r1s2.set_samples_dropped(30);
  add_process(r1s2, 100, "python", {1500});
  Batch r2s1 = batch("host-a", 2000, 1, kT0 + 40);
  (*r2s1.mutable_losses())["ringbuf_full"] = 3;
  (*r2s1.mutable_losses())["map_read_failed"] = 1;
  r2s1.set_batches_dropped(1);
  r2s1.set_samples_dropped(4);
  add_process(r2s1, 100, "python", {200});
  ingest_all({&r1s1, &r1s2, &r2s1});

  Json a = host("host-a");
  EXPECT_EQ(a["batches_dropped"], 4);
  EXPECT_EQ(a["samples_dropped"], 34);
  EXPECT_EQ(a["missing_batches"], 0);
  EXPECT_EQ(a["agent_start_unix_ns"], 2000);
  Json python = *find_pid(processes(kT0, kT0 + 40), 100);
  EXPECT_EQ(python["delta"]["tx_bytes"], 1700);
  EXPECT_EQ(python["total"]["tx_bytes"], 1700);

  // A batch of the first run delayed past the restart: its losses count, its counters cannot be
  // differenced against the first run's any more.
  Batch late = batch("host-a", 1000, 3, kT0 + 30);
  (*late.mutable_losses())["ringbuf_full"] = 9;
  add_process(late, 100, "python", {1600});
  EXPECT_EQ(ingest(late), IngestOutcome::kStored);
  Json losses = answer(over(QueryKind::kLosses, 0, kT0))["hosts"];
  ASSERT_EQ(losses.size(), 1u);
  EXPECT_EQ(losses[0]["host"], "host-a");
  EXPECT_EQ(losses[0]["losses"], Json({{"map_read_failed", 1}, {"ringbuf_full", 12}}));
  EXPECT_EQ((*find_pid(processes(kT0, kT0 + 40), 100))["total"]["tx_bytes"], 1700);
}

TEST_F(StoreTest, RetentionAndDownsamplingKeepTheSums) {
  open();
  std::vector<Batch> batches;
  std::set<int64_t> minutes;
  for (uint64_t i = 1; i <= 60; ++i) {
    batches.push_back(batch("host-a", 1, i, kT0 + 10.0 * i));
    add_process(batches.back(), 100, "python", {100 * i, i});
    minutes.insert(static_cast<int64_t>((kT0 + 10.0 * i) / 60));
  }
  std::vector<const Batch*> all;
  for (const auto& b : batches) all.push_back(&b);
  ingest_all(all);
  auto tx_over_all = [&] {
    Json list = processes(kT0, kT0 + 600);
    return list.empty() ? Json(0) : list[0]["delta"]["tx_bytes"];
  };
  EXPECT_EQ(tx_over_all(), 6000);

  // An hour and more later every interval is folded: one row per minute, the same sums.
  ASSERT_TRUE(store_->maintain(kT0 + 600 + 3601));
  EXPECT_EQ(sql("SELECT count(*) FROM samples"), std::to_string(minutes.size()));
  EXPECT_EQ(sql("SELECT count(*) FROM samples WHERE resolution_s = 60"), std::to_string(minutes.size()));
  EXPECT_EQ(tx_over_all(), 6000);
  EXPECT_EQ(sql("SELECT sum(rx_bytes) FROM samples"), "60");
  ASSERT_TRUE(store_->maintain(kT0 + 600 + 3601));  // again: nothing more to do
  EXPECT_EQ(sql("SELECT count(*) FROM samples"), std::to_string(minutes.size()));

  // A batch stamped earlier than what is stored (the agent's clock stepped back) is still the newest
  // reading: its row goes to the newest minute, already folded, and joins that minute's row.
  Batch late = batch("host-a", 1, 61, kT0 + 15);
  add_process(late, 100, "python", {6100, 60});
  EXPECT_EQ(ingest(late), IngestOutcome::kStored);
  ASSERT_TRUE(store_->maintain(kT0 + 600 + 3601));
  EXPECT_EQ(sql("SELECT count(*) FROM samples"), std::to_string(minutes.size()));
  EXPECT_EQ(tx_over_all(), 6100);

  // Retention cuts at a minute boundary: what ended before it goes, what ended at or after it stays.
  const double cut = 1'700'000'280.0;
  ASSERT_EQ(std::fmod(cut, 60.0), 0.0);
  ASSERT_TRUE(store_->maintain(cut + options_.retention_s));
  EXPECT_EQ(tx_over_all(), 100 * 34);  // intervals 28..60 end at or after the cut, and the late one is with 60
  ASSERT_TRUE(store_->maintain(kT0 + 601 + options_.retention_s));
  EXPECT_EQ(sql("SELECT count(*) FROM samples"), "0");
  EXPECT_EQ(sql("SELECT count(*) FROM processes"), "0");
  EXPECT_EQ(sql("SELECT count(*) FROM batches"), "0");
  EXPECT_EQ(host("host-a")["batches_stored"], 61);  // the host and its counts stay
  EXPECT_EQ(sql("PRAGMA integrity_check"), "ok");
  EXPECT_EQ(sql("PRAGMA foreign_key_check"), "(no row)");  // nothing points at a deleted row
}

TEST_F(StoreTest, OneJobAcrossHostsRankByRank) {
  open();
  // Three ranks on three hosts in a ring (r sends to r+1); ten steps of four 10 ms slots, in each of
  // which rank 2 misses the first slot of the exchange; it also waits for the CPU a third of the time.
  const std::string slots_of[] = {std::string(5, '\x33'), std::string(5, '\x33'), std::string(5, '\x22')};
  std::vector<Batch> batches;
  const auto address = [](int rank) { return ipv4(10, 0, 0, static_cast<uint8_t>(rank + 1)); };
  for (int rank = 0; rank < 3; ++rank) {
    const std::string host = "node-" + std::to_string(rank);
    const uint32_t pid = 300 + static_cast<uint32_t>(rank);
    Batch first = batch(host, 1, 1, kT0);
    add_process(first, pid, "python3", {0, 0, 0, 0, 0, 0, 0, 0, 0});
    Batch second = batch(host, 1, 2, kT0 + 10);
    const uint64_t runq = rank == 2 ? 3'333'333'333ull : 100'000'000ull;
    add_process(second, pid, "python3", {50'000'000, 40'000'000, 0, 0, 0, 0, 0, 6'000'000'000ull, runq});
    const int next = (rank + 1) % 3, previous = (rank + 2) % 3;
    // Its connection to the next rank, and the previous rank's to it (the receiver saw a little less
    // of rank 2's: its last bytes were still in flight at the interval's end).
    add_flow(second, pid, address(rank), 40000, address(next), 29600, 10'000'000 + 1000 * rank, 0);
    add_flow(second, pid, address(rank), 29600, address(previous), 40000, 0, rank == 0 ? 9'990'000 : 10'000'000 + 1000 * previous);
    auto* job = second.add_jobs();
    job->set_name("10.0.0.1:29500");
    job->set_world_size(3);
    auto* member = job->add_ranks();
    member->set_rank(rank);
    set_key(member->mutable_process(), pid);
    member->set_step_s(0.100);
    member->set_bytes_per_step(2e6);
    member->set_onset_unix_s(kT0 + 9.5);
    member->set_active_s(0.02);
    member->set_busy_start_unix_ms(static_cast<int64_t>(kT0 * 1000) + 9000);
    member->set_busy_slots(slots_of[rank]);
    batches.push_back(first);
    batches.push_back(second);
  }
  for (auto& b : batches) ingest(b);
  Query query = over(QueryKind::kJob, kT0, kT0 + 10);
  query.job = "10.0.0.1:29500";
  Json job = answer(query);
  EXPECT_EQ(job["world_size"], 3);
  ASSERT_EQ(job["ranks"].size(), 3u) << job.dump();
  for (int rank = 0; rank < 3; ++rank) {
    const Json& r = job["ranks"][rank];
    EXPECT_EQ(r["rank"], rank);
    EXPECT_EQ(r["host"], "node-" + std::to_string(rank));
    EXPECT_DOUBLE_EQ(r["active_s"].get<double>(), 0.02);
    EXPECT_NEAR(r["absent_share"].get<double>(), rank == 2 ? 0.5 : 0.0, 1e-9) << r.dump();
    EXPECT_NEAR(r["tx_bytes_per_s"].get<double>(), 5e6, 1) << r.dump();
    EXPECT_NEAR(r["on_cpu_share"].get<double>(), 0.6, 1e-6);
    EXPECT_NEAR(r["runq_share"].get<double>(), rank == 2 ? 0.3333 : 0.01, 1e-3);
  }
  ASSERT_EQ(job["links"].size(), 3u) << job["links"].dump();
  for (const auto& link : job["links"]) {
    const int from = link["from_rank"], to = link["to_rank"];
    EXPECT_EQ(to, (from + 1) % 3);
    EXPECT_EQ(link["from_host"], "node-" + std::to_string(from));
    EXPECT_EQ(link["bytes"], 10'000'000 + 1000 * from);
    EXPECT_EQ(link["bytes_received"], from == 2 ? 9'990'000 : 10'000'000 + 1000 * from);
    EXPECT_DOUBLE_EQ(link["bytes_per_s"].get<double>(), (10'000'000 + 1000 * from) / 10.0);
    EXPECT_DOUBLE_EQ(link["srtt_us"].get<double>(), 120);
    EXPECT_EQ(link["retransmits"], 0);
  }
  EXPECT_TRUE(job["findings"].empty());
  // A finding the server named, as the job's episode and as an anomaly on the rank's host.
  nt::server::JobFinding finding;
  finding.job = "10.0.0.1:29500";
  finding.kind = "straggler";
  finding.subject = "rank 2";
  finding.metric = "absent_share";
  finding.rank = 2;
  finding.host = "node-2";
  finding.process = job["ranks"][2]["process"].get<int64_t>();
  finding.tgid = 302;
  finding.value = 0.6;
  finding.since = kT0 + 6;
  finding.ts = kT0 + 8;
  auto id = store_->record_job_finding(finding);
  ASSERT_TRUE(id) << id.error().message;
  Json findings = answer(query)["findings"];
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0]["subject"], "rank 2");
  EXPECT_EQ(findings[0]["rank"], 2);
  EXPECT_FALSE(findings[0].contains("from_rank"));
  EXPECT_TRUE(findings[0]["ongoing"]);
  ASSERT_TRUE(store_->end_job_finding(*id, kT0 + 9));
  findings = answer(query)["findings"];
  EXPECT_FALSE(findings[0]["ongoing"]);
  EXPECT_DOUBLE_EQ(findings[0]["ended"].get<double>(), kT0 + 9);
  Query later = over(QueryKind::kJob, kT0 + 9.5, kT0 + 10);
  later.job = "10.0.0.1:29500";
  EXPECT_TRUE(answer(later)["findings"].empty()) << "over before the range";
  Json anomalies = answer(over(QueryKind::kAnomalies, kT0, kT0 + 10))["anomalies"];
  ASSERT_EQ(anomalies.size(), 1u);
  EXPECT_EQ(anomalies[0]["host"], "node-2");
  EXPECT_EQ(anomalies[0]["kind"], "job");
  EXPECT_EQ(anomalies[0]["detector"], "straggler");
  EXPECT_EQ(anomalies[0]["subject"], "10.0.0.1:29500 rank 2");

  Query other = over(QueryKind::kJob, kT0, kT0 + 10);
  other.job = "no-such-job";
  EXPECT_TRUE(answer(other)["ranks"].empty());
}

TEST_F(StoreTest, AReopenedFileHasItsDataAndPassesTheIntegrityCheck) {
  open();
  Batch b = batch("host-a", 1, 1, kT0 + 10);
  add_process(b, 100, "python", {1000});
  ingest(b);
  store_.reset();
  EXPECT_EQ(sql("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(sql("PRAGMA user_version"), "3");  // schema v3: syscall and fault counters
  open();
  EXPECT_EQ(host("host-a")["batches_stored"], 1);
  EXPECT_EQ((*find_pid(processes(kT0, kT0 + 10), 100))["total"]["tx_bytes"], 1000);
  EXPECT_EQ(ingest(b), IngestOutcome::kDuplicate);
  EXPECT_EQ(sql("PRAGMA integrity_check"), "ok");
  EXPECT_GT(store_->size_bytes(), 0u);
}

TEST_F(StoreTest, AVersion2FileGainsTheSyscallAndFaultCountersAndKeepsItsData) {
  // A version 2 file is this one without the columns version 3 added.
  open();
  Batch b = batch("host-a", 1, 1, kT0 + 10);
  add_process(b, 100, "python", {1000});
  ingest(b);
  store_.reset();
  sqlite3* db = nullptr;
  sqlite3_open(options_.path.c_str(), &db);
  for (const char* table_prefix : {"processes ", "processes run_", "samples ", "samples total_"})
    for (const char* counter : {"syscalls", "syscall_errors", "syscall_ns", "minor_faults", "major_faults"}) {
      const std::string text(table_prefix);
      const auto space = text.find(' ');
      const std::string drop = "ALTER TABLE " + text.substr(0, space) + " DROP COLUMN " + text.substr(space + 1) + counter;
      ASSERT_EQ(sqlite3_exec(db, drop.c_str(), nullptr, nullptr, nullptr), SQLITE_OK) << drop << sqlite3_errmsg(db);
    }
  sqlite3_exec(db, "PRAGMA user_version = 2", nullptr, nullptr, nullptr);
  sqlite3_close(db);

  open();
  EXPECT_EQ(sql("PRAGMA user_version"), "3");
  Batch next = batch("host-a", 1, 2, kT0 + 11);
  std::vector<uint64_t> counters(nt::model::kProcessCounterCount, 0);
  counters[0] = 1500;
  counters[static_cast<size_t>(nt::model::ProcessCounter::kSyscalls)] = 42;
  add_process(next, 100, "python", counters);
  EXPECT_EQ(ingest(next), IngestOutcome::kStored);
  const Json process = *find_pid(processes(kT0, kT0 + 20), 100);
  EXPECT_EQ(process["total"]["tx_bytes"], 1500);
  EXPECT_EQ(process["total"]["syscalls"], 42);
  EXPECT_EQ(sql("PRAGMA integrity_check"), "ok");
}

TEST_F(StoreTest, AFileFromANewerServerIsRefused) {
  open();
  store_.reset();
  sqlite3* db = nullptr;
  sqlite3_open(options_.path.c_str(), &db);
  sqlite3_exec(db, "PRAGMA user_version = 99", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto store = Store::open(options_);
  ASSERT_FALSE(store);
  EXPECT_NE(store.error().message.find("schema version 99 is newer"), std::string::npos) << store.error().message;
}

TEST_F(StoreTest, CommBytesAreTextWithInvalidBytesEscaped) {
  open();
  Batch b = batch("host-a", 1, 1, kT0 + 10);
  add_process(b, 100, std::string("py\xff") + "t\\o\xc3\xa9" + std::string(1, '\0'), {1});
  ingest(b);
  // A NUL is valid UTF-8: it stays a byte, which JSON writes as \u0000.
  EXPECT_EQ(processes(kT0, kT0 + 10)[0]["comm"], std::string("py\\xfft\\\\o\xc3\xa9") + std::string(1, '\0'));
}

TEST_F(StoreTest, FlowsMatrixConnectionsAnomaliesAndJobs) {
  open();
  const std::string a_addr = ipv4(10, 0, 0, 1), b_addr = ipv4(10, 0, 0, 2), loop = ipv4(127, 0, 0, 1);
  Batch a1 = batch("host-a", 1, 1, kT0 + 10);
  add_flow(a1, 100, a_addr, 40000, b_addr, 80, 1000, 5000);
  Batch a2 = batch("host-a", 1, 2, kT0 + 20);
  add_flow(a2, 100, a_addr, 40000, b_addr, 80, 3000, 9000);
  add_flow(a2, 100, loop, 1234, loop, 5678, 50, 60);
  add_flow(a2, 101, loop, 5678, loop, 1234, 60, 50);
  Batch b1 = batch("host-b", 1, 1, kT0 + 20);
  add_flow(b1, 200, b_addr, 80, a_addr, 40000, 9000, 3001);
  add_flow(b1, 200, b_addr, 80, ipv4(10, 0, 0, 9), 50000, 777, 0);  // a client nobody traces
  add_flow(b1, 201, loop, 1234, loop, 9999, 10, 0);                  // host-a's loopback port, elsewhere
  auto* reset = b1.add_connections();
  reset->set_close_unix_ns(static_cast<uint64_t>((kT0 + 15) * 1e9));
  set_key(reset->mutable_owner(), 200);
  reset->set_comm("server");
  reset->set_resets_sent(1);
  reset->mutable_local()->set_address(b_addr);
  reset->mutable_local()->set_port(80);
  auto* fine = b1.add_connections();
  fine->set_close_unix_ns(static_cast<uint64_t>((kT0 + 16) * 1e9));
  set_key(fine->mutable_owner(), 200);
  auto* anomaly = b1.add_anomalies();
  anomaly->set_ts(kT0 + 20);
  anomaly->set_kind("process");
  set_key(anomaly->mutable_process(), 200);
  anomaly->set_detector("burst");
  anomaly->set_metric("tx_rate");
  anomaly->set_score(0.9);
  auto* job = b1.add_jobs();
  job->set_name("10.0.0.2:29500");
  job->set_world_size(2);
  auto* rank = job->add_ranks();
  rank->set_rank(0);
  set_key(rank->mutable_process(), 200);
  ingest_all({&a1, &a2, &b1});

  Query flows = over(QueryKind::kFlows, kT0, kT0 + 20);
  Json top = answer(flows)["flows"];
  ASSERT_GE(top.size(), 2u);
  EXPECT_EQ(top[0]["host"], "host-b");
  EXPECT_EQ(top[0]["local"], "10.0.0.2:80");
  EXPECT_EQ(top[0]["remote"], "10.0.0.1:40000");
  EXPECT_EQ(top[0]["bytes"], 12001);
  EXPECT_EQ(top[1]["tx_bytes"], 3000);
  EXPECT_EQ(top[1]["rx_bytes"], 9000);
  // A later part of the range: only what moved in it, while the totals stay whole.
  Json later = answer(over(QueryKind::kFlows, kT0 + 10, kT0 + 20))["flows"];
  const auto a_flow = std::find_if(later.begin(), later.end(), [](const Json& f) { return f["local"] == "10.0.0.1:40000"; });
  ASSERT_NE(a_flow, later.end());
  EXPECT_EQ((*a_flow)["tx_bytes"], 2000);
  EXPECT_EQ((*a_flow)["rx_bytes"], 4000);
  EXPECT_EQ((*a_flow)["total"]["tx_bytes"], 3000);
  Json none = answer(over(QueryKind::kFlows, kT0 + 20, kT0 + 30))["flows"];
  EXPECT_TRUE(none.empty()) << none;

  Json hosts = answer(over(QueryKind::kMatrix, kT0, kT0 + 20));
  std::map<std::pair<std::string, std::string>, int64_t> edges;
  for (const auto& e : hosts["edges"]) edges[{e["from"], e["to"]}] = e["bytes"];
  EXPECT_EQ(edges, (std::map<std::pair<std::string, std::string>, int64_t>{
                       {{"host-a", "host-b"}, 3000}, {{"host-b", "host-a"}, 9000}, {{"host-a", "host-a"}, 110}}));
  EXPECT_EQ(hosts["unattributed_bytes"], 787);
  EXPECT_EQ(hosts["nodes"].size(), 2u);
  Json later_matrix = answer(over(QueryKind::kMatrix, kT0 + 10, kT0 + 20));
  std::map<std::pair<std::string, std::string>, int64_t> later_edges;
  for (const auto& e : later_matrix["edges"]) later_edges[{e["from"], e["to"]}] = e["bytes"];
  EXPECT_EQ(later_edges[std::make_pair(std::string("host-a"), std::string("host-b"))], 2000);

  Query by_process = over(QueryKind::kMatrix, kT0, kT0 + 20);
  by_process.level = "process";
  Json processes_matrix = answer(by_process);
  std::map<std::pair<int64_t, int64_t>, int64_t> process_edges;
  std::map<int64_t, int64_t> pid_of;
  for (const auto& n : processes_matrix["nodes"]) pid_of[n["process"]] = n["pid"];
  for (const auto& e : processes_matrix["edges"])
    process_edges[{pid_of[e["from_process"]], pid_of[e["to_process"]]}] = e["bytes"];
  EXPECT_EQ(process_edges, (std::map<std::pair<int64_t, int64_t>, int64_t>{
                               {{100, 200}, 3000}, {{200, 100}, 9000}, {{100, 101}, 50}, {{101, 100}, 60}}));

  Json connections = answer(over(QueryKind::kConnections, kT0, kT0 + 20))["connections"];
  ASSERT_EQ(connections.size(), 2u);
  EXPECT_EQ(connections[0]["health"], "ok");  // the latest first
  EXPECT_EQ(connections[1]["health"], "reset");
  EXPECT_EQ(connections[1]["local"], "10.0.0.2:80");
  EXPECT_EQ(connections[1]["pid"], 200);

  Json anomalies = answer(over(QueryKind::kAnomalies, kT0, kT0 + 20))["anomalies"];
  ASSERT_EQ(anomalies.size(), 1u);
  EXPECT_EQ(anomalies[0]["detector"], "burst");
  EXPECT_EQ(anomalies[0]["source"], "agent");
  EXPECT_EQ(anomalies[0]["pid"], 200);

  Json jobs = answer(over(QueryKind::kJobs, kT0, kT0 + 20))["jobs"];
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0]["name"], "10.0.0.2:29500");
  EXPECT_EQ(jobs[0]["world_size"], 2);
  EXPECT_EQ(jobs[0]["hosts"][0]["ranks"][0]["pid"], 200);
  EXPECT_EQ(sql("PRAGMA integrity_check"), "ok");
}

TEST_F(StoreTest, DetectRunsTheAgentsDetectorsOverAStoredSeries) {
  open();
  std::vector<Batch> batches;
  uint64_t cumulative = 0;
  const uint64_t spike_at = 150;
  for (uint64_t i = 1; i <= 200; ++i) {
    cumulative += i == spike_at ? 5'000'000 : 100'000 + (i * 7919) % 5000;  // steady, a little noise
    batches.push_back(batch("host-a", 1, i, kT0 + 10.0 * i));
    add_process(batches.back(), 100, "python", {cumulative});
  }
  std::vector<const Batch*> all;
  for (const auto& b : batches) all.push_back(&b);
  ingest_all(all);
  Query detect = over(QueryKind::kDetect, kT0, kT0 + 2000);
  detect.process = processes(kT0, kT0 + 2000)[0]["id"].get<int64_t>();
  Json answer_json = answer(detect);
  EXPECT_EQ(answer_json["points"], 200);
  const Json* spike = nullptr;
  for (const auto& point : answer_json["flagged"])
    if (point["ts"] == kT0 + 10.0 * spike_at) spike = &point;
  ASSERT_TRUE(spike) << answer_json["flagged"].dump();
  EXPECT_EQ((*spike)["alert"], "raised");
  EXPECT_GE((*spike)["score"].get<double>(), 0.5);
}

TEST_F(StoreTest, ReadersAnswerFromManyThreadsWhileTheWriterWrites) {
  open();
  std::atomic<bool> writing{true};
  std::atomic<int> failures{0}, answers{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 4; ++t)
    readers.emplace_back([&] {
      while (writing || answers < 40) {
        for (auto kind : {QueryKind::kHosts, QueryKind::kProcesses, QueryKind::kMatrix})
          failures += !store_->answer(over(kind, kT0, kT0 + 1000));
        ++answers;
      }
    });
  for (uint64_t i = 1; i <= 40; ++i) {
    Batch b = batch("host-a", 1, i, kT0 + 10.0 * i);
    add_process(b, 100, "python", {i * 10});
    EXPECT_EQ(ingest(b), IngestOutcome::kStored);
  }
  writing = false;
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures, 0);
  EXPECT_EQ((*find_pid(processes(kT0, kT0 + 400), 100))["total"]["tx_bytes"], 400);
}

// ---- HTTP API ------------------------------------------------------------------------------

struct Rejections {
  std::mutex mutex;
  std::vector<std::string> reasons;
  void add(std::string_view reason) {
    std::lock_guard lock(mutex);
    reasons.emplace_back(reason);
  }
};

std::unique_ptr<httplib::Client> client_of(const nt::server::HttpApi& api) {
  const std::string address = api.address();
  const size_t colon = address.rfind(':');
  auto client = std::make_unique<httplib::Client>(address.substr(0, colon), std::stoi(address.substr(colon + 1)));
  client->set_connection_timeout(5);
  client->set_read_timeout(5);
  return client;
}

TEST_F(StoreTest, HttpApiWantsItsTokenAndRefusesBadQueries) {
  open();
  Batch a = batch("host-a", 1, 1, kT0 + 10), b = batch("host-b", 1, 1, kT0 + 10);
  ingest_all({&a, &b});
  Rejections rejections;
  nt::server::HttpHooks hooks;
  hooks.metrics_text = [] { return std::string("nt_up 1\n"); };
  hooks.rejected = [&](std::string_view reason) { rejections.add(reason); };
  hooks.now = [] { return kT0 + 30; };
  nt::server::HttpOptions options;
  options.token = "s3cret";
  auto api = nt::server::HttpApi::start(options, *store_, hooks);
  ASSERT_TRUE(api) << api.error().message;
  auto client = client_of(**api);

  auto missing = client->Get("/api/v1/hosts");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 401);
  auto wrong = client->Get("/api/v1/hosts", httplib::Headers{{"Authorization", "Bearer s3creT"}});
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 403);
  EXPECT_EQ(client->Get("/api/v1/hosts", httplib::Headers{{"Authorization", "Bearer s3cret-and-more"}})->status, 403);

  const httplib::Headers auth = {{"Authorization", "Bearer s3cret"}};
  auto hosts = client->Get("/api/v1/hosts", auth);
  ASSERT_TRUE(hosts);
  EXPECT_EQ(hosts->status, 200);
  EXPECT_EQ(hosts->get_header_value("Content-Type"), "application/json");
  Json body = Json::parse(hosts->body);
  ASSERT_EQ(body["hosts"].size(), 2u);
  EXPECT_EQ(body["hosts"][0]["machine_id"], "host-a");
  EXPECT_EQ(body["hosts"][0]["freshness_s"], 20.0);

  auto bad = client->Get("/api/v1/processes?limit=0", auth);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
  EXPECT_NE(Json::parse(bad->body)["error"].get<std::string>().find("limit"), std::string::npos);
  EXPECT_EQ(client->Get("/api/v1/nope", auth)->status, 404);
  EXPECT_EQ(client->Get("/elsewhere", auth)->status, 404);
  EXPECT_EQ(client->Post("/api/v1/hosts", auth, "", "text/plain")->status, 405);
  auto metrics = client->Get("/metrics", auth);
  EXPECT_EQ(metrics->body, "nt_up 1\n");
  EXPECT_EQ(metrics->get_header_value("Content-Type"), "text/plain; version=0.0.4");
  EXPECT_EQ(client->Get("/healthz", auth)->status, 200);
  EXPECT_EQ(client->Get("/healthz")->status, 401);
  {
    std::lock_guard lock(rejections.mutex);
    EXPECT_EQ(rejections.reasons,
              (std::vector<std::string>{"unauthenticated", "wrong_token", "wrong_token", "bad_query", "not_found",
                                        "not_found", "method_not_allowed", "unauthenticated"}));
  }

  // The same address again: taken, and the error says which.
  nt::server::HttpOptions same;
  same.listen = (*api)->address();
  auto second = nt::server::HttpApi::start(same, *store_, {});
  ASSERT_FALSE(second);
  EXPECT_NE(second.error().message.find(same.listen), std::string::npos) << second.error().message;
}

TEST_F(StoreTest, HttpApiWithoutATokenServesEveryone) {
  open();
  auto api = nt::server::HttpApi::start({}, *store_, {});
  ASSERT_TRUE(api) << api.error().message;
  auto client = client_of(**api);
  auto hosts = client->Get("/api/v1/hosts");
  ASSERT_TRUE(hosts);
  EXPECT_EQ(hosts->status, 200);
  EXPECT_EQ(Json::parse(hosts->body)["hosts"], Json::array());
  auto series = client->Get("/api/v1/series?process=1&counter=rx_bytes");
  ASSERT_TRUE(series);
  EXPECT_EQ(series->status, 200);
}

TEST_F(StoreTest, HttpApiRefusesATlsSetupItCannotLoad) {
  open();
  nt::server::HttpOptions options;
  options.tls_cert = (dir_ / "missing.pem").string();
  auto api = nt::server::HttpApi::start(options, *store_, {});
  ASSERT_FALSE(api);
  EXPECT_NE(api.error().message.find("both"), std::string::npos) << api.error().message;
  options.tls_key = (dir_ / "missing.key").string();
  api = nt::server::HttpApi::start(options, *store_, {});
  ASSERT_FALSE(api);
  EXPECT_NE(api.error().message.find("missing.pem"), std::string::npos) << api.error().message;
}

}  // namespace
