#include "model/events.h"

#include <arpa/inet.h>

#include <algorithm>

namespace nt::model {
namespace {
bool is_v4_mapped(const Endpoint& e) {
  static constexpr uint8_t kPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return e.family == 6 && std::equal(kPrefix, kPrefix + 12, e.addr.begin());
}
}  // namespace

int shown_family(const Endpoint& endpoint) { return is_v4_mapped(endpoint) ? 4 : endpoint.family; }

std::string format_address(const Endpoint& endpoint) {
  char text[INET6_ADDRSTRLEN] = "";
  if (is_v4_mapped(endpoint))
    inet_ntop(AF_INET, endpoint.addr.data() + 12, text, sizeof(text));
  else if (endpoint.family == 4)
    inet_ntop(AF_INET, endpoint.addr.data(), text, sizeof(text));
  else if (endpoint.family == 6)
    inet_ntop(AF_INET6, endpoint.addr.data(), text, sizeof(text));
  return text;
}

std::string protocol_name(uint8_t protocol) {
  switch (protocol) {
    case 6: return "tcp";
    case 17: return "udp";
    case 1: return "icmp";
    case 58: return "icmpv6";
    default: return std::to_string(protocol);
  }
}

}  // namespace nt::model
