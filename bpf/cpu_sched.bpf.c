// SPDX-License-Identifier: GPL-2.0
/* CPU scheduling per thread, summed per process in user space: on-CPU time, run-queue wait (with a
 * log2 histogram), off-CPU time split by why the thread left (blocked or preempted), context
 * switches and migrations.
 *
 * sched_switch is the hottest tracepoint of a busy host, and the kernel already counts most of
 * this per task: se.sum_exec_runtime, sched_info.run_delay, nvcsw, nivcsw and se.nr_migrations
 * (what /proc/PID/schedstat and status show). A task iterator reads them each interval. The one
 * program on the switch does what only it can: it sorts each run-queue wait into the histogram
 * and by what came before it (a preemption or a sleep), touching only the leaving thread's own
 * task storage: no clock read, no shared map, no second task. A thread's last switch, as it dies,
 * adds its counts to its process's exited-thread totals. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "counters.bpf.h"
#include "histogram.bpf.h"
#include "process_filter.bpf.h"
#include "shared/cpu_sched.h"

char LICENSE[] SEC("license") = "GPL";

#define PF_EXITING 0x00000004 /* include/linux/sched.h: getting shut down */
#define TASK_DEAD 0x00000080

/* Set by the loader: threads born after this (bpf_ktime_get_ns) count from their birth. */
const volatile __u64 agent_start_ns = 0;
/* --timeline: each traced thread's stretches on a CPU go to `oncpu_slices`. Off, the verifier
 * prunes that code: the switch costs what it did without a timeline. */
const volatile bool timeline = false;

/* Per thread: where the kernel's counters stood when it was first seen, and what only the switch
 * program counts. */
struct nt_thread_sched {
	__u64 seen_ns;
	__u64 exec_base;
	__u64 delay_base;
	__u64 nvcsw_base;
	__u64 nivcsw_base;
	__u64 migrations_base;
	__u64 delay_at_departure; /* run_delay when it last left a CPU: the next wait starts there */
	__u64 off_involuntary_ns;
	__u64 runq_hist[NT_CPU_HIST_SLOTS];
	__u64 start_ns; /* its group leader's start_boottime */
	__u64 oncpu_since; /* --timeline: when it last came on a CPU (0: not seen coming) */
	__u32 netns;
	__u8 preempted;      /* its last departure was a preemption */
	__u8 wait_known;     /* delay_at_departure is where its next wait starts */
	__u8 traced;
	__u8 verdict_known;
};

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct nt_thread_sched);
} threads SEC(".maps");

/* Exited threads' counts per process (written at thread exits only, so shared, with atomic adds).
 * A plain hash: a full table fails inserts, which are counted. User space deletes the entries of
 * processes that exited, after a last read. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* resized by the loader (--max-processes) */
	__type(key, struct nt_proc_key);
	__type(value, struct nt_sched_counts);
} exited_threads SEC(".maps");

/* The iterator's record, too large for the BPF stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nt_thread_record);
} record_buffer SEC(".maps");

/* --timeline's on-CPU stretches; a page when off (the loader sizes it). */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} oncpu_slices SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NT_CPU_LOSS__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} cpu_losses SEC(".maps");

static __always_inline void count_cpu_loss(__u32 reason)
{
	add_to_slot(&cpu_losses, reason, 1);
}

/* Kernels before 5.14 call the field `state`. */
struct task_struct___pre514 {
	volatile long state;
} __attribute__((preserve_access_index));

/* Plain loads: the tracepoint's and the iterator's tasks are trusted pointers, so the fields are
 * read directly (CO-RE relocated), not through a probe-read helper call. */
static __always_inline long task_state(struct task_struct *task)
{
	if (bpf_core_field_exists(task->__state))
		return task->__state;
	return ((struct task_struct___pre514 *)task)->state;
}

/* The kernel's run-queue wait of a task (CONFIG_SCHED_INFO); 0 where the kernel keeps none. */
static __always_inline __u64 run_delay_of(struct task_struct *task)
{
	if (bpf_core_field_exists(task->sched_info.run_delay))
		return task->sched_info.run_delay;
	return 0;
}

/* A thread's storage, made when it is first seen: a thread born after the agent started counts
 * from its birth, an older one from now. */
