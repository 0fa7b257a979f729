// SPDX-License-Identifier: GPL-2.0
/* Block I/O per process and per disk: requests and bytes by kind, queue time and device time with
 * log2 histograms.
 *
 * A request is stamped once, in the context of whoever made it: at block_io_start (6.5+), which
 * fires as the request is built from its first bio, in the submitter's context; on older kernels
 * at block_rq_insert. Later hooks run wherever the block layer happens to be (a kblockd worker
 * dispatching, an interrupt completing), so `current` is trusted only at the stamp. A request
 * neither hook saw (the flush machinery's own flushes, requests issued straight to the driver on
 * older kernels, requests already made when the agent attached) is stamped at block_rq_issue.
 *
 * The stamp (owner, filter verdict, time) waits in a table keyed by the request's address; at
 * completion it is folded into one per-CPU counter entry per (owner, disk), and marked finished
 * when the request finishes. Requests the filters exclude still count for their disk, under one
 * zeroed owner, so that a disk's totals are the disk's, as /sys/block/DEV/stat counts them. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "counters.bpf.h"
#include "histogram.bpf.h"
#include "process_filter.bpf.h"
#include "shared/block_io.h"

char LICENSE[] SEC("license") = "GPL";

/* --timeline: each traced process's finished requests go to `io_slices`. Off, the verifier prunes
 * that code. */
const volatile bool timeline = false;

#define NT_REQ_OP_MASK 0xff
#define NT_REQ_OP_PASSTHROUGH 32 /* REQ_OP_DRV_IN and up (and SCSI_IN/OUT, once): driver commands */
#define NT_PF_KTHREAD 0x00200000

/* --timeline's finished requests; a page when off (the loader sizes it). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} io_slices SEC(".maps");

/* Requests by address. The kernel reuses its request structures, so an entry outlives its request
 * (marked finished: stamp_ns 0) and the next life of the address rewrites it in place: a lookup
 * instead of a hash insert and delete per request, which were most of the cost. An LRU table lets
 * the addresses of removed devices age out; it is sized far above the requests in flight, and a
 * live stamp it evicted all the same leaves its request counted for the disk, as unattributed. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 32768);
	__type(key, __u64);
	__type(value, struct nt_io_request);
} io_requests SEC(".maps");

/* Not preallocated: a value is 536 bytes on every CPU, and few processes do block I/O. Entries
 * are created at completion, from any context (the allocator behind this takes that, 6.1+). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384); /* resized by the loader: twice --max-processes */
	__type(key, struct nt_io_key);
	__type(value, struct nt_io_counters);
} io_counters SEC(".maps");

/* A zeroed counter value to create entries from: it does not fit on the BPF stack. Only its comm
 * and flags are ever written. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nt_io_counters);
} io_blank SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NT_IO_LOSS__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} io_losses SEC(".maps");

static __always_inline void count_io_loss(__u32 reason)
{
	add_to_slot(&io_losses, reason, 1);
}

/* Before 5.17 a request named its disk itself (q->disk came in 5.15). */
struct request___pre517 {
	struct gendisk *rq_disk;
} __attribute__((preserve_access_index));

/* RQF_FLUSH_SEQ is an enum bit on newer kernels, a #define (bit 4) on older ones. */
enum rqf_flags___nt {
	__RQF_FLUSH_SEQ___nt = 1,
};

static __always_inline __u32 rqf_flush_seq(void)
{
	if (bpf_core_enum_value_exists(enum rqf_flags___nt, __RQF_FLUSH_SEQ___nt))
		return 1u << bpf_core_enum_value(enum rqf_flags___nt, __RQF_FLUSH_SEQ___nt);
	return 1u << 4;
}

static __always_inline struct gendisk *disk_of(struct request *rq)
{
	if (bpf_core_field_exists(((struct request___pre517 *)rq)->rq_disk))
		return ((struct request___pre517 *)rq)->rq_disk;
	return rq->q->disk;
}

/* As the kernel's op_stat_group, so that a disk's counts match its /sys/block stat. */
static __always_inline __u32 io_kind(__u32 op)
{
	if (op == REQ_OP_DISCARD)
		return NT_IO_DISCARD;
	if (op == REQ_OP_FLUSH)
		return NT_IO_FLUSH;
	return op & 1 ? NT_IO_WRITE : NT_IO_READ;
}

