// SPDX-License-Identifier: GPL-2.0
/* CPU scheduling per process: on-CPU time, run-queue wait (with a log2 histogram), off-CPU time
 * split by why the thread left (blocked or preempted), context switches and migrations.
 *
 * sched_switch is the hottest tracepoint of a busy host, so it is the only one (with the rare
 * migrations): no wakeup hook, because the kernel already times run-queue waits in
 * sched_info.run_delay and running time in se.sum_exec_runtime, and reading them as a thread
 * arrives and leaves gives the kernel's own numbers (/proc/PID/schedstat). The kernel starts a
 * woken thread's run at its wakeup (the run-queue clock is not read again before the switch), so
 * its wait after a wakeup counts as running there and here alike; off-CPU time is timed here,
 * from leaving the CPU to running again. A switch touches three things: the two
 * threads' task storage (which they own) and, for the thread leaving, its process's entry in a
 * per-CPU hash (no other CPU writes it). What happens to a thread between two departures is
 * kept in its storage and folded into its process when it leaves again: then it is `current`,
 * so every filter, the cgroup one included, is evaluated in its own context, and a wait is never
 * counted twice. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "histogram.bpf.h"
#include "process_filter.bpf.h"
#include "shared/cpu_sched.h"

char LICENSE[] SEC("license") = "GPL";

#define PF_EXITING 0x00000004 /* include/linux/sched.h: getting shut down */

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct nt_thread_sched);
} threads SEC(".maps");

/* A plain hash, not an LRU: a full table fails inserts, which are counted, instead of evicting
 * a process silently. User space deletes the entries of processes that exited, after a last read. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 16384); /* resized by the loader (--max-processes) */
	__type(key, struct nt_proc_key);
	__type(value, struct nt_cpu_counters);
} cpu_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NT_CPU_LOSS__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} cpu_losses SEC(".maps");

static __always_inline void count_cpu_loss(__u32 reason)
{
	__u64 *counter = bpf_map_lookup_elem(&cpu_losses, &reason);

	if (counter)
		*counter += 1;
}

/* Kernels before 5.14 call the field `state`. */
struct task_struct___pre514 {
	volatile long state;
} __attribute__((preserve_access_index));

static __always_inline long task_state(struct task_struct *task)
{
	if (bpf_core_field_exists(task->__state))
		return BPF_CORE_READ(task, __state);
	return BPF_CORE_READ((struct task_struct___pre514 *)task, state);
}

static __always_inline struct nt_thread_sched *thread_of(struct task_struct *task, __u64 flags)
{
	struct nt_thread_sched *t = bpf_task_storage_get(&threads, task, 0, flags);

	if (!t) {
		if (flags)
			count_cpu_loss(NT_CPU_LOSS_STORAGE_FAILED);
		return 0;
	}
	if (!t->start_ns) {
		t->start_ns = BPF_CORE_READ(task, group_leader, start_boottime);
		t->netns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
	}
	return t;
}

static __always_inline void clear_pending(struct nt_thread_sched *t)
{
	t->pending_on_cpu_ns = 0;
	t->pending_runq_ns = 0;
	t->pending_off_voluntary_ns = 0;
	t->pending_off_involuntary_ns = 0;
	t->pending_migrations = 0;
	t->pending_runq_slot = 0;
}

/* Folds what the leaving thread (current) did since it last left into its process's counters. */
static __always_inline void fold_into_process(struct task_struct *task, struct nt_thread_sched *t, bool voluntary)
{
	struct task_struct *leader = task->group_leader;
	struct nt_proc_key key = {};
	struct nt_cpu_counters *c;
	__u32 slot;

	key.tgid = task->tgid;
	key.netns = t->netns;
	key.start_ns = t->start_ns;
	/* An exiting thread keeps its last verdict: the process has left the pid filter by its last
	 * switch (sched_process_exit comes first), and that switch still ends a slice of its own. */
	if (!(task->flags & PF_EXITING) || !t->verdict_known) {
		t->traced = !(process_filter.netns && t->netns != process_filter.netns) &&
			    filter_passes_current(key.tgid, leader->comm);
		t->verdict_known = 1;
	}
	if (!t->traced)
		goto out;
	c = bpf_map_lookup_elem(&cpu_counters, &key);
	if (!c) {
		struct nt_cpu_counters fresh = {};

		bpf_map_update_elem(&cpu_counters, &key, &fresh, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&cpu_counters, &key);
		if (!c) {
			count_cpu_loss(NT_CPU_LOSS_MAP_FULL);
			goto out;
		}
	}
	/* The first cache line: the name, the time and the counters every switch moves. */
	__builtin_memcpy(c->comm, leader->comm, sizeof(c->comm));
	c->last_fold_ns = t->left_ns;
	c->on_cpu_ns += t->pending_on_cpu_ns;
	c->runq_ns += t->pending_runq_ns;
	c->off_voluntary_ns += t->pending_off_voluntary_ns;
	c->off_involuntary_ns += t->pending_off_involuntary_ns;
	c->migrations += t->pending_migrations;
	if (voluntary)
		c->voluntary_switches += 1;
	else
		c->involuntary_switches += 1;
	slot = t->pending_runq_slot;
	if (slot > 0 && slot <= NT_CPU_HIST_SLOTS) {
		c->runq_hist[slot - 1] += 1;
		c->runq_waits += 1;
	}
out:
	clear_pending(t);
}

