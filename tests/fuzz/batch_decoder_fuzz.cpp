// libFuzzer: arbitrary bytes as an agent's batch. decode_batch must refuse or accept, never crash,
// hang or read out of bounds (built with AddressSanitizer and UBSan).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "server/validate.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  constexpr double kNow = 1.8e9;  // a fixed clock: runs are reproducible
  auto decoded = nt::server::decode_batch(std::string_view(reinterpret_cast<const char*>(data), size), kNow);
  if (decoded) {
    // What passed must serialise again (the store and remote write re-read every field).
    std::string again;
    decoded.value().SerializeToString(&again);
  }
  return 0;
}