/* A new stamp for `rq`, owned by the current task, written over `r` (the entry an earlier life of
 * the address left) or into a new entry. tp_btf's task pointer is trusted: plain loads, no
 * probe-read helpers. */
static __always_inline void stamp_request(struct request *rq, struct nt_io_request *r, __u64 now, bool issued)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct task_struct *leader = task->group_leader;
	struct nt_io_request fresh = {};
	__u64 key = (__u64)rq;
	__u32 netns;

	if (!r)
		r = &fresh;
	r->stamp_ns = now;
	r->issue_ns = issued ? now : 0;
	r->flags = 0;
	netns = task->nsproxy->net_ns->ns.inum; /* an exiting task has no nsproxy: reads as 0 */
	if ((process_filter.netns && netns != process_filter.netns) || !filter_passes_current(task->tgid, leader->comm)) {
		r->origin = NT_IO_ORIGIN_FILTERED;
		r->owner.tgid = 0;
		r->owner.netns = 0;
		r->owner.start_ns = 0;
		__builtin_memset(r->comm, 0, sizeof(r->comm));
	} else {
		r->origin = NT_IO_ORIGIN_PROCESS;
		r->owner.tgid = task->tgid;
		r->owner.netns = netns;
		r->owner.start_ns = leader->start_boottime;
		if (task->flags & NT_PF_KTHREAD)
			r->flags = NT_IO_KERNEL_THREAD;
		__builtin_memcpy(r->comm, leader->comm, sizeof(r->comm));
	}
	if (r == &fresh && bpf_map_update_elem(&io_requests, &key, &fresh, BPF_ANY))
		count_io_loss(NT_IO_LOSS_REQUEST_MAP_FULL);
}

static __always_inline struct nt_io_request *request_of(struct request *rq)
{
	__u64 key = (__u64)rq;

	return bpf_map_lookup_elem(&io_requests, &key);
}

/* 6.5+: the request was just made from a bio, by the task that submitted it. It is a new life of
 * this address, whatever an earlier one left behind. */
SEC("tp_btf/block_io_start")
int BPF_PROG(stamp_at_start, struct request *rq)
{
	stamp_request(rq, request_of(rq), bpf_ktime_get_ns(), false);
	return 0;
}

/* Older kernels: the request enters a scheduler or software queue. That is in the submitter's
 * context except when the block layer inserts on its own: a request the driver sent back keeps
 * its stamp; the data of a flush sequence is inserted by kblockd (and so counted under it). */
SEC("tp_btf/block_rq_insert")
int BPF_PROG(stamp_at_insert, struct request *rq)
{
	struct nt_io_request *r = request_of(rq);

	if (r && r->stamp_ns && (r->flags & NT_IO_REQUEUED))
		return 0;
	stamp_request(rq, r, bpf_ktime_get_ns(), false);
	return 0;
}

SEC("tp_btf/block_rq_requeue")
int BPF_PROG(mark_requeued, struct request *rq)
{
	struct nt_io_request *r = request_of(rq);

	if (r && r->stamp_ns)
		r->flags |= NT_IO_REQUEUED;
	return 0;
}

/* The driver takes the request. Device time runs from the first issue: a request the driver sent
 * back and took again was in the device's hands all along. */
SEC("tp_btf/block_rq_issue")
int BPF_PROG(stamp_issue, struct request *rq)
{
	__u64 now = bpf_ktime_get_ns();
	struct nt_io_request *r = request_of(rq);

	if (!r || !r->stamp_ns) {
		stamp_request(rq, r, now, true); /* queue time 0: none of it was seen */
		return 0;
	}
	if (!r->issue_ns)
		r->issue_ns = now;
	r->flags &= ~NT_IO_REQUEUED;
	return 0;
}

/* Merged into another request before issue: it will never complete. */
SEC("tp_btf/block_rq_merge")
int BPF_PROG(forget_merged, struct request *next)
{
	struct nt_io_request *r = request_of(next);

	if (r)
		r->stamp_ns = 0;
	return 0;
}

