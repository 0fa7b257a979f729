#include "server/query.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <limits>

#include "model/process_counters.h"

namespace nt::server {
namespace {

enum Param : unsigned {
  kFrom = 1u << 0,
  kTo = 1u << 1,
  kLimit = 1u << 2,
  kHost = 1u << 3,
  kProcess = 1u << 4,
  kSort = 1u << 5,
  kCounter = 1u << 6,
  kLevel = 1u << 7,
  kJob = 1u << 8,
};
constexpr unsigned kRange = kFrom | kTo;

struct ParamName {
  std::string_view name;
  Param param;
};
constexpr std::array<ParamName, 9> kParams = {{
    {"from", kFrom}, {"to", kTo}, {"limit", kLimit}, {"host", kHost},
    {"process", kProcess}, {"sort", kSort}, {"counter", kCounter}, {"level", kLevel}, {"job", kJob},
}};

// A parameter a route does not use is refused rather than ignored: a caller who filters by host
// where no filter exists would otherwise read an unfiltered answer as a filtered one.
struct Route {
  std::string_view path;
  QueryKind kind;
  unsigned accepted;
  unsigned required;
};
constexpr std::array<Route, 11> kRoutes = {{
    {"/api/v1/hosts", QueryKind::kHosts, kHost, 0},
    {"/api/v1/processes", QueryKind::kProcesses, kRange | kLimit | kHost | kSort, 0},
    {"/api/v1/series", QueryKind::kSeries, kRange | kProcess | kCounter, kProcess},
    {"/api/v1/flows", QueryKind::kFlows, kRange | kLimit | kHost | kProcess, 0},
    {"/api/v1/matrix", QueryKind::kMatrix, kRange | kLimit | kLevel, 0},
    {"/api/v1/connections", QueryKind::kConnections, kRange | kLimit | kHost | kProcess, 0},
    {"/api/v1/losses", QueryKind::kLosses, kHost, 0},
    {"/api/v1/anomalies", QueryKind::kAnomalies, kRange | kLimit | kHost | kProcess, 0},
    {"/api/v1/jobs", QueryKind::kJobs, kRange | kHost, 0},
    {"/api/v1/job", QueryKind::kJob, kRange | kJob, kJob},
    {"/api/v1/detect", QueryKind::kDetect, kRange | kProcess | kCounter, kProcess},
}};

// Longer targets are refused before anything is decoded, which bounds what a request can make
// this parser allocate (HTTP servers cap their request line near this too).
constexpr size_t kMaxTargetBytes = 8192;
constexpr size_t kMaxNameBytes = 128;  // a host's machine id, a job's name
constexpr double kDefaultRangeSeconds = 3600.0;
constexpr double kMaxFutureSeconds = 86400.0;  // agents' clocks run ahead a little, not by days
constexpr size_t kMaxEchoedBytes = 64;

// What the caller sent, quoted for an error message: one line whatever it held, and short.
std::string echoed(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out = "\"";
  for (size_t i = 0; i < text.size() && i < kMaxEchoedBytes; ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  if (text.size() > kMaxEchoedBytes) out += "...";
  return out + "\"";
}

std::string accepted_names(unsigned accepted) {
  std::string names;
  for (const auto& p : kParams) {
    if (!(accepted & p.param)) continue;
    names += names.empty() ? "" : ", ";
    names += p.name;
  }
  return names.empty() ? "none" : names;
}

const Route* route_of(std::string_view path) {
  for (const auto& route : kRoutes)
    if (route.path == path) return &route;
  return nullptr;
}

Result<uint64_t> positive_integer(std::string_view name, std::string_view text, uint64_t max) {
  uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  const bool digits_only = !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
  if (!digits_only || ec != std::errc() || end != text.data() + text.size() || value < 1 || value > max)
    return Error{std::string(name) + ": not an integer from 1 to " + std::to_string(max) + ": " + echoed(text)};
  return value;
}

Result<double> unix_seconds(std::string_view name, std::string_view text) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value) || value < 0)
    return Error{std::string(name) + ": not a time in unix seconds: " + echoed(text)};
  return value;
}

