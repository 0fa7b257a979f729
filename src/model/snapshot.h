// Plain data: one interval of everything the agent collects, as every sink reads it (JSON Lines,
// the batch table, `top`, Prometheus, the webhook).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string>
#include <vector>

#include "model/block_io.h"
#include "model/events.h"
#include "model/flows.h"
#include "model/identity.h"
#include "model/jobs.h"
#include "model/memory.h"
#include "model/loss.h"
#include "model/process.h"
#include "model/programs.h"
#include "model/sched.h"
#include "model/syscalls.h"

namespace nt::model {

// An anomaly the detectors raised (the `anomaly` record of docs/json-schema.md renders it).
struct Anomaly {
  double ts = 0;
  std::string kind;    // process, flow, device or disk
  ProcessKey process;  // process and flow anomalies: the process, or the flow's owner; a device's netns
  std::string comm;
  std::string subject;  // a flow ("tcp A:P > B:Q"), a device's or a disk's name; empty for a process
  std::string metric, detector;
  double value = 0, expected_low = 0, expected_high = 0, score = 0;
  bool names_process() const { return kind == "process" || kind == "flow"; }
};

// One interval, as every sink reads it: what each collector has counted (cumulative, with the
// interval's start for deltas), by reference: valid during the sink call only. A section is null
// when its collector does not run.
struct Snapshot {
  double ts = 0;          // unix seconds at the interval's end
  double monotonic_s = 0;  // the same instant, CLOCK_MONOTONIC (events are stamped with it)
  double interval_s = 0;
  const ProcessTable* processes = nullptr;  // net
  const FlowTable* flows = nullptr;
  const std::map<ProcessKey, ProcessIdentity>* identities = nullptr;
  const std::vector<DeviceStats>* devices = nullptr;
  const std::vector<DeviceStats>* previous_devices = nullptr;
  const std::deque<ConnEvent>* recent_conns = nullptr;
  const std::vector<ConnEvent>* closed_conns = nullptr;  // closed during this interval (net)
  const JobTable* jobs = nullptr;
  const SchedTable* sched = nullptr;       // cpu
  const BlockIoTable* block_io = nullptr;  // io
  const SyscallTable* syscalls = nullptr;  // syscalls
  const MemoryTable* memory = nullptr;      // memory
  const LossCounters* losses = nullptr;
  const std::vector<ProgramStats>* programs = nullptr;
  const std::vector<ProgramStats>* previous_programs = nullptr;
  double agent_cpu_share = 0;  // of one core, over the interval
  uint64_t agent_rss_bytes = 0;
  // Oldest first; null when detection is off. The last `new_anomalies` were raised this interval
  // (all of them when more were raised than are kept).
  const std::deque<Anomaly>* anomalies = nullptr;
  size_t new_anomalies = 0;
};

}  // namespace nt::model
