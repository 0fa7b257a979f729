#include "collectors/syscalls/syscall_collector.h"

#include <bpf/bpf.h>

#include <cstring>
#include <map>
#include <set>

#include "bpf_runtime/map_entries.h"
#include "bpf_runtime/ring_buffer.h"
#include "model/timeline.h"
#include "collectors/net/net_collector.h"  // process_alive
#include "collectors/object_collector.h"
#include "collectors/process_filter.h"
#include "model/syscall_names.h"
#include "shared/syscalls.h"
// The skeleton's rodata holds a struct nt_filter_config: after the filter's header.
#include "syscalls.skel.h"

namespace nt::collectors {
namespace {

static_assert(sizeof(nt_sc_key) == 24);
static_assert(sizeof(nt_sc_counts) == 3 * 8 + NT_SC_HIST_SLOTS * 8 + NT_COMM_LEN);
static_assert(sizeof(nt_sc_errno_key) == 24);
static_assert(std::tuple_size_v<decltype(model::SlowSyscall::args)> == NT_SC_ARGS, "the model keeps every word the kernel sends");
static_assert(sizeof(nt_sc_slow_call) == 88);
static_assert(NT_SC_HIST_SLOTS == model::kLog2Slots);

std::vector<bpf::Feature> syscall_features() {
  return {{"calls",
           true,
           {{"raw_tp", "raw tracepoints raw_syscalls:sys_enter, sys_exit and sched:sched_process_exit",
             {"enter_syscall", "exit_syscall", "forget_thread"}}}}};
}

model::ProcessKey process_key(const nt_proc_key& k) { return {k.tgid, k.netns, k.start_ns}; }

class SyscallCollector : public ObjectCollector<syscalls> {
 public:
  using ObjectCollector::ObjectCollector;

  std::string name() const override { return "syscalls"; }

  void drain(model::Tables& tables) override {
    auto& table = tables.syscalls;
    slow_calls_ = &table.slow_calls();
    const size_t seen = slow_calls_->size();
    if (!ring_.empty() && !ring_.poll(0)) ++read_failures_;  // the events stay for the next drain
    if (timeline_)
      for (size_t i = seen; i < slow_calls_->size(); ++i) tables.timeline.add(model::timeline_event((*slow_calls_)[i]));
    slow_calls_ = nullptr;
    // Liveness before the read: a process found dead makes no more calls, so what is read next is
    // its last word, and its entries go after it.
    std::set<model::ProcessKey> dead;
    for (const auto& [key, process] : table.processes())
      if (!process.exited && !process_alive(key)) dead.insert(key);

    const int counts_fd = bpf_map__fd(object_->skel().maps.sc_counts);
    const int errnos_fd = bpf_map__fd(object_->skel().maps.sc_errnos);
    std::map<model::ProcessKey, std::map<uint32_t, model::SyscallStats>> read;
    // A process's name: that of its busiest entry (entries made before an exec keep the old name).
    std::map<model::ProcessKey, std::pair<uint64_t, std::string>> comms;
    std::vector<nt_sc_key> counted;
    for (const auto& [key, per_cpu] : bpf::percpu_entries<nt_sc_key, nt_sc_counts>(counts_fd, read_failures_)) {
      auto& stats = read[process_key(key.owner)][key.nr];
      std::string comm;
      for (const auto& c : per_cpu) {
        stats.calls += c.calls;
        stats.errors += c.errors;
        stats.total_ns += c.total_ns;
        for (size_t i = 0; i < model::kLog2Slots; ++i) stats.hist[i] += c.hist[i];
        if (comm.empty() && c.comm[0]) comm.assign(c.comm, strnlen(c.comm, sizeof(c.comm)));
      }
      auto& busiest = comms[process_key(key.owner)];
      if (!comm.empty() && stats.calls >= busiest.first) busiest = {stats.calls, comm};
      counted.push_back(key);
    }
    std::vector<nt_sc_errno_key> failed;
    for (const auto& [key, per_cpu] : bpf::percpu_entries<nt_sc_errno_key, uint64_t>(errnos_fd, read_failures_)) {
      uint64_t sum = 0;
      for (uint64_t n : per_cpu) sum += n;
      read[process_key(key.owner)][key.nr].errnos[key.err] = sum;
      failed.push_back(key);
    }
    for (auto& [key, by_nr] : read) {
      auto& process = table.process(key);
      if (auto named = comms.find(key); named != comms.end() && !named->second.second.empty())
        process.comm = named->second.second;
      for (auto& [nr, stats] : by_nr) process.by_nr[nr] = std::move(stats);
    }
    if (dead.empty()) return;
    for (const auto& key : counted)
      if (dead.count(process_key(key.owner))) bpf_map_delete_elem(counts_fd, &key);
    for (const auto& key : failed)
      if (dead.count(process_key(key.owner))) bpf_map_delete_elem(errnos_fd, &key);
    for (const auto& key : dead) table.mark_exited(key);
  }

