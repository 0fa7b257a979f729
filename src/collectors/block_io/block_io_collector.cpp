#include "collectors/block_io/block_io_collector.h"

#include <bpf/bpf.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "bpf_runtime/map_entries.h"
#include "bpf_runtime/ring_buffer.h"
#include "collectors/net/net_collector.h"  // process_alive
#include "collectors/object_collector.h"
#include "collectors/process_filter.h"
#include "shared/block_io.h"
// The skeleton's rodata holds a struct nt_filter_config: after the filter's header.
#include "block_io.skel.h"

namespace nt::collectors {
namespace {

static_assert(sizeof(nt_io_key) == 32);
static_assert(sizeof(nt_io_counters) == 536);
static_assert(sizeof(nt_io_request) == 56);
static_assert(sizeof(nt_io_slice) == 72);

// --timeline: the kernel's ring for an interval of a busy disk's traced requests (72 bytes each).
constexpr uint32_t kSliceRingBytes = 4u << 20;

const char* const kKindNames[NT_IO_KINDS] = {"read", "write", "flush", "discard"};

// A finished request on its process's timeline: from its stamp to its completion, with the time
// queued before the device took it and the device's own.
model::TimelineEvent io_slice(const nt_io_slice& e) {
  model::TimelineEvent event{model::TimelineEvent::Kind::kSlice, e.owner.tgid, e.owner.tgid, e.stamp_ns,
                             e.complete_ns - e.stamp_ns, "io",
                             std::string(kKindNames[e.kind % NT_IO_KINDS]) + " " + std::to_string(e.major) + ":" +
                                 std::to_string(e.minor),
                             {}};
  if (e.issue_ns >= e.stamp_ns && e.issue_ns <= e.complete_ns)
    event.args = {{"queue_us", std::to_string((e.issue_ns - e.stamp_ns) / 1000)},
                  {"device_us", std::to_string((e.complete_ns - e.issue_ns) / 1000)}};
  return event;
}
static_assert(NT_IO_HIST_SLOTS == model::kLog2Slots);
static_assert(NT_IO_KINDS == static_cast<int>(model::IoKind::kCount));
static_assert(NT_IO_READ == static_cast<int>(model::IoKind::kRead) &&
              NT_IO_WRITE == static_cast<int>(model::IoKind::kWrite) &&
              NT_IO_FLUSH == static_cast<int>(model::IoKind::kFlush) &&
              NT_IO_DISCARD == static_cast<int>(model::IoKind::kDiscard));

// block_io_start is where a request is made, in its submitter's context; kernels before 6.5 have
// only the insertion into a queue, which the block layer sometimes does on its own.
std::vector<bpf::Feature> io_features() {
  return {{"requests",
           true,
           {{"io_start",
             "tp_btf block:block_io_start (6.5+), block_rq_issue, block_rq_complete and block_rq_merge",
             {"stamp_at_start", "stamp_issue", "count_complete", "forget_merged"}},
            {"insert",
             "tp_btf block:block_rq_insert, block_rq_requeue, block_rq_issue, block_rq_complete and block_rq_merge "
             "(one-argument forms, 5.11+)",
             {"stamp_at_insert", "mark_requeued", "stamp_issue", "count_complete", "forget_merged"}}}}};
}

model::ProcessKey process_key(const nt_proc_key& k) { return {k.tgid, k.netns, k.start_ns}; }

// The disk's name as the kernel gives it (loop3, nvme0n1); "MAJ:MIN" when it has none (gone).
std::string disk_name(const model::BlockDevice& device) {
  const std::string id = std::to_string(device.major) + ":" + std::to_string(device.minor);
  std::ifstream uevent("/sys/dev/block/" + id + "/uevent");
  std::string line;
  while (std::getline(uevent, line))
    if (line.rfind("DEVNAME=", 0) == 0) return line.substr(8);
  return id;
}

// One (owner, disk) entry, summed over the CPUs.
struct Entry {
  nt_io_key key;
  model::IoCounters counters;
  std::string comm;
  bool kernel_thread = false;
};

class BlockIoCollector : public ObjectCollector<block_io> {
 public:
  using ObjectCollector::ObjectCollector;

