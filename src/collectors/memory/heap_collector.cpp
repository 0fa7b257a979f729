#include "collectors/memory/heap_collector.h"

#include <bpf/bpf.h>
#include <dlfcn.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>

#include "bpf_runtime/map_entries.h"
#include "collectors/elf_symbols.h"
#include "collectors/memory/symbolizer.h"
#include "collectors/net/net_collector.h"  // process_alive
#include "collectors/object_collector.h"
#include "collectors/process_filter.h"
#include "shared/heap.h"
// The skeleton's rodata holds a struct nt_filter_config: after the filter's header.
#include "heap.skel.h"

namespace nt::collectors {
namespace {

static_assert(sizeof(nt_heap_block_key) == 16);
static_assert(sizeof(nt_heap_block) == 24);
static_assert(sizeof(nt_heap_process) == 16 + NT_COMM_LEN + 4 * 8 + 8);

// Each entry point's programs: `enter` at its first instruction, `leave` (if any) at its return.
struct EntryPoint {
  const char* function;
  const char* enter;
  const char* leave;  // null: nothing to learn at the return
};
constexpr EntryPoint kEntryPoints[] = {
    {"malloc", "malloc_enter", "alloc_return"},
    {"calloc", "calloc_enter", "alloc_return"},
    {"realloc", "realloc_enter", "alloc_return"},
    {"posix_memalign", "posix_memalign_enter", "posix_memalign_return"},
    {"aligned_alloc", "aligned_enter", "alloc_return"},
    {"memalign", "aligned_enter", "alloc_return"},
    {"valloc", "malloc_enter", "alloc_return"},
    {"pvalloc", "malloc_enter", "alloc_return"},
    {"mmap", "mmap_enter", "alloc_return"},
    {"free", "free_enter", nullptr},
    {"munmap", "munmap_enter", nullptr},
};

std::vector<bpf::Feature> heap_features() {
  std::vector<std::string> programs = {"malloc_enter",  "calloc_enter", "realloc_enter",        "aligned_enter",
                                       "posix_memalign_enter", "mmap_enter", "alloc_return",
                                       "posix_memalign_return", "free_enter", "munmap_enter", "new_image"};
  return {{"allocations", true, {{"uprobe", "uprobes and uretprobes on the allocator", programs}}}};
}

// The file the agent's own malloc is in: the C library every process on this root file system
// shares (a container's own copy is another file, and is not traced).
Result<std::string> default_library() {
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&::malloc), &info) == 0 || !info.dli_fname)
    return Error{"--heap: cannot tell which file holds malloc (name it with --heap-lib)"};
  char resolved[PATH_MAX];
  if (!realpath(info.dli_fname, resolved)) return errno_error(std::string("--heap: ") + info.dli_fname, errno);
  return std::string(resolved);
}

uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

model::ProcessKey process_key(const nt_proc_key& k) { return {k.tgid, k.netns, k.start_ns}; }

class HeapCollector : public ObjectCollector<heap> {
 public:
  HeapCollector(std::unique_ptr<bpf::FeatureObject<heap>> object, const HeapOptions& options)
      : ObjectCollector(std::move(object)), options_(options) {}

  std::string name() const override { return "heap"; }

  // Probes every entry point the library defines (malloc and free it must); two names of one
  // function (glibc's memalign and aligned_alloc) are probed once.
  Status attach(const std::string& library) {
    auto defined = defined_functions(library);
    if (!defined) return Error{"--heap-lib " + defined.error().message};
    std::map<std::string, uint64_t> functions;
    for (const auto& function : defined.value()) functions.emplace(function.name, function.address);
    std::set<uint64_t> probed;
    for (const auto& point : kEntryPoints) {
      auto found = functions.find(point.function);
      if (found == functions.end()) {
        if (std::strcmp(point.function, "malloc") == 0 || std::strcmp(point.function, "free") == 0)
          return Error{"--heap: " + library + " defines no " + point.function};
        continue;
      }
      if (!probed.insert(found->second).second) continue;
      for (const char* program : {point.enter, point.leave}) {
        if (!program) continue;
        LIBBPF_OPTS(bpf_uprobe_opts, opts, .retprobe = program == point.leave, .func_name = point.function);
        bpf_link* link = bpf_program__attach_uprobe_opts(
            bpf_object__find_program_by_name(object_->skel().obj, program), -1, library.c_str(), 0, &opts);
        if (!link) return errno_error(std::string("--heap: probing ") + point.function + " in " + library, errno);
        links_.add(link);
      }
    }
    bpf_link* exec = bpf_program__attach(object_->skel().progs.new_image);
    if (!exec) return errno_error("--heap: attaching the exec tracepoint", errno);
    links_.add(exec);
    return {};
  }

