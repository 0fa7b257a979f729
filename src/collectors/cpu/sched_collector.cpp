#include "collectors/cpu/sched_collector.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <unordered_map>

#include "bpf_runtime/map_entries.h"
#include "bpf_runtime/ring_buffer.h"
#include "collectors/net/net_collector.h"  // process_alive
#include "collectors/object_collector.h"
#include "collectors/process_filter.h"
#include "common/clock.h"
#include "common/unique_fd.h"
#include "cpu_sched.skel.h"
#include "shared/cpu_sched.h"

namespace nt::collectors {
namespace {

static_assert(sizeof(nt_sched_counts) == 272);
static_assert(sizeof(nt_thread_record) == 328);
static_assert(sizeof(nt_oncpu_slice) == 64);

// --timeline: the kernel's ring for a second of a busy host's traced threads (64 bytes a switch).
constexpr uint32_t kSliceRingBytes = 16u << 20;

// Why a thread was off its CPU, from how it left it.
const char* off_cpu_reason(const nt_oncpu_slice& left) {
  if (left.preempted) return "preempted";
  switch (left.state & 0xff) {
    case 1: return "sleeping";                  // TASK_INTERRUPTIBLE
    case 2: return left.state & 0x400 ? "idle"  // TASK_IDLE: uninterruptible, not counted as load
                                      : "blocked (D)";
    case 4: case 8: return "stopped";           // __TASK_STOPPED, __TASK_TRACED
    default: return "off-CPU";
  }
}
static_assert(NT_CPU_HIST_SLOTS == model::kLog2Slots);

constexpr size_t kTopThreads = 5;  // per process, busiest first

std::vector<bpf::Feature> sched_features() {
  return {{"switches",
           true,
           {{"tp", "tp_btf sched:sched_switch and iter/task, with task storage", {"on_switch", "dump_threads"}}}}};
}

// What the kernel counted, as the model holds it: off-CPU time is what the wall clock saw less
// what the thread ran, split by what came before each wait.
model::SchedCounters sched_counters(const nt_sched_counts& c) {
  model::SchedCounters s;
  s.on_cpu_ns = c.on_cpu_ns;
  s.runq_ns = c.runq_ns;
  const uint64_t off = c.wall_ns > c.on_cpu_ns ? c.wall_ns - c.on_cpu_ns : 0;
  s.off_involuntary_ns = std::min<uint64_t>(c.off_involuntary_ns, off);
  s.off_voluntary_ns = off - s.off_involuntary_ns;
  s.voluntary_switches = c.voluntary_switches;
  s.involuntary_switches = c.involuntary_switches;
  s.migrations = c.migrations;
  std::copy(std::begin(c.runq_hist), std::end(c.runq_hist), s.runq_hist.begin());
  return s;
}

void add(nt_sched_counts& into, const nt_sched_counts& more) {
  into.wall_ns += more.wall_ns;
  into.on_cpu_ns += more.on_cpu_ns;
  into.runq_ns += more.runq_ns;
  into.off_involuntary_ns += more.off_involuntary_ns;
  into.voluntary_switches += more.voluntary_switches;
  into.involuntary_switches += more.involuntary_switches;
  into.migrations += more.migrations;
  for (size_t i = 0; i < model::kLog2Slots; ++i) into.runq_hist[i] += more.runq_hist[i];
}

std::string text(const char* raw, size_t size) { return std::string(raw, strnlen(raw, size)); }

class SchedCollector : public ObjectCollector<cpu_sched> {
 public:
  using ObjectCollector::ObjectCollector;

  std::string name() const override { return "cpu"; }

  // Exited threads' totals first, live threads' after: a thread that dies between the two reads is
  // in neither this time (the model keeps the larger reading), never in both.
  void drain(model::Tables& tables) override {
    if (!slices_.empty()) {
      timeline_ = &tables.timeline;
      if (!slices_.poll(0)) ++read_failures_;  // the stretches stay for the next drain
      timeline_ = nullptr;
    }
    auto& sched = tables.sched;
    // Liveness before the reads: a process found dead has no thread left to count.
    std::vector<model::ProcessKey> dead;
    for (const auto& [key, process] : sched.processes())
      if (!process.exited && !process_alive(key)) dead.push_back(key);
    const int exited_fd = bpf_map__fd(object_->skel().maps.exited_threads);
    std::map<model::ProcessKey, Process> processes;
    for (const auto& [k, counts] : bpf::hash_entries<nt_proc_key, nt_sched_counts>(exited_fd, read_failures_))
      processes[{k.tgid, k.netns, k.start_ns}].counts = counts;
    read_threads(processes);
    for (auto& [key, process] : processes) {
      std::sort(process.threads.begin(), process.threads.end(),
                [](const auto& a, const auto& b) { return a.on_cpu_ns > b.on_cpu_ns; });
      if (process.threads.size() > kTopThreads) process.threads.resize(kTopThreads);
      sched.update(key, process.comm, sched_counters(process.counts));
      if (auto* entry = sched.find(key)) entry->top_threads = std::move(process.threads);
    }
    for (const auto& gone : dead) {
      sched.mark_exited(gone);
      nt_proc_key kernel_key{gone.tgid, gone.netns, gone.start_ns};
      bpf_map_delete_elem(exited_fd, &kernel_key);  // read for the last time above
    }
  }

