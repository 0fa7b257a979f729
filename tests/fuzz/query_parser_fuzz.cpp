// libFuzzer: arbitrary bytes as an HTTP request target ("PATH?k=v&..."). parse_query_string must
// refuse or accept within its bounds, never crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "server/query.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr double kNow = 1.8e9;
  auto query = nt::server::parse_query_string(std::string_view(reinterpret_cast<const char*>(data), size), kNow);
  if (query) {
    const auto& q = query.value();
    if (q.limit < 1 || q.limit > nt::server::kMaxLimit || !(q.from <= q.to) ||
        q.to - q.from > nt::server::kMaxRangeSeconds)
      std::abort();  // accepted out of bounds
  }
  return 0;
}
