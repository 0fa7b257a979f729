#include "collectors/memory/memory_collector.h"

#include <bpf/bpf.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <set>

#include "bpf_runtime/kernel_env.h"
#include "bpf_runtime/map_entries.h"
#include "bpf_runtime/ring_buffer.h"
#include "collectors/net/net_collector.h"  // process_alive
#include "collectors/object_collector.h"
#include "collectors/process_filter.h"
#include "shared/memory.h"
// The skeleton's rodata holds a struct nt_filter_config: after the filter's header.
#include "memory.skel.h"

namespace nt::collectors {
namespace {

static_assert(sizeof(nt_mem_rss) == 4 * 8 + 8 + 8 + NT_COMM_LEN);
static_assert(sizeof(nt_mem_thread) == 16 + 8 + 4 * 8 + NT_COMM_LEN);
static_assert(sizeof(nt_mem_oom) == 8 + 16 + 8 + 4 * 8 + 8 + 8 + 8 + 2 * NT_COMM_LEN);
static_assert(NT_MEM_MEMBERS == static_cast<int>(model::RssKind::kCount));

// rss_stat as a BTF tracepoint (5.5+; its third argument, gone in 6.2, is not read); the OOM
// victim as a task (the event passes it since 6.8) or as a pid.
std::vector<bpf::Feature> memory_features() {
  return {{"rss", true, {{"tp_btf", "tp_btf kmem:rss_stat and iter/task", {"on_rss_stat", "dump_faults"}}}},
          {"oom_kills",
           false,
           {{"tp_btf", "tp_btf oom:mark_victim with the victim's task (6.8+)", {"oom_victim_task"}},
            {"tp", "tracepoint oom:mark_victim, the victim's pid only", {"oom_victim_pid"}}}}};
}

model::ProcessKey process_key(const nt_proc_key& k) { return {k.tgid, k.netns, k.start_ns}; }

std::string text(const char* bytes, size_t size) { return {bytes, strnlen(bytes, size)}; }

uint64_t boottime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_BOOTTIME, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

// The directory of a memory cgroup by its kernfs id (its inode), in the cgroup2 mount or the v1
// memory hierarchy; "" when none has it (removed since).
std::string cgroup_path(uint64_t id) {
  namespace fs = std::filesystem;
  for (const char* root : {"/sys/fs/cgroup/memory", "/sys/fs/cgroup/unified", "/sys/fs/cgroup"}) {
    std::error_code error;
    struct stat st{};
    if (stat(root, &st) != 0 || !S_ISDIR(st.st_mode)) continue;
    if (static_cast<uint64_t>(st.st_ino) == id) return "/";
    for (fs::recursive_directory_iterator it(root, fs::directory_options::skip_permission_denied, error), end;
         !error && it != end; it.increment(error)) {
      if (!it->is_directory(error) || stat(it->path().c_str(), &st) != 0) continue;
      if (static_cast<uint64_t>(st.st_ino) == id) return it->path().string().substr(std::strlen(root));
    }
  }
  return "";
}

class MemoryCollector : public ObjectCollector<memory> {
 public:
  MemoryCollector(std::unique_ptr<bpf::FeatureObject<memory>> object, bool cgroup_filter)
      : ObjectCollector(std::move(object)), cgroup_filter_(cgroup_filter) {}

  std::string name() const override { return "memory"; }

  void drain(model::Tables& tables) override {
    auto& table = tables.memory;
    ooms_ = &table.oom_kills();
    if (!ring_.empty() && !ring_.poll(0)) ++read_failures_;
    ooms_ = nullptr;
    std::set<model::ProcessKey> dead;
    for (const auto& [key, process] : table.processes())
      if (!process.exited && !process_alive(key)) dead.insert(key);

    // The iterator first: it makes the entries of processes rss_stat has not shown yet.
    bytes_.clear();
    if (!bpf::read_iterator(faults_link_, bytes_)) ++read_failures_;
    const int rss_fd = bpf_map__fd(object_->skel().maps.mem_rss);
    std::set<model::ProcessKey> with_rss;
    for (const auto& [k, rss] : bpf::hash_entries<nt_proc_key, nt_mem_rss>(rss_fd, read_failures_)) {
      const auto key = process_key(k);
      with_rss.insert(key);
      auto& process = table.process(key);
      if (process.comm.empty()) process.comm = text(rss.comm, sizeof(rss.comm));
      for (size_t m = 0; m < NT_MEM_MEMBERS; ++m) process.rss[m] = static_cast<uint64_t>(rss.pages[m]) * page_size_;
      process.peak_rss_bytes = static_cast<uint64_t>(rss.peak_pages) * page_size_;
      process.rss_known = true;
      if (dead.count(key)) bpf_map_delete_elem(rss_fd, &k);  // read for the last time
    }
    read_faults(table, with_rss);
    for (const auto& key : dead) table.mark_exited(key);
    read_pressure(table);
  }

  void add_losses(model::LossCounters& into) const override {
    bpf::add_loss_slots(bpf_map__fd(object_->skel().maps.mem_losses),
                        {{NT_MEM_LOSS_MAP_FULL, model::LossReason::kMemoryMapFull},
                         {NT_MEM_LOSS_RINGBUF_FULL, model::LossReason::kOomRingbufFull}},
                        into);
    into[static_cast<size_t>(model::LossReason::kMapReadFailed)] += read_failures_;
  }

  Status attach() {
    if (auto attached = object_->attach(-1); !attached) return attached;
    auto link = object_->attach_iterator(object_->skel().progs.dump_faults);
    if (!link) return link.error();
    faults_link_ = *link;
    if (object_->has("oom_kills"))
      if (auto ok = ring_.add(bpf_map__fd(object_->skel().maps.mem_ooms),
                              [this](const void* data, size_t size) { on_oom(data, size); });
          !ok)
        return ok;
    return {};
  }

