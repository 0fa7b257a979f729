// SPDX-License-Identifier: GPL-2.0
/* User-space functions: calls, errors by return code and a log2 latency histogram per process and
 * function, kept in the kernel (--probe LIB:SYMBOL, USDT probes, and --collect cuda's libcudart and
 * libnccl entry points).
 *
 * One pair of programs serves every function: a uprobe at its entry and a uretprobe at its return,
 * each told which function it is by the attachment's cookie (the function table's index, where the
 * error rule and the argument shape are). A thread's call in progress is its entry in a table by
 * (thread, function), made at the thread's first call of the function and reused by every later one.
 * The shapes that need arguments (device allocations, copies, kernel launches, collectives) keep them
 * at the entry, and their calls are events on the ring buffer; with --timeline every call is. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "counters.bpf.h"
#include "histogram.bpf.h"
#include "process_filter.bpf.h"
#include "process_key.bpf.h"
#include "shared/probes.h"

char LICENSE[] SEC("license") = "GPL";

#define NT_E2BIG 7

/* Set by the loader. */
const volatile __u32 agent_tgid = 0;  /* the agent's own calls are never counted */
const volatile __u8 every_call_an_event = 0; /* --timeline */

struct nt_probe_call_key {
	__u32 tid;
	__u32 function;
};

struct nt_probe_call {
	__u64 started_ns; /* 0: no call in progress */
	__u64 args[6];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NT_PROBE_MAX_FUNCTIONS);
	__type(key, __u32);
	__type(value, struct nt_probe_function);
} probe_functions SEC(".maps");

/* LRU: the entries of threads that ended age out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct nt_probe_call_key);
	__type(value, struct nt_probe_call);
} probe_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* resized by the loader */
	__type(key, struct nt_probe_stats_key);
	__type(value, struct nt_probe_stats);
} probe_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct nt_probe_code_key);
	__type(value, __u64);
} probe_codes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} probe_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 4096);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, NT_PROBE_STACK_DEPTH * sizeof(__u64));
} probe_stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NT_PROBE_LOSS__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} probe_losses SEC(".maps");

static __always_inline struct nt_probe_stats *stats_of(__u32 tgid, __u32 function)
{
	struct nt_probe_stats_key key = {.tgid = tgid, .function = function};
	struct nt_probe_stats *stats = bpf_map_lookup_elem(&probe_stats, &key);
	struct nt_probe_stats fresh = {};
	struct task_struct *task;

	if (stats)
		return stats;
	task = bpf_get_current_task_btf();
	fresh.process = process_key_of(task);
	bpf_probe_read_kernel(fresh.comm, sizeof(fresh.comm), &task->group_leader->comm);
	if (bpf_map_update_elem(&probe_stats, &key, &fresh, BPF_NOEXIST) == -NT_E2BIG)
		add_to_slot(&probe_losses, NT_PROBE_LOSS_STATS_FULL, 1);
	return bpf_map_lookup_elem(&probe_stats, &key);
}

/* The arguments a shape keeps (see shared/probes.h). x86-64 and arm64 pass a dim3 (12 bytes) in two
 * registers: x | y << 32, then z; cudaLaunchKernel's seventh and eighth words (shared memory, the
 * stream) are on x86-64's stack, above the return address. */
static __always_inline void keep_arguments(struct pt_regs *ctx, __u8 shape, __u64 *args)
{
	switch (shape) {
	case NT_PROBE_DEVICE_ALLOC: /* args[0]: where the block's address is written, [1]: size */
	case NT_PROBE_DEVICE_FREE:  /* args[0]: the block */
		args[0] = PT_REGS_PARM1(ctx);
		args[1] = PT_REGS_PARM2(ctx);
		break;
	case NT_PROBE_MEMCPY: /* [0]: count, [1]: kind, [2]: stream (async) */
		args[0] = PT_REGS_PARM3(ctx);
		args[1] = PT_REGS_PARM4(ctx);
		args[2] = PT_REGS_PARM5(ctx);
		break;
	case NT_PROBE_LAUNCH: /* [0]: the kernel's host function, [1]: grid x|y, [2]: grid z | block z << 32,
			       * [3]: block x|y, [4]: stream */
		args[0] = PT_REGS_PARM1(ctx);
		args[1] = PT_REGS_PARM2(ctx);
		args[2] = (PT_REGS_PARM3(ctx) & 0xffffffff) | (PT_REGS_PARM5(ctx) << 32);
		args[3] = PT_REGS_PARM4(ctx);
#if defined(__TARGET_ARCH_x86)
		bpf_probe_read_user(&args[4], sizeof(args[4]), (void *)(PT_REGS_SP(ctx) + 16));
#elif defined(__TARGET_ARCH_arm64)
		args[4] = ctx->regs[7];
#endif
		break;
	case NT_PROBE_COLLECTIVE: /* [0]: count, [1]: datatype */
		args[0] = PT_REGS_PARM3(ctx);
		args[1] = PT_REGS_PARM4(ctx);
		break;
	case NT_PROBE_SEND_RECV: /* [0]: count, [1]: datatype, [2]: peer */
		args[0] = PT_REGS_PARM2(ctx);
		args[1] = PT_REGS_PARM3(ctx);
		args[2] = PT_REGS_PARM4(ctx);
		break;
	}
}

