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

/* What a thread (or, summed, the exited threads of a process) did since the agent started, or
 * since the thread was born if later. On-CPU time, run-queue wait, context switches and migrations
 * are the kernel's own counts (se.sum_exec_runtime, sched_info.run_delay, nvcsw, nivcsw,
 * se.nr_migrations: what /proc/PID/schedstat and status show), as differences from where they
 * stood when the thread was first seen; `wall_ns` is the time since then, so off-CPU time is
 * wall_ns - on_cpu_ns. */
struct nt_sched_counts {
	__u64 wall_ns;
	__u64 on_cpu_ns;
	__u64 runq_ns;
	__u64 off_involuntary_ns; /* the waits that followed a preemption */
	__u64 voluntary_switches;
	__u64 involuntary_switches;
	__u64 migrations;
	__u64 runq_hist[NT_CPU_HIST_SLOTS]; /* waits, as each thread next leaves its CPU */
};

/* A live thread as iter/task reports it each interval. */
struct nt_thread_record {
	__u32 tgid;
	__u32 pid;
	__u64 start_ns; /* its group leader's start_boottime */
	__u32 netns;
	__u8 traced; /* the filters' verdict (the cgroup one is taken in the thread's own context) */
	__u8 pad[3];
	char comm[NT_COMM_LEN];        /* the thread's */
	char leader_comm[NT_COMM_LEN]; /* its process's */
	struct nt_sched_counts counts;
};

/* --timeline: one stretch of a traced thread on a CPU, sent as it leaves (bpf_ktime_get_ns, the
 * monotonic clock). The gap to its next stretch is its time off the CPU, for `state`'s reason. */
struct nt_oncpu_slice {
	__u32 tgid;
	__u32 pid;
	__u64 start_ns;
	__u64 end_ns;
	__u32 cpu;
	__u16 state;    /* its task state as it left: 0 runnable, 1 sleeping, 2 uninterruptible, ... */
	__u8 preempted; /* it left runnable: preempted, or yielded */
	__u8 dead;      /* its last stretch: the thread exited */
	char comm[NT_COMM_LEN];        /* the thread's */
	char leader_comm[NT_COMM_LEN]; /* its process's */
};

enum nt_cpu_loss {
	NT_CPU_LOSS_MAP_FULL,       /* a process's exited threads found no entry: their counts lost */
	NT_CPU_LOSS_STORAGE_FAILED, /* a thread got no task storage: its waits not in the histogram */
	NT_CPU_LOSS_SLICE_RINGBUF_FULL, /* --timeline: an on-CPU stretch the ring buffer could not take */
	NT_CPU_LOSS__COUNT,
};

#endif
