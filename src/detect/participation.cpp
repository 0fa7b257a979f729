#include "participation.h"

#include <algorithm>
#include <cmath>

namespace nt::detect {

Participation busy_slots(const std::vector<uint64_t>& bins, double first_unix_s, double bin_s) {
  Participation out;
  if (bins.empty() || bin_s <= 0) return out;
  const auto slot_of = [](double unix_s) { return static_cast<int64_t>(std::floor(unix_s * 1000 / kSlotMs)); };
  const int64_t first = slot_of(first_unix_s);
  const int64_t last = slot_of(first_unix_s + static_cast<double>(bins.size() - 1) * bin_s);
  std::vector<uint64_t> bytes(static_cast<size_t>(last - first + 1), 0);
  for (size_t i = 0; i < bins.size(); ++i)
    bytes[static_cast<size_t>(slot_of(first_unix_s + static_cast<double>(i) * bin_s) - first)] += bins[i];
  const uint64_t busiest = *std::max_element(bytes.begin(), bytes.end());
  out.start_ms = first * kSlotMs;
  out.slots.assign((bytes.size() + 7) / 8, '\0');
  for (size_t i = 0; i < bytes.size(); ++i)
    if (busiest > 0 && bytes[i] * 100 >= busiest) out.slots[i / 8] = static_cast<char>(out.slots[i / 8] | (1 << (i % 8)));
  return out;
}

std::map<int, double> absent_shares(const std::map<int, Participation>& ranks) {
  std::map<int, double> shares;
  if (ranks.size() < 3) return shares;
  int64_t from = INT64_MIN, to = INT64_MAX;  // the common slots, in slot numbers
  for (const auto& [rank, p] : ranks) {
    from = std::max(from, p.start_ms / kSlotMs);
    to = std::min(to, p.start_ms / kSlotMs + static_cast<int64_t>(p.count()));
  }
  if (from >= to) return shares;
  std::map<int, size_t> absent;
  size_t joint = 0, exchanges = 0;
  bool exchanging = false;
  const size_t others = ranks.size() - 1;
  for (int64_t slot = from; slot < to; ++slot) {
    std::map<int, bool> busy;
    size_t busy_count = 0;
    for (const auto& [rank, p] : ranks) {
      busy[rank] = p.busy(static_cast<size_t>(slot - p.start_ms / kSlotMs));
      busy_count += busy[rank];
    }
    const bool was_exchanging = exchanging;
    exchanging = busy_count >= 2;
    if (!exchanging) continue;  // no exchange going on
    exchanges += !was_exchanging;
    ++joint;
    // Idle while a strict majority of the others are busy: an edge of a burst that starts a
    // slot later on one host is not an absence.
    for (const auto& [rank, is_busy] : busy)
      if (!is_busy && 2 * busy_count > others) ++absent[rank];
  }
  if (exchanges < kMinExchanges) return shares;
  for (const auto& [rank, p] : ranks) shares[rank] = static_cast<double>(absent[rank]) / static_cast<double>(joint);
  return shares;
}

std::string to_hex(const std::string& bytes) {
  static const char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += kDigits[c >> 4];
    out += kDigits[c & 15];
  }
  return out;
}

std::optional<std::string> from_hex(const std::string& hex) {
  if (hex.size() % 2) return std::nullopt;
  const auto digit = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int high = digit(hex[i]), low = digit(hex[i + 1]);
    if (high < 0 || low < 0) return std::nullopt;
    out += static_cast<char>(high * 16 + low);
  }
  return out;
}

}  // namespace nt::detect
