// Plain data: the user-space heap of traced processes (--heap) as the heap collector last read it:
// what each process allocated and released, and its outstanding blocks older than the age threshold,
// grouped by the call stack that allocated them. No I/O, no BPF.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/process.h"

namespace nt::model {

// One return address of an allocating stack, innermost (the allocator's caller) first.
struct HeapFrame {
  uint64_t address = 0;
  std::string symbol;  // "function+0x1a"; "" when no symbol covers it
  std::string module;  // the file it is in ("/usr/lib/x86_64-linux-gnu/libc.so.6"); "" when unknown
  std::string source;  // "file.c:42" where debug information says; else ""
  bool operator==(const HeapFrame&) const = default;
};

// Outstanding blocks that one call stack allocated.
struct HeapStack {
  std::vector<HeapFrame> frames;  // empty when the stack was not kept (counted as a loss)
  uint64_t blocks = 0;
  uint64_t bytes = 0;
  uint64_t oldest_age_ns = 0;
};

struct ProcessHeap {
  ProcessKey key;
  std::string comm;
  uint64_t allocations = 0;         // allocator calls that returned a block
  uint64_t sampled = 0;             // of those, the ones kept (every one without sampling)
  uint64_t frees = 0;               // releases (free, realloc's old block, munmap of a kept mapping)
  uint64_t outstanding_blocks = 0;  // kept blocks not released yet, of any age
  uint64_t outstanding_bytes = 0;
  std::vector<HeapStack> stacks;    // blocks older than the threshold by stack, most bytes first
  uint64_t stacks_omitted = 0;      // stacks past the report's limit
  bool exited = false;
  bool exit_shown = false;
  uint64_t allocations_at_interval_start = 0, frees_at_interval_start = 0;
  uint64_t reported_bytes_at_interval_start = 0;  // the stacks' bytes
  uint64_t reported_bytes() const {
    uint64_t sum = 0;
    for (const auto& stack : stacks) sum += stack.bytes;
    return sum;
  }
};

class HeapTable {
 public:
  ProcessHeap& process(const ProcessKey& key);
  void start_interval();  // forgets exited processes once shown
  const std::map<ProcessKey, ProcessHeap>& processes() const { return processes_; }
  std::map<ProcessKey, ProcessHeap>& processes() { return processes_; }

  uint32_t sample_every = 1;  // every Nth allocation kept (1: all)
  uint64_t min_age_ns = 0;    // outstanding blocks younger than this are not reported by stack

 private:
  std::map<ProcessKey, ProcessHeap> processes_;
};

}  // namespace nt::model
