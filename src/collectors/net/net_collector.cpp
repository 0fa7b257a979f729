#include "collectors/net/net_collector.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <unordered_set>
#include <vector>

#include "bpf_runtime/kernel_env.h"
#include "bpf_runtime/map_entries.h"
#include "common/clock.h"
#include "net_accounting.skel.h"
#include "net_packets.skel.h"
#include "shared/net_packets.h"

namespace nt::collectors {
namespace {

static_assert(sizeof(nt_proc_key) == 16);
static_assert(sizeof(nt_endpoints) == 40);
static_assert(sizeof(nt_sock_owner) == 192);
static_assert(sizeof(nt_sock_record) == 136);
static_assert(sizeof(nt_net_event) == 88);
static_assert(sizeof(nt_unseen) == 40);
static_assert(sizeof(nt_device_key) == 8);
static_assert(sizeof(nt_packet_owner_key) == 24);
static_assert(sizeof(nt_packet_event) == 88);
static_assert(sizeof(nt_flow_key) == 56);
static_assert(sizeof(nt_rhythm) == 3 * 8 * NT_RHYTHM_SLOTS);
static_assert(NetCollector::kRhythmBinS * 1e9 == NT_RHYTHM_BIN_NS);
static_assert(sizeof(nt_flow_stats) == 48);
static_assert(sizeof(nt_conn_event) == 136);
static_assert(static_cast<size_t>(NT_LOSS__COUNT) == static_cast<size_t>(model::LossReason::kMapReadFailed),
              "kernel loss reasons come first in model::LossReason, in the same order");

model::Endpoint endpoint(uint8_t family, const uint8_t* addr, uint16_t port) {
  model::Endpoint e;
  e.family = family;
  std::memcpy(e.addr.data(), addr, family == 4 ? 4 : 16);
  e.port = port;
  return e;
}

std::string comm_of(const char* comm) { return std::string(comm, strnlen(comm, NT_COMM_LEN)); }

// A hash map's entries. In batches of thousands per system call where the kernel has batch
// lookups (5.6+; at 10,000 flows a walk of two calls per entry was most of the agent's system time),
// else key by key: the keys first, because deleting while walking restarts the walk. An entry
// deleted between the two steps is skipped; a failed read is counted, not fatal.
template <class Key, class Value>
std::vector<std::pair<Key, Value>> entries_of(int fd, uint64_t& read_failures) {
  std::vector<std::pair<Key, Value>> entries;
  std::vector<Key> keys(4096);
  std::vector<Value> values(keys.size());
  uint64_t in_token = 0, out_token = 0;  // hash maps resume at a bucket: a 32-bit token
  for (bool started = false;;) {
    auto count = static_cast<uint32_t>(keys.size());
    const int error = bpf_map_lookup_batch(fd, started ? &in_token : nullptr, &out_token, keys.data(),
                                           values.data(), &count, nullptr) ? errno : 0;
    for (uint32_t i = 0; i < count && (error == 0 || error == ENOENT); ++i) entries.emplace_back(keys[i], values[i]);
    if (error == ENOENT) return entries;  // the last batch
    if (error == ENOSPC && keys.size() < (1u << 20)) {  // one bucket holds more than a batch
      keys.resize(keys.size() * 2);
      values.resize(keys.size());
      continue;
    }
    if (error != 0) break;
    in_token = out_token;
    started = true;
  }
  if (!entries.empty()) {  // a batch failed midway: the walk below reads them all again
    ++read_failures;
    entries.clear();
  }
  std::vector<Key> all;
  Key key{};
  while (bpf_map_get_next_key(fd, all.empty() ? nullptr : &all.back(), &key) == 0) all.push_back(key);
  for (const auto& k : all) {
    Value value{};
    if (bpf_map_lookup_elem(fd, &k, &value) != 0) {
      if (errno != ENOENT) ++read_failures;
      continue;
    }
    entries.emplace_back(k, value);
  }
  return entries;
}

// Calls fn(key, value) for every entry of a hash map.
template <class Key, class Value, class Fn>
void for_each_entry(int fd, uint64_t& read_failures, Fn fn) {
  for (const auto& [key, value] : entries_of<Key, Value>(fd, read_failures)) fn(key, value);
}

// Ring buffer sizes must be a power-of-two number of pages.
uint32_t ring_size(uint32_t bytes) {
  uint32_t size = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
  while (size < bytes) size <<= 1;
  return size;
}

}  // namespace

std::optional<uint64_t> process_stat_field(uint32_t tgid, int field) {
  std::ifstream stat("/proc/" + std::to_string(tgid) + "/stat");
  std::string content;
  if (!stat || !std::getline(stat, content)) return std::nullopt;
  // comm (field 2) may hold spaces and parentheses: fields after it start past the last ')'.
  auto close = content.rfind(')');
  if (close == std::string::npos || field < 3) return std::nullopt;
  std::istringstream fields(content.substr(close + 2));
  std::string skipped;
  for (int index = 3; index < field && (fields >> skipped); ++index) {
  }
  unsigned long long value = 0;
  if (!(fields >> value)) return std::nullopt;
  return value;
}

std::optional<uint64_t> process_start_ns(uint32_t tgid) {
  auto start_ticks = process_stat_field(tgid, 22);
  if (!start_ticks) return std::nullopt;
  return *start_ticks * (1'000'000'000ull / static_cast<uint64_t>(sysconf(_SC_CLK_TCK)));
}

bool process_alive(const model::ProcessKey& key) {
  auto start = process_start_ns(key.tgid);
  const uint64_t ns_per_tick = 1'000'000'000ull / static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
  return start && *start == key.start_ns / ns_per_tick * ns_per_tick;
}

std::vector<bpf::Feature> net_accounting_features() {
  // Owners are stamped at creation; a released socket's counters are folded.
  const std::vector<std::string> stamps = {"fold_on_release", "stamp_on_create"};
  auto with_stamps = [&](std::vector<std::string> programs) {
    programs.insert(programs.end(), stamps.begin(), stamps.end());
    return programs;
  };
  const std::vector<std::string> tcp_events = {"count_reset_sent", "count_reset_received", "count_rcvqueue_full"};
  auto with_tcp_events = [&](std::string retransmit) {
    std::vector<std::string> programs = tcp_events;
    programs.insert(programs.begin(), std::move(retransmit));
    return programs;
  };
  return {
      {"accounting",
       true,
       {{"tp", "tp_btf sock:sock_send_length and sock_recv_length (6.3+)", with_stamps({"count_send", "count_recv"})},
        {"fexit", "fexit on inet_sendmsg, inet6_sendmsg, inet_recvmsg and inet6_recvmsg",
         with_stamps({"count_send_inet", "count_send_inet6", "count_recv_inet", "count_recv_inet6"})}}},
      {"live_sockets",
       false,
       {{"storage_iter", "iter/bpf_sk_storage_map", {"dump_sockets"}},
        {"netns_iters", "iter/tcp and iter/udp with socket storage, in each network namespace",
         {"dump_tcp_sockets", "dump_udp_sockets"}},
        {"task_file", "iter/task_file with socket storage", {"dump_sockets_by_file"}}}},
      {"connect_stamps",
       false,
       {{"cgroup", "cgroup connect4 and connect6", {"stamp_on_connect4", "stamp_on_connect6"}}}},
      {"listen_stamps", false, {{"sock_ops", "sock_ops with bpf_get_current_pid_tgid and bpf_get_current_comm", {"stamp_on_listen"}}}},
      {"tcp_lifecycle", false, {{"tp", "tp_btf sock:inet_sock_set_state", {"on_tcp_state"}}}},
      {"tcp_health",
       false,
       {{"tp", "tp_btf tcp:tcp_retransmit_skb (with err), tcp_send_reset, tcp_receive_reset, sock_rcvqueue_full",
         with_tcp_events("count_retransmit")},
        {"tp_sent", "tp_btf tcp:tcp_retransmit_skb (sent only), tcp_send_reset, tcp_receive_reset, sock_rcvqueue_full",
         with_tcp_events("count_retransmit_sent")}}},
      {"udp_peers",
       false,
       {{"cgroup", "cgroup sendmsg4, sendmsg6, recvmsg4 and recvmsg6",
         {"peer_on_sendmsg4", "peer_on_sendmsg6", "peer_on_recvmsg4", "peer_on_recvmsg6"}}}},
      {"preexisting",
       false,
       {{"task_file", "iter/task_file with socket storage", {"find_preexisting"}},
        {"holders", "iter/task_file, then iter/tcp and iter/udp in each network namespace",
         {"note_socket_holders", "find_preexisting_tcp", "find_preexisting_udp"}}}},
  };
}

Result<std::unique_ptr<NetCollector>> NetCollector::start(const NetConfig& config, const ProcessFilter& filter) {
  auto walker = NetnsWalker::open();
  if (!walker) return walker.error();
  std::unique_ptr<NetCollector> collector(new NetCollector(config, filter, std::move(walker).value()));
  if (auto loaded = collector->load(config, filter); !loaded) return loaded.error();
  if (auto attached = collector->attach_all(); !attached) return attached.error();
  return collector;
}

Status NetCollector::load(const NetConfig& config, const ProcessFilter& filter) {
  auto configure = [&config, &filter](net_accounting& skel) -> Status {
    if (auto shared = filter.share_with(skel); !shared) return shared;
    auto* rodata = skel.rodata;
    rodata->emit_events = config.ringbuf_bytes > 0;
    if (int err = bpf_map__set_max_entries(skel.maps.flows, config.max_flows); err)
      return errno_error("sizing the flow table", -err);
    if (config.ringbuf_bytes > 0) {
      rodata->events_ring_size = ring_size(config.ringbuf_bytes);
      if (int err = bpf_map__set_max_entries(skel.maps.events, ring_size(config.ringbuf_bytes)); err)
        return errno_error("sizing the event ring buffer", -err);
    }
    return {};
  };
  auto accounting = bpf::FeatureObject<net_accounting>::load(
      "net", net_accounting_features(), {net_accounting__open, net_accounting__load, net_accounting__destroy},
      configure);
  if (!accounting) return accounting.error();
  accounting_ = std::move(accounting).value();
  if (skel().rodata->abi_version != NT_NET_ABI_VERSION)
    return Error{"net_accounting BPF object has ABI " + std::to_string(skel().rodata->abi_version) +
                 ", this agent expects " + std::to_string(NT_NET_ABI_VERSION)};
  if (!config.packets) return {};

  auto configure_packets = [&config, &filter, this](net_packets& packets) -> Status {
    if (auto shared = filter.share_with(packets); !shared) return shared;
    packets.rodata->emit_events = config.packet_ringbuf_bytes > 0;
    if (config.packet_ringbuf_bytes > 0) {
      packets.rodata->packet_ring_size = ring_size(config.packet_ringbuf_bytes);
      if (int err = bpf_map__set_max_entries(packets.maps.packet_events, ring_size(config.packet_ringbuf_bytes)); err)
        return errno_error("sizing the packet ring buffer", -err);
    }
    // One owner table and one loss table for both objects.
    if (int err = bpf_map__reuse_fd(packets.maps.sock_owners, bpf_map__fd(skel().maps.sock_owners)); err)
      return errno_error("sharing the socket owner map", -err);
    if (int err = bpf_map__reuse_fd(packets.maps.loss_counters, bpf_map__fd(skel().maps.loss_counters)); err)
      return errno_error("sharing the loss counters", -err);
    return {};
  };
  std::vector<bpf::Feature> packet_mode = {
      {"packets",
       false,
       {{"tp", "tp_btf net:net_dev_queue and net:netif_receive_skb", {"packet_tx", "packet_rx"}}}}};
  auto packets = bpf::FeatureObject<net_packets>::load(
      "net", packet_mode, {net_packets__open, net_packets__load, net_packets__destroy}, configure_packets);
  if (!packets) return packets.error();
  if (packets.value()->has("packets"))
    packets_ = std::move(packets).value();
  else
    packet_features_ = packets.value()->states();
  return {};
}

NetCollector::~NetCollector() = default;

Status NetCollector::attach_all() {
  auto cgroup_root = bpf::find_cgroup2_mount();
  if (!cgroup_root) return Error{"socket owner stamping needs cgroup v2: " + cgroup_root.error().message};
  cgroup_fd_.reset(open(cgroup_root.value().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cgroup_fd_.valid()) return errno_error("opening cgroup2 root " + cgroup_root.value(), errno);
  if (auto attached = accounting_->attach(cgroup_fd_.get()); !attached) return attached;
  if (packets_) {
    if (auto attached = packets_->attach(cgroup_fd_.get()); !attached) return attached;
    if (!packets_->has("packets")) {
      packet_features_ = packets_->states();
      packets_.reset();
    }
  }
  attach_live_socket_reader();
  return events_.add(bpf_map__fd(skel().maps.sock_segments), [this](const void* data, size_t) {
    ledger_.add_segment(reading_of(*static_cast<const nt_sock_record*>(data)));
  });
}

void NetCollector::attach_live_socket_reader() {
  auto& p = skel().progs;
  auto& l = skel().links;
  const std::string via = accounting_->via("live_sockets");
  if (via == "storage_iter") {
    union bpf_iter_link_info over_owners = {};
    over_owners.map.map_fd = static_cast<uint32_t>(bpf_map__fd(skel().maps.sock_owners));
    DECLARE_LIBBPF_OPTS(bpf_iter_attach_opts, iter_opts, .link_info = &over_owners,
                        .link_info_len = sizeof(over_owners));
    l.dump_sockets = bpf_program__attach_iter(p.dump_sockets, &iter_opts);
  } else if (via == "netns_iters") {
    l.dump_tcp_sockets = bpf_program__attach_iter(p.dump_tcp_sockets, nullptr);
    l.dump_udp_sockets = l.dump_tcp_sockets ? bpf_program__attach_iter(p.dump_udp_sockets, nullptr) : nullptr;
  } else if (via == "task_file") {
    l.dump_sockets_by_file = bpf_program__attach_iter(p.dump_sockets_by_file, nullptr);
  } else {
    return;
  }
  if (!l.dump_sockets && !l.dump_udp_sockets && !l.dump_sockets_by_file)
    accounting_->drop("live_sockets", errno_error("attaching the " + via + " iterator", errno).message);
}

void NetCollector::drain(model::ProcessTable& processes, model::FlowTable& flows, uint64_t idle_ns) {
  // Liveness before the reads: a process found dead cannot add bytes after them (its sockets were
  // released, and their segments are on the ring, before it could be reaped).
  std::vector<model::ProcessKey> dead;
  for (const auto& [key, process] : processes.processes())
    if (!process.exited && !process_alive(key)) dead.push_back(key);
  auto live = read_live_sockets();
  // Segments cut before the read: the ledger must have them to tell a socket read live from one
  // already handed over.
  if (auto consumed = events_.poll(0); !consumed) ++map_read_failures_;
  const uint64_t now = monotonic_ns();
  ledger_.publish(live, processes, flows, now);
  for (const auto& key : dead) processes.mark_exited(key);
  drain_peer_flows(flows, idle_ns, now);
}

void NetCollector::run_iterator(bpf_link* link, std::vector<char>& out) {
  if (!bpf::read_iterator(link, out)) ++map_read_failures_;
}

std::vector<SocketReading> NetCollector::read_live_sockets() {
  std::vector<SocketReading> live;
  const auto& l = skel().links;
  std::vector<char> buffer;
  if (l.dump_sockets) {
    run_iterator(l.dump_sockets, buffer);
  } else if (l.dump_sockets_by_file) {
    run_iterator(l.dump_sockets_by_file, buffer);
  } else if (l.dump_tcp_sockets && l.dump_udp_sockets) {
    walker_.for_each(netns_filter_, [&] {
      run_iterator(l.dump_tcp_sockets, buffer);
      run_iterator(l.dump_udp_sockets, buffer);
    }, map_read_failures_);
  }
  // Through open files a shared socket comes once per holder; a table walk may repeat one.
  std::unordered_set<uint64_t> cookies;
  for (size_t at = 0; at + sizeof(nt_sock_record) <= buffer.size(); at += sizeof(nt_sock_record)) {
    nt_sock_record record;
    std::memcpy(&record, buffer.data() + at, sizeof(record));
    if (!cookies.insert(record.cookie).second) continue;
    live.push_back(reading_of(record));
  }
  return live;
}

SocketReading NetCollector::reading_of(const nt_sock_record& r) {
  uint8_t family = r.ends.family == 10 ? 6 : 4;
  // A socket stamped by a cgroup hook only has no start time: /proc has it.
  uint64_t start_ns = r.start_ns ? r.start_ns : process_start_ns(r.tgid).value_or(0);
  SocketReading reading;
  reading.cookie = r.cookie;
  reading.generation = r.generation;
  reading.final = r.final;
  reading.per_peer = r.per_peer;
  reading.flow = {{r.tgid, r.netns, start_ns}, r.ends.protocol, endpoint(family, r.ends.saddr, r.ends.sport),
                  endpoint(family, r.ends.daddr, r.ends.dport)};
  reading.comm = comm_of(r.comm);
  reading.counters = {r.tx_bytes, r.rx_bytes, r.tx_calls, r.rx_calls};
  reading.srtt_us = r.srtt_us;
  reading.retransmits = r.retransmits;
  reading.spurious_retransmits = r.spurious_retransmits;
  return reading;
}

void NetCollector::drain_peer_flows(model::FlowTable& table, uint64_t idle_ns, uint64_t now) {
  int fd = bpf_map__fd(skel().maps.flows);
  for (auto [k, v] : entries_of<nt_flow_key, nt_flow_stats>(fd, map_read_failures_)) {
    uint8_t family = k.ends.family == 10 ? 6 : 4;
    model::FlowKey key{{k.tgid, k.netns, k.start_ns}, k.ends.protocol, endpoint(family, k.ends.saddr, k.ends.sport),
                       endpoint(family, k.ends.daddr, k.ends.dport)};
    auto* flow = &table.update(key, {v.tx_bytes, v.rx_bytes, v.tx_calls, v.rx_calls}, v.srtt_us, v.retransmits, 0, now);
    // Read and delete in one step, so that a call counted in between is not lost.
    if (now - flow->last_change_ns > idle_ns && bpf_map_lookup_and_delete_elem(fd, &k, &v) == 0) {
      flow = &table.update(key, {v.tx_bytes, v.rx_bytes, v.tx_calls, v.rx_calls}, v.srtt_us, v.retransmits, 0, now);
      flow->retired = true;
    }
  }
}

Status NetCollector::announce_preexisting() {
  const std::string via = accounting_->via("preexisting");
  auto& p = skel().progs;
  auto run_once = [this](bpf_program* program, const char* what) -> Status {
    bpf_link* link = bpf_program__attach_iter(program, nullptr);
    if (!link) return errno_error(std::string("attaching the ") + what + " iterator", errno);
    std::vector<char> ignored;
    run_iterator(link, ignored);
    bpf_link__destroy(link);
    return {};
  };
  Status status;
  if (via == "task_file") {
    status = run_once(p.find_preexisting, "task_file");
  } else if (via == "holders") {
    status = run_once(p.note_socket_holders, "task_file");
    bpf_link* tcp = status ? bpf_program__attach_iter(p.find_preexisting_tcp, nullptr) : nullptr;
    bpf_link* udp = tcp ? bpf_program__attach_iter(p.find_preexisting_udp, nullptr) : nullptr;
    if (status && !udp) status = errno_error("attaching the tcp and udp iterators", errno);
    if (status)
      walker_.for_each(netns_filter_, [&] {
        std::vector<char> ignored;
        run_iterator(tcp, ignored);
        run_iterator(udp, ignored);
      }, map_read_failures_);
    bpf_link__destroy(udp);
    bpf_link__destroy(tcp);
    // The holders were needed once: their entries go.
    const int holders = bpf_map__fd(skel().maps.socket_holders);
    uint64_t address;
    while (bpf_map_get_next_key(holders, nullptr, &address) == 0) bpf_map_delete_elem(holders, &address);
  }
  if (!status) accounting_->drop("preexisting", status.error().message);
  return {};
}

std::vector<model::UnseenBytes> NetCollector::unseen_bytes() {
  std::vector<model::UnseenBytes> out;
  for_each_entry<nt_proc_key, nt_unseen>(
      bpf_map__fd(skel().maps.unseen_bytes), map_read_failures_, [&](const nt_proc_key& k, const nt_unseen& v) {
        // A socket stamped by a cgroup hook and never read or written through the socket layer
        // (a splice-only receiver) has no start time: take it from /proc while the owner lives.
        uint64_t start_ns = k.start_ns ? k.start_ns : process_start_ns(k.tgid).value_or(0);
        out.push_back({k.tgid, start_ns, k.netns, comm_of(v.comm), v.tx_bytes, v.rx_bytes, v.sockets});
      });
  return out;
}

std::vector<model::DeviceStats> NetCollector::packet_device_counters() {
  std::vector<model::DeviceStats> out;
  if (!packets_) return out;
  for_each_entry<nt_device_key, nt_device_counters>(
      bpf_map__fd(packets()->maps.device_counters), map_read_failures_,
      [&](const nt_device_key& k, const nt_device_counters& c) {
        out.push_back({{k.netns, k.ifindex}, "", {c.tx_bytes, c.rx_bytes, c.tx_packets, c.rx_packets}, 0});
      });
  return out;
}

std::vector<model::PacketOwnerCounters> NetCollector::packet_owner_counters() {
  std::vector<model::PacketOwnerCounters> out;
  if (!packets_) return out;
  for_each_entry<nt_packet_owner_key, nt_packet_owner_counters>(
      bpf_map__fd(packets()->maps.packet_owners), map_read_failures_,
      [&](const nt_packet_owner_key& k, const nt_packet_owner_counters& v) {
        const auto& c = v.counters;
        out.push_back({{k.netns, k.ifindex}, k.tgid, k.start_ns, comm_of(v.comm),
                       {c.tx_bytes, c.rx_bytes, c.tx_packets, c.rx_packets}});
      });
  return out;
}

Status NetCollector::on_events(std::function<void(const model::SocketEvent&)> socket_handler,
                               std::function<void(const model::PacketEvent&)> packet_handler,
                               std::function<void(const model::ConnEvent&)> conn_handler) {
  auto status = events_.add(bpf_map__fd(skel().maps.conn_events), [handler = std::move(conn_handler)](
                                                                        const void* data, size_t) {
    const auto* e = static_cast<const nt_conn_event*>(data);
    uint8_t family = e->family == 10 ? 6 : 4;
    model::ConnEvent event;
    event.open = e->type == NT_CONN_OPEN;
    event.ts_ns = e->ts_ns;
    // A zero-byte socket stamped only by cgroup hooks has no start time: /proc has it.
    uint64_t start_ns = e->start_ns ? e->start_ns : process_start_ns(e->tgid).value_or(0);
    event.owner = {e->tgid, e->netns, start_ns};
    event.comm = comm_of(e->comm);
    event.local = endpoint(family, e->saddr, e->sport);
    event.remote = endpoint(family, e->daddr, e->dport);
    event.active = e->active;
    event.preexisting = e->preexisting;
    if (!event.open && e->open_ns) event.duration_ns = e->ts_ns - e->open_ns;
    event.tx_bytes = e->tx_bytes;
    event.rx_bytes = e->rx_bytes;
    event.srtt_us = e->srtt_us;
    event.retransmits = e->retransmits;
    event.delivered = e->delivered;
    event.lost = e->lost;
    event.resets_sent = e->resets_sent;
    event.resets_received = e->resets_received;
    event.rcvqueue_full = e->rcvqueue_full;
    handler(event);
  });
  if (!status) return status;
  if (skel().rodata->emit_events) {
    status = events_.add(bpf_map__fd(skel().maps.events), [handler = std::move(socket_handler)](const void* data,
                                                                                                   size_t) {
      const auto* e = static_cast<const nt_net_event*>(data);
      uint8_t family = e->family == 10 ? 6 : 4;
      model::SocketEvent event{e->ts_ns, e->tgid, e->tid, e->start_ns, comm_of(e->comm), e->netns, e->bytes,
                               e->direction == NT_DIR_TX ? model::Direction::kTx : model::Direction::kRx,
                               e->protocol, endpoint(family, e->saddr, e->sport), endpoint(family, e->daddr, e->dport)};
      handler(event);
    });
    if (!status) return status;
  }
  if (packets_ && packets()->rodata->emit_events) {
    status = events_.add(bpf_map__fd(packets()->maps.packet_events), [handler = std::move(packet_handler)](
                                                                            const void* data, size_t) {
      const auto* e = static_cast<const nt_packet_event*>(data);
      uint8_t family = e->ethertype == 0x86dd ? 6 : (e->ethertype == 0x0800 ? 4 : 0);
      model::PacketEvent event{e->ts_ns, e->netns, e->ifindex, e->tgid, e->start_ns, comm_of(e->comm), e->len,
                               e->direction == NT_DIR_TX ? model::Direction::kTx : model::Direction::kRx,
                               e->ethertype, e->protocol, {}, {}};
      if (family) {
        event.source = endpoint(family, e->saddr, e->sport);
        event.destination = endpoint(family, e->daddr, e->dport);
      }
      handler(event);
    });
    if (!status) return status;
  }
  return {};
}

Status NetCollector::poll_events(int timeout_ms) { return events_.poll(timeout_ms); }

void NetCollector::add_losses(model::LossCounters& losses) const {
  int fd = bpf_map__fd(skel().maps.loss_counters);
  for (uint32_t slot = 0; slot < NT_LOSS__COUNT; ++slot) {
    auto value = bpf::sum_percpu_slot(fd, slot);
    if (value)
      losses[slot] += value.value();
    else
      ++map_read_failures_;
  }
  losses[static_cast<size_t>(model::LossReason::kFlowMapFull)] += ledger_.calls_not_held();
  losses[static_cast<size_t>(model::LossReason::kFlowBytesNotHeld)] += ledger_.bytes_not_held();
  losses[static_cast<size_t>(model::LossReason::kMapReadFailed)] += map_read_failures_;
}

Status NetCollector::watch_rhythm(uint32_t tgid) {
  if (rhythm_watched_.count(tgid)) return {};
  static const nt_rhythm kEmpty{};
  if (bpf_map_update_elem(bpf_map__fd(skel().maps.rhythm), &tgid, &kEmpty, BPF_NOEXIST) != 0 && errno != EEXIST)
    return errno_error("watching the send rhythm of " + std::to_string(tgid), errno);
  rhythm_watched_.insert(tgid);
  skel().bss->rhythm_watched = static_cast<uint32_t>(rhythm_watched_.size());
  return {};
}

void NetCollector::unwatch_rhythm(uint32_t tgid) {
  if (!rhythm_watched_.erase(tgid)) return;
  skel().bss->rhythm_watched = static_cast<uint32_t>(rhythm_watched_.size());
  bpf_map_delete_elem(bpf_map__fd(skel().maps.rhythm), &tgid);
}

std::vector<NetCollector::RhythmBin> NetCollector::read_rhythm(uint32_t tgid, uint64_t& after) {
  std::vector<RhythmBin> bins;
  if (!rhythm_watched_.count(tgid)) return bins;
  const uint64_t current = monotonic_ns() / NT_RHYTHM_BIN_NS;  // the clock bpf_ktime_get_ns reads
  if (after == 0) {  // the first reading starts now: what came before says nothing of the rhythm
    after = current - 1;
    return bins;
  }
  auto value = std::make_unique<nt_rhythm>();  // 16 KiB: not on the stack
  if (bpf_map_lookup_elem(bpf_map__fd(skel().maps.rhythm), &tgid, value.get()) != 0) {
    ++map_read_failures_;
    return bins;
  }
  // The ring holds the last NT_RHYTHM_SLOTS bins; older ones than that were overwritten unread.
  const uint64_t oldest = current >= NT_RHYTHM_SLOTS ? current - NT_RHYTHM_SLOTS + 1 : 0;
  for (uint64_t bin = std::max(after + 1, oldest); bin < current; ++bin) {
    const size_t slot = bin & (NT_RHYTHM_SLOTS - 1);
    const bool counted = value->bin[slot] == bin;
    bins.push_back({bin, counted ? value->bytes[slot] : 0, counted ? value->rx_bytes[slot] : 0});
  }
  after = std::max(after, current - 1);
  return bins;
}

std::vector<uint64_t> NetCollector::per_cpu_loss(model::LossReason reason) const {
  auto values = bpf::read_percpu_slot(bpf_map__fd(skel().maps.loss_counters), static_cast<uint32_t>(reason));
  if (!values) {
    ++map_read_failures_;
    return {};
  }
  return values.value();
}

std::vector<model::ProgramStats> NetCollector::program_stats() const {
  auto stats = bpf::read_program_stats(skel().obj);  // the loaded programs only
  if (packets_) {
    auto more = bpf::read_program_stats(packets()->obj);
    stats.insert(stats.end(), more.begin(), more.end());
  }
  return stats;
}

int NetCollector::sock_owner_map_fd() const { return bpf_map__fd(skel().maps.sock_owners); }

std::vector<model::FeatureState> NetCollector::features() const {
  auto states = accounting_->states();
  if (packets_) {
    states.insert(states.end(), packets_->states().begin(), packets_->states().end());
  } else {
    states.insert(states.end(), packet_features_.begin(), packet_features_.end());
  }
  return states;
}

}  // namespace nt::collectors