  void add_losses(model::LossCounters& into) const override {
    bpf::add_loss_slots(bpf_map__fd(object_->skel().maps.sc_losses),
                        {{NT_SC_LOSS_COUNTER_MAP_FULL, model::LossReason::kSyscallCounterMapFull},
                         {NT_SC_LOSS_ERRNO_MAP_FULL, model::LossReason::kSyscallErrnoMapFull},
                         {NT_SC_LOSS_THREAD_MAP_FULL, model::LossReason::kSyscallThreadMapFull},
                         {NT_SC_LOSS_RINGBUF_FULL, model::LossReason::kSyscallRingbufFull}},
                        into);
    into[static_cast<size_t>(model::LossReason::kMapReadFailed)] += read_failures_;
  }

  Status attach(bool slow_calls, bool timeline) {
    timeline_ = timeline;
    if (slow_calls)
      if (auto ok = ring_.add(bpf_map__fd(object_->skel().maps.sc_slow_calls),
                              [this](const void* data, size_t size) { on_slow_call(data, size); });
          !ok)
        return ok;
    return object_->attach(-1);
  }

 private:
  void on_slow_call(const void* data, size_t size) {
    if (size < sizeof(nt_sc_slow_call) || !slow_calls_) return;
    nt_sc_slow_call e;
    std::memcpy(&e, data, sizeof(e));
    model::SlowSyscall call;
    call.key = process_key(e.owner);
    call.tid = e.tid;
    call.comm.assign(e.comm, strnlen(e.comm, sizeof(e.comm)));
    call.nr = e.nr;
    call.ret = e.ret;
    call.latency_ns = e.latency_ns;
    call.exit_monotonic_ns = e.exit_ns;
    for (size_t i = 0; i < call.args.size(); ++i) call.args[i] = e.args[i];
    slow_calls_->push_back(std::move(call));
  }

  bpf::RingBuffer ring_;
  std::vector<model::SlowSyscall>* slow_calls_ = nullptr;  // where events go, during a drain
  bool timeline_ = false;  // slow calls go on the timeline too
  uint64_t read_failures_ = 0;
};

}  // namespace

Result<std::unique_ptr<Collector>> start_syscall_collector(const CollectorContext& context) {
  auto configure = [&context](syscalls& skel) -> Status {
    if (auto shared = context.filter.share_with(skel); !shared) return shared;
    skel.rodata->slow_call_ns = context.slow_syscall_ns;
    size_t slot = 0;
    for (const char* refresh : {"execve", "execveat", "setns", "unshare"})
      if (auto nr = model::syscall_number(refresh); nr && slot < NT_SC_REFRESH) skel.rodata->refresh_nr[slot++] = *nr;
    // One entry per (process, syscall) it makes: a few dozen syscalls a process, on average.
    if (int err = bpf_map__set_max_entries(skel.maps.sc_counts, 32 * context.max_processes); err)
      return errno_error("sizing the syscall table", -err);
    return {};
  };
  auto object = bpf::FeatureObject<syscalls>::load("syscalls", syscall_features(),
                                                   {syscalls__open, syscalls__load, syscalls__destroy}, configure);
  if (!object) return object.error();
  auto collector = std::make_unique<SyscallCollector>(std::move(object).value());
  if (auto attached = collector->attach(context.slow_syscall_ns > 0, context.timeline); !attached) return attached.error();
  return std::unique_ptr<Collector>(std::move(collector));
}

}  // namespace nt::collectors
