// Plain data: everything the collectors have counted since the start, one table per domain.
// The collectors drain into it; each interval's Snapshot shows it to the sinks.
#pragma once

#include "model/block_io.h"
#include "model/flows.h"
#include "model/heap.h"
#include "model/memory.h"
#include "model/probes.h"
#include "model/process.h"
#include "model/sched.h"
#include "model/syscalls.h"
#include "model/timeline.h"

namespace nt::model {

struct Tables {
  ProcessTable processes;  // network traffic per process
  FlowTable flows;
  SchedTable sched;        // CPU scheduling per process
  BlockIoTable block_io;   // block I/O per process and per device
  SyscallTable syscalls;   // syscalls per process and per syscall
  MemoryTable memory;      // RSS and faults per process, OOM kills
  HeapTable heap;          // outstanding heap blocks per process and stack (--heap)
  ProbeTable probes;       // user-space functions per process (--probe, --collect cuda)
  TimelineFeed timeline;   // this interval's timeline events (--timeline; taken by the agent each interval)

  void start_interval() {
    processes.start_interval();
    flows.start_interval();
    sched.start_interval();
    block_io.start_interval();
    syscalls.start_interval();
    memory.start_interval();
    heap.start_interval();
    probes.start_interval();
  }
};

}  // namespace nt::model