  void drain(model::Tables& tables) override {
    auto& table = tables.heap;
    table.sample_every = options_.sample_every;
    table.min_age_ns = options_.min_age_ns;
    const auto& maps = object_->skel().maps;

    std::map<uint32_t, model::ProcessKey> live;  // by tgid
    std::set<uint32_t> dead;
    const int processes_fd = bpf_map__fd(maps.heap_processes);
    for (const auto& [tgid, kernel] : bpf::hash_entries<uint32_t, nt_heap_process>(processes_fd, read_failures_)) {
      const auto key = process_key(kernel.key);
      auto& process = table.process(key);
      process.comm.assign(kernel.comm, strnlen(kernel.comm, sizeof(kernel.comm)));
      process.allocations = kernel.allocations;
      process.sampled = kernel.sampled;
      process.frees = kernel.frees;
      if (process_alive(key)) {
        live.emplace(tgid, key);
        if (auto seen = images_.find(tgid); seen != images_.end() && seen->second != kernel.execs)
          symbolizer_.forget(static_cast<pid_t>(tgid));  // another program's mappings now
        images_[tgid] = kernel.execs;
      } else {
        process.exited = true;
        dead.insert(tgid);
        images_.erase(tgid);
        bpf_map_delete_elem(processes_fd, &tgid);
        symbolizer_.forget(static_cast<pid_t>(tgid));
      }
    }

    // Outstanding blocks: totals per process, and the old ones by stack.
    struct Group {
      uint64_t blocks = 0, bytes = 0, oldest_ns = UINT64_MAX;
    };
    std::map<std::pair<uint32_t, int32_t>, Group> groups;  // (tgid, stack id)
    std::map<uint32_t, std::pair<uint64_t, uint64_t>> outstanding;
    std::set<int32_t> stacks_in_use;
    const uint64_t now = monotonic_ns();
    const int blocks_fd = bpf_map__fd(maps.heap_blocks);
    for (const auto& [k, block] : bpf::hash_entries<nt_heap_block_key, nt_heap_block>(blocks_fd, read_failures_)) {
      if (!live.count(k.tgid)) {
        // Its process exited (or the block was made as it was read: kept for the next pass).
        if (dead.count(k.tgid) || bpf_map_lookup_elem(processes_fd, &k.tgid, &scratch_) != 0) bpf_map_delete_elem(blocks_fd, &k);
        continue;
      }
      if (block.image != static_cast<uint16_t>(images_[k.tgid])) {  // made by the program before an exec
        bpf_map_delete_elem(blocks_fd, &k);
        continue;
      }
      auto& total = outstanding[k.tgid];
      ++total.first;
      total.second += block.size;
      if (block.stack_id >= 0) stacks_in_use.insert(block.stack_id);
      if (block.allocated_ns > now || now - block.allocated_ns < options_.min_age_ns) continue;
      auto& group = groups[{k.tgid, block.stack_id}];
      ++group.blocks;
      group.bytes += block.size;
      group.oldest_ns = std::min<uint64_t>(group.oldest_ns, block.allocated_ns);
    }

    std::map<uint32_t, std::vector<std::pair<int32_t, Group>>> by_process;
    for (const auto& [at, group] : groups) by_process[at.first].emplace_back(at.second, group);
    const int stacks_fd = bpf_map__fd(object_->skel().maps.heap_stacks);
    for (const auto& [tgid, key] : live) {
      auto& process = table.process(key);
      process.outstanding_blocks = outstanding[tgid].first;
      process.outstanding_bytes = outstanding[tgid].second;
      process.stacks.clear();
      auto& old = by_process[tgid];
      std::sort(old.begin(), old.end(), [](const auto& a, const auto& b) { return a.second.bytes > b.second.bytes; });
      process.stacks_omitted = old.size() > options_.max_stacks ? old.size() - options_.max_stacks : 0;
      old.resize(std::min<size_t>(old.size(), options_.max_stacks));
      for (const auto& [stack_id, group] : old) {
        model::HeapStack stack;
        stack.blocks = group.blocks;
        stack.bytes = group.bytes;
        stack.oldest_age_ns = now - group.oldest_ns;
        if (stack_id >= 0)
          stack.frames = symbolizer_.frames(static_cast<pid_t>(tgid),
                                            bpf::stack_addresses<NT_HEAP_STACK_DEPTH>(stacks_fd, stack_id));
        process.stacks.push_back(std::move(stack));
      }
    }
    forget_stacks(stacks_in_use);
  }

