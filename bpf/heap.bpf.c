// SPDX-License-Identifier: GPL-2.0
/* The user-space heap of traced processes: every block the allocator hands out (malloc, calloc,
 * realloc, the aligned allocators, valloc, mmap) is kept by address with its size, time and user
 * stack until it is released (free, realloc, munmap); what stays outstanding is the collector's
 * report.
 *
 * Uprobes on the allocator's entry points (the C library's, or --heap-lib's) and uretprobes on their
 * returns. The stack is taken at the return: there the registers are the caller's, so a frame-pointer
 * walk starts at the call site (at the entry, the caller's own frame is not yet on the chain).
 *
 * A thread's call in progress is its entry in a table by thread id. Calls nest (glibc's realloc(NULL, n) is
 * malloc; a large malloc maps with mmap): only the outermost one makes a block, and the inner ones only
 * count their depth. Sampling: with sample_every N, every Nth outermost call per CPU is kept; the others
 * are counted. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "counters.bpf.h"
#include "process_filter.bpf.h"
#include "process_key.bpf.h"
#include "shared/heap.h"

char LICENSE[] SEC("license") = "GPL";

#define NT_E2BIG 7
#define NT_STALE_CALL_NS 1000000000ull /* a call this old lost its return (longjmp, a killed thread) */

/* Set by the loader. */
const volatile __u32 sample_every = 1;
const volatile __u32 agent_tgid = 0; /* the agent's own allocations are never traced */

struct nt_heap_call {
	__u64 size;
	__u64 memptr; /* posix_memalign: where the block's address is written */
	__u64 started_ns;
	__u32 kind;
	__u16 depth; /* allocator calls in progress on this thread, this one included */
	__u8 sampled;
	__u8 pad;
};

/* By thread id, made at a thread's first allocator call and reused by every later one (an insert per
 * call would cost more than the rest of the call's work). LRU: the entries of threads that ended age
 * out. A thread that dies inside the allocator leaves a depth the next thread with its id finds stale. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct nt_heap_call);
} heap_calls SEC(".maps");

/* Preallocated: an insert takes a free element rather than allocating one, on every allocator call. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 131072); /* resized by the loader: --heap-max-blocks */
	__type(key, struct nt_heap_block_key);
	__type(value, struct nt_heap_block);
} heap_blocks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, NT_HEAP_STACK_DEPTH * sizeof(__u64));
} heap_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* resized by the loader: --max-processes */
	__type(key, __u32);
	__type(value, struct nt_heap_process);
} heap_processes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} heap_sample_ticks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NT_HEAP_LOSS__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} heap_losses SEC(".maps");

static __always_inline bool take_sample(void)
{
	__u32 slot = 0;
	__u64 *tick;

	if (sample_every <= 1)
		return true;
	tick = bpf_map_lookup_elem(&heap_sample_ticks, &slot);
	return tick && (*tick)++ % sample_every == 0;
}

/* An allocator call begins. */
static __always_inline int enter(__u32 kind, __u64 size, __u64 memptr)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	__u64 now = bpf_ktime_get_ns();
	struct nt_heap_call *call = bpf_map_lookup_elem(&heap_calls, &tid);
	struct nt_heap_call fresh = {};

	if (call && call->depth && now - call->started_ns < NT_STALE_CALL_NS) {
		call->depth++;
		return 0;
	}
	if ((pid_tgid >> 32) == agent_tgid || !filter_passes_current_task(pid_tgid >> 32))
		return 0;
	if (!call) {
		if (bpf_map_update_elem(&heap_calls, &tid, &fresh, BPF_ANY)) {
			add_to_slot(&heap_losses, NT_HEAP_LOSS_CALLS_FULL, 1);
			return 0;
		}
		call = bpf_map_lookup_elem(&heap_calls, &tid);
		if (!call)
			return 0;
	}
	call->size = size;
	call->memptr = memptr;
	call->started_ns = now;
	call->kind = kind;
	call->sampled = take_sample();
	call->depth = 1;
	return 0;
}

static __always_inline struct nt_heap_process *process_of(__u32 tgid)
{
	struct nt_heap_process *process = bpf_map_lookup_elem(&heap_processes, &tgid);
	struct task_struct *task;
	struct nt_heap_process fresh = {};

	if (process)
		return process;
	task = bpf_get_current_task_btf();
	fresh.key = process_key_of(task);
	bpf_probe_read_kernel(fresh.comm, sizeof(fresh.comm), &task->group_leader->comm);
	if (bpf_map_update_elem(&heap_processes, &tgid, &fresh, BPF_NOEXIST) == -NT_E2BIG)
		add_to_slot(&heap_losses, NT_HEAP_LOSS_PROCESSES_FULL, 1);
	return bpf_map_lookup_elem(&heap_processes, &tgid);
}

