// Plain data: user-space functions as the probe collector last read them (--probe, USDT, and
// --collect cuda's CUDA runtime and NCCL): calls, errors by return code and latency per process and
// function, and what the CUDA and NCCL calls' arguments said. No I/O, no BPF.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/heap.h"  // HeapFrame
#include "model/process.h"

namespace nt::model {

// Where a probed function came from.
enum class ProbeSet : uint8_t { kProbe, kUsdt, kCuda, kNccl };
const char* probe_set_name(ProbeSet set);

struct ProbedFunction {
  ProbeSet set = ProbeSet::kProbe;
  std::string library;  // the file's real path
  std::string name;     // the symbol as asked for (demangled for C++), or "provider:name" for USDT
};

constexpr size_t kProbeLatencySlots = 36;  // log2 ns: slot i holds [2^i, 2^(i+1)) ns, the last is open

struct FunctionCalls {
  uint64_t calls = 0;    // at the entry
  uint64_t returns = 0;  // returns seen (USDT probes have none)
  uint64_t errors = 0;   // returns the function's rule calls errors
  uint64_t total_ns = 0;
  std::array<uint64_t, kProbeLatencySlots> latency{};
  std::map<int64_t, uint64_t> codes;  // errors by return value
  uint64_t calls_at_interval_start = 0;
};

// CUDA's memory copy kinds (cudaMemcpyKind), by value.
constexpr size_t kCopyKinds = 5;
const char* copy_kind_name(size_t kind);  // "host_to_device", ...; "default" for 4

struct CopyCounts {
  uint64_t calls = 0, bytes = 0, failed = 0;
};

struct KernelLaunches {
  uint64_t launches = 0, failed = 0;
  std::array<uint32_t, 3> grid{}, block{};  // the last launch's
  std::map<uint64_t, uint64_t> streams;      // launches by stream (0: the default stream)
};

// Device allocations older than the threshold, by the call stack that made them.
struct DeviceAllocationStack {
  std::vector<HeapFrame> frames;
  uint64_t blocks = 0, bytes = 0, oldest_age_ns = 0;
};

struct CudaProcess {
  std::map<std::string, KernelLaunches> kernels;  // by the kernel's (demangled) name
  std::array<CopyCounts, kCopyKinds> copies, async_copies;  // async: the time is the enqueue's
  uint64_t live_bytes = 0, high_water_bytes = 0, live_blocks = 0;
  uint64_t allocations = 0, frees = 0;
  uint64_t unknown_frees = 0;  // frees of a block not seen allocated (before the agent, or an event lost)
  std::vector<DeviceAllocationStack> old_allocations;  // most bytes first
  uint64_t old_bytes() const {
    uint64_t sum = 0;
    for (const auto& stack : old_allocations) sum += stack.bytes;
    return sum;
  }
  uint64_t old_bytes_at_interval_start = 0;
};

struct CollectiveCounts {
  uint64_t calls = 0, bytes = 0, failed = 0;
};

struct ProcessProbes {
  ProcessKey key;
  std::string comm;
  std::map<uint32_t, FunctionCalls> functions;  // by index in ProbeTable::functions
  CudaProcess cuda;
  std::map<std::string, CollectiveCounts> collectives;  // NCCL, by function ("ncclAllReduce")
  bool exited = false;
  bool exit_shown = false;
  bool changed() const;  // calls since the interval began
};

class ProbeTable {
 public:
  ProcessProbes& process(const ProcessKey& key);
  void start_interval();  // forgets exited processes once shown
  const std::map<ProcessKey, ProcessProbes>& processes() const { return processes_; }
  std::map<ProcessKey, ProcessProbes>& processes() { return processes_; }

  std::vector<ProbedFunction> functions;  // what is probed, by index

 private:
  std::map<ProcessKey, ProcessProbes> processes_;
};

}  // namespace nt::model
