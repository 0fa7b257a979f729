/* The contract between bpf/net_accounting.bpf.c and the C++ net collector.
 * Fixed-width fields and explicit padding only: C++ pins every size with static_assert. */
#ifndef NEUTRACER_BPF_SHARED_NET_ACCOUNTING_H
#define NEUTRACER_BPF_SHARED_NET_ACCOUNTING_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define NT_COMM_LEN 16

/* Bumped whenever a struct below changes; the loader checks it after load. */
#define NT_NET_ABI_VERSION 6

/* A process is its thread group leader's pid plus its start time (pids wrap), seen in one
 * network namespace (tracepoints see every namespace, and the same pid can use several). */
struct nt_proc_key {
	__u32 tgid;
	__u32 netns;
	__u64 start_ns; /* group leader's start_boottime, ns since boot */
};

/* Who owns a socket, kept in BPF socket storage so that hooks running outside the owner's
 * context (softirq, timers) can attribute without trusting `current`. */
enum nt_stamp_origin {
	NT_STAMP_CREATE = 1,  /* cgroup sock_create */
	NT_STAMP_CONNECT = 2, /* cgroup connect4/6 */
	NT_STAMP_LISTEN = 3,  /* sock_ops TCP_LISTEN */
	NT_STAMP_IO = 4,      /* a send or receive by a process other than the stamped one */
	NT_STAMP_ITER = 5,    /* found established by the iterator at start */
};

/* The two ends of a socket, as the flow key and the records carry them. */
struct nt_endpoints {
	__u8 protocol;
	__u8 family; /* AF_INET or AF_INET6 (v4-mapped addresses stay AF_INET6 here) */
	__u16 sport; /* host order */
	__u16 dport; /* host order; for unconnected UDP the datagram's peer */
	__u16 pad;
	__u8 saddr[16];
	__u8 daddr[16];
};

enum nt_verdict {
	NT_VERDICT_UNKNOWN = 0, /* the owner's filters have not been evaluated on this socket */
	NT_VERDICT_TRACED = 1,
	NT_VERDICT_IGNORED = 2,
};

/* The socket is the unit of counting: a call adds to its socket's counters, the only writes in
 * the common case. User space reads live sockets with a BPF iterator each interval; when a socket
 * is released or changes owner, its counters leave once, as an nt_sock_record on a ring buffer
 * (a "segment"), and start again from zero. The first cache line holds what a call touches. */
struct nt_sock_owner {
	__u32 tgid;
	__u32 generation; /* odd while a segment is being cut: readers skip the socket then */
	__u64 tx_bytes;   /* this owner's, since the current segment began */
	__u64 rx_bytes;
	__u64 tx_calls;
	__u64 rx_calls;
	__u8 verdict;     /* enum nt_verdict, for `tgid` on this socket */
	__u8 per_peer;    /* unconnected datagram socket: flows come from the per-peer table */
	__u8 released;    /* the last descriptor closed; counters have left in a final segment */
	__u8 origin;      /* enum nt_stamp_origin; an accepted socket carries its listener's */
	__u32 tid;
	__u64 start_ns;
	__u32 netns;
	__u32 srtt_us;    /* TCP: at the last slow-path call or at close */
	char comm[NT_COMM_LEN];
	struct nt_endpoints ends; /* as of the last slow-path call */
	/* What earlier segments counted, for the reconciliation at TCP close. */
	__u64 folded_tx_bytes;
	__u64 folded_rx_bytes;
	/* The peer of the last unconnected datagram (cgroup sendmsg/recvmsg hooks), network order. */
	__u8 peer_addr[16];
	__u16 peer_port;
	__u16 peer_family; /* AF_INET, AF_INET6, 0 when none */
	__u8 active_open;  /* connect() was called: its SYN counts in bytes_acked */
	__u8 announced;    /* an open record was sent (or the iterator found it established) */
	__u8 preexisting;  /* established before the agent started */
	__u8 pad1;
	/* TCP health, for the connection's close record. */
	__u64 open_ns; /* CLOCK_MONOTONIC at ESTABLISHED; 0 when pre-existing */
	__u32 retransmits;
	__u32 resets_sent;
	__u32 resets_received;
	__u32 rcvqueue_full;
	__u16 local_port; /* kept: the kernel clears the socket's own before the close tracepoint */
	__u16 pad2;
	__u32 pad3;
};

/* One socket's counters for one owner: live (from the iterator, `final` 0) or a segment cut at
 * release or at an owner change (from the ring buffer). (cookie, generation) names a segment. */