  void add_losses(model::LossCounters& into) const override {
    bpf::add_loss_slots(bpf_map__fd(object_->skel().maps.cpu_losses),
                        {{NT_CPU_LOSS_MAP_FULL, model::LossReason::kSchedMapFull},
                         {NT_CPU_LOSS_STORAGE_FAILED, model::LossReason::kSchedStorageFailed},
                         {NT_CPU_LOSS_SLICE_RINGBUF_FULL, model::LossReason::kTimelineRingbufFull}},
                        into);
    into[static_cast<size_t>(model::LossReason::kMapReadFailed)] += read_failures_;
  }

  // Attaches, then reads every thread once: threads older than the agent count from here.
  Status attach(bool timeline) {
    if (timeline)
      if (auto ok = slices_.add(bpf_map__fd(object_->skel().maps.oncpu_slices),
                                [this](const void* data, size_t size) { on_stretch(data, size); });
          !ok)
        return ok;
    if (auto attached = object_->attach(-1); !attached) return attached;
    auto link = object_->attach_iterator(object_->skel().progs.dump_threads);
    if (!link) return link.error();
    threads_link_ = *link;
    std::map<model::ProcessKey, Process> first;
    read_threads(first);
    return {};
  }

 private:
  struct Process {
    std::string comm;
    nt_sched_counts counts{};
    std::vector<model::ThreadSched> threads;
  };

  // Every live thread, in one pass of the task iterator, added to its process when it counts.
  void read_threads(std::map<model::ProcessKey, Process>& processes) {
    bytes_.clear();
    if (!bpf::read_iterator(threads_link_, bytes_)) ++read_failures_;
    for (size_t at = 0; at + sizeof(nt_thread_record) <= bytes_.size(); at += sizeof(nt_thread_record)) {
      nt_thread_record r;
      std::memcpy(&r, bytes_.data() + at, sizeof(r));
      if (!r.traced || (r.counts.on_cpu_ns == 0 && r.counts.voluntary_switches + r.counts.involuntary_switches == 0))
        continue;
      auto& process = processes[{r.tgid, r.netns, r.start_ns}];
      process.comm = text(r.leader_comm, sizeof(r.leader_comm));
      add(process.counts, r.counts);
      process.threads.push_back({r.pid, text(r.comm, sizeof(r.comm)), r.counts.on_cpu_ns, r.counts.runq_ns});
    }
  }

  // A thread's stretch on a CPU: an on-CPU slice, and the off-CPU slice since its last one.
  void on_stretch(const void* data, size_t size) {
    if (size < sizeof(nt_oncpu_slice) || !timeline_) return;
    nt_oncpu_slice e;
    std::memcpy(&e, data, sizeof(e));
    if (e.end_ns < e.start_ns) return;
    if (auto left = departures_.find(e.pid); left != departures_.end()) {
      const nt_oncpu_slice& before = left->second;
      if (before.tgid == e.tgid && before.end_ns <= e.start_ns)
        timeline_->add({model::TimelineEvent::Kind::kSlice, e.tgid, e.pid, before.end_ns,
                        e.start_ns - before.end_ns, "offcpu", off_cpu_reason(before), {}});
    }
    timeline_->add({model::TimelineEvent::Kind::kSlice, e.tgid, e.pid, e.start_ns, e.end_ns - e.start_ns, "oncpu",
                    "running", {{"cpu", std::to_string(e.cpu)}}});
    timeline_->name_thread(e.tgid, e.pid, text(e.comm, sizeof(e.comm)));
    timeline_->name_process(e.tgid, text(e.leader_comm, sizeof(e.leader_comm)));
    if (e.dead)
      departures_.erase(e.pid);
    else
      departures_[e.pid] = e;
  }

  bpf::RingBuffer slices_;  // --timeline: the on-CPU stretches
  model::TimelineFeed* timeline_ = nullptr;  // where they go, during a drain
  std::unordered_map<uint32_t, nt_oncpu_slice> departures_;  // per thread: how it last left its CPU
  bpf_link* threads_link_ = nullptr;  // the object's
  std::vector<char> bytes_;  // the iterator's output, reused
  uint64_t read_failures_ = 0;
};

}  // namespace

Result<std::unique_ptr<Collector>> start_sched_collector(const CollectorContext& context) {
  auto configure = [&context](cpu_sched& skel) -> Status {
    if (auto shared = context.filter.share_with(skel); !shared) return shared;
    skel.rodata->agent_start_ns = monotonic_ns();
    skel.rodata->timeline = context.timeline;
    if (context.timeline)
      if (int err = bpf_map__set_max_entries(skel.maps.oncpu_slices, kSliceRingBytes); err)
        return errno_error("sizing the on-CPU slices' ring buffer", -err);
    if (int err = bpf_map__set_max_entries(skel.maps.exited_threads, context.max_processes); err)
      return errno_error("sizing the exited threads' table", -err);
    return {};
  };
  auto object = bpf::FeatureObject<cpu_sched>::load("cpu", sched_features(),
                                                    {cpu_sched__open, cpu_sched__load, cpu_sched__destroy}, configure);
  if (!object) return object.error();
  auto collector = std::make_unique<SchedCollector>(std::move(object).value());
  if (auto attached = collector->attach(context.timeline); !attached) return attached.error();
  return std::unique_ptr<Collector>(std::move(collector));
}

}  // namespace nt::collectors
