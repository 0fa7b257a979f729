// Reading the hash tables the collectors keep (per-CPU ones: one value per possible CPU), their
// per-CPU loss slots, and what their iterators write.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <initializer_list>
#include <utility>
#include <vector>

#include "bpf_runtime/prog_stats.h"
#include "common/unique_fd.h"
#include "model/loss.h"

namespace nt::bpf {

// One pass of an iterator attached as `link`: what its programs wrote, appended to `out`. False
// when the pass could not be made or read to its end (what was read is kept).
inline bool read_iterator(bpf_link* link, std::vector<char>& out) {
  UniqueFd iter(bpf_iter_create(bpf_link__fd(link)));
  if (!iter.valid()) return false;
  char chunk[16384];
  ssize_t n;
  while ((n = read(iter.get(), chunk, sizeof(chunk))) > 0) out.insert(out.end(), chunk, chunk + n);
  return n == 0;
}

// Every entry of a per-CPU hash, each with its value on every possible CPU. Keys first: deleting
// while walking would restart the walk. An entry deleted between the two steps is skipped; a failed
// read is counted in `read_failures`.
template <class Key, class Value>
std::vector<std::pair<Key, std::vector<Value>>> percpu_entries(int fd, uint64_t& read_failures) {
  static const size_t cpus = static_cast<size_t>(libbpf_num_possible_cpus());
  std::vector<Key> keys;
  Key key{};
  while (bpf_map_get_next_key(fd, keys.empty() ? nullptr : &keys.back(), &key) == 0) keys.push_back(key);
  std::vector<std::pair<Key, std::vector<Value>>> entries;
  entries.reserve(keys.size());
  for (const auto& k : keys) {
    std::vector<Value> per_cpu(cpus);
    if (bpf_map_lookup_elem(fd, &k, per_cpu.data()) != 0) {
      if (errno != ENOENT) ++read_failures;
      continue;
    }
    entries.emplace_back(k, std::move(per_cpu));
  }
  return entries;
}

// Every entry of a plain hash (keys first, as above).
template <class Key, class Value>
std::vector<std::pair<Key, Value>> hash_entries(int fd, uint64_t& read_failures) {
  std::vector<Key> keys;
  Key key{};
  while (bpf_map_get_next_key(fd, keys.empty() ? nullptr : &keys.back(), &key) == 0) keys.push_back(key);
  std::vector<std::pair<Key, Value>> entries;
  entries.reserve(keys.size());
  for (const auto& k : keys) {
    Value value{};
    if (bpf_map_lookup_elem(fd, &k, &value) != 0) {
      if (errno != ENOENT) ++read_failures;
      continue;
    }
    entries.emplace_back(k, value);
  }
  return entries;
}

// A stack-trace map's entry `stack_id` (Depth addresses, zero after the last), innermost first;
// none when the stack is gone from the map.
template <size_t Depth>
std::vector<uint64_t> stack_addresses(int fd, int32_t stack_id) {
  uint64_t stack[Depth] = {};
  const uint32_t id = static_cast<uint32_t>(stack_id);
  std::vector<uint64_t> addresses;
  if (stack_id < 0 || bpf_map_lookup_elem(fd, &id, stack) != 0) return addresses;
  for (uint64_t address : stack) {
    if (!address) break;
    addresses.push_back(address);
  }
  return addresses;
}

// Adds a per-CPU loss array's slots to the losses they stand for; a slot that cannot be read
// counts as a failed map read.
inline void add_loss_slots(int fd, std::initializer_list<std::pair<uint32_t, model::LossReason>> slots,
                           model::LossCounters& into) {
  for (const auto& [slot, reason] : slots) {
    if (auto value = sum_percpu_slot(fd, slot))
      into[static_cast<size_t>(reason)] += value.value();
    else
      ++into[static_cast<size_t>(model::LossReason::kMapReadFailed)];
  }
}

}  // namespace nt::bpf