struct nt_sock_record {
	__u64 cookie;
	__u64 start_ns; /* owner's */
	__u64 tx_bytes;
	__u64 rx_bytes;
	__u64 tx_calls;
	__u64 rx_calls;
	__u32 tgid;
	__u32 netns;
	__u32 generation;
	__u32 srtt_us;
	__u32 retransmits;
	__u32 spurious_retransmits; /* TCP segments the receiver reported twice (DSACK): not lost */
	__u32 pad2;
	__u8 per_peer; /* no flow of its own: the per-peer table has them */
	__u8 final;    /* the socket was released: no more segments */
	__u16 pad;
	struct nt_endpoints ends;
	char comm[NT_COMM_LEN];
};

/* A flow of an unconnected datagram socket: one process's traffic with one peer in one namespace.
 * Connected sockets are their own flow (nt_sock_record). */
struct nt_flow_key {
	__u32 tgid;
	__u32 netns;
	__u64 start_ns;
	struct nt_endpoints ends;
};

struct nt_flow_stats {
	__u64 tx_bytes;
	__u64 rx_bytes;
	__u64 tx_calls;
	__u64 rx_calls;
	__u32 srtt_us;     /* TCP: smoothed RTT at the last call */
	__u32 retransmits; /* TCP: tcp_retransmit_skb on this flow's socket */
	__u64 pad;         /* idleness is judged in user space: no clock read per call here */
};

enum nt_conn_event_type {
	NT_CONN_OPEN = 1,
	NT_CONN_CLOSE = 2,
};

/* tcplife-style lifecycle, one per socket end, owners from the stamp. */
struct nt_conn_event {
	__u64 ts_ns;
	__u64 start_ns; /* owner's */
	__u64 open_ns;  /* 0 when pre-existing */
	__u64 tx_bytes; /* close: bytes_acked without SYN/FIN */
	__u64 rx_bytes; /* close: bytes_received without FIN */
	__u32 tgid;
	__u32 netns;
	__u32 srtt_us;
	__u32 retransmits; /* close: tcp_sock total_retrans */
	__u32 delivered;
	__u32 lost;
	__u32 resets_sent;
	__u32 resets_received;
	__u32 rcvqueue_full;
	__u8 type;   /* enum nt_conn_event_type */
	__u8 active; /* we connected (1) or accepted (0) */
	__u8 family;
	__u8 preexisting;
	__u16 sport;
	__u16 dport;
	__u32 pad;
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[NT_COMM_LEN];
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
	NT_LOSS_SEGMENT_RINGBUF_FULL = 0, /* a socket segment the ring buffer could not take */
	NT_LOSS_PROC_BYTES_NOT_HELD, /* bytes lost with those segments or on sockets without storage */
	NT_LOSS_SOCK_STAMP_FAILED,   /* socket storage could not be created */
	NT_LOSS_FILTER_MAP_FULL,     /* a child of a followed process could not be added */
	NT_LOSS_RINGBUF_FULL,        /* an event the ring buffer could not take */
	NT_LOSS_UNSEEN_MAP_FULL,     /* a closing socket's unseen bytes found no table entry */
	NT_LOSS_DEVICE_MAP_FULL,     /* packet mode: a device found no table entry */
	NT_LOSS_PACKET_OWNER_MAP_FULL, /* packet mode: an owner found no table entry */
	NT_LOSS_PACKET_RINGBUF_FULL, /* packet mode: a packet event the ring buffer could not take */
	NT_LOSS_FLOW_MAP_FULL,       /* an unconnected socket's call whose flow found no table entry */
	NT_LOSS_FLOW_BYTES_NOT_HELD, /* the bytes those calls carried (process totals still have them) */
	NT_LOSS_CONN_RINGBUF_FULL,   /* a connection open/close record the ring buffer could not take */
	NT_LOSS__COUNT,
};

/* The send rhythm of watched processes (a distributed job's ranks): bytes sent per 2 ms bin, in a
 * ring of 1024 bins (about 2 s, so a reader that comes once a second sees every bin). A slot holds
 * the bin it counts for; a send into a slot still holding an older bin starts it again. User space
 * adds a process (a zeroed entry) to watch it and removes it when it exits. */
#define NT_RHYTHM_BIN_NS 2000000ULL
#define NT_RHYTHM_SLOTS 1024
struct nt_rhythm {
	__u64 bin[NT_RHYTHM_SLOTS];   /* ktime_ns / NT_RHYTHM_BIN_NS of what the slot counts */
	__u64 bytes[NT_RHYTHM_SLOTS]; /* sent */
	__u64 rx_bytes[NT_RHYTHM_SLOTS];
};

#endif
