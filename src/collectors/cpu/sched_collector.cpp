#include "collectors/cpu/sched_collector.h"

#include <bpf/bpf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "collectors/net/net_collector.h"  // process_alive
#include "bpf_runtime/percpu_map.h"
#include "collectors/process_filter.h"
#include "common/unique_fd.h"
#include "cpu_sched.skel.h"
#include "shared/cpu_sched.h"

namespace nt::collectors {
namespace {

static_assert(sizeof(nt_cpu_counters) == 304);
static_assert(sizeof(nt_thread_record) == 72);
static_assert(NT_CPU_HIST_SLOTS == model::kLog2Slots);

constexpr size_t kTopThreads = 5;  // per process, busiest first

std::vector<bpf::Feature> sched_features() {
  return {{"switches",
           true,
           {{"tp", "tp_btf sched:sched_switch and sched_migrate_task, with task storage",
             {"on_switch", "on_migrate"}}}},
          {"threads", false, {{"iter", "iter/task with task storage", {"dump_threads"}}}}};
}

class SchedCollector : public Collector {
 public:
  explicit SchedCollector(std::unique_ptr<bpf::FeatureObject<cpu_sched>> object)
      : object_(std::move(object)) {}

  std::string name() const override { return "cpu"; }

  void drain(model::Tables& tables) override {
    auto& sched = tables.sched;
    // Liveness before the read: a process found dead cannot switch again after it.
    std::vector<model::ProcessKey> dead;
    for (const auto& [key, process] : sched.processes())
      if (!process.exited && !process_alive(key)) dead.push_back(key);
    const int fd = bpf_map__fd(object_->skel().maps.cpu_counters);
    std::map<model::ProcessKey, std::pair<std::string, model::SchedCounters>> totals;
    for (const auto& [k, per_cpu] : bpf::percpu_entries<nt_proc_key, nt_cpu_counters>(fd, read_failures_)) {
      model::SchedCounters total;
      std::string comm;
      uint64_t newest = 0;
      for (const auto& c : per_cpu) {
        total.on_cpu_ns += c.on_cpu_ns;
        total.runq_ns += c.runq_ns;
        total.off_voluntary_ns += c.off_voluntary_ns;
        total.off_involuntary_ns += c.off_involuntary_ns;
        total.voluntary_switches += c.voluntary_switches;
        total.involuntary_switches += c.involuntary_switches;
        total.migrations += c.migrations;
        for (size_t i = 0; i < model::kLog2Slots; ++i) total.runq_hist[i] += c.runq_hist[i];
        if (c.last_fold_ns > newest) {
          newest = c.last_fold_ns;
          comm.assign(c.comm, strnlen(c.comm, sizeof(c.comm)));
        }
      }
      totals[{k.tgid, k.netns, k.start_ns}] = {comm, total};
    }
    // After the table: a slice folded between the two reads is in neither, never in both (the
    // table only grows, so the next interval has it).
    read_threads(totals);
    for (const auto& [key, process] : totals) sched.update(key, process.first, process.second);
    for (const auto& gone : dead) {
      sched.mark_exited(gone);
      nt_proc_key kernel_key{gone.tgid, gone.netns, gone.start_ns};
      bpf_map_delete_elem(fd, &kernel_key);  // read for the last time above
    }
    for (auto& [key, threads] : top_threads_)
      if (auto* entry = sched.find(key)) entry->top_threads = std::move(threads);
    top_threads_.clear();
  }

  std::vector<model::FeatureState> features() const override { return object_->states(); }

  void add_losses(model::LossCounters& into) const override {
    bpf::add_loss_slots(bpf_map__fd(object_->skel().maps.cpu_losses),
                        {{NT_CPU_LOSS_MAP_FULL, model::LossReason::kSchedMapFull},
                         {NT_CPU_LOSS_STORAGE_FAILED, model::LossReason::kSchedStorageFailed}},
                        into);
    into[static_cast<size_t>(model::LossReason::kMapReadFailed)] += read_failures_;
  }

  std::vector<model::ProgramStats> program_stats() const override {
    return bpf::read_program_stats(object_->skel().obj);
  }

  Status attach() {
    if (auto attached = object_->attach(-1); !attached) return attached;
    if (object_->has("threads")) {
      threads_link_ = bpf_program__attach_iter(object_->skel().progs.dump_threads, nullptr);
      if (!threads_link_) object_->drop("threads", errno_error("attaching the task iterator", errno).message);
    }
    return {};
  }

  ~SchedCollector() override { bpf_link__destroy(threads_link_); }

 private:
  // Every thread, in one pass of the task iterator: what the running ones have not folded yet
  // is added to their process (where the filters let it count), and the busiest few threads of
  // each process are kept for its record.
  void read_threads(std::map<model::ProcessKey, std::pair<std::string, model::SchedCounters>>& totals) {
    if (!threads_link_) return;
    UniqueFd iter(bpf_iter_create(bpf_link__fd(threads_link_)));
    if (!iter.valid()) {
      ++read_failures_;
      return;
    }
    std::vector<char> bytes;
    char chunk[16384];
    ssize_t n;
    while ((n = read(iter.get(), chunk, sizeof(chunk))) > 0) bytes.insert(bytes.end(), chunk, chunk + n);
    if (n < 0) ++read_failures_;
    for (size_t at = 0; at + sizeof(nt_thread_record) <= bytes.size(); at += sizeof(nt_thread_record)) {
      nt_thread_record r;
      std::memcpy(&r, bytes.data() + at, sizeof(r));
      if (!r.traced) continue;
      const model::ProcessKey key{r.tgid, r.netns, r.start_ns};
      std::string comm(r.comm, strnlen(r.comm, sizeof(r.comm)));
      auto& process = totals[key];
      if (process.first.empty()) process.first = comm;
      process.second.on_cpu_ns += r.unfolded_on_cpu_ns;
      process.second.runq_ns += r.unfolded_runq_ns;
      top_threads_[key].push_back({r.pid, std::move(comm), r.on_cpu_ns, r.runq_ns});
    }
    for (auto& [key, threads] : top_threads_) {
      std::sort(threads.begin(), threads.end(),
                [](const auto& a, const auto& b) { return a.on_cpu_ns > b.on_cpu_ns; });
      if (threads.size() > kTopThreads) threads.resize(kTopThreads);
    }
  }

  std::unique_ptr<bpf::FeatureObject<cpu_sched>> object_;
  bpf_link* threads_link_ = nullptr;
  std::map<model::ProcessKey, std::vector<model::ThreadSched>> top_threads_;  // of the last read
  uint64_t read_failures_ = 0;
};

}  // namespace

Result<std::unique_ptr<Collector>> start_sched_collector(const CollectorContext& context) {
  auto configure = [&context](cpu_sched& skel) -> Status {
    if (auto shared = context.filter.share_with(skel); !shared) return shared;
    if (int err = bpf_map__set_max_entries(skel.maps.cpu_counters, context.max_processes); err)
      return errno_error("sizing the scheduling table", -err);
    return {};
  };
  auto object = bpf::FeatureObject<cpu_sched>::load("cpu", sched_features(),
                                                    {cpu_sched__open, cpu_sched__load, cpu_sched__destroy}, configure);
  if (!object) return object.error();
  auto collector = std::make_unique<SchedCollector>(std::move(object).value());
  if (auto attached = collector->attach(); !attached) return attached.error();
  return std::unique_ptr<Collector>(std::move(collector));
}

}  // namespace nt::collectors
