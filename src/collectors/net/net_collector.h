// The network collector: loads bpf/net_accounting.bpf.c (and, in packet mode,
// bpf/net_packets.bpf.c), attaches them, and drains their cumulative counters into the model.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <set>
#include <vector>

#include "bpf_runtime/features.h"
#include "bpf_runtime/prog_stats.h"
#include "bpf_runtime/ring_buffer.h"
#include "collectors/collector.h"
#include "collectors/process_filter.h"
#include "common/result.h"
#include "collectors/net/netns_walk.h"
#include "collectors/net/socket_ledger.h"
#include "common/unique_fd.h"
#include "model/events.h"
#include "model/flows.h"
#include "model/loss.h"
#include "model/process.h"
#include "shared/net_accounting.h"

struct net_accounting;
struct net_packets;

namespace nt::collectors {

struct NetConfig {
  uint32_t max_flows = 65536;
  uint32_t ringbuf_bytes = 0;  // > 0: stream socket events (trace)
  bool packets = false;        // packet mode
  uint64_t flow_idle_ns = 30'000'000'000ull;  // an unconnected socket's peer flow idle this long is retired
  uint32_t packet_ringbuf_bytes = 0;  // > 0: stream packet events
};

// The programs of bpf/net_accounting.bpf.c by feature, each with the hooks that can provide it.
std::vector<bpf::Feature> net_accounting_features();

class NetCollector : public Collector {
 public:
  // open -> configure -> load -> attach, with every feature the kernel accepts. The error names
  // the required feature and why the kernel refused it.
  static Result<std::unique_ptr<NetCollector>> start(const NetConfig& config, const ProcessFilter& filter);
  ~NetCollector() override;
  NetCollector(const NetCollector&) = delete;
  NetCollector& operator=(const NetCollector&) = delete;

  std::string name() const override { return "net"; }
  void drain(model::Tables& tables) override { drain(tables.processes, tables.flows, flow_idle_ns_); }
  void add_losses(model::LossCounters& into) const override;

  // Reads every process's and every flow's cumulative counters into the tables (live sockets and
  // the segments of released ones); processes that have exited are read once more and marked.
  // Flows of released sockets are retired; unconnected sockets' per-peer flows idle for `idle_ns`
  // are read one last time and removed from the kernel table (atomically: nothing is lost).
  void drain(model::ProcessTable& processes, model::FlowTable& flows, uint64_t idle_ns);
  std::vector<model::UnseenBytes> unseen_bytes();
  // Finds TCP connections established before the start (BPF iterator over every task's files);
  // their open records arrive through the connection handler.
  Status announce_preexisting();
  std::vector<model::DeviceStats> packet_device_counters();  // packet mode; ifname left empty
  std::vector<model::PacketOwnerCounters> packet_owner_counters();

  // Streams events (when configured) to the handlers, waiting up to timeout_ms.
  Status on_events(std::function<void(const model::SocketEvent&)> socket_handler,
                   std::function<void(const model::PacketEvent&)> packet_handler,
                   std::function<void(const model::ConnEvent&)> conn_handler);
  Status poll_events(int timeout_ms);

  // The send rhythm of chosen processes (a job's ranks): bytes sent per kRhythmBinS bin.
  static constexpr double kRhythmBinS = 0.002;  // NT_RHYTHM_BIN_NS (checked where the header is seen)
  // Watching is idempotent; an error when the table is full.
  Status watch_rhythm(uint32_t tgid);
  void unwatch_rhythm(uint32_t tgid);
  // The watched process's bins after `after` and before the current (still filling) one, oldest
  // first, with bytes sent and received (0 for a quiet bin); `after` becomes the last bin returned.
  // `after` 0 (a first reading) returns nothing and starts from now.
  struct RhythmBin {
    uint64_t bin, sent, received;
  };
  std::vector<RhythmBin> read_rhythm(uint32_t tgid, uint64_t& after);

  std::vector<uint64_t> per_cpu_loss(model::LossReason reason) const;
  std::vector<model::ProgramStats> program_stats() const override;
  int sock_owner_map_fd() const;
  std::vector<model::FeatureState> features() const override;

 private:
  NetCollector(const NetConfig& config, const ProcessFilter& filter, NetnsWalker walker)
      : netns_filter_(filter.config().netns),
        flow_idle_ns_(config.flow_idle_ns),
        walker_(std::move(walker)),
        ledger_(config.max_flows) {}
  Status load(const NetConfig& config, const ProcessFilter& filter);
  Status attach_all();
  void attach_live_socket_reader();
  std::vector<SocketReading> read_live_sockets();
  // Runs an attached iterator once; what it wrote is appended to `out`.
  void run_iterator(bpf_link* link, std::vector<char>& out);
  static SocketReading reading_of(const nt_sock_record& record);
  void drain_peer_flows(model::FlowTable& table, uint64_t idle_ns, uint64_t now);

  net_accounting& skel() { return accounting_->skel(); }
  const net_accounting& skel() const { return accounting_->skel(); }
  net_packets* packets() const { return packets_ ? &packets_->skel() : nullptr; }

  // Declared before the objects: the cgroup outlives the links attached to it.
  UniqueFd cgroup_fd_;
  std::unique_ptr<bpf::FeatureObject<net_accounting>> accounting_;
  std::unique_ptr<bpf::FeatureObject<net_packets>> packets_;
  std::vector<model::FeatureState> packet_features_;  // packet mode's, when asked for and refused
  uint32_t netns_filter_;
  uint64_t flow_idle_ns_;
  NetnsWalker walker_;
  bpf::RingBuffer events_;  // socket segments always; socket, packet and connection events as configured
  SocketLedger ledger_;
  mutable uint64_t map_read_failures_ = 0;
  std::set<uint32_t> rhythm_watched_;
};

// Whether the process named by `key` still runs (same pid and same start time).
bool process_alive(const model::ProcessKey& key);
// A running process's start, ns since boot, at /proc's resolution (clock ticks).
std::optional<uint64_t> process_start_ns(uint32_t tgid);
// Field `field` (numbered from 1, as in proc(5)) of /proc/TGID/stat, a number; none when the
// process is gone or the field is not a number.
std::optional<uint64_t> process_stat_field(uint32_t tgid, int field);

}  // namespace nt::collectors