Result<std::string> counter_name(std::string_view name, std::string_view text) {
  for (auto counter : model::kProcessCounterNames)
    if (counter == text) return std::string(counter);
  return Error{std::string(name) + ": not a counter name (tx_bytes, rx_bytes, ... io_write_ops): " + echoed(text)};
}

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// In a query string (not in a path) '+' is a space, as HTML forms send it.
Result<std::string> percent_decoded(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '+' && plus_is_space) {
      out += ' ';
    } else if (text[i] != '%') {
      out += text[i];
    } else {
      const int high = i + 2 < text.size() ? hex_digit(text[i + 1]) : -1;
      const int low = high >= 0 ? hex_digit(text[i + 2]) : -1;
      if (low < 0) return Error{"malformed percent-escape (not %XX) in " + echoed(text.substr(i))};
      out += static_cast<char>(high * 16 + low);
      i += 2;
    }
  }
  return out;
}

}  // namespace

std::optional<QueryKind> query_kind(std::string_view path) {
  if (const Route* route = route_of(path)) return route->kind;
  return std::nullopt;
}

Result<Query> parse_query(std::string_view path, const std::multimap<std::string, std::string>& params, double now) {
  if (!std::isfinite(now) || now < 0) return Error{"the server's clock does not read a time"};
  const Route* route = route_of(path);
  if (!route) return Error{"not found: " + echoed(path)};
  Query query;
  query.kind = route->kind;
  query.now = now;
  std::optional<double> from, to;
  unsigned given = 0;
  for (const auto& [key, value] : params) {
    const ParamName* known = nullptr;
    for (const auto& p : kParams)
      if (p.name == key) known = &p;
    if (!known || !(route->accepted & known->param))
      return Error{"unknown parameter " + echoed(key) + " for " + std::string(route->path) +
                   " (accepted: " + accepted_names(route->accepted) + ")"};
    if (given & known->param) return Error{std::string(known->name) + ": given more than once"};
    given |= known->param;
    switch (known->param) {
      case kFrom:
      case kTo: {
        auto seconds = unix_seconds(known->name, value);
        if (!seconds) return seconds.error();
        (known->param == kFrom ? from : to) = *seconds;
        break;
      }
      case kLimit: {
        auto limit = positive_integer("limit", value, kMaxLimit);
        if (!limit) return limit.error();
        query.limit = static_cast<size_t>(*limit);
        break;
      }
      case kHost:
      case kJob: {
        const bool printable = std::all_of(value.begin(), value.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
        if (value.empty() || value.size() > kMaxNameBytes || !printable)
          return Error{std::string(known->name) + ": not a name of 1 to 128 printable ASCII characters: " + echoed(value)};
        (known->param == kHost ? query.host : query.job) = value;
        break;
      }
      case kProcess: {
        auto id = positive_integer("process", value, static_cast<uint64_t>(std::numeric_limits<int64_t>::max()));
        if (!id) return id.error();
        query.process = static_cast<int64_t>(*id);
        break;
      }
      case kSort:
      case kCounter: {
        auto name = counter_name(known->name, value);
        if (!name) return name.error();
        (known->param == kSort ? query.sort : query.counter) = std::move(name.value());
        break;
      }
      case kLevel:
        if (value != "host" && value != "process") return Error{"level: not host or process: " + echoed(value)};
        query.level = value;
        break;
    }
  }
  if (const unsigned missing = route->required & ~given)
    return Error{std::string(route->path) + " needs " + accepted_names(missing)};

  query.to = to.value_or(now);
  query.from = from.value_or(std::max(0.0, query.to - kDefaultRangeSeconds));
  if (query.from > now + kMaxFutureSeconds || query.to > now + kMaxFutureSeconds)
    return Error{"from and to: more than a day after the server's clock"};
  if (query.from > query.to) return Error{"from is after to"};
  if (query.to - query.from > kMaxRangeSeconds) return Error{"from and to: more than 31 days apart"};
  return query;
}

Result<Query> parse_query_string(std::string_view target, double now) {
  if (target.size() > kMaxTargetBytes)
    return Error{"request target longer than " + std::to_string(kMaxTargetBytes) + " bytes"};
  const size_t mark = target.find('?');
  auto path = percent_decoded(target.substr(0, mark), false);
  if (!path) return path.error();
  std::multimap<std::string, std::string> params;
  if (mark != std::string_view::npos) {
    std::string_view rest = target.substr(mark + 1);
    while (!rest.empty()) {
      const size_t amp = rest.find('&');
      const std::string_view pair = rest.substr(0, amp);
      rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
      if (pair.empty()) continue;  // "a=1&&b=2": browsers and scripts leave these
      const size_t eq = pair.find('=');
      auto key = percent_decoded(pair.substr(0, eq), true);
      if (!key) return key.error();
      auto value = percent_decoded(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
      if (!value) return value.error();
      params.emplace(std::move(key.value()), std::move(value.value()));
    }
  }
  return parse_query(*path, params, now);
}

}  // namespace nt::server