/* The outermost allocator call returns `addr` (0 or -1: it failed). */
static __always_inline int leave(struct pt_regs *ctx, __u64 addr)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct nt_heap_call *call = bpf_map_lookup_elem(&heap_calls, &tid);
	struct nt_heap_block_key key = {.tgid = pid_tgid >> 32, .addr = addr};
	struct nt_heap_block block = {};
	struct nt_heap_process *process;
	bool sampled;

	if (!call || !call->depth)
		return 0;
	if (--call->depth)
		return 0;
	block.size = call->size;
	block.kind = call->kind;
	sampled = call->sampled;
	if (addr == 0 || addr == (__u64)-1)
		return 0;
	process = process_of(key.tgid);
	if (!process)
		return 0;
	__sync_fetch_and_add(&process->allocations, 1);
	if (!sampled)
		return 0;
	__sync_fetch_and_add(&process->sampled, 1);
	block.image = process->execs;
	block.allocated_ns = bpf_ktime_get_ns();
	block.stack_id = bpf_get_stackid(ctx, &heap_stacks, BPF_F_USER_STACK);
	if (block.stack_id < 0)
		add_to_slot(&heap_losses, NT_HEAP_LOSS_STACK_LOST, 1);
	if (bpf_map_update_elem(&heap_blocks, &key, &block, BPF_ANY) == -NT_E2BIG)
		add_to_slot(&heap_losses, NT_HEAP_LOSS_BLOCKS_FULL, 1);
	return 0;
}

/* `addr` is released; `counted`: the call counts as a free whether or not a kept block was its. */
static __always_inline int release(__u64 addr, bool counted)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct nt_heap_block_key key = {.tgid = pid_tgid >> 32, .addr = addr};
	struct nt_heap_process *process;
	bool kept;

	if (!addr || key.tgid == agent_tgid)
		return 0;
	kept = bpf_map_delete_elem(&heap_blocks, &key) == 0;
	if (!kept && !counted)
		return 0;
	process = bpf_map_lookup_elem(&heap_processes, &key.tgid);
	if (!process)
		return 0;
	__sync_fetch_and_add(&process->frees, 1);
	if (kept)
		__sync_fetch_and_add(&process->freed_sampled, 1);
	return 0;
}

/* malloc, valloc, pvalloc */
SEC("uprobe")
int BPF_KPROBE(malloc_enter, __u64 size)
{
	return enter(NT_HEAP_MALLOC, size, 0);
}

SEC("uprobe")
int BPF_KPROBE(calloc_enter, __u64 count, __u64 size)
{
	return enter(NT_HEAP_CALLOC, count * size, 0);
}

SEC("uprobe")
int BPF_KPROBE(realloc_enter, __u64 old, __u64 size)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct nt_heap_call *call = bpf_map_lookup_elem(&heap_calls, &tid);

	if (!call || !call->depth)
		release(old, true); /* not inside another allocator call: the old block goes */
	return enter(NT_HEAP_REALLOC, size, 0);
}

/* aligned_alloc, memalign */
SEC("uprobe")
int BPF_KPROBE(aligned_enter, __u64 alignment, __u64 size)
{
	return enter(NT_HEAP_ALIGNED, size, 0);
}

SEC("uprobe")
int BPF_KPROBE(posix_memalign_enter, __u64 memptr, __u64 alignment, __u64 size)
{
	return enter(NT_HEAP_ALIGNED, size, memptr);
}

SEC("uprobe")
int BPF_KPROBE(mmap_enter, __u64 addr, __u64 length)
{
	return enter(NT_HEAP_MMAP, length, 0);
}

/* Every allocator that returns its block. */
SEC("uretprobe")
int BPF_KRETPROBE(alloc_return, __u64 addr)
{
	return leave(ctx, addr);
}

SEC("uretprobe")
int BPF_KRETPROBE(posix_memalign_return, int error)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct nt_heap_call *call = bpf_map_lookup_elem(&heap_calls, &tid);
	__u64 addr = 0;

	if (call && call->depth == 1 && error == 0)
		bpf_probe_read_user(&addr, sizeof(addr), (void *)call->memptr);
	return leave(ctx, addr);
}

SEC("uprobe")
int BPF_KPROBE(free_enter, __u64 addr)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct nt_heap_call *call = bpf_map_lookup_elem(&heap_calls, &tid);

	return release(addr, !call || !call->depth); /* realloc(p, 0) frees through free: one free */
}

SEC("uprobe")
int BPF_KPROBE(munmap_enter, __u64 addr)
{
	return release(addr, false);
}

/* An exec replaces the process's memory: its blocks so far are gone with the old image (user space
 * deletes them), and its name may have changed. */
SEC("raw_tp/sched_process_exec")
int BPF_PROG(new_image)
{
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	struct nt_heap_process *process = bpf_map_lookup_elem(&heap_processes, &tgid);
	struct task_struct *task;

	if (!process)
		return 0;
	task = bpf_get_current_task_btf();
	__sync_fetch_and_add(&process->execs, 1);
	bpf_probe_read_kernel(process->comm, sizeof(process->comm), &task->group_leader->comm);
	return 0;
}