  std::string name() const override { return "io"; }

  void drain(model::Tables& tables) override {
    if (!slices_.empty()) {
      timeline_ = &tables.timeline;
      if (!slices_.poll(0)) ++read_failures_;  // the requests stay for the next drain
      timeline_ = nullptr;
    }
    auto& io = tables.block_io;
    // Liveness before the read: what a process found dead had in flight can still complete, so
    // its entries go only once they have not moved for a whole interval (see retire()).
    std::set<model::ProcessKey> dead;
    for (const auto& [key, process] : io.processes())
      if (!process.exited && !process_alive(key)) dead.insert(key);
    const auto entries = read_entries();

    std::map<model::ProcessKey, const Entry*> first_of;  // where each process's comm and kind come from
    std::map<model::ProcessKey, model::IoCounters> by_process;
    std::map<model::BlockDevice, model::IoCounters> by_device = retired_;
    std::map<model::BlockDevice, model::IoOps> unattributed;
    for (const auto& e : entries) {
      const model::BlockDevice device{e.key.major, e.key.minor};
      by_device[device] += e.counters;
      if (e.key.origin == NT_IO_ORIGIN_UNSTAMPED) {
        for (const auto& kind : e.counters.by_kind) {
          unattributed[device].ops += kind.ops;
          unattributed[device].bytes += kind.bytes;
        }
      }
      if (e.key.origin != NT_IO_ORIGIN_PROCESS) continue;
      const auto key = process_key(e.key.owner);
      by_process[key] += e.counters;
      auto& first = first_of[key];
      if (!first || (first->comm.empty() && !e.comm.empty())) first = &e;
    }
    for (const auto& [key, total] : by_process) {
      auto& process = io.process(key);
      const Entry& first = *first_of.at(key);
      if (process.comm.empty()) process.comm = first.comm;
      process.kernel_thread = process.kernel_thread || first.kernel_thread;
      process.total = total;
    }
    for (auto& [device, total] : by_device) {
      auto& disk = io.device(device);
      if (disk.name.empty() || disk.name.find(':') != std::string::npos) disk.name = disk_name(device);
      disk.total = total;
      disk.unattributed = unattributed[device];  // unstamped entries are never deleted
    }
    retire(io, dead, entries, by_process);
  }

  void add_losses(model::LossCounters& into) const override {
    bpf::add_loss_slots(bpf_map__fd(object_->skel().maps.io_losses),
                        {{NT_IO_LOSS_REQUEST_MAP_FULL, model::LossReason::kIoRequestMapFull},
                         {NT_IO_LOSS_COUNTER_MAP_FULL, model::LossReason::kIoCounterMapFull},
                         {NT_IO_LOSS_SLICE_RINGBUF_FULL, model::LossReason::kTimelineRingbufFull}},
                        into);
    into[static_cast<size_t>(model::LossReason::kMapReadFailed)] += read_failures_;
  }

  Status attach(bool timeline) {
    if (timeline)
      if (auto ok = slices_.add(bpf_map__fd(object_->skel().maps.io_slices),
                                [this](const void* data, size_t size) { on_request(data, size); });
          !ok)
        return ok;
    return object_->attach(-1);
  }

 private:
  std::vector<Entry> read_entries() {
    const int fd = bpf_map__fd(object_->skel().maps.io_counters);
    std::vector<Entry> entries;
    for (const auto& [k, per_cpu] : bpf::percpu_entries<nt_io_key, nt_io_counters>(fd, read_failures_)) {
      Entry e{k, {}, {}, false};
      for (const auto& c : per_cpu) {
        for (size_t i = 0; i < NT_IO_KINDS; ++i) {
          e.counters.by_kind[i].ops += c.ops[i];
          e.counters.by_kind[i].bytes += c.bytes[i];
        }
        e.counters.queue_ns += c.queue_ns;
        e.counters.device_ns += c.device_ns;
        for (size_t i = 0; i < model::kLog2Slots; ++i) {
          e.counters.queue_hist[i] += c.queue_hist[i];
          e.counters.device_hist[i] += c.device_hist[i];
        }
        if (e.comm.empty() && c.comm[0]) e.comm.assign(c.comm, strnlen(c.comm, sizeof(c.comm)));
        e.kernel_thread = e.kernel_thread || (c.flags & NT_IO_KERNEL_THREAD);
      }
      entries.push_back(std::move(e));
    }
    return entries;
  }