 private:
  // Every thread's faults (the iterator's output), summed per process with what its exited threads
  // left (as /proc/PID/stat).
  void read_faults(model::MemoryTable& table, const std::set<model::ProcessKey>& with_rss) {
    std::map<model::ProcessKey, std::pair<uint64_t, uint64_t>> faults;
    std::map<model::ProcessKey, std::string> comms;
    for (size_t at = 0; at + sizeof(nt_mem_thread) <= bytes_.size(); at += sizeof(nt_mem_thread)) {
      nt_mem_thread t;
      std::memcpy(&t, bytes_.data() + at, sizeof(t));
      const auto key = process_key(t.owner);
      // Under --cgroup the kernel could not ask the filter here: the processes it passed are those
      // whose own RSS changes it saw.
      if (!t.traced && !(cgroup_filter_ && with_rss.count(key))) continue;
      auto& sum = faults[key];
      sum.first += t.min_flt + t.exited_min_flt;
      sum.second += t.maj_flt + t.exited_maj_flt;
      comms[key] = text(t.comm, sizeof(t.comm));
    }
    for (const auto& [key, sum] : faults) {
      auto& process = table.process(key);
      process.comm = comms[key];  // the leader's name now: an exec changes it
      if (process.min_faults == 0 && process.maj_faults == 0 && key.start_ns < agent_start_boottime_ns_) {
        process.min_faults_base = sum.first;  // older than the agent: counted from here
        process.maj_faults_base = sum.second;
      }
      // The kernel's counts never go back; a thread that exits between the two reads moves its
      // counts to the signal struct, which a later pass sees.
      process.min_faults = std::max(process.min_faults, sum.first);
      process.maj_faults = std::max(process.maj_faults, sum.second);
    }
  }

  // The memory pressure of every cgroup a live process is in (cgroup v2's memory.pressure; none
  // where the kernel has no PSI or no cgroup2 mount).
  void read_pressure(model::MemoryTable& table) {
    table.pressure().clear();
    if (cgroup2_root_.empty()) return;
    std::set<std::string> cgroups;
    for (const auto& [key, p] : table.processes()) {
      if (p.exited) continue;
      auto& process = table.process(key);
      if (process.cgroup.empty()) process.cgroup = cgroup_of(key.tgid);
      if (!process.cgroup.empty()) cgroups.insert(process.cgroup);
    }
    for (const auto& cgroup : cgroups) {
      std::ifstream file(cgroup2_root_ + (cgroup == "/" ? "" : cgroup) + "/memory.pressure");
      const std::string text((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
      if (auto pressure = model::parse_pressure(text)) table.pressure()[cgroup] = *pressure;
    }
  }

  // The cgroup v2 path of a process ("0::/path" in /proc/PID/cgroup), "" when gone.
  static std::string cgroup_of(uint32_t tgid) {
    std::ifstream file("/proc/" + std::to_string(tgid) + "/cgroup");
    std::string line;
    while (std::getline(file, line))
      if (line.rfind("0::", 0) == 0) return line.substr(3);
    return "";
  }

  void on_oom(const void* data, size_t size) {
    if (size < sizeof(nt_mem_oom) || !ooms_) return;
    nt_mem_oom e;
    std::memcpy(&e, data, sizeof(e));
    model::OomKill kill;
    kill.monotonic_ns = e.ts_ns;
    kill.victim = process_key(e.victim);
    kill.victim_comm = text(e.victim_comm, sizeof(e.victim_comm));
    for (size_t m = 0; m < NT_MEM_MEMBERS; ++m) kill.victim_rss[m] = e.victim_pages[m] * page_size_;
    kill.total_vm_bytes = e.total_vm_pages * page_size_;
    kill.oom_score_adj = e.oom_score_adj;
    kill.trigger_tgid = e.trigger_tgid;
    kill.trigger_comm = text(e.trigger_comm, sizeof(e.trigger_comm));
    kill.memcg_id = e.memcg_id;
    if (e.memcg_id) kill.cgroup = cgroup_path(e.memcg_id);
    ooms_->push_back(std::move(kill));
  }

  bool cgroup_filter_;
  bpf_link* faults_link_ = nullptr;  // the object's
  bpf::RingBuffer ring_;
  std::vector<model::OomKill>* ooms_ = nullptr;  // where OOM kills go, during a drain
  std::vector<char> bytes_;                        // the iterator's output, reused
  const uint64_t page_size_ = static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
  const uint64_t agent_start_boottime_ns_ = boottime_ns();
  const std::string cgroup2_root_ = [] {
    auto mount = bpf::find_cgroup2_mount();
    return mount ? *mount : std::string();
  }();
  uint64_t read_failures_ = 0;
};

}  // namespace

Result<std::unique_ptr<Collector>> start_memory_collector(const CollectorContext& context) {
  auto configure = [&context](memory& skel) -> Status {
    if (auto shared = context.filter.share_with(skel); !shared) return shared;
    if (int err = bpf_map__set_max_entries(skel.maps.mem_rss, context.max_processes); err)
      return errno_error("sizing the RSS table", -err);
    return {};
  };
  auto object = bpf::FeatureObject<memory>::load("memory", memory_features(),
                                                 {memory__open, memory__load, memory__destroy}, configure);
  if (!object) return object.error();
  auto collector =
      std::make_unique<MemoryCollector>(std::move(object).value(), context.filter.config().cgroup_fd >= 0);
  if (auto attached = collector->attach(); !attached) return attached.error();
  return std::unique_ptr<Collector>(std::move(collector));
}

}  // namespace nt::collectors