static __always_inline struct nt_thread_sched *thread_of(struct task_struct *task)
{
	struct nt_thread_sched *t = bpf_task_storage_get(&threads, task, 0, 0);
	__u64 now;

	if (t)
		return t;
	t = bpf_task_storage_get(&threads, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!t) {
		count_cpu_loss(NT_CPU_LOSS_STORAGE_FAILED);
		return 0;
	}
	now = bpf_ktime_get_ns();
	t->start_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	t->netns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
	if (agent_start_ns && task->start_time >= agent_start_ns) {
		t->seen_ns = task->start_time; /* the counters start at zero */
		t->wait_known = 1;
	} else {
		t->seen_ns = now;
		t->exec_base = task->se.sum_exec_runtime;
		t->delay_base = run_delay_of(task);
		t->nvcsw_base = task->nvcsw;
		t->nivcsw_base = task->nivcsw;
		t->migrations_base = task->se.nr_migrations;
		t->delay_at_departure = t->delay_base;
	}
	return t;
}

static __always_inline bool passes_filters(struct task_struct *task, struct nt_thread_sched *t, bool is_current)
{
	if (process_filter.netns && t->netns != process_filter.netns)
		return false;
	if (process_filter.by_cgroup && !is_current)
		return t->traced; /* as last evaluated in the thread's own context */
	return filter_passes_current(task->tgid, task->group_leader->comm);
}

static __always_inline void counts_of(struct task_struct *task, struct nt_thread_sched *t, __u64 now,
				      struct nt_sched_counts *c)
{
	c->wall_ns = now > t->seen_ns ? now - t->seen_ns : 0;
	c->on_cpu_ns = task->se.sum_exec_runtime - t->exec_base;
	c->runq_ns = run_delay_of(task) - t->delay_base;
	c->off_involuntary_ns = t->off_involuntary_ns;
	c->voluntary_switches = task->nvcsw - t->nvcsw_base;
	c->involuntary_switches = task->nivcsw - t->nivcsw_base;
	c->migrations = task->se.nr_migrations - t->migrations_base;
}

/* A dying thread's last switch: its counts join its process's exited threads. */
static __always_inline void fold_exited(struct task_struct *task, struct nt_thread_sched *t)
{
	struct nt_proc_key key = {};
	struct nt_sched_counts c = {}, *total;

	if (!t->verdict_known || !t->traced)
		return;
	key.tgid = task->tgid;
	key.netns = t->netns;
	key.start_ns = t->start_ns;
	total = bpf_map_lookup_elem(&exited_threads, &key);
	if (!total) {
		bpf_map_update_elem(&exited_threads, &key, &c, BPF_NOEXIST);
		total = bpf_map_lookup_elem(&exited_threads, &key);
		if (!total) {
			count_cpu_loss(NT_CPU_LOSS_MAP_FULL);
			return;
		}
	}
	counts_of(task, t, bpf_ktime_get_ns(), &c);
	__sync_fetch_and_add(&total->wall_ns, c.wall_ns);
	__sync_fetch_and_add(&total->on_cpu_ns, c.on_cpu_ns);
	__sync_fetch_and_add(&total->runq_ns, c.runq_ns);
	__sync_fetch_and_add(&total->off_involuntary_ns, c.off_involuntary_ns);
	__sync_fetch_and_add(&total->voluntary_switches, c.voluntary_switches);
	__sync_fetch_and_add(&total->involuntary_switches, c.involuntary_switches);
	__sync_fetch_and_add(&total->migrations, c.migrations);
	for (int i = 0; i < NT_CPU_HIST_SLOTS; i++)
		if (t->runq_hist[i])
			__sync_fetch_and_add(&total->runq_hist[i], t->runq_hist[i]);
}

/* --timeline: the stretch on a CPU that `prev` ends now, sent when its process is traced. The
 * filters are asked in prev's own context (it is still current at the switch). */
