#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace nt::model {

// Every counted way of losing data, kernel side and user side. One table of names feeds every
// renderer, so a new reason shows up everywhere at once.
enum class LossReason : uint8_t {
  kSegmentRingbufFull, // kernel: a socket's counters, cut at release or owner change, found no ring room
  kProcBytesNotHeld,   // kernel: the bytes lost with those, or on sockets that got no storage
  kSockStampFailed,    // kernel: socket storage could not be created
  kFilterMapFull,      // kernel: a child of a traced process could not join the filter
  kRingbufFull,        // kernel: a socket event the ring buffer could not take
  kUnseenMapFull,      // kernel: a closing socket's unseen bytes found no table entry
  kDeviceMapFull,      // kernel, packet mode: a device found no table entry
  kPacketOwnerMapFull, // kernel, packet mode: a socket owner found no table entry
  kPacketRingbufFull,  // kernel, packet mode: a packet event the ring buffer could not take
  kFlowMapFull,        // calls of flows the flow table had no room for (--max-flows)
  kFlowBytesNotHeld,   // the bytes those calls carried (process totals still have them)
  kConnRingbufFull,    // kernel: a connection open/close record the ring buffer could not take
  kMapReadFailed,      // user: a kernel map could not be read
  kDeviceReadFailed,   // user: a namespace's device statistics could not be read
  kSchedMapFull,       // kernel, cpu: a process's exited threads found no table entry
  kSchedStorageFailed, // kernel, cpu: a thread got no task storage (not counted)
  kIoRequestMapFull,   // kernel, io: a request got no stamp (counted for its disk, unattributed, no latency)
  kIoCounterMapFull,   // kernel, io: a completion found no counter entry (not counted at all)
  kServerBatchesDropped, // user, --server: interval batches the send buffer had no room for
  kServerSamplesDropped, // user, --server: the process samples those batches held
  kServerConnsDropped,   // user, --server: closed connections beyond what one batch takes
  kRhythmTableFull,      // user: a job rank the kernel's rhythm table had no room for (step unknown)
  kSyscallCounterMapFull, // kernel, syscalls: a call found no counter entry (not counted)
  kSyscallErrnoMapFull,   // kernel, syscalls: a failure counted, but its errno not
  kSyscallThreadMapFull,  // kernel, syscalls: a traced thread could not be followed (its calls not counted)
  kSyscallRingbufFull,    // kernel, syscalls: a slow call counted, but its event not sent
  kMemoryMapFull,         // kernel, memory: a process's RSS found no table entry (its RSS unknown)
  kOomRingbufFull,        // kernel, memory: an OOM kill the ring buffer could not take
  kHeapBlocksFull,        // kernel, --heap: a sampled block the block table had no room for (never reported)
  kHeapStackLost,         // kernel, --heap: a block kept without its stack (stack table full, or a collision)
  kHeapCallsFull,         // kernel, --heap: an allocator call in progress the call table had no room for
  kHeapProcessesFull,     // kernel, --heap: a process the process table had no room for (its calls not counted)
  kProbeStatsFull,        // kernel, probes: a (process, function) the table had no room for (its calls not counted)
  kProbeCodesFull,        // kernel, probes: an error counted, but its return code not
  kProbeCallsFull,        // kernel, probes: a call in progress the call table had no room for (its return unseen)
  kProbeEventsFull,       // kernel, probes: a call's event (arguments, --timeline) the ring buffer could not take
  kProbeStackLost,        // kernel, probes: a device allocation kept without its call stack
  kTimelineRingbufFull,   // kernel, --timeline: an on-CPU stretch or an I/O request a ring buffer could not take
  kTimelineFull,          // user, --timeline: events beyond the feed's capacity or the file's size bound (--timeline-max-mb)
  kCount,
};

inline constexpr std::array<std::string_view, static_cast<size_t>(LossReason::kCount)> kLossNames = {
    "segment_ringbuf_full",  "proc_bytes_not_held", "sock_stamp_failed", "filter_map_full",
    "ringbuf_full",          "unseen_map_full",     "device_map_full",   "packet_owner_map_full",
    "packet_ringbuf_full",   "flow_map_full",       "flow_bytes_not_held", "conn_ringbuf_full",
    "map_read_failed",       "device_read_failed",  "sched_map_full",    "sched_storage_failed",
    "io_request_map_full",   "io_counter_map_full", "server_batches_dropped", "server_samples_dropped",
    "server_conns_dropped",  "rhythm_table_full",   "syscall_counter_map_full", "syscall_errno_map_full",
    "syscall_thread_map_full", "syscall_ringbuf_full", "memory_map_full", "oom_ringbuf_full",
    "heap_blocks_full",      "heap_stack_lost",     "heap_calls_full",   "heap_processes_full",
    "probe_stats_full",      "probe_codes_full",    "probe_calls_full",  "probe_events_full",
    "probe_stack_lost",
    "timeline_ringbuf_full", "timeline_full",
};

using LossCounters = std::array<uint64_t, static_cast<size_t>(LossReason::kCount)>;

}  // namespace nt::model
