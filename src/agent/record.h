#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace nt::agent {

// The kernel-side filters, as given on the command line (record and trace alike).
struct FilterOptions {
  std::vector<pid_t> pids;
  bool children = false;
  std::string comm;
  std::string cgroup;  // a cgroup v2 directory, absolute or relative to the cgroup2 mount
  std::string netns;   // a namespace file (/run/netns/NAME, /proc/PID/ns/net) or its inode number
};

struct RecordOptions {
  std::string collect;    // --collect: "" for the default collectors, "all", or NAME[,NAME...]
  uint32_t max_processes = 16384;  // per-process kernel tables of the cpu and io collectors
  double slow_syscall_ms = 0;      // syscalls: calls at least this slow become events (0: none)
  bool heap = false;               // --heap: the heap collector too
  std::vector<std::string> probes;  // --probe: user functions (the probes collector, or cuda's)
  std::string heap_library;        // its allocator's file ("" for the C library)
  uint32_t heap_sample_every = 1;
  double heap_min_age_s = 5;
  uint32_t heap_max_blocks = 131072;
  std::string timeline;         // --timeline FILE: every collector's events on one timeline ("" for none)
  double timeline_max_mb = 256;  // its size bound: events beyond it are counted, not written
  bool trace = false;     // stream one event per socket call (and per packet with --packets)
  double duration_s = 0;  // 0: until SIGINT/SIGTERM (or until the command exits)
  uint32_t interval_ms = 1000;
  std::string output;  // "" or "-": stdout
  FilterOptions filter;
  bool table = false;  // print the per-process table on stderr at the end
  bool packets = false;
  uint32_t ringbuf_kb = 1024;
  uint32_t max_flows = 65536;
  std::string metrics;       // HOST:PORT of a /metrics endpoint, "" for none
  size_t metrics_top = 20;   // processes with series of their own
  bool serve = false;        // metrics only: no JSON Lines
  bool top = false;          // the live view (JSON Lines only with -o)
  bool batch = false;        // top without a terminal: a plain table every interval
  std::string sort = "tx";   // top: tx, rx, total, pid, retrans
  bool bpf_stats = false;    // count BPF run time (kernel.bpf_stats) while running; top always does
  double flow_idle_s = 30;  // a flow quiet this long is reported once more and forgotten
  bool detect = true;       // live anomaly detection over the records (record and top)
  int detect_warmup = 30;   // intervals a series is watched before its detectors speak
  std::string webhook;      // http URL that anomalies are POSTed to (Alertmanager alerts), "" for none
  std::string server;         // HOST:PORT of neutracer-server to stream to, "" for none
  std::string token_file;     // its bearer token, first line of this file
  std::string tls_ca;         // PEM CA file: TLS to the server
  size_t server_buffer_bytes = 64u << 20;  // unacknowledged batches held at most (the oldest give way)
  double server_drain_s = 5;  // at the end, wait this long for the server to acknowledge the rest
  std::string host_id;        // the host's name at the server (default /etc/machine-id)
  std::vector<std::string> labels;  // KEY=VALUE, the host's labels at the server
  std::vector<std::string> command;  // after "--"
};

// Runs `record` or `trace`; the value is the exit status (the command's, when one was given).
Result<int> run_record(const RecordOptions& options);

// The thread group of `pid`, or an error when no such process exists.
Result<pid_t> resolve_tgid(pid_t pid);
// An open cgroup v2 directory for --cgroup.
Result<UniqueFd> resolve_cgroup(const std::string& path);
// The inode number of a network namespace for --netns.
Result<uint32_t> resolve_netns(const std::string& path_or_id);

}  // namespace nt::agent
