#include "collectors/probes/probe_collector.h"

#include <bpf/bpf.h>
#include <dirent.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <map>
#include <set>

#include "bpf_runtime/map_entries.h"
#include "bpf_runtime/ring_buffer.h"
#include "collectors/elf_symbols.h"
#include "collectors/memory/symbolizer.h"
#include "collectors/net/net_collector.h"  // process_alive, process_stat_field
#include "collectors/object_collector.h"
#include "collectors/process_filter.h"
#include "shared/probes.h"
// The skeleton's rodata holds a struct nt_filter_config: after the filter's header.
#include "probes.skel.h"

namespace nt::collectors {
namespace {

static_assert(sizeof(nt_probe_function) == 8);
static_assert(sizeof(nt_probe_stats_key) == 8);
static_assert(sizeof(nt_probe_stats) == 16 + NT_COMM_LEN + 4 * 8 + NT_PROBE_LATENCY_SLOTS * 8);
static_assert(sizeof(nt_probe_code_key) == 16);
static_assert(sizeof(nt_probe_event) == 8 * 2 + 4 * 4 + 8 + 6 * 8);
static_assert(NT_PROBE_LATENCY_SLOTS == model::kProbeLatencySlots);

// An entry point of a library the cuda collector knows, and what its arguments are.
struct Api {
  const char* name;
  uint8_t shape;  // enum nt_probe_shape
};

// The CUDA runtime: every call's return code is a cudaError_t. The _ptsz/_ptds names are the
// per-thread-default-stream builds of the same calls (nvcc --default-stream per-thread).
constexpr Api kCudaApis[] = {
    {"cudaLaunchKernel", NT_PROBE_LAUNCH},        {"cudaLaunchKernel_ptsz", NT_PROBE_LAUNCH},
    {"cudaMalloc", NT_PROBE_DEVICE_ALLOC},        {"cudaMallocManaged", NT_PROBE_DEVICE_ALLOC},
    {"cudaMallocAsync", NT_PROBE_DEVICE_ALLOC},   {"cudaMallocAsync_ptsz", NT_PROBE_DEVICE_ALLOC},
    {"cudaFree", NT_PROBE_DEVICE_FREE},           {"cudaFreeAsync", NT_PROBE_DEVICE_FREE},
    {"cudaFreeAsync_ptsz", NT_PROBE_DEVICE_FREE}, {"cudaMemcpy", NT_PROBE_MEMCPY},
    {"cudaMemcpy_ptds", NT_PROBE_MEMCPY},         {"cudaMemcpyAsync", NT_PROBE_MEMCPY},
    {"cudaMemcpyAsync_ptsz", NT_PROBE_MEMCPY},    {"cudaDeviceSynchronize", NT_PROBE_PLAIN},
    {"cudaStreamSynchronize", NT_PROBE_PLAIN},    {"cudaStreamSynchronize_ptsz", NT_PROBE_PLAIN},
    {"cudaEventSynchronize", NT_PROBE_PLAIN},     {"cudaMemset", NT_PROBE_PLAIN},
    {"cudaMemsetAsync", NT_PROBE_PLAIN},          {"cudaMallocHost", NT_PROBE_PLAIN},
    {"cudaFreeHost", NT_PROBE_PLAIN},             {"cudaHostAlloc", NT_PROBE_PLAIN},
    {"cudaSetDevice", NT_PROBE_PLAIN},            {"cudaGetDevice", NT_PROBE_PLAIN},
    {"cudaGetDeviceCount", NT_PROBE_PLAIN},       {"cudaStreamCreate", NT_PROBE_PLAIN},
    {"cudaStreamCreateWithFlags", NT_PROBE_PLAIN}, {"cudaStreamDestroy", NT_PROBE_PLAIN},
    {"cudaEventCreate", NT_PROBE_PLAIN},          {"cudaEventRecord", NT_PROBE_PLAIN},
    {"cudaMemGetInfo", NT_PROBE_PLAIN},           {"cudaGraphLaunch", NT_PROBE_PLAIN},
};

// NCCL: every call returns an ncclResult_t.
constexpr Api kNcclApis[] = {
    {"ncclAllReduce", NT_PROBE_COLLECTIVE},     {"ncclAllGather", NT_PROBE_COLLECTIVE},
    {"ncclReduceScatter", NT_PROBE_COLLECTIVE}, {"ncclBroadcast", NT_PROBE_COLLECTIVE},
    {"ncclReduce", NT_PROBE_COLLECTIVE},        {"ncclSend", NT_PROBE_SEND_RECV},
    {"ncclRecv", NT_PROBE_SEND_RECV},           {"ncclGroupStart", NT_PROBE_PLAIN},
    {"ncclGroupEnd", NT_PROBE_PLAIN},           {"ncclCommInitRank", NT_PROBE_PLAIN},
};

// Bytes of an ncclDataType_t's element (int8, uint8, int32, uint32, int64, uint64, half, float,
// double, bfloat16, and the two fp8 kinds); 0 when unknown.
uint64_t nccl_element_bytes(uint64_t datatype) {
  static const uint8_t kBytes[] = {1, 1, 4, 4, 8, 8, 2, 4, 8, 2, 1, 1};
  return datatype < sizeof(kBytes) ? kBytes[datatype] : 0;
}

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

std::string base_name(const std::string& path) {
  auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::vector<pid_t> every_process() {
  std::vector<pid_t> pids;
  struct CloseDir {
    void operator()(DIR* dir) const { closedir(dir); }
  };
  std::unique_ptr<DIR, CloseDir> proc(opendir("/proc"));
  while (dirent* entry = proc ? readdir(proc.get()) : nullptr)
    if (entry->d_name[0] >= '1' && entry->d_name[0] <= '9') pids.push_back(static_cast<pid_t>(std::atoi(entry->d_name)));
  return pids;
}

model::ProcessKey process_key(const nt_proc_key& k) { return {k.tgid, k.netns, k.start_ns}; }

std::vector<bpf::Feature> probe_features() {
  return {{"functions", true, {{"uprobe", "uprobes and uretprobes with cookies", {"probe_entry", "probe_return"}}}}};
}

// A device allocation the process has not freed.
struct DeviceBlock {
  uint64_t size = 0, allocated_ns = 0;
  int32_t stack_id = -1;
};

class ProbeCollector : public ObjectCollector<probes> {
 public:
  ProbeCollector(std::unique_ptr<bpf::FeatureObject<probes>> object, const CollectorContext& context, bool cuda)
      : ObjectCollector(std::move(object)),
        filter_(context.filter),
        pids_(context.pids),
        cuda_(cuda),
        min_age_ns_(context.heap.min_age_ns),
        timeline_(context.timeline) {}

  std::string name() const override { return cuda_ ? "cuda" : "probes"; }

  Status start(const std::vector<ProbeRequest>& requests) {
    if (auto ok = ring_.add(bpf_map__fd(object_->skel().maps.probe_events),
                            [this](const void* data, size_t size) {
                              if (size >= sizeof(nt_probe_event))
                                pending_.push_back(*static_cast<const nt_probe_event*>(data));
                            });
        !ok)
      return ok;
    for (const auto& request : requests)
      if (auto ok = request.usdt ? attach_usdt(request) : attach_symbol(request); !ok) return ok;
    if (cuda_) discover_runtime_libraries();
    return {};
  }

  void drain(model::Tables& tables) override {
    auto& table = tables.probes;
    if (cuda_ && monotonic_ns() - last_discovery_ns_ >= kDiscoveryPeriodNs) discover_runtime_libraries();
    table.functions = functions_;
    if (!ring_.poll(0)) ++read_failures_;
    const auto& maps = object_->skel().maps;

    std::map<uint32_t, model::ProcessKey> seen;  // by tgid
    const int stats_fd = bpf_map__fd(maps.probe_stats);
    const auto stats = bpf::hash_entries<nt_probe_stats_key, nt_probe_stats>(stats_fd, read_failures_);
    for (const auto& [k, kernel] : stats) {
      const auto key = process_key(kernel.process);
      // A process's mappings are read at its first sight, while it is surely alive: a kernel launched
      // just before it exits is still named.
      if (cuda_ && seen.emplace(k.tgid, key).second && named_.insert(k.tgid).second)
        symbolizer_.function_name(static_cast<pid_t>(k.tgid), 0);
      seen.emplace(k.tgid, key);
      auto& process = table.process(key);
      process.comm.assign(kernel.comm, strnlen(kernel.comm, sizeof(kernel.comm)));
      auto& calls = process.functions[k.function];
      calls.calls = kernel.calls;
      calls.returns = kernel.returns;
      calls.errors = kernel.errors;
      calls.total_ns = kernel.total_ns;
      std::copy(std::begin(kernel.latency), std::end(kernel.latency), calls.latency.begin());
    }
    const int codes_fd = bpf_map__fd(maps.probe_codes);
    const auto codes = bpf::hash_entries<nt_probe_code_key, uint64_t>(codes_fd, read_failures_);
    for (const auto& [k, count] : codes)
      if (auto owner = seen.find(k.tgid); owner != seen.end())
        table.process(owner->second).functions[k.function].codes[k.code] = count;

    for (const auto& event : pending_)
      if (auto owner = seen.find(event.tgid); owner != seen.end()) {
        auto& process = table.process(owner->second);
        const std::string detail = take_event(event, process);
        if (timeline_) put_on_timeline(event, process, detail, tables.timeline);
      }
    pending_.clear();

    std::set<uint32_t> exited;
    for (const auto& [tgid, key] : seen) {
      auto& process = table.process(key);
      if (process_alive(key)) {
        summarise_device_memory(tgid, process.cuda);
        continue;
      }
      process.exited = true;
      exited.insert(tgid);
      forget_process(tgid);
    }
    // The exited processes' kernel entries go, from the keys this pass read (an entry made since
    // belongs to a process that is still alive, or is reaped at the next pass).
    if (exited.empty()) return;
    for (const auto& [k, value] : stats)
      if (exited.count(k.tgid)) bpf_map_delete_elem(stats_fd, &k);
    for (const auto& [k, count] : codes)
      if (exited.count(k.tgid)) bpf_map_delete_elem(codes_fd, &k);
  }

  void add_losses(model::LossCounters& into) const override {
    bpf::add_loss_slots(bpf_map__fd(object_->skel().maps.probe_losses),
                        {{NT_PROBE_LOSS_STATS_FULL, model::LossReason::kProbeStatsFull},
                         {NT_PROBE_LOSS_CODES_FULL, model::LossReason::kProbeCodesFull},
                         {NT_PROBE_LOSS_CALLS_FULL, model::LossReason::kProbeCallsFull},
                         {NT_PROBE_LOSS_EVENTS_FULL, model::LossReason::kProbeEventsFull},
                         {NT_PROBE_LOSS_STACK_LOST, model::LossReason::kProbeStackLost}},
                        into);
    into[static_cast<size_t>(model::LossReason::kMapReadFailed)] += read_failures_;
  }

 private:
  static constexpr uint64_t kDiscoveryPeriodNs = 1'000'000'000;
  static constexpr int kVirtualSizeField = 23;  // vsize in /proc/PID/stat (proc(5))
  static constexpr size_t kStacksReported = 20;

  Status attach_symbol(const ProbeRequest& request) {
    auto library = find_library(request.library, pids_);
    if (!library) return Error{"--probe " + request.library + ":" + request.symbol + ": " + library.error().message};
    auto functions = defined_functions(library.value());
    if (!functions) return Error{"--probe: " + functions.error().message};
    size_t matched = 0;
    for (const auto& function : functions.value()) {
      if (!symbol_matches(request.symbol, function)) continue;
      const std::string shown = function.demangled == function.name ? function.name : function.demangled;
      if (auto ok = attach(model::ProbeSet::kProbe, library.value(), function.address, 0, shown, request.error_rule,
                           NT_PROBE_PLAIN, true);
          !ok)
        return ok;
      ++matched;
    }
    if (matched == 0)
      return Error{"--probe: " + library.value() + " defines no function named '" + request.symbol + "'"};
    return {};
  }

  Status attach_usdt(const ProbeRequest& request) {
    auto notes = usdt_notes(request.library);
    if (!notes) return Error{"--probe usdt: " + notes.error().message};
    size_t matched = 0;
    for (const auto& note : notes.value()) {
      if (note.provider + ":" + note.name != request.symbol) continue;
      if (auto ok = attach(model::ProbeSet::kUsdt, request.library, note.address, note.semaphore, request.symbol,
                           NT_PROBE_ERRORS_NONE, NT_PROBE_PLAIN, false);
          !ok)
        return ok;
      ++matched;
    }
    if (matched == 0) return Error{"--probe usdt: " + request.library + " has no USDT probe " + request.symbol};
    return {};
  }

  // Probes one function (or USDT site) of `path`: its entry, and its return when `returns`.
  Status attach(model::ProbeSet set, const std::string& path, uint64_t address, uint64_t semaphore,
                const std::string& shown, uint8_t error_rule, uint8_t shape, bool returns) {
    if (functions_.size() >= NT_PROBE_MAX_FUNCTIONS)
      return Error{"probes: more than " + std::to_string(NT_PROBE_MAX_FUNCTIONS) + " functions"};
    auto offset = file_offset(path, address);
    if (!offset) return offset.error();
    uint64_t semaphore_offset = 0;
    if (semaphore) {
      auto at = file_offset(path, semaphore);
      if (!at) return at.error();
      semaphore_offset = at.value();
    }
    const uint32_t index = static_cast<uint32_t>(functions_.size());
    nt_probe_function settings{error_rule, shape, {}};
    if (bpf_map_update_elem(bpf_map__fd(object_->skel().maps.probe_functions), &index, &settings, BPF_ANY) != 0)
      return errno_error("probes: the function table", errno);
    for (bool at_return : {false, true}) {
      if (at_return && !returns) break;
      LIBBPF_OPTS(bpf_uprobe_opts, opts, .ref_ctr_offset = semaphore_offset, .bpf_cookie = index,
                  .retprobe = at_return);
      bpf_program* program = at_return ? object_->skel().progs.probe_return : object_->skel().progs.probe_entry;
      for (pid_t pid : trapped_processes()) {
        bpf_link* link = bpf_program__attach_uprobe_opts(program, pid, path.c_str(), offset.value(), &opts);
        if (!link) return errno_error("probing " + shown + " in " + path, errno);
        links_.add(link);
      }
    }
    functions_.push_back({set, path, shown});
    shapes_.push_back(shape);
    return {};
  }

  // Where the breakpoints go: only into the named processes when the filter is exactly those (a
  // breakpoint traps every process that maps the file, whatever the filter then says: other
  // processes' calls would pay the trap for nothing); else into every process (-1), the filter
  // choosing in the kernel.
  std::vector<pid_t> trapped_processes() const {
    const auto& config = filter_.config();
    const bool only_named = config.by_tgid && !config.follow_children && !pids_.empty();
    return only_named ? pids_ : std::vector<pid_t>{-1};
  }

  // Every copy of libcudart and libnccl a traced process maps that is not probed yet: the CUDA
  // runtime is often loaded late (a framework dlopens it), so the search runs again each second.
  // Without a process filter every process is looked at.
  void discover_runtime_libraries() {
    last_discovery_ns_ = monotonic_ns();
    const bool by_process = filter_.config().by_tgid;
    const auto pids = by_process ? filter_.traced_tgids() : every_process();
    const pid_t self = getpid();
    // A process's mappings are read again only when its virtual size changed: a library mapped
    // since the last look (a runtime loaded late, as PyTorch does) grows it, and an idle host's
    // hundreds of processes then cost one short read each per pass.
    std::map<pid_t, uint64_t> sizes;
    for (pid_t pid : pids) {
      if (pid == self) continue;
      const auto size = process_stat_field(static_cast<uint32_t>(pid), kVirtualSizeField);
      if (!size) continue;
      sizes.emplace(pid, *size);
      if (auto last = looked_sizes_.find(pid); last != looked_sizes_.end() && last->second == *size) continue;
      for (const auto& path : mapped_files(pid)) {
        const std::string name = base_name(path);
        const bool cudart = library_name_matches("cudart", name), nccl = library_name_matches("nccl", name);
        if ((!cudart && !nccl) || !probed_libraries_.insert(path).second) continue;
        attach_api(path, cudart ? model::ProbeSet::kCuda : model::ProbeSet::kNccl);
      }
    }
    looked_sizes_ = std::move(sizes);  // the processes gone are forgotten
  }

  void attach_api(const std::string& path, model::ProbeSet set) {
    auto functions = defined_functions(path);
    if (!functions) {
      std::fprintf(stderr, "neutracer: cuda: %s\n", functions.error().message.c_str());
      return;
    }
    std::map<std::string, uint64_t> by_name;
    for (const auto& function : functions.value()) by_name.emplace(function.name, function.address);
    size_t attached = 0;
    const auto apis = set == model::ProbeSet::kCuda ? std::vector<Api>(std::begin(kCudaApis), std::end(kCudaApis))
                                                    : std::vector<Api>(std::begin(kNcclApis), std::end(kNcclApis));
    for (const auto& api : apis) {
      auto found = by_name.find(api.name);
      if (found == by_name.end()) continue;
      if (auto ok = attach(set, path, found->second, 0, api.name, NT_PROBE_ERRORS_NONZERO, api.shape, true); !ok) {
        std::fprintf(stderr, "neutracer: cuda: %s\n", ok.error().message.c_str());
        return;
      }
      ++attached;
    }
    std::fprintf(stderr, "neutracer: cuda: probing %zu functions of %s\n", attached, path.c_str());
  }

  // A call as a slice on its thread: the function, its return code, and what its arguments said.
  void put_on_timeline(const nt_probe_event& event, const model::ProcessProbes& process, const std::string& detail,
                       model::TimelineFeed& timeline) const {
    if (event.function >= functions_.size()) return;
    const auto& function = functions_[event.function];
    model::TimelineEvent slice;
    slice.pid = event.tgid;
    slice.tid = event.tid;
    slice.start_ns = event.start_ns;
    slice.duration_ns = event.duration_ns;
    slice.category = model::probe_set_name(function.set);
    slice.name = detail.empty() ? function.name : function.name + " " + detail;
    slice.args = {{"code", std::to_string(event.code)}, {"library", function.library}};
    timeline.add(std::move(slice));
    timeline.name_process(event.tgid, process.comm);
  }

  // What one call's arguments said; the kernel's name for a launch, the bytes of a copy or a
  // collective (for the timeline's slice).
  std::string take_event(const nt_probe_event& event, model::ProcessProbes& process) {
    if (event.function >= shapes_.size()) return "";
    const auto& function = functions_[event.function];
    auto& cuda = process.cuda;
    const bool failed = event.code != 0;
    switch (shapes_[event.function]) {
      case NT_PROBE_DEVICE_ALLOC: {
        if (failed) break;
        ++cuda.allocations;
        auto& live = device_blocks_[event.tgid];
        if (auto reused = live.find(event.args[0]); reused != live.end()) cuda.live_bytes -= reused->second.size;
        live[event.args[0]] = DeviceBlock{event.args[1], event.start_ns, event.stack_id};
        cuda.live_bytes += event.args[1];
        cuda.live_blocks = live.size();
        cuda.high_water_bytes = std::max(cuda.high_water_bytes, cuda.live_bytes);
        break;
      }
      case NT_PROBE_DEVICE_FREE: {
        if (failed || event.args[0] == 0) break;  // cudaFree(NULL) frees nothing
        ++cuda.frees;
        auto& live = device_blocks_[event.tgid];
        auto block = live.find(event.args[0]);
        if (block == live.end()) {
          ++cuda.unknown_frees;
          break;
        }
        cuda.live_bytes -= block->second.size;
        live.erase(block);
        cuda.live_blocks = live.size();
        break;
      }
      case NT_PROBE_MEMCPY: {
        const bool async = function.name.find("Async") != std::string::npos;
        auto& counts = (async ? cuda.async_copies : cuda.copies)[std::min<uint64_t>(event.args[1], model::kCopyKinds - 1)];
        ++counts.calls;
        if (failed)
          ++counts.failed;
        else
          counts.bytes += event.args[0];
        return std::string(model::copy_kind_name(std::min<uint64_t>(event.args[1], model::kCopyKinds - 1))) + " " +
               std::to_string(event.args[0]) + " B";
      }
      case NT_PROBE_LAUNCH: {
        std::string kernel = symbolizer_.function_name(static_cast<pid_t>(event.tgid), event.args[0]);
        if (kernel.empty()) {
          char address[32];
          std::snprintf(address, sizeof(address), "0x%llx", static_cast<unsigned long long>(event.args[0]));
          kernel = address;
        }
        auto& launches = cuda.kernels[kernel];
        ++launches.launches;
        if (failed) ++launches.failed;
        launches.grid = {static_cast<uint32_t>(event.args[1]), static_cast<uint32_t>(event.args[1] >> 32),
                         static_cast<uint32_t>(event.args[2])};
        launches.block = {static_cast<uint32_t>(event.args[3]), static_cast<uint32_t>(event.args[3] >> 32),
                          static_cast<uint32_t>(event.args[2] >> 32)};
        ++launches.streams[event.args[4]];
        return kernel;
      }
      case NT_PROBE_COLLECTIVE:
      case NT_PROBE_SEND_RECV: {
        auto& counts = process.collectives[function.name];
        ++counts.calls;
        if (failed)
          ++counts.failed;
        else
          counts.bytes += event.args[0] * nccl_element_bytes(event.args[1]);
        return std::to_string(event.args[0] * nccl_element_bytes(event.args[1])) + " B";
      }
    }
    return "";
  }

  // The live device blocks older than the threshold, by the stack that allocated them.
  void summarise_device_memory(uint32_t tgid, model::CudaProcess& cuda) {
    auto blocks = device_blocks_.find(tgid);
    if (blocks == device_blocks_.end()) return;
    const uint64_t now = monotonic_ns();
    std::map<int32_t, model::DeviceAllocationStack> by_stack;
    for (const auto& [address, block] : blocks->second) {
      if (now < block.allocated_ns || now - block.allocated_ns < min_age_ns_) continue;
      auto& group = by_stack[block.stack_id];
      ++group.blocks;
      group.bytes += block.size;
      group.oldest_age_ns = std::max(group.oldest_age_ns, now - block.allocated_ns);
    }
    cuda.old_allocations.clear();
    const int stacks_fd = bpf_map__fd(object_->skel().maps.probe_stacks);
    for (auto& [stack_id, group] : by_stack) {
      if (stack_id >= 0)
        group.frames = symbolizer_.frames(static_cast<pid_t>(tgid),
                                          bpf::stack_addresses<NT_PROBE_STACK_DEPTH>(stacks_fd, stack_id));
      cuda.old_allocations.push_back(std::move(group));
    }
    std::sort(cuda.old_allocations.begin(), cuda.old_allocations.end(),
              [](const auto& a, const auto& b) { return a.bytes > b.bytes; });
    if (cuda.old_allocations.size() > kStacksReported) cuda.old_allocations.resize(kStacksReported);
  }

  // An exited process: its blocks' stacks and its names go (its kernel entries, in drain).
  void forget_process(uint32_t tgid) {
    if (auto blocks = device_blocks_.find(tgid); blocks != device_blocks_.end()) {
      const int stacks_fd = bpf_map__fd(object_->skel().maps.probe_stacks);
      for (const auto& [address, block] : blocks->second)
        if (block.stack_id >= 0) bpf_map_delete_elem(stacks_fd, &block.stack_id);
      device_blocks_.erase(blocks);
    }
    symbolizer_.forget(static_cast<pid_t>(tgid));
    named_.erase(tgid);
  }

  const ProcessFilter& filter_;
  std::vector<pid_t> pids_;
  bool cuda_;
  uint64_t min_age_ns_;  // device blocks this old are reported by stack (--heap-min-age)
  bool timeline_;        // every call is an event, and a slice on the timeline
  std::vector<model::ProbedFunction> functions_;  // by index: the uprobes' cookie
  std::vector<uint8_t> shapes_;
  std::set<std::string> probed_libraries_;
  uint64_t last_discovery_ns_ = 0;
  std::map<pid_t, uint64_t> looked_sizes_;  // virtual size of each process at its last look
  std::vector<nt_probe_event> pending_;  // read from the ring buffer, taken at the drain
  std::map<uint32_t, std::map<uint64_t, DeviceBlock>> device_blocks_;  // by tgid, then device address
  bpf::RingBuffer ring_;
  bpf::Links links_;  // before the object in destruction: a member of the derived class
  Symbolizer symbolizer_;
  std::set<uint32_t> named_;  // processes whose mappings the symbolizer has read
  uint64_t read_failures_ = 0;
};

Result<uint8_t> error_rule(const std::string& name) {
  if (name == "none") return static_cast<uint8_t>(NT_PROBE_ERRORS_NONE);
  if (name == "neg") return static_cast<uint8_t>(NT_PROBE_ERRORS_NEGATIVE);
  if (name == "nonzero") return static_cast<uint8_t>(NT_PROBE_ERRORS_NONZERO);
  if (name == "null") return static_cast<uint8_t>(NT_PROBE_ERRORS_NULL);
  return Error{"an error rule is one of none, neg, nonzero, null: '" + name + "'"};
}

}  // namespace

Result<std::vector<ProbeRequest>> parse_probe_spec(const std::string& spec) {
  auto bad = [&spec](const std::string& why) { return Error{"--probe " + spec + ": " + why}; };
  std::vector<ProbeRequest> requests;
  if (spec.rfind("usdt:", 0) == 0) {
    // usdt:FILE:PROVIDER:NAME (the file's path may not hold a colon)
    const std::string rest = spec.substr(5);
    const auto name_at = rest.rfind(':');
    const auto provider_at = name_at == std::string::npos || name_at == 0 ? std::string::npos : rest.rfind(':', name_at - 1);
    if (provider_at == std::string::npos || provider_at == 0 || name_at == provider_at + 1 || name_at + 1 == rest.size())
      return bad("a USDT probe is usdt:FILE:PROVIDER:NAME");
    ProbeRequest request;
    request.usdt = true;
    request.library = rest.substr(0, provider_at);
    request.symbol = rest.substr(provider_at + 1);
    requests.push_back(request);
    return requests;
  }
  // C++ names hold "::": the library is what comes before the first single colon.
  size_t colon = 0;
  while ((colon = spec.find(':', colon)) != std::string::npos && colon + 1 < spec.size() && spec[colon + 1] == ':')
    colon += 2;
  if (colon == std::string::npos || colon == 0 || colon + 1 >= spec.size()) return bad("give LIB:SYMBOL[,SYMBOL...]");
  const std::string library = spec.substr(0, colon);
  size_t start = colon + 1;
  while (start <= spec.size()) {
    // The next comma outside a parameter list ("f(int, char)" is one name).
    size_t comma = std::string::npos, depth = 0;
    for (size_t i = start; i < spec.size() && comma == std::string::npos; ++i) {
      if (spec[i] == '(') ++depth;
      if (spec[i] == ')' && depth) --depth;
      if (spec[i] == ',' && depth == 0) comma = i;
    }
    std::string item = spec.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    ProbeRequest request;
    request.library = library;
    if (auto eq = item.rfind('='); eq != std::string::npos && item.find(')', eq) == std::string::npos) {
      auto rule = error_rule(item.substr(eq + 1));
      if (!rule) return bad(rule.error().message);
      request.error_rule = rule.value();
      item.resize(eq);
    }
    if (item.empty()) return bad("an empty symbol");
    request.symbol = item;
    requests.push_back(request);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return requests;
}

Result<std::unique_ptr<Collector>> start_probe_collector(const CollectorContext& context, bool cuda) {
  auto configure = [&context](probes& skel) -> Status {
    if (auto shared = context.filter.share_with(skel); !shared) return shared;
    skel.rodata->agent_tgid = static_cast<uint32_t>(getpid());
    skel.rodata->every_call_an_event = context.timeline;
    if (int err = bpf_map__set_max_entries(skel.maps.probe_stats, context.max_processes); err)
      return errno_error("sizing the probe table", -err);
    return {};
  };
  auto object =
      bpf::FeatureObject<probes>::load(cuda ? "cuda" : "probes", probe_features(), {probes__open, probes__load, probes__destroy}, configure);
  if (!object) return object.error();
  auto collector = std::make_unique<ProbeCollector>(std::move(object).value(), context, cuda);
  if (auto started = collector->start(context.probes); !started) return started.error();
  return std::unique_ptr<Collector>(std::move(collector));
}

}  // namespace nt::collectors
