// Plain data: one socket call or one packet, as `trace` streams them; devices as the kernel counts.
#pragma once

#include <array>
#include <cstdint>
#include <string>

namespace nt::model {

enum class Direction : uint8_t { kTx, kRx };

// An IPv4 or IPv6 address with its port; IPv4 addresses sit in the first four bytes.
struct Endpoint {
  uint8_t family = 0;  // 4 or 6, 0 when unknown
  std::array<uint8_t, 16> addr{};
  uint16_t port = 0;
  auto operator<=>(const Endpoint&) const = default;
};

struct SocketEvent {
  uint64_t ts_ns = 0;  // CLOCK_MONOTONIC
  uint32_t pid = 0;
  uint32_t tid = 0;
  uint64_t start_ns = 0;
  std::string comm;
  uint32_t netns = 0;
  uint32_t bytes = 0;
  Direction direction = Direction::kTx;
  uint8_t protocol = 0;  // IPPROTO_*
  Endpoint local;
  Endpoint remote;
};

struct PacketEvent {
  uint64_t ts_ns = 0;
  uint32_t netns = 0;
  uint32_t ifindex = 0;
  uint32_t pid = 0;  // the socket owner; 0 when unattributed
  uint64_t start_ns = 0;
  std::string comm;
  uint32_t len = 0;
  Direction direction = Direction::kTx;
  uint16_t ethertype = 0;
  uint8_t protocol = 0;
  Endpoint source;
  Endpoint destination;
};

// Byte and packet counters of one device, cumulative.
struct DeviceCounters {
  uint64_t tx_bytes = 0;
  uint64_t rx_bytes = 0;
  uint64_t tx_packets = 0;
  uint64_t rx_packets = 0;
  bool operator==(const DeviceCounters&) const = default;
};

struct DeviceKey {
  uint32_t netns = 0;
  uint32_t ifindex = 0;
  auto operator<=>(const DeviceKey&) const = default;
};

// The kernel's own statistics of a device (rtnl IFLA_STATS64).
struct DeviceStats {
  DeviceKey key;
  std::string ifname;
  DeviceCounters counters;
  uint64_t drops = 0;  // rx_dropped + tx_dropped
};

// Packet mode: what the packet hooks counted on a device, for one socket owner (pid 0: none).
struct PacketOwnerCounters {
  DeviceKey device;
  uint32_t pid = 0;
  uint64_t start_ns = 0;
  std::string comm;
  DeviceCounters counters;
};

// Bytes a TCP socket counted itself that the socket hooks never saw, per owner, at close.
struct UnseenBytes {
  uint32_t pid = 0;
  uint64_t start_ns = 0;
  uint32_t netns = 0;
  std::string comm;
  uint64_t tx_bytes = 0;
  uint64_t rx_bytes = 0;
  uint64_t sockets = 0;
};

// "1.2.3.4", "::1"; v4-mapped IPv6 addresses are shown as IPv4.
std::string format_address(const Endpoint& endpoint);
// 4 or 6 as shown by format_address.
int shown_family(const Endpoint& endpoint);
// "tcp", "udp", "icmp", "icmpv6", or the number.
std::string protocol_name(uint8_t protocol);

}  // namespace nt::model