static __always_inline struct nt_io_counters *counters_of(const struct nt_io_key *key, const struct nt_io_request *r)
{
	struct nt_io_counters *c = bpf_map_lookup_elem(&io_counters, key);
	struct nt_io_counters *blank;
	__u32 zero = 0;

	if (c)
		return c;
	blank = bpf_map_lookup_elem(&io_blank, &zero);
	if (!blank)
		return 0;
	if (r) {
		__builtin_memcpy(blank->comm, r->comm, sizeof(blank->comm));
		blank->flags = r->flags & NT_IO_KERNEL_THREAD;
	} else {
		__builtin_memset(blank->comm, 0, sizeof(blank->comm));
		blank->flags = 0;
	}
	bpf_map_update_elem(&io_counters, key, blank, BPF_NOEXIST);
	c = bpf_map_lookup_elem(&io_counters, key);
	if (!c)
		count_io_loss(NT_IO_LOSS_COUNTER_MAP_FULL);
	return c;
}

/* --timeline: a traced process's request, finished now. */
static __always_inline void send_slice(struct nt_io_request *r, struct nt_io_key *key, __u32 kind)
{
	struct nt_io_slice *e = bpf_ringbuf_reserve(&io_slices, sizeof(*e), 0);

	if (!e) {
		count_io_loss(NT_IO_LOSS_SLICE_RINGBUF_FULL);
		return;
	}
	e->owner = r->owner;
	e->stamp_ns = r->stamp_ns;
	e->issue_ns = r->issue_ns;
	e->complete_ns = bpf_ktime_get_ns();
	e->major = key->major;
	e->minor = key->minor;
	e->kind = kind;
	e->pad = 0;
	__builtin_memcpy(e->comm, r->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
}

/* Bytes count as they complete (a request can complete in parts); the request counts once, when
 * it finishes. The flush machinery completes the data of a write with REQ_PREFLUSH or REQ_FUA
 * once for the data and again when its sequence ends: like the kernel's own statistics, the
 * request counts at the end; the machinery's own flush request is the flush. */
SEC("tp_btf/block_rq_complete")
int BPF_PROG(count_complete, struct request *rq, blk_status_t error, unsigned int nr_bytes)
{
	__u32 op = rq->cmd_flags & NT_REQ_OP_MASK;
	struct nt_io_key key = {};
	struct nt_io_counters *c;
	struct nt_io_request *r;
	struct gendisk *disk;
	__u64 now, queue, device;
	__u32 kind;
	bool finished;

	if (op >= NT_REQ_OP_PASSTHROUGH)
		return 0;
	kind = io_kind(op) & (NT_IO_KINDS - 1);
	finished = nr_bytes >= rq->__data_len && (kind == NT_IO_FLUSH || !(rq->rq_flags & rqf_flush_seq()));
	r = request_of(rq);
	if (r && !r->stamp_ns)
		r = 0; /* an earlier life's */
	if (r) {
		key.owner = r->owner;
		key.origin = r->origin;
	} else {
		key.origin = NT_IO_ORIGIN_UNSTAMPED;
	}
	disk = disk_of(rq);
	key.major = disk->major;
	key.minor = disk->first_minor;
	/* Before the counters: after them, keeping the key and kind live through the histograms' branches
	 * cost 6.1's verifier its pruning (a million instructions, and the program refused). */
	if (timeline && finished && r && r->origin == NT_IO_ORIGIN_PROCESS)
		send_slice(r, &key, kind);
	c = counters_of(&key, r);
	if (c) {
		c->bytes[kind] += nr_bytes;
		if (finished) {
			c->ops[kind] += 1;
			if (r && r->issue_ns) {
				now = bpf_ktime_get_ns();
				queue = r->issue_ns - r->stamp_ns;
				device = now - r->issue_ns;
				c->queue_ns += queue;
				c->device_ns += device;
				c->queue_hist[nt_log2_slot(queue / 1000, NT_IO_HIST_SLOTS)] += 1;
				c->device_hist[nt_log2_slot(device / 1000, NT_IO_HIST_SLOTS)] += 1;
			}
		}
	}
	if (finished && r)
		r->stamp_ns = 0;
	return 0;
}
