// The API's queries: defaults, every bound, and an error (one line) for everything else; the
// bearer-token check both ports share.
#include "server/query.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <set>

#include "model/process_counters.h"
#include "server/bearer.h"

namespace {

using nt::server::parse_query;
using nt::server::parse_query_string;
using nt::server::QueryKind;

constexpr double kNow = 1'700'000'000.0;

std::string error_of(std::string_view target) {
  auto query = parse_query_string(target, kNow);
  return query ? std::string("(no error)") : query.error().message;
}

TEST(Query, DefaultsAreTheLastHourTwentyRowsAndTxBytes) {
  auto query = parse_query_string("/api/v1/processes", kNow);
  ASSERT_TRUE(query) << query.error().message;
  EXPECT_EQ(query->kind, QueryKind::kProcesses);
  EXPECT_EQ(query->to, kNow);
  EXPECT_EQ(query->from, kNow - 3600);
  EXPECT_EQ(query->limit, 20u);
  EXPECT_EQ(query->sort, "tx_bytes");
  EXPECT_EQ(query->now, kNow);
  EXPECT_FALSE(query->host);
  EXPECT_FALSE(query->process);
}

TEST(Query, EveryRouteIsKnownAndNothingElse) {
  const std::pair<const char*, QueryKind> routes[] = {
      {"/api/v1/hosts", QueryKind::kHosts},           {"/api/v1/processes", QueryKind::kProcesses},
      {"/api/v1/series?process=1", QueryKind::kSeries}, {"/api/v1/flows", QueryKind::kFlows},
      {"/api/v1/matrix", QueryKind::kMatrix},         {"/api/v1/connections", QueryKind::kConnections},
      {"/api/v1/losses", QueryKind::kLosses},         {"/api/v1/anomalies", QueryKind::kAnomalies},
      {"/api/v1/jobs", QueryKind::kJobs},             {"/api/v1/detect?process=1", QueryKind::kDetect},
      {"/api/v1/job?job=10.0.0.1:29500", QueryKind::kJob},
  };
  for (const auto& [target, kind] : routes) {
    auto query = parse_query_string(target, kNow);
    ASSERT_TRUE(query) << target << ": " << query.error().message;
    EXPECT_EQ(query->kind, kind) << target;
  }
  for (const char* path : {"/", "/api/v1/", "/api/v1/hosts/", "/api/v2/hosts", "/api/v1/HOSTS", ""})
    EXPECT_EQ(error_of(path).rfind("not found", 0), 0u) << path;
  EXPECT_FALSE(nt::server::query_kind("/api/v1/nope"));
  EXPECT_EQ(nt::server::query_kind("/api/v1/jobs"), QueryKind::kJobs);
}

TEST(Query, LimitIsAnIntegerFromOneToAThousand) {
  EXPECT_EQ(parse_query_string("/api/v1/flows?limit=1", kNow)->limit, 1u);
  EXPECT_EQ(parse_query_string("/api/v1/flows?limit=1000", kNow)->limit, 1000u);
  for (const char* bad : {"0", "1001", "-1", "+5", "1e3", "5.0", "", " 5", "99999999999999999999999", "0x10"})
    EXPECT_NE(error_of(std::string("/api/v1/flows?limit=") + bad).find("limit"), std::string::npos) << bad;
}

TEST(Query, TimesAreFiniteOrderedWithinThirtyOneDaysAndNotDaysAhead) {
  auto query = parse_query_string("/api/v1/processes?from=1699990000&to=1699999000.5", kNow);
  ASSERT_TRUE(query) << query.error().message;
  EXPECT_EQ(query->from, 1699990000.0);
  EXPECT_EQ(query->to, 1699999000.5);
  // One end given: the other is the server's now, or an hour before the end given.
  EXPECT_EQ(parse_query_string("/api/v1/processes?from=1699990000", kNow)->to, kNow);
  EXPECT_EQ(parse_query_string("/api/v1/processes?to=1699990000", kNow)->from, 1699990000.0 - 3600);
  for (const char* bad : {"nan", "inf", "-inf", "-1", "", "1,5", "abc", "1e400"})
    EXPECT_NE(error_of(std::string("/api/v1/processes?from=") + bad).find("from"), std::string::npos) << bad;
  EXPECT_EQ(error_of("/api/v1/processes?from=1699999000&to=1699990000"), "from is after to");
  EXPECT_NE(error_of("/api/v1/processes?from=1000&to=1699990000").find("31 days"), std::string::npos);
  EXPECT_TRUE(parse_query_string("/api/v1/processes?from=1697321600&to=1700000000", kNow));  // exactly 31 days
  EXPECT_NE(error_of("/api/v1/processes?to=1700090000").find("day after"), std::string::npos);
  EXPECT_TRUE(parse_query_string("/api/v1/processes?to=1700080000", kNow));
}

TEST(Query, HostIsOneTo128PrintableCharacters) {
  EXPECT_EQ(*parse_query_string("/api/v1/hosts?host=node-1%20a", kNow)->host, "node-1 a");
  EXPECT_TRUE(parse_query_string("/api/v1/hosts?host=" + std::string(128, 'h'), kNow));
  for (const std::string& bad : {std::string(), std::string(129, 'h'), std::string("a%0Ab"), std::string("%7F"),
                                std::string("%C3%A9")})
    EXPECT_NE(error_of("/api/v1/hosts?host=" + bad).find("host:"), std::string::npos) << bad;
}

TEST(Query, ProcessIsAPositiveId) {
  EXPECT_EQ(*parse_query_string("/api/v1/series?process=42", kNow)->process, 42);
  EXPECT_EQ(*parse_query_string("/api/v1/series?process=9223372036854775807", kNow)->process, INT64_MAX);
  for (const char* bad : {"0", "-3", "9223372036854775808", "x", ""})
    EXPECT_NE(error_of(std::string("/api/v1/series?process=") + bad).find("process"), std::string::npos) << bad;
  EXPECT_EQ(error_of("/api/v1/series"), "/api/v1/series needs process");
  EXPECT_EQ(error_of("/api/v1/detect?counter=rx_bytes"), "/api/v1/detect needs process");
}

TEST(Query, SortAndCounterAreCounterNames) {
  for (auto name : nt::model::kProcessCounterNames) {
    EXPECT_EQ(parse_query_string("/api/v1/processes?sort=" + std::string(name), kNow)->sort, name);
    EXPECT_EQ(parse_query_string("/api/v1/series?process=1&counter=" + std::string(name), kNow)->counter, name);
  }
  EXPECT_NE(error_of("/api/v1/processes?sort=bytes").find("sort: not a counter name"), std::string::npos);
  EXPECT_NE(error_of("/api/v1/series?process=1&counter=TX_BYTES").find("counter:"), std::string::npos);
}

TEST(Query, LevelIsHostOrProcess) {
  EXPECT_EQ(parse_query_string("/api/v1/matrix", kNow)->level, "host");
  EXPECT_EQ(parse_query_string("/api/v1/matrix?level=process", kNow)->level, "process");
  EXPECT_NE(error_of("/api/v1/matrix?level=flow").find("level"), std::string::npos);
}

TEST(Query, UnknownRepeatedAndMisplacedParametersAreRefused) {
  EXPECT_NE(error_of("/api/v1/hosts?colour=red").find("unknown parameter \"colour\""), std::string::npos);
  EXPECT_NE(error_of("/api/v1/hosts?limit=5").find("unknown parameter \"limit\" for /api/v1/hosts (accepted: host)"),
            std::string::npos);
  EXPECT_EQ(error_of("/api/v1/flows?limit=5&limit=6"), "limit: given more than once");
  std::multimap<std::string, std::string> params = {{"level", "host"}};
  EXPECT_FALSE(parse_query("/api/v1/processes", params, kNow));
}

TEST(Query, PercentEscapesAreDecodedAndMalformedOnesRefused) {
  EXPECT_EQ(*parse_query_string("/api/v1/hosts?h%6Fst=a%2Bb+c", kNow)->host, "a+b c");
  EXPECT_EQ(parse_query_string("/api/v1/host%73", kNow)->kind, QueryKind::kHosts);
  EXPECT_TRUE(parse_query_string("/api/v1/flows?&limit=3&&", kNow));
  for (const char* bad : {"/api/v1/hosts?host=%", "/api/v1/hosts?host=%4", "/api/v1/hosts?host=%zz", "/api/v1/%g1"})
    EXPECT_NE(error_of(bad).find("malformed percent-escape"), std::string::npos) << bad;
}

TEST(Query, ErrorsAreOneShortLineWhateverTheInput) {
  const std::string hostile = "/api/v1/hosts?host=%0A%0D%00" + std::string(5000, 'x');
  for (const std::string& target : {hostile, std::string("/api/v1/\n\r\x01?x=1"), std::string("/\xff\xfe"),
                                    std::string(9000, '/')}) {
    const std::string message = error_of(target);
    EXPECT_EQ(message.find_first_of("\n\r"), std::string::npos) << message;
    EXPECT_LT(message.size(), 300u) << message;
  }
}

TEST(Query, ArbitraryBytesNeverCrashAndAlwaysAnswer) {
  std::mt19937 random(7);
  const std::string alphabet = "/api/v1/hostsprocesseriflowmatrixconnectionlosanomalyjobdetect?&=%+0123456789abcdefAF-.\xff";
  for (int round = 0; round < 20000; ++round) {
    std::string target = round % 2 ? "/api/v1/processes?" : "";
    const size_t length = random() % 64;
    for (size_t i = 0; i < length; ++i)
      target += round % 3 ? alphabet[random() % alphabet.size()] : static_cast<char>(random() & 0xff);
    auto query = parse_query_string(target, kNow);
    if (!query) {
      EXPECT_FALSE(query.error().message.empty());
      EXPECT_EQ(query.error().message.find('\n'), std::string::npos);
    } else {
      EXPECT_LE(query->limit, nt::server::kMaxLimit);
      EXPECT_LE(query->from, query->to);
    }
  }
}

// docs/openapi.yaml names every route parse_query accepts (as a key of `paths:`), no route it does
// not, and every counter name (as an enum item).
TEST(Query, OpenApiDocumentsEveryRouteAndCounter) {
  std::ifstream file(NT_OPENAPI_PATH);
  ASSERT_TRUE(file) << "cannot read " << NT_OPENAPI_PATH;
  std::set<std::string> paths, items;
  bool in_paths = false;
  for (std::string line; std::getline(file, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!line.empty() && line[0] != ' ' && line[0] != '#') {
      in_paths = line == "paths:";
      continue;
    }
    // A key of `paths:` is indented by two spaces and ends with a colon ("  /api/v1/hosts:").
    if (in_paths && line.size() > 3 && line.compare(0, 2, "  ") == 0 && line[2] != ' ' && line.back() == ':') {
      std::string key = line.substr(2, line.size() - 3);
      if (key.size() >= 2 && (key.front() == '"' || key.front() == '\'') && key.back() == key.front())
        key = key.substr(1, key.size() - 2);
      paths.insert(key);
    }
    const size_t dash = line.find_first_not_of(' ');
    if (dash != std::string::npos && line.compare(dash, 2, "- ") == 0) items.insert(line.substr(dash + 2));
  }

  const std::pair<QueryKind, const char*> routes[] = {
      {QueryKind::kHosts, "/api/v1/hosts"},         {QueryKind::kProcesses, "/api/v1/processes"},
      {QueryKind::kSeries, "/api/v1/series"},       {QueryKind::kFlows, "/api/v1/flows"},
      {QueryKind::kMatrix, "/api/v1/matrix"},       {QueryKind::kConnections, "/api/v1/connections"},
      {QueryKind::kLosses, "/api/v1/losses"},       {QueryKind::kAnomalies, "/api/v1/anomalies"},
      {QueryKind::kJobs, "/api/v1/jobs"},           {QueryKind::kDetect, "/api/v1/detect"},
  };
  std::set<QueryKind> kinds;
  for (const auto& [kind, path] : routes) {
    EXPECT_EQ(nt::server::query_kind(path), kind) << path;
    kinds.insert(kind);
    EXPECT_EQ(paths.count(path), 1u) << path << " is not a key of paths: in " << NT_OPENAPI_PATH;
  }
  EXPECT_EQ(kinds.size(), std::size(routes));
  for (const std::string& path : paths) {
    if (path.rfind("/api/v1/", 0) == 0) {
      EXPECT_TRUE(nt::server::query_kind(path)) << path << " is documented but not served";
    }
  }

  for (auto counter : nt::model::kProcessCounterNames)
    EXPECT_EQ(items.count(std::string(counter)), 1u) << counter << " is not an enum item in " << NT_OPENAPI_PATH;
}

TEST(Bearer, TheSchemeInAnyCaseBlanksAroundAndOnlyTheWholeToken) {
  using nt::server::AuthVerdict;
  using nt::server::check_bearer;
  EXPECT_EQ(check_bearer("", ""), AuthVerdict::kOk);  // no token required
  EXPECT_EQ(check_bearer("Basic abc", ""), AuthVerdict::kOk);
  EXPECT_EQ(check_bearer("Bearer s3cret", "s3cret"), AuthVerdict::kOk);
  EXPECT_EQ(check_bearer("bEARER   s3cret  ", "s3cret"), AuthVerdict::kOk);
  EXPECT_EQ(check_bearer("", "s3cret"), AuthVerdict::kMissing);
  EXPECT_EQ(check_bearer("Basic s3cret", "s3cret"), AuthVerdict::kMissing);
  EXPECT_EQ(check_bearer("Bearer", "s3cret"), AuthVerdict::kMissing);
  EXPECT_EQ(check_bearer("Bearer s3cre", "s3cret"), AuthVerdict::kWrong);
  EXPECT_EQ(check_bearer("Bearer s3crets", "s3cret"), AuthVerdict::kWrong);
  EXPECT_EQ(check_bearer("Bearer S3CRET", "s3cret"), AuthVerdict::kWrong);
  EXPECT_EQ(check_bearer(std::string_view("Bearer s3cret\0", 14), "s3cret"), AuthVerdict::kWrong);
}

}  // namespace
