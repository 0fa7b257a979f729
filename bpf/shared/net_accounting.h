/* The contract between bpf/net_accounting.bpf.c and the C++ net collector.
 * Fixed-width fields and explicit padding only: C++ pins every size with static_assert. */
#ifndef NEUTRACER_BPF_SHARED_NET_ACCOUNTING_H
#define NEUTRACER_BPF_SHARED_NET_ACCOUNTING_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define NT_COMM_LEN 16

/* Bumped whenever a struct below changes; the loader checks it after load. */
#define NT_NET_ABI_VERSION 1

/* A process is its thread group leader's pid plus its start time (pids wrap), seen in one
 * network namespace (tracepoints see every namespace, and the same pid can use several). */
struct nt_proc_key {
	__u32 tgid;
	__u32 netns;
	__u64 start_ns; /* group leader's start_boottime, ns since boot */
};

/* Cumulative since the program was loaded; only user space deletes an entry, after the
 * process has exited and its final value has been read. */
struct nt_proc_stats {
	__u64 tx_bytes;
	__u64 rx_bytes;
	__u64 tx_calls;
	__u64 rx_calls;
	char comm[NT_COMM_LEN]; /* the group leader's comm when the entry was created */
};

/* Who owns a socket, kept in BPF socket storage so that hooks running outside the owner's
 * context (softirq, timers) can attribute without trusting `current`. */
enum nt_stamp_origin {
	NT_STAMP_CREATE = 1,  /* cgroup sock_create */
	NT_STAMP_CONNECT = 2, /* cgroup connect4/6 */
	NT_STAMP_LISTEN = 3,  /* sock_ops TCP_LISTEN */
	NT_STAMP_IO = 4,      /* a send or receive by a process other than the stamped one */
};

struct nt_sock_owner {
	__u32 tgid;
	__u32 tid;
	__u64 start_ns;
	__u32 netns;
	__u32 origin; /* enum nt_stamp_origin; an accepted socket carries its listener's */
	char comm[NT_COMM_LEN];
};

/* Every way the kernel side can lose data, one per-CPU counter each. Names live in
 * src/collectors/net/loss_names.h, which feeds every renderer. */
enum nt_loss {
	NT_LOSS_PROC_MAP_FULL = 0,   /* a process's bytes could not get a table entry */
	NT_LOSS_PROC_BYTES_NOT_HELD, /* the bytes those misses carried */
	NT_LOSS_SOCK_STAMP_FAILED,   /* socket storage could not be created */
	NT_LOSS_FILTER_MAP_FULL,     /* a child of a followed process could not be added */
	NT_LOSS__COUNT,
};

#endif