  void add_losses(model::LossCounters& into) const override {
    bpf::add_loss_slots(bpf_map__fd(object_->skel().maps.heap_losses),
                        {{NT_HEAP_LOSS_BLOCKS_FULL, model::LossReason::kHeapBlocksFull},
                         {NT_HEAP_LOSS_STACK_LOST, model::LossReason::kHeapStackLost},
                         {NT_HEAP_LOSS_CALLS_FULL, model::LossReason::kHeapCallsFull},
                         {NT_HEAP_LOSS_PROCESSES_FULL, model::LossReason::kHeapProcessesFull}},
                        into);
    into[static_cast<size_t>(model::LossReason::kMapReadFailed)] += read_failures_;
  }

 private:
  // The stack table never forgets on its own, and a full one keeps no new stack. Once it is half
  // full, the stacks no block has referred to in two passes are deleted: a block made between a pass
  // and the deletion may lose its stack (counted when it is reported without one).
  void forget_stacks(const std::set<int32_t>& in_use) {
    const int fd = bpf_map__fd(object_->skel().maps.heap_stacks);
    std::vector<uint32_t> ids;
    uint32_t id = 0;
    while (bpf_map_get_next_key(fd, ids.empty() ? nullptr : &ids.back(), &id) == 0) ids.push_back(id);
    if (ids.size() * 2 > bpf_map__max_entries(object_->skel().maps.heap_stacks))
      for (uint32_t old : ids)
        if (!in_use.count(static_cast<int32_t>(old)) && !previously_in_use_.count(static_cast<int32_t>(old)))
          bpf_map_delete_elem(fd, &old);
    previously_in_use_ = in_use;
  }

  HeapOptions options_;
  std::set<int32_t> previously_in_use_;
  std::map<uint32_t, uint32_t> images_;  // each live process's exec count at the last pass
  bpf::Links links_;  // before the object in destruction: a member of the derived class
  Symbolizer symbolizer_;
  nt_heap_process scratch_{};
  uint64_t read_failures_ = 0;
};

}  // namespace

Result<std::unique_ptr<Collector>> start_heap_collector(const CollectorContext& context) {
  std::string library = context.heap.library;
  if (library.empty()) {
    auto found = default_library();
    if (!found) return found.error();
    library = found.value();
  }
  auto configure = [&context](heap& skel) -> Status {
    if (auto shared = context.filter.share_with(skel); !shared) return shared;
    skel.rodata->sample_every = std::max(1u, context.heap.sample_every);
    skel.rodata->agent_tgid = static_cast<uint32_t>(getpid());
    if (int err = bpf_map__set_max_entries(skel.maps.heap_blocks, context.heap.max_blocks); err)
      return errno_error("sizing the heap block table", -err);
    if (int err = bpf_map__set_max_entries(skel.maps.heap_processes, context.max_processes); err)
      return errno_error("sizing the heap process table", -err);
    return {};
  };
  auto object =
      bpf::FeatureObject<heap>::load("heap", heap_features(), {heap__open, heap__load, heap__destroy}, configure);
  if (!object) return object.error();
  auto collector = std::make_unique<HeapCollector>(std::move(object).value(), context.heap);
  if (auto attached = collector->attach(library); !attached) return attached.error();
  return std::unique_ptr<Collector>(std::move(collector));
}

}  // namespace nt::collectors
