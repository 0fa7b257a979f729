// The one seam between the agent and what it collects. A collector loads its BPF objects
// (through bpf::FeatureObject, with the shared ProcessFilter), and each interval drains the
// kernel's cumulative counters into the model's tables, which the interval's Snapshot shows to
// every sink. It reports its own features, losses and BPF cost.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "bpf_runtime/features.h"
#include "common/result.h"
#include "model/loss.h"
#include "model/programs.h"
#include "model/tables.h"

namespace nt::collectors {

class ProcessFilter;

class Collector {
 public:
  virtual ~Collector() = default;
  virtual std::string name() const = 0;
  // Reads the kernel's counters into `tables` (cumulative: a drain never takes a count back).
  virtual void drain(model::Tables& tables) = 0;
  // Every feature of this run: in use (and how), or missing (and why).
  virtual std::vector<model::FeatureState> features() const = 0;
  // Adds this collector's counted losses.
  virtual void add_losses(model::LossCounters& into) const = 0;
  virtual std::vector<model::ProgramStats> program_stats() const = 0;
};

// --heap's settings.
struct HeapOptions {
  std::string library;             // the allocator's file; "" for the C library the agent runs with
  uint32_t sample_every = 1;       // keep every Nth allocation (1: all)
  uint64_t min_age_ns = 5'000'000'000;  // report blocks outstanding at least this long
  uint32_t max_blocks = 131072;    // outstanding blocks the kernel holds (preallocated: ~100 bytes each)
  uint32_t max_stacks = 20;        // stacks reported per process (the rest: counted)
};

// What every collector is started with.
struct CollectorContext {
  const ProcessFilter& filter;
  uint32_t max_processes = 16384;  // per-process kernel tables
  uint64_t slow_syscall_ns = 0;    // syscalls: calls this slow become events (0: none)
  HeapOptions heap{};
  bool timeline = false;  // --timeline: collectors add their events to Tables::timeline
};

// A collector the agent can run: `--collect NAME`.
struct CollectorKind {
  std::string name;
  std::string what;  // one line, for --help and doctor
  bool on_by_default;
  std::function<Result<std::unique_ptr<Collector>>(const CollectorContext&)> start;
  bool in_all = true;  // false: only when named (its cost is not for every run)
};

// Every collector but `net`, whose start needs the network options (record.cpp starts it).
const std::vector<CollectorKind>& collector_kinds();
// The names `--collect` lists: "" for the defaults, "all" for every one, else NAME[,NAME...].
Result<std::vector<std::string>> parse_collect(const std::string& list);

}  // namespace nt::collectors
