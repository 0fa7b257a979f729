/* The contract between bpf/cpu_sched.bpf.c and the C++ CPU collector.
 * Fixed-width fields and explicit padding only: C++ pins every size with static_assert. */
#ifndef NEUTRACER_BPF_SHARED_CPU_SCHED_H
#define NEUTRACER_BPF_SHARED_CPU_SCHED_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "net_accounting.h" /* struct nt_proc_key, NT_COMM_LEN */

/* log2 buckets of microseconds: slot i holds waits in [2^i, 2^(i+1)) us, slot 0 also < 1 us. */
#define NT_CPU_HIST_SLOTS 27

/* One process's scheduling, summed over its threads, on one CPU (a per-CPU hash: each CPU
 * writes its own copy, so a context switch never shares a cache line with another CPU). */
struct nt_cpu_counters {
	char comm[NT_COMM_LEN]; /* the group leader's at the last fold on this CPU (exec renames) */
	__u64 last_fold_ns;     /* when this CPU last folded: the newest comm is the latest CPU's */
	__u64 on_cpu_ns;         /* running */
	__u64 runq_ns;           /* runnable, waiting for a CPU (woken or preempted) */
	__u64 off_voluntary_ns;  /* off CPU after blocking or sleeping, until running again */
	__u64 off_involuntary_ns; /* off CPU after preemption, until running again */
	__u64 voluntary_switches;
	__u64 involuntary_switches;
	__u64 migrations;
	__u64 runq_waits; /* samples in runq_hist */
	__u64 runq_hist[NT_CPU_HIST_SLOTS];
};

/* Per thread, in task storage: what happened since the thread last left a CPU, folded into its
 * process's counters when it leaves again (then the thread is `current`, so the filters that need
 * the process's own context can be evaluated). On-CPU time and run-queue wait are the kernel's
 * own accounting (se.sum_exec_runtime, sched_info.run_delay: what /proc/PID/schedstat shows),
 * read as the thread arrives and leaves; off-CPU time is timed here. Also the thread's own totals. */
struct nt_thread_sched {
	__u64 left_ns;         /* when it last left a CPU */
	__u64 exec_at_arrival; /* se.sum_exec_runtime when it last arrived */
	__u64 delay_at_arrival; /* sched_info.run_delay when it last arrived (before this wait) */
	__u64 pending_on_cpu_ns;
	__u64 pending_runq_ns;
	__u64 pending_off_voluntary_ns;
	__u64 pending_off_involuntary_ns;
	__u32 pending_migrations;
	__u32 pending_runq_slot; /* hist slot + 1 of the wait that ended at the last arrival; 0: none */
	__u16 state;             /* enum nt_thread_state */
	__u8 traced;             /* the filters' verdict at its last fold: kept for its last switches */
	__u8 verdict_known;      /* `traced` was evaluated at least once */
	__u32 netns;             /* the thread's network namespace when first seen */
	__u64 start_ns;          /* its group leader's start_boottime */
	__u64 total_on_cpu_ns;   /* the thread's own, since the agent started */
	__u64 total_runq_ns;
};

enum nt_thread_state {
	NT_THREAD_UNKNOWN = 0,   /* first seen leaving, or arriving from before the agent */
	NT_THREAD_RUNNING = 1,
	NT_THREAD_PREEMPTED = 2, /* runnable, involuntarily off CPU */
	NT_THREAD_BLOCKED = 3,   /* voluntarily off CPU */
};

/* A thread as iter/task reports it each interval: its own totals (per-thread detail), and what
 * it has not folded into its process yet (the slice it is running, the wait that ended when it
 * arrived), so that a process that runs for seconds without leaving its CPU shows its time in
 * every interval. */
struct nt_thread_record {
	__u32 tgid;
	__u32 pid;
	__u64 start_ns;
	__u32 netns;
	__u8 traced;   /* the filters' verdict at its last fold; unfolded time counts only when set */
	__u8 pad[3];
	__u64 on_cpu_ns;  /* its own, since the agent started, the running slice included */
	__u64 runq_ns;
	__u64 unfolded_on_cpu_ns;
	__u64 unfolded_runq_ns;
	char comm[NT_COMM_LEN];
};

enum nt_cpu_loss {
	NT_CPU_LOSS_MAP_FULL,       /* a process found no entry in the counter table: its switch not counted */
	NT_CPU_LOSS_STORAGE_FAILED, /* a thread got no task storage: its switch not counted */
	NT_CPU_LOSS__COUNT,
};

#endif
