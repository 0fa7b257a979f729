#include "collectors/net/net_collector.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "bpf_runtime/kernel_env.h"
#include "net_accounting.skel.h"
#include "shared/net_accounting.h"

namespace nt::collectors {
namespace {

static_assert(sizeof(nt_proc_key) == 16);
static_assert(sizeof(nt_proc_stats) == 48);
static_assert(sizeof(nt_sock_owner) == 40);
static_assert(static_cast<size_t>(NT_LOSS__COUNT) == static_cast<size_t>(model::LossReason::kMapReadFailed),
              "kernel loss reasons come first in model::LossReason, in the same order");

struct ProgramAttachment {
  bpf_program* program;
  bpf_link** link;
  const char* needs;  // the kernel feature, for the error line
  bool on_cgroup;
};

}  // namespace

bool process_alive(const model::ProcessKey& key) {
  std::ifstream stat("/proc/" + std::to_string(key.tgid) + "/stat");
  std::string content;
  if (!stat || !std::getline(stat, content)) return false;
  // comm (field 2) may hold spaces and parentheses: fields after it start past the last ')'.
  auto close = content.rfind(')');
  if (close == std::string::npos) return false;
  std::istringstream fields(content.substr(close + 2));
  std::string field;
  for (int index = 3; index < 22 && (fields >> field); ++index) {
  }
  unsigned long long start_ticks = 0;
  if (!(fields >> start_ticks)) return false;
  const uint64_t ns_per_tick = 1'000'000'000ull / static_cast<uint64_t>(sysconf(_SC_CLK_TCK));
  return start_ticks == key.start_ns / ns_per_tick;
}

Result<std::unique_ptr<NetCollector>> NetCollector::start(const NetConfig& config) {
  if (auto ready = bpf::check_bpf_prerequisites(); !ready) return ready.error();
  std::unique_ptr<NetCollector> collector(new NetCollector());
  collector->skel_ = net_accounting__open();
  if (!collector->skel_) return errno_error("opening the net_accounting BPF object", errno);
  auto* skel = collector->skel_;
  skel->rodata->filter_tgids = config.filter_tgids;
  skel->rodata->follow_children = config.follow_children;
  if (int err = bpf_map__set_max_entries(skel->maps.proc_stats, config.max_processes); err)
    return errno_error("sizing the process table", err);
  if (int err = net_accounting__load(skel); err)
    return errno_error("loading net_accounting BPF programs (run with --verbose for the verifier log)", err);
  if (skel->rodata->abi_version != NT_NET_ABI_VERSION)
    return Error{"net_accounting BPF object has ABI " + std::to_string(skel->rodata->abi_version) +
                 ", this agent expects " + std::to_string(NT_NET_ABI_VERSION)};
  if (auto attached = collector->attach_all(); !attached) return attached.error();
  return collector;
}

NetCollector::~NetCollector() { net_accounting__destroy(skel_); }

Status NetCollector::attach_all() {
  auto cgroup_root = bpf::find_cgroup2_mount();
  if (!cgroup_root) return Error{"socket owner stamping needs cgroup v2: " + cgroup_root.error().message};
  cgroup_fd_.reset(open(cgroup_root.value().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!cgroup_fd_.valid()) return errno_error("opening cgroup2 root " + cgroup_root.value(), errno);

  auto& p = skel_->progs;
  auto& l = skel_->links;
  const ProgramAttachment attachments[] = {
      {p.count_send, &l.count_send, "tp_btf sock:sock_send_length (kernel >= 6.3 with BTF)", false},
      {p.count_recv, &l.count_recv, "tp_btf sock:sock_recv_length (kernel >= 6.3 with BTF)", false},
      {p.follow_fork, &l.follow_fork, "tp_btf sched:sched_process_fork", false},
      {p.forget_exited, &l.forget_exited, "tp_btf sched:sched_process_exit", false},
      {p.stamp_on_create, &l.stamp_on_create, "cgroup sock_create on the cgroup2 root", true},
      {p.stamp_on_connect4, &l.stamp_on_connect4, "cgroup connect4 on the cgroup2 root", true},
      {p.stamp_on_connect6, &l.stamp_on_connect6, "cgroup connect6 on the cgroup2 root", true},
      {p.stamp_on_listen, &l.stamp_on_listen, "sock_ops on the cgroup2 root", true},
  };
  for (const auto& a : attachments) {
    *a.link = a.on_cgroup ? bpf_program__attach_cgroup(a.program, cgroup_fd_.get()) : bpf_program__attach(a.program);
    if (!*a.link) {
      int err = errno;
      return errno_error(std::string("attaching BPF program ") + bpf_program__name(a.program) + " (needs " +
                             a.needs + "; kprobes and fentry are not used)",
                         err);
    }
  }
  return {};
}

Status NetCollector::trace_tgid(pid_t tgid) {
  uint32_t key = static_cast<uint32_t>(tgid);
  uint8_t one = 1;
  if (bpf_map_update_elem(bpf_map__fd(skel_->maps.traced_tgids), &key, &one, BPF_ANY) != 0)
    return errno_error("adding pid " + std::to_string(tgid) + " to the kernel filter", errno);
  return {};
}

void NetCollector::drain(model::ProcessTable& table) {
  int fd = bpf_map__fd(skel_->maps.proc_stats);
  // Keys first: deleting while walking a hash map restarts the walk.
  std::vector<nt_proc_key> keys;
  nt_proc_key key{};
  nt_proc_key* previous = nullptr;
  while (bpf_map_get_next_key(fd, previous, &key) == 0) {
    keys.push_back(key);
    previous = &keys.back();
  }
  for (const auto& k : keys) {
    model::ProcessKey identity{k.tgid, k.netns, k.start_ns};
    // Liveness before the read: a process found dead cannot add bytes after its final read.
    bool alive = process_alive(identity);
    nt_proc_stats stats{};
    if (bpf_map_lookup_elem(fd, &k, &stats) != 0) {
      ++map_read_failures_;
      continue;
    }
    std::string comm(stats.comm, strnlen(stats.comm, sizeof(stats.comm)));
    table.update(identity, comm, {stats.tx_bytes, stats.rx_bytes, stats.tx_calls, stats.rx_calls});
    if (!alive) {
      table.mark_exited(identity);
      bpf_map_delete_elem(fd, &k);
    }
  }
}

model::LossCounters NetCollector::losses() const {
  model::LossCounters losses{};
  int fd = bpf_map__fd(skel_->maps.loss_counters);
  uint64_t read_failures = map_read_failures_;
  for (uint32_t slot = 0; slot < NT_LOSS__COUNT; ++slot) {
    auto value = bpf::sum_percpu_slot(fd, slot);
    if (value)
      losses[slot] = value.value();
    else
      ++read_failures;
  }
  losses[static_cast<size_t>(model::LossReason::kMapReadFailed)] = read_failures;
  return losses;
}

std::vector<bpf::ProgramStats> NetCollector::program_stats() const { return bpf::read_program_stats(skel_->obj); }

int NetCollector::sock_owner_map_fd() const { return bpf_map__fd(skel_->maps.sock_owners); }

}  // namespace nt::collectors
