/* The contract between bpf/net_accounting.bpf.c and the C++ net collector.
 * Fixed-width fields and explicit padding only: C++ pins every size with static_assert. */
#ifndef NEUTRACER_BPF_SHARED_NET_ACCOUNTING_H
#define NEUTRACER_BPF_SHARED_NET_ACCOUNTING_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define NT_COMM_LEN 16

/* Bumped whenever a struct below changes; the loader checks it after load. */
#define NT_NET_ABI_VERSION 2

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
	/* What the socket layer hooks saw on this socket, for the reconciliation at TCP close. */
	__u64 seen_tx_bytes;
	__u64 seen_rx_bytes;
	/* The peer of the last unconnected datagram (cgroup sendmsg/recvmsg hooks), network order. */
	__u8 peer_addr[16];
	__u16 peer_port;
	__u16 peer_family; /* AF_INET, AF_INET6, 0 when none */
	__u8 active_open;  /* connect() was called: its SYN counts in bytes_acked */
	__u8 pad[3];
};

/* One socket-level send or receive, streamed by `trace` (emit_events). */
enum nt_direction {
	NT_DIR_TX = 0,
	NT_DIR_RX = 1,
};

struct nt_net_event {
	__u64 ts_ns; /* CLOCK_MONOTONIC */
	__u32 tgid;
	__u32 tid;
	__u32 netns;
	__u32 bytes;
	__u8 family; /* AF_INET or AF_INET6 */
	__u8 protocol;
	__u8 direction; /* enum nt_direction */
	__u8 pad;
	__u16 sport; /* host order */
	__u16 dport; /* host order */
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[NT_COMM_LEN];
	__u64 start_ns;
};

/* Bytes a TCP socket counted itself (bytes_acked / bytes_received) but no socket-layer hook saw
 * (splice reads, zero-copy receive): summed per owner when the socket closes. */
struct nt_unseen {
	__u64 tx_bytes;
	__u64 rx_bytes;
	__u64 sockets; /* sockets that closed with a difference */
	char comm[NT_COMM_LEN];
};

/* Every way the kernel side can lose data, one per-CPU counter each. Names live in
 * src/collectors/net/loss_names.h, which feeds every renderer. */
enum nt_loss {
	NT_LOSS_PROC_MAP_FULL = 0,   /* a process's bytes could not get a table entry */
	NT_LOSS_PROC_BYTES_NOT_HELD, /* the bytes those misses carried */
	NT_LOSS_SOCK_STAMP_FAILED,   /* socket storage could not be created */
	NT_LOSS_FILTER_MAP_FULL,     /* a child of a followed process could not be added */
	NT_LOSS_RINGBUF_FULL,        /* an event the ring buffer could not take */
	NT_LOSS_UNSEEN_MAP_FULL,     /* a closing socket's unseen bytes found no table entry */
	NT_LOSS_DEVICE_MAP_FULL,     /* packet mode: a device found no table entry */
	NT_LOSS_PACKET_OWNER_MAP_FULL, /* packet mode: an owner found no table entry */
	NT_LOSS_PACKET_RINGBUF_FULL, /* packet mode: a packet event the ring buffer could not take */
	NT_LOSS__COUNT,
};

#endif