  // A dead process's entries are deleted once its totals have stayed the same from one drain to
  // the next: its requests in flight have completed by then. What they counted stays in the
  // disks' totals (retired_), which never go back.
  void retire(model::BlockIoTable& io, const std::set<model::ProcessKey>& dead, const std::vector<Entry>& entries,
              const std::map<model::ProcessKey, model::IoCounters>& by_process) {
    std::map<model::ProcessKey, model::IoCounters> still_dying;
    std::set<model::ProcessKey> gone;
    for (const auto& key : dead) {
      auto now = by_process.find(key);
      const model::IoCounters total = now == by_process.end() ? model::IoCounters{} : now->second;
      auto before = dying_.find(key);
      if (before != dying_.end() && before->second == total)
        gone.insert(key);
      else
        still_dying[key] = total;
    }
    dying_ = std::move(still_dying);
    if (gone.empty()) return;
    const int fd = bpf_map__fd(object_->skel().maps.io_counters);
    for (const auto& e : entries) {
      if (e.key.origin != NT_IO_ORIGIN_PROCESS || !gone.count(process_key(e.key.owner))) continue;
      retired_[{e.key.major, e.key.minor}] += e.counters;
      bpf_map_delete_elem(fd, &e.key);  // read for the last time above
    }
    for (const auto& key : gone) io.mark_exited(key);
  }

  void on_request(const void* data, size_t size) {
    if (size < sizeof(nt_io_slice) || !timeline_) return;
    nt_io_slice e;
    std::memcpy(&e, data, sizeof(e));
    if (e.complete_ns < e.stamp_ns) return;
    timeline_->add(io_slice(e));
    timeline_->name_process(e.owner.tgid, std::string(e.comm, strnlen(e.comm, sizeof(e.comm))));
  }

  bpf::RingBuffer slices_;                   // --timeline: the traced processes' finished requests
  model::TimelineFeed* timeline_ = nullptr;  // where they go, during a drain
  std::map<model::ProcessKey, model::IoCounters> dying_;     // dead, with the totals last read
  std::map<model::BlockDevice, model::IoCounters> retired_;  // of the entries deleted so far
  uint64_t read_failures_ = 0;
};

}  // namespace

Result<std::unique_ptr<Collector>> start_block_io_collector(const CollectorContext& context) {
  auto configure = [&context](block_io& skel) -> Status {
    if (auto shared = context.filter.share_with(skel); !shared) return shared;
    // One entry per (process, disk) pair, plus the excluded and unstamped requests of each disk;
    // the table is not preallocated, so room costs nothing until used.
    if (int err = bpf_map__set_max_entries(skel.maps.io_counters, 2 * context.max_processes); err)
      return errno_error("sizing the block I/O table", -err);
    skel.rodata->timeline = context.timeline;
    if (context.timeline)
      if (int err = bpf_map__set_max_entries(skel.maps.io_slices, kSliceRingBytes); err)
        return errno_error("sizing the block I/O slices' ring buffer", -err);
    return {};
  };
  auto object = bpf::FeatureObject<block_io>::load("io", io_features(),
                                                   {block_io__open, block_io__load, block_io__destroy}, configure);
  if (!object) return object.error();
  auto collector = std::make_unique<BlockIoCollector>(std::move(object).value());
  if (auto attached = collector->attach(context.timeline); !attached) return attached.error();
  return std::unique_ptr<Collector>(std::move(collector));
}

}  // namespace nt::collectors