SEC("uprobe")
int probe_entry(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct nt_probe_call_key key = {.tid = (__u32)pid_tgid, .function = (__u32)bpf_get_attach_cookie(ctx)};
	struct nt_probe_function *function;
	struct nt_probe_stats *stats;
	struct nt_probe_call *call, fresh = {};

	if (tgid == agent_tgid || !filter_passes_current_task(tgid))
		return 0;
	function = bpf_map_lookup_elem(&probe_functions, &key.function);
	if (!function)
		return 0;
	stats = stats_of(tgid, key.function);
	if (!stats)
		return 0;
	__sync_fetch_and_add(&stats->calls, 1);
	call = bpf_map_lookup_elem(&probe_calls, &key);
	if (!call) {
		if (bpf_map_update_elem(&probe_calls, &key, &fresh, BPF_ANY)) {
			add_to_slot(&probe_losses, NT_PROBE_LOSS_CALLS_FULL, 1);
			return 0;
		}
		call = bpf_map_lookup_elem(&probe_calls, &key);
		if (!call)
			return 0;
	}
	keep_arguments(ctx, function->shape, call->args);
	call->started_ns = bpf_ktime_get_ns();
	return 0;
}

static __always_inline bool is_error(__u8 rule, __s64 code)
{
	switch (rule) {
	case NT_PROBE_ERRORS_NEGATIVE:
		return code < 0;
	case NT_PROBE_ERRORS_NONZERO:
		return (__s32)code != 0;
	case NT_PROBE_ERRORS_NULL:
		return code == 0;
	}
	return false;
}

static __always_inline void emit(struct pt_regs *ctx, struct nt_probe_call_key *key, struct nt_probe_call *call,
				 __u8 shape, __u64 duration_ns, __s64 code)
{
	struct nt_probe_event *event = bpf_ringbuf_reserve(&probe_events, sizeof(*event), 0);
	__u64 block = 0;

	if (!event) {
		add_to_slot(&probe_losses, NT_PROBE_LOSS_EVENTS_FULL, 1);
		return;
	}
	event->start_ns = call->started_ns;
	event->duration_ns = duration_ns;
	event->tgid = bpf_get_current_pid_tgid() >> 32;
	event->tid = key->tid;
	event->function = key->function;
	event->code = code;
	event->stack_id = -1;
	__builtin_memcpy(event->args, call->args, sizeof(event->args));
	if (shape == NT_PROBE_DEVICE_ALLOC && code == 0) {
		bpf_probe_read_user(&block, sizeof(block), (void *)call->args[0]);
		event->args[0] = block;
		/* At the return the registers are the caller's: the walk starts at the call site. */
		event->stack_id = bpf_get_stackid(ctx, &probe_stacks, BPF_F_USER_STACK);
		if (event->stack_id < 0)
			add_to_slot(&probe_losses, NT_PROBE_LOSS_STACK_LOST, 1);
	}
	bpf_ringbuf_submit(event, 0);
}

static __always_inline void count_error(struct nt_probe_code_key *key)
{
	__u64 one = 1, *count = bpf_map_lookup_elem(&probe_codes, key);
	long made;

	if (count) {
		__sync_fetch_and_add(count, 1);
		return;
	}
	made = bpf_map_update_elem(&probe_codes, key, &one, BPF_NOEXIST);
	if (made == -NT_E2BIG) {
		add_to_slot(&probe_losses, NT_PROBE_LOSS_CODES_FULL, 1);
	} else if (made) { /* another thread made it first */
		count = bpf_map_lookup_elem(&probe_codes, key);
		if (count)
			__sync_fetch_and_add(count, 1);
	}
}

SEC("uretprobe")
int probe_return(struct pt_regs *ctx)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32;
	struct nt_probe_call_key key = {.tid = (__u32)pid_tgid, .function = (__u32)bpf_get_attach_cookie(ctx)};
	struct nt_probe_code_key code_key = {.tgid = tgid, .function = key.function};
	struct nt_probe_stats_key stats_key = {.tgid = tgid, .function = key.function};
	struct nt_probe_function *function;
	struct nt_probe_stats *stats;
	struct nt_probe_call *call;
	__u64 duration;
	__s64 code = (__s64)PT_REGS_RC(ctx);

	call = bpf_map_lookup_elem(&probe_calls, &key);
	if (!call || !call->started_ns)
		return 0; /* not traced, or it began before the probe */
	duration = bpf_ktime_get_ns() - call->started_ns;
	function = bpf_map_lookup_elem(&probe_functions, &key.function);
	stats = bpf_map_lookup_elem(&probe_stats, &stats_key);
	if (!function || !stats) {
		call->started_ns = 0;
		return 0;
	}
	__sync_fetch_and_add(&stats->returns, 1);
	__sync_fetch_and_add(&stats->total_ns, duration);
	__sync_fetch_and_add(&stats->latency[nt_log2_slot(duration, NT_PROBE_LATENCY_SLOTS)], 1);
	/* An int's upper half of the register is not its: nonzero is read as an int, and a negative int
	 * (the upper half clear, the sign bit of the lower set) is negative as a long is. */
	if (function->error_rule == NT_PROBE_ERRORS_NONZERO ||
	    (function->error_rule == NT_PROBE_ERRORS_NEGATIVE && !((__u64)code >> 32) && (__s32)code < 0))
		code = (__s32)code;
	if (is_error(function->error_rule, code)) {
		__sync_fetch_and_add(&stats->errors, 1);
		code_key.code = code;
		count_error(&code_key);
	}
	if (function->shape != NT_PROBE_PLAIN || every_call_an_event)
		emit(ctx, &key, call, function->shape, duration, code);
	call->started_ns = 0;
	return 0;
}
