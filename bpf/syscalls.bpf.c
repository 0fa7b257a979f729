// SPDX-License-Identifier: GPL-2.0
/* Syscalls per process and per syscall: calls, errors by errno, time from entry to exit with a
 * log2 histogram, and the calls slower than a threshold as events with their first argument words.
 *
 * raw_syscalls' sys_enter and sys_exit as raw tracepoints (4.17+, every architecture with syscall
 * tracepoints). Each thread has one entry in an LRU table, made at its first call: its owner (the
 * process key, its leader's comm) and the call in progress. The owner is looked up again after
 * exec, setns and unshare, which change the comm and the namespace. The filters are asked at every
 * entry (their set of processes grows as traced ones fork, and a command is traced only once it is
 * running); a thread they exclude costs a lookup and the filters' test per entry, a lookup per exit. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "counters.bpf.h"
#include "histogram.bpf.h"
#include "process_filter.bpf.h"
#include "process_key.bpf.h"
#include "shared/syscalls.h"

char LICENSE[] SEC("license") = "GPL";

/* Set by the loader. */
const volatile __u64 slow_call_ns = 0; /* 0: no slow-call events */
const volatile __u32 refresh_nr[NT_SC_REFRESH] = {~0u, ~0u, ~0u, ~0u};

struct nt_sc_thread {
	__u64 start_ns; /* the call in progress began; 0 when none */
	struct nt_proc_key owner;
	__u32 nr;    /* the latest call's, traced or not */
	__u8 known;  /* owner and comm are current */
	__u8 pad[3];
	__u64 args[NT_SC_ARGS];
	char comm[NT_COMM_LEN]; /* its group leader's */
};

/* By thread id. LRU: the entries of threads that ended age out. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct nt_sc_thread);
} sc_threads SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 65536); /* resized by the loader */
	__type(key, struct nt_sc_key);
	__type(value, struct nt_sc_counts);
} sc_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 16384);
	__type(key, struct nt_sc_errno_key);
	__type(value, __u64);
} sc_errnos SEC(".maps");

/* A zeroed counter value to create entries from (too big for the BPF stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nt_sc_counts);
} sc_blank SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} sc_slow_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NT_SC_LOSS__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} sc_losses SEC(".maps");

/* The current thread's owner and its leader's comm, written into `t`. */
static __always_inline void learn_owner(struct nt_sc_thread *t)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);

	t->owner = process_key_of(task);
	bpf_probe_read_kernel(t->comm, sizeof(t->comm), &leader->comm);
	t->known = 1;
}

static __always_inline bool traced(const struct nt_sc_thread *t)
{
	if (process_filter.netns && t->owner.netns != process_filter.netns)
		return false;
	return filter_passes_current(t->owner.tgid, t->comm);
}

static __always_inline struct nt_sc_thread *thread_of(__u64 pid_tgid)
{
	__u32 tid = (__u32)pid_tgid;
	struct nt_sc_thread *t = bpf_map_lookup_elem(&sc_threads, &tid);
	struct nt_sc_thread fresh = {};

	if (t) {
		if (!t->known || t->owner.tgid != pid_tgid >> 32)
			learn_owner(t);
		return t;
	}
	learn_owner(&fresh);
	if (bpf_map_update_elem(&sc_threads, &tid, &fresh, BPF_NOEXIST) && traced(&fresh))
		add_to_slot(&sc_losses, NT_SC_LOSS_THREAD_MAP_FULL, 1);
	return bpf_map_lookup_elem(&sc_threads, &tid);
}

/* A thread that ends leaves no entry behind for the next thread to get its id. */
SEC("raw_tp/sched_process_exit")
int BPF_PROG(forget_thread)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();

	bpf_map_delete_elem(&sc_threads, &tid);
	return 0;
}