/* The kernel's run-queue wait of a task (CONFIG_SCHED_INFO); 0 where the kernel keeps none. */
static __always_inline __u64 run_delay_of(struct task_struct *task)
{
	if (bpf_core_field_exists(task->sched_info.run_delay))
		return BPF_CORE_READ(task, sched_info.run_delay);
	return 0;
}

static __always_inline void leave_cpu(struct task_struct *prev, bool preempt, __u64 now)
{
	struct nt_thread_sched *t = thread_of(prev, BPF_LOCAL_STORAGE_GET_F_CREATE);
	__u64 ran, waited;
	bool voluntary;

	if (!t)
		return;
	if (t->state == NT_THREAD_RUNNING) {
		/* Updated by the scheduler before this tracepoint (put_prev_task). */
		ran = prev->se.sum_exec_runtime - t->exec_at_arrival;
		/* The wait that ended when it arrived: run_delay grew just after that switch. */
		waited = run_delay_of(prev) - t->delay_at_arrival;
		t->pending_on_cpu_ns += ran;
		t->total_on_cpu_ns += ran;
		t->pending_runq_ns += waited;
		t->total_runq_ns += waited;
		t->pending_runq_slot = nt_log2_slot(waited / 1000, NT_CPU_HIST_SLOTS) + 1;
	}
	/* As the kernel counts nvcsw: a thread that was not preempted and set a sleeping state. */
	voluntary = !preempt && task_state(prev) != 0;
	t->state = voluntary ? NT_THREAD_BLOCKED : NT_THREAD_PREEMPTED;
	t->left_ns = now;
	fold_into_process(prev, t, voluntary);
}

static __always_inline void enter_cpu(struct task_struct *next, __u64 now)
{
	struct nt_thread_sched *t = thread_of(next, BPF_LOCAL_STORAGE_GET_F_CREATE);

	if (!t)
		return;
	if (t->state == NT_THREAD_PREEMPTED)
		t->pending_off_involuntary_ns += now - t->left_ns;
	else if (t->state == NT_THREAD_BLOCKED)
		t->pending_off_voluntary_ns += now - t->left_ns;
	t->state = NT_THREAD_RUNNING;
	t->exec_at_arrival = next->se.sum_exec_runtime;
	t->delay_at_arrival = run_delay_of(next);
}

/* Only the first three arguments: every kernel has them (prev_state came in 5.18). */
SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u64 now = bpf_ktime_get_ns();

	if (prev->pid) /* the idle task is no process */
		leave_cpu(prev, preempt, now);
	if (next->pid)
		enter_cpu(next, now);
	return 0;
}

SEC("tp_btf/sched_migrate_task")
int BPF_PROG(on_migrate, struct task_struct *task, int dest_cpu)
{
	struct nt_thread_sched *t = thread_of(task, 0);

	if (t)
		t->pending_migrations += 1;
	return 0;
}

/* Every thread's own totals, for the per-thread detail of the busiest processes, and what a running
 * thread has not folded yet: its slice so far (se.sum_exec_runtime, which the scheduler brings up
 * to date at each tick, never ahead of what the thread will fold when it leaves) and the wait that
 * ended when it arrived. */
SEC("iter/task")
int dump_threads(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct nt_thread_record record = {};
	struct nt_thread_sched *t;
	__u64 running = 0, waited = 0, exec, delay;

	if (!task)
		return 0;
	t = bpf_task_storage_get(&threads, task, 0, 0);
	if (!t && task->on_cpu && task->pid) {
		/* Running since before the agent, alone on its CPU: it may not switch for seconds.
		 * Its slice counts from now on, as if it had just arrived. */
		t = thread_of(task, BPF_LOCAL_STORAGE_GET_F_CREATE);
		if (t && t->state == NT_THREAD_UNKNOWN) {
			t->exec_at_arrival = task->se.sum_exec_runtime;
			t->delay_at_arrival = run_delay_of(task);
			t->state = NT_THREAD_RUNNING;
		}
	}
	if (!t)
		return 0;
	/* Outside the thread's context only the filters that need no `current` can be evaluated:
	 * where a cgroup filter is set, a thread that has never folded waits for its first fold. */
	if (!t->verdict_known && !process_filter.by_cgroup) {
		t->traced = !(process_filter.netns && t->netns != process_filter.netns) &&
			    filter_passes_current(task->tgid, task->group_leader->comm);
		t->verdict_known = 1;
	}
	if (t->state == NT_THREAD_RUNNING) {
		/* It may leave and arrive again meanwhile: a later arrival reads as nothing yet. */
		exec = task->se.sum_exec_runtime;
		delay = run_delay_of(task);
		running = exec > t->exec_at_arrival ? exec - t->exec_at_arrival : 0;
		waited = delay > t->delay_at_arrival ? delay - t->delay_at_arrival : 0;
	}
	if (!t->total_on_cpu_ns && !running)
		return 0;
	record.tgid = task->tgid;
	record.pid = task->pid;
	record.start_ns = t->start_ns;
	record.netns = t->netns;
	record.traced = t->traced;
	record.on_cpu_ns = t->total_on_cpu_ns + running;
	record.runq_ns = t->total_runq_ns + waited;
	record.unfolded_on_cpu_ns = running;
	record.unfolded_runq_ns = waited;
	__builtin_memcpy(record.comm, task->comm, sizeof(record.comm));
	bpf_seq_write(ctx->meta->seq, &record, sizeof(record));
	return 0;
}
