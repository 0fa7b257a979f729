/* The contract between bpf/syscalls.bpf.c and the C++ syscall collector.
 * Fixed-width fields and explicit padding only: C++ pins every size with static_assert. */
#ifndef NEUTRACER_BPF_SHARED_SYSCALLS_H
#define NEUTRACER_BPF_SHARED_SYSCALLS_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "net_accounting.h" /* struct nt_proc_key, NT_COMM_LEN */

/* log2 buckets of microseconds: slot i holds [2^i, 2^(i+1)) us, slot 0 also < 1 us. */
#define NT_SC_HIST_SLOTS 27
/* The argument words a slow call's event carries. */
#define NT_SC_ARGS 3
/* Syscalls after which a thread's owner and filter verdict are looked up again: exec (new comm),
 * setns and unshare (new network namespace). Numbers set by the loader, 0xffffffff when unused. */
#define NT_SC_REFRESH 4

/* One process's calls of one syscall. */
struct nt_sc_key {
	struct nt_proc_key owner;
	__u32 nr;
	__u32 pad;
};

/* Per CPU (a per-CPU hash: exits on different CPUs never share a line). Cumulative. */
struct nt_sc_counts {
	__u64 calls;    /* calls that returned */
	__u64 errors;   /* of those, returning -4095..-1 (an errno, as strace counts errors) */
	__u64 total_ns; /* entry to exit, summed */
	__u64 hist[NT_SC_HIST_SLOTS];
	char comm[NT_COMM_LEN]; /* the owner's group leader's, when this CPU's entry was created */
};

/* One process's failures of one syscall with one errno. */
struct nt_sc_errno_key {
	struct nt_proc_key owner;
	__u32 nr;
	__u32 err; /* positive: ENOENT is 2 */
};

/* A call that took at least the loader's threshold, sent as it returns. */
struct nt_sc_slow_call {
	__u64 exit_ns;    /* bpf_ktime_get_ns at the return */
	__u64 latency_ns;
	struct nt_proc_key owner;
	__u32 tid;
	__u32 nr;
	__s64 ret;
	__u64 args[NT_SC_ARGS];
	char comm[NT_COMM_LEN]; /* the thread's */
};

enum nt_sc_loss {
	NT_SC_LOSS_COUNTER_MAP_FULL, /* a call found no counter entry and none could be made: not counted */
	NT_SC_LOSS_ERRNO_MAP_FULL,   /* a failure counted, but its errno not */
	NT_SC_LOSS_THREAD_MAP_FULL,  /* a thread could not be followed: its calls not counted */
	NT_SC_LOSS_RINGBUF_FULL,     /* a slow call counted, but its event not sent */
	NT_SC_LOSS__COUNT,
};

#endif