SEC("raw_tp/sys_enter")
int BPF_PROG(enter_syscall, struct pt_regs *regs, long id)
{
	struct nt_sc_thread *t = thread_of(bpf_get_current_pid_tgid());

	if (!t)
		return 0;
	t->nr = id;
	if (id < 0 || !traced(t))
		return 0;
	if (slow_call_ns) {
		t->args[0] = PT_REGS_PARM1_CORE_SYSCALL(regs);
		t->args[1] = PT_REGS_PARM2_CORE_SYSCALL(regs);
		t->args[2] = PT_REGS_PARM3_CORE_SYSCALL(regs);
	}
	t->start_ns = bpf_ktime_get_ns(); /* last: the time spent here is not the call's */
	return 0;
}

static __always_inline struct nt_sc_counts *counts_of(const struct nt_sc_key *key, const struct nt_sc_thread *t)
{
	struct nt_sc_counts *c = bpf_map_lookup_elem(&sc_counts, key);
	struct nt_sc_counts *blank;
	__u32 zero = 0;

	if (c)
		return c;
	blank = bpf_map_lookup_elem(&sc_blank, &zero);
	if (!blank)
		return 0;
	__builtin_memcpy(blank->comm, t->comm, sizeof(blank->comm));
	bpf_map_update_elem(&sc_counts, key, blank, BPF_NOEXIST);
	c = bpf_map_lookup_elem(&sc_counts, key);
	if (!c)
		add_to_slot(&sc_losses, NT_SC_LOSS_COUNTER_MAP_FULL, 1);
	return c;
}

static __always_inline void count_errno(const struct nt_sc_thread *t, __u32 err)
{
	struct nt_sc_errno_key key = {.owner = t->owner, .nr = t->nr, .err = err};
	__u64 one = 1, *n = bpf_map_lookup_elem(&sc_errnos, &key);

	if (n) {
		*n += 1; /* per-CPU value: no other writer */
		return;
	}
	if (bpf_map_update_elem(&sc_errnos, &key, &one, BPF_NOEXIST))
		add_to_slot(&sc_losses, NT_SC_LOSS_ERRNO_MAP_FULL, 1);
}

static __always_inline void send_slow_call(const struct nt_sc_thread *t, __u64 pid_tgid, __u64 now, __u64 latency,
					   long ret)
{
	struct nt_sc_slow_call *e = bpf_ringbuf_reserve(&sc_slow_calls, sizeof(*e), 0);

	if (!e) {
		add_to_slot(&sc_losses, NT_SC_LOSS_RINGBUF_FULL, 1);
		return;
	}
	e->exit_ns = now;
	e->latency_ns = latency;
	e->owner = t->owner;
	e->tid = (__u32)pid_tgid;
	e->nr = t->nr;
	e->ret = ret;
	e->args[0] = t->args[0];
	e->args[1] = t->args[1];
	e->args[2] = t->args[2];
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	bpf_ringbuf_submit(e, 0);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(exit_syscall, struct pt_regs *regs, long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)pid_tgid;
	struct nt_sc_thread *t = bpf_map_lookup_elem(&sc_threads, &tid);
	struct nt_sc_key key = {};
	struct nt_sc_counts *c;
	__u64 now, latency;

	if (!t)
		return 0;
	for (int i = 0; i < NT_SC_REFRESH; i++)
		if (t->nr == refresh_nr[i])
			t->known = 0;
	if (!t->start_ns)
		return 0;
	now = bpf_ktime_get_ns();
	latency = now - t->start_ns;
	t->start_ns = 0;
	key.owner = t->owner;
	key.nr = t->nr;
	c = counts_of(&key, t);
	if (c) {
		c->calls += 1;
		c->total_ns += latency;
		c->hist[nt_log2_slot(latency / 1000, NT_SC_HIST_SLOTS)] += 1;
		if (ret < 0 && ret >= -4095) {
			c->errors += 1;
			count_errno(t, (__u32)-ret);
		}
	}
	if (slow_call_ns && latency >= slow_call_ns)
		send_slow_call(t, pid_tgid, now, latency, ret);
	return 0;
}