static __always_inline void end_stretch(struct task_struct *prev, struct nt_thread_sched *t, long state,
					bool preempted, __u64 now)
{
	struct nt_oncpu_slice *e;

	if (t->oncpu_since && passes_filters(prev, t, true)) {
		e = bpf_ringbuf_reserve(&oncpu_slices, sizeof(*e), 0);
		if (!e) {
			count_cpu_loss(NT_CPU_LOSS_SLICE_RINGBUF_FULL);
		} else {
			e->tgid = prev->tgid;
			e->pid = prev->pid;
			e->start_ns = t->oncpu_since;
			e->end_ns = now;
			e->cpu = bpf_get_smp_processor_id();
			e->state = state & 0xffff;
			e->preempted = preempted;
			e->dead = (state & TASK_DEAD) != 0;
			__builtin_memcpy(e->comm, prev->comm, sizeof(e->comm));
			__builtin_memcpy(e->leader_comm, prev->group_leader->comm, sizeof(e->leader_comm));
			bpf_ringbuf_submit(e, 0);
		}
	}
	t->oncpu_since = 0;
}

/* --timeline: `next` starts a stretch on this CPU. */
static __always_inline void start_stretch(struct task_struct *next, __u64 now)
{
	struct nt_thread_sched *n;

	if (!next->pid)
		return;
	n = thread_of(next);
	if (n)
		n->oncpu_since = now;
}

/* Only the first three arguments: every kernel has them (prev_state came in 5.18). */
SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	struct nt_thread_sched *t;
	__u64 delay, waited, now = 0;
	long state;

	if (timeline)
		now = bpf_ktime_get_ns();
	if (!prev->pid) { /* the idle task is no process */
		if (timeline)
			start_stretch(next, now);
		return 0;
	}
	t = thread_of(prev);
	if (!t) {
		if (timeline)
			start_stretch(next, now);
		return 0;
	}
	/* run_delay grew, just after the switch that brought the thread here, by the wait before it. */
	delay = run_delay_of(prev);
	if (t->wait_known) {
		waited = delay - t->delay_at_departure;
		t->runq_hist[nt_log2_slot(waited / 1000, NT_CPU_HIST_SLOTS)] += 1;
		if (t->preempted)
			t->off_involuntary_ns += waited;
	}
	t->delay_at_departure = delay;
	t->wait_known = 1;
	state = task_state(prev);
	/* As the kernel counts nivcsw: preempted, or leaving without having set a sleeping state. */
	t->preempted = preempt || state == 0;
	if (process_filter.by_cgroup) {
		t->traced = passes_filters(prev, t, true);
		t->verdict_known = 1;
	}
	if (state & TASK_DEAD) {
		if (!t->verdict_known) { /* never read by the iterator: decide now, in its context */
			t->traced = passes_filters(prev, t, true);
			t->verdict_known = 1;
		}
		fold_exited(prev, t);
	}
	if (timeline) {
		end_stretch(prev, t, state, t->preempted, now);
		start_stretch(next, now);
	}
	return 0;
}

/* Every live thread each interval: its counts, and the filters' verdict where it can be taken
 * outside the thread's context. The first pass, at the start, is what older threads count from. */
SEC("iter/task")
int dump_threads(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct nt_thread_record *record;
	struct nt_thread_sched *t;
	__u32 zero = 0, netns;

	if (!task || !task->pid || (task->flags & PF_EXITING))
		return 0;
	t = thread_of(task);
	if (!t)
		return 0;
	/* A thread can change namespace after it was first seen (nsenter, `ip netns exec`: setns, then
	 * exec): it counts where it is now, or a rank started that way splits across two processes. */
	netns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
	if (netns)
		t->netns = netns;
	if (!process_filter.by_cgroup) {
		t->traced = passes_filters(task, t, false);
		t->verdict_known = 1;
	}
	record = bpf_map_lookup_elem(&record_buffer, &zero);
	if (!record)
		return 0;
	record->tgid = task->tgid;
	record->pid = task->pid;
	record->start_ns = t->start_ns;
	record->netns = t->netns;
	record->traced = t->verdict_known && t->traced;
	__builtin_memcpy(record->comm, task->comm, sizeof(record->comm));
	__builtin_memcpy(record->leader_comm, task->group_leader->comm, sizeof(record->leader_comm));
	counts_of(task, t, bpf_ktime_get_ns(), &record->counts);
	__builtin_memcpy(record->counts.runq_hist, t->runq_hist, sizeof(record->counts.runq_hist));
	bpf_seq_write(ctx->meta->seq, record, sizeof(*record));
	return 0;
}
