// Who the others exchange without. In a synchronous collective every rank must take part; while a
// late rank is absent, the others already exchange what they can among themselves (a ring's first
// chunks, a tree's lower levels), then wait. So over a few seconds cut into short wall-clock slots,
// the straggler is the rank that is idle in slots where most of the others are busy: no step period
// is needed, and a step that doubles or jitters changes nothing.
//
// Agents mark each rank's busy slots (bytes sent or received, from the rhythm's bins); the server,
// which sees every host, lines the ranks' slots up on the wall clock and counts each one's absences.
// Hosts' clocks must agree to well under a slot (NTP on a LAN keeps them within a millisecond or so).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace nt::detect {

inline constexpr int64_t kSlotMs = 10;       // one slot of wall-clock time
inline constexpr double kParticipationS = 3;  // what an agent sends each interval: the last 3 s
inline constexpr size_t kMinExchanges = 8;    // fewer in common, and one late step is most of the evidence

struct Participation {
  int64_t start_ms = 0;  // unix milliseconds at the start of the first slot (a multiple of kSlotMs)
  std::string slots;     // one bit a slot, least significant bit first: busy or not
  size_t count() const { return slots.size() * 8; }
  bool busy(size_t slot) const { return (static_cast<unsigned char>(slots[slot / 8]) >> (slot % 8)) & 1; }
};

// Slots from bins of `bin_s` seconds, the first starting at unix time `first_unix_s`: a slot is busy
// when its bytes reach 1% of the busiest slot's (control messages of a few bytes are not taking part).
Participation busy_slots(const std::vector<uint64_t>& bins, double first_unix_s, double bin_s);

// Per rank, over the slots every rank covers: the share of the job's busy slots (two ranks or more
// busy) in which the rank was idle while most of the others were busy. None with fewer than three
// ranks, or fewer than kMinExchanges separate exchanges in common (long steps, or a slow link that
// keeps the job exchanging all the time).
std::map<int, double> absent_shares(const std::map<int, Participation>& ranks);

// Hex, for JSON, and back (none for text that is not even-length hex).
std::string to_hex(const std::string& bytes);
std::optional<std::string> from_hex(const std::string& hex);

}  // namespace nt::detect
