// SPDX-License-Identifier: GPL-2.0
/* Exact per-process network bytes, counted where the process itself is in the kernel.
 *
 * sock:sock_send_length / sock:sock_recv_length fire in the caller of sock_sendmsg /
 * sock_recvmsg after the I/O, so `current` is the process that moved the bytes. Packet-level
 * hooks (softirq) must never use `current`; for them every socket carries its owner in socket
 * storage, stamped as early as possible in process context: at creation, connect and listen,
 * inherited by accepted sockets (BPF_F_CLONE) and refined by the first send/receive of a
 * different process (pre-fork servers hand sockets to workers).
 *
 * A call adds to its socket's own counters (socket storage, no hash lookup): that is all the
 * common case does. User space reads live sockets with a BPF iterator (dump_sockets); a socket's
 * counters leave it once, as a segment on a ring buffer, when it is released or changes owner.
 * Only unconnected datagram sockets, whose peer changes per call, also count per peer in a hash.
 *
 * The same hooks stream one event per call for `trace` (emit_events), and each TCP socket is
 * reconciled at close against its own byte counters, so that paths these hooks cannot see
 * (splice reads, zero-copy receive) show up as unseen bytes instead of vanishing. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "net_common.bpf.h"
#include "process_filter.bpf.h"

#define AF_INET 2
#define AF_INET6 10
#define MSG_PEEK 2
#define TCP_ESTABLISHED 1
#define TCP_SYN_SENT 2
#define TCP_SYN_RECV 3
#define TCP_CLOSE 7
#define RCV_SHUTDOWN 1
#define CONN_RING_SIZE (256 * 1024)
#define SEGMENT_RING_SIZE (4 * 1024 * 1024) /* bursts of closing sockets: 32k segments */
#define SEND_SHUTDOWN 2
#define E2BIG 7

char LICENSE[] SEC("license") = "GPL";

/* Set between open and load (the process filter's in process_filter.bpf.h). */
const volatile bool emit_events = false;   /* stream nt_net_event for `trace` */
const volatile __u64 events_ring_size = 4096; /* the size the loader gave `events` */
const volatile __u32 abi_version = NT_NET_ABI_VERSION;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct nt_proc_key);
	__type(value, struct nt_unseen);
} unseen_bytes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096); /* resized by the loader (trace --ringbuf-kb) */
} events SEC(".maps");

/* Unconnected datagram sockets' flows, one per peer. A plain hash, not an LRU: an LRU would evict
 * silently, a full hash fails inserts, which are counted. User space removes idle flows. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536); /* resized by the loader (--max-flows) */
	__type(key, struct nt_flow_key);
	__type(value, struct nt_flow_stats);
} flows SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, CONN_RING_SIZE);
} conn_events SEC(".maps");

/* Watched processes' send rhythm (struct nt_rhythm). Entries are added by user space only, so the
 * table needs no preallocation: a host with no job pays nothing but the check below. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct nt_rhythm);
} rhythm SEC(".maps");

/* How many processes `rhythm` holds, set by user space: while 0 the send path does not look. */
__u32 rhythm_watched = 0;

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SEGMENT_RING_SIZE);
} sock_segments SEC(".maps");

/* The kernel-side filter, as every object applies it, with the socket's namespace. */
static __always_inline bool is_traced(__u32 tgid, struct task_struct *leader, __u32 netns)
{
	if (process_filter.netns && netns != process_filter.netns)
		return false;
	return filter_passes_current(tgid, leader->comm);
}

/* tp_btf arguments and bpf_get_current_task_btf() are trusted BTF pointers: plain loads
 * (CO-RE relocated through vmlinux.h's preserve_access_index) instead of probe-read helpers,
 * which is most of this program's cost per event. */
static __always_inline __u32 sock_netns(const struct sock *sk)
{
	return sk->__sk_common.skc_net.net->ns.inum;
}

/* The socket's two ends. An unconnected datagram socket has no peer of its own: the datagram's,
 * as the cgroup sendmsg/recvmsg hook saw it, stands in. */
static __always_inline void endpoints_of(struct nt_endpoints *ends, const struct sock *sk,
					 const struct nt_sock_owner *owner)
{
	const struct sock_common *common = &sk->__sk_common;

	ends->protocol = sk->sk_protocol;
	ends->family = common->skc_family;
	ends->sport = common->skc_num;
	ends->dport = bpf_ntohs(common->skc_dport);
	if (ends->family == AF_INET) {
		__builtin_memcpy(ends->saddr, &common->skc_rcv_saddr, 4);
		__builtin_memcpy(ends->daddr, &common->skc_daddr, 4);
	} else {
		bpf_probe_read_kernel(ends->saddr, 16, &common->skc_v6_rcv_saddr);
		bpf_probe_read_kernel(ends->daddr, 16, &common->skc_v6_daddr);
	}
	if (!ends->sport)
		ends->sport = owner->local_port;
	if (!ends->dport && owner->peer_family) {
		ends->dport = bpf_ntohs(owner->peer_port);
		__builtin_memcpy(ends->daddr, owner->peer_addr, 16);
	}
}

static __always_inline bool same_endpoints(const struct nt_endpoints *a, const struct nt_endpoints *b)
{
	__u64 x[4], y[4];

	if (a->protocol != b->protocol || a->family != b->family || a->sport != b->sport || a->dport != b->dport)
		return false;
	__builtin_memcpy(x, a->saddr, 32);
	__builtin_memcpy(y, b->saddr, 32);
	return x[0] == y[0] && x[1] == y[1] && x[2] == y[2] && x[3] == y[3];
}

static __always_inline void describe(struct nt_sock_record *r, __u64 cookie, const struct nt_sock_owner *owner)
{
	r->cookie = cookie;
	r->start_ns = owner->start_ns;
	r->tgid = owner->tgid;
	r->netns = owner->netns;
	r->srtt_us = owner->srtt_us;
	r->retransmits = owner->retransmits;
	r->spurious_retransmits = 0; /* read live only; user space keeps the largest seen */
	r->pad2 = 0;
	r->per_peer = owner->per_peer;
	r->pad = 0;
	__builtin_memcpy(&r->ends, &owner->ends, sizeof(r->ends));
	__builtin_memcpy(r->comm, owner->comm, sizeof(r->comm));
}

/* Hands the socket's counters over to user space as one segment and starts the next from zero:
 * at release (final) and before the socket changes owner. The generation is odd meanwhile, so
 * that the iterator does not read half a cut; (cookie, generation) names the segment, so that
 * user space counts a socket it read live and then as a segment once. */
static __always_inline void cut_segment(struct nt_sock_owner *owner, __u64 cookie, bool final)
{
	struct nt_sock_record *r;
	__u64 tx_bytes, rx_bytes, tx_calls, rx_calls;
	__u32 generation;

	if (final)
		owner->released = 1;
	if (!owner->tx_calls && !owner->rx_calls)
		return;
	generation = __sync_fetch_and_add(&owner->generation, 1);
	tx_bytes = __sync_lock_test_and_set(&owner->tx_bytes, 0);
	rx_bytes = __sync_lock_test_and_set(&owner->rx_bytes, 0);
	tx_calls = __sync_lock_test_and_set(&owner->tx_calls, 0);
	rx_calls = __sync_lock_test_and_set(&owner->rx_calls, 0);
	owner->folded_tx_bytes += tx_bytes;
	owner->folded_rx_bytes += rx_bytes;
	r = bpf_ringbuf_reserve(&sock_segments, sizeof(*r), 0);
	if (r) {
		describe(r, cookie, owner);
		r->generation = generation;
		r->final = final;
		r->tx_bytes = tx_bytes;
		r->rx_bytes = rx_bytes;
		r->tx_calls = tx_calls;
		r->rx_calls = rx_calls;
		submit_batched(&sock_segments, r, SEGMENT_RING_SIZE);
	} else {
		count_loss(NT_LOSS_SEGMENT_RINGBUF_FULL, 1);
		count_loss(NT_LOSS_PROC_BYTES_NOT_HELD, tx_bytes + rx_bytes);
	}
	__sync_fetch_and_add(&owner->generation, 1);
}

/* The owner stamp, refined from process context: the first I/O fills in what cgroup hooks
 * cannot read, and I/O by a different process takes the socket over (its counters so far stay
 * with the previous owner). */
static __always_inline struct nt_sock_owner *stamp_from_io(struct sock *sk, __u32 tgid, __u32 tid,
							   struct task_struct *leader, __u32 netns)
{
	struct nt_sock_owner *owner;

	owner = bpf_sk_storage_get(&sock_owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!owner) {
		count_loss(NT_LOSS_SOCK_STAMP_FAILED, 1);
		return NULL;
	}
	if (!owner->local_port)
		owner->local_port = sk->__sk_common.skc_num;
	if (owner->tgid == tgid) {
		if (!owner->start_ns) { /* stamped by a cgroup hook: complete it */
			owner->start_ns = leader->start_boottime;
			owner->netns = netns;
			bpf_probe_read_kernel(owner->comm, sizeof(owner->comm), leader->comm);
		}
		return owner;
	}
	cut_segment(owner, bpf_get_socket_cookie(sk), false);
	owner->tgid = tgid;
	owner->tid = tid;
	owner->start_ns = leader->start_boottime;
	owner->netns = netns;
	owner->origin = NT_STAMP_IO;
	owner->verdict = NT_VERDICT_UNKNOWN;
	bpf_probe_read_kernel(owner->comm, sizeof(owner->comm), leader->comm);
	return owner;
}

static __always_inline void add_to_rhythm(__u32 tgid, int ret, bool is_tx)
{
	struct nt_rhythm *r = bpf_map_lookup_elem(&rhythm, &tgid);
	__u64 bin;
	__u32 slot;

	if (!r)
		return;
	bin = bpf_ktime_get_ns() / NT_RHYTHM_BIN_NS;
	slot = bin & (NT_RHYTHM_SLOTS - 1);
	/* Two CPUs starting one slot at once may lose a send's bytes to the reset: the rhythm is an
	 * estimate's input, never a total. */
	if (r->bin[slot] != bin) {
		r->bin[slot] = bin;
		r->bytes[slot] = 0;
		r->rx_bytes[slot] = 0;
	}
	if (is_tx)
		__sync_fetch_and_add(&r->bytes[slot], ret);
	else
		__sync_fetch_and_add(&r->rx_bytes[slot], ret);
}

static __always_inline void count_on_socket(struct nt_sock_owner *owner, int ret, bool is_tx)
{
	if (is_tx) {
		__sync_fetch_and_add(&owner->tx_bytes, ret);
		__sync_fetch_and_add(&owner->tx_calls, 1);
	} else {
		__sync_fetch_and_add(&owner->rx_bytes, ret);
		__sync_fetch_and_add(&owner->rx_calls, 1);
	}
	if (rhythm_watched)
		add_to_rhythm(owner->tgid, ret, is_tx);
}

/* An unconnected datagram socket's call, counted per peer. */
static __always_inline void add_to_peer_flow(const struct nt_sock_owner *owner, const struct nt_endpoints *ends,
					     int ret, bool is_tx)
{
	struct nt_flow_stats *flow, fresh = {};
	struct nt_flow_key fk = {};

	fk.tgid = owner->tgid;
	fk.netns = owner->netns;
	fk.start_ns = owner->start_ns;
	__builtin_memcpy(&fk.ends, ends, sizeof(fk.ends));
	flow = lookup_or_create(&flows, &fk, &fresh);
	if (!flow) {
		count_loss(NT_LOSS_FLOW_MAP_FULL, 1);
		count_loss(NT_LOSS_FLOW_BYTES_NOT_HELD, ret);
		return;
	}
	if (is_tx) {
		__sync_fetch_and_add(&flow->tx_bytes, ret);
		__sync_fetch_and_add(&flow->tx_calls, 1);
	} else {
		__sync_fetch_and_add(&flow->rx_bytes, ret);
		__sync_fetch_and_add(&flow->rx_calls, 1);
	}
}

static __always_inline void emit_event(const struct nt_sock_owner *owner, const struct nt_endpoints *ends, __u32 tid,
				       int ret, bool is_tx)
{
	struct nt_net_event *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);

	if (!event) {
		count_loss(NT_LOSS_RINGBUF_FULL, 1);
		return;
	}
	event->ts_ns = bpf_ktime_get_ns();
	event->tgid = owner->tgid;
	event->tid = tid;
	event->netns = owner->netns;
	event->start_ns = owner->start_ns;
	event->bytes = ret;
	event->family = ends->family;
	event->protocol = ends->protocol;
	event->direction = is_tx ? NT_DIR_TX : NT_DIR_RX;
	event->pad = 0;
	event->sport = ends->sport;
	event->dport = ends->dport;
	__builtin_memcpy(event->saddr, ends->saddr, 16);
	__builtin_memcpy(event->daddr, ends->daddr, 16);
	__builtin_memcpy(event->comm, owner->comm, sizeof(event->comm));
	submit_batched(&events, event, events_ring_size);
}

/* Everything but the common case: a socket's first call by a process, a new owner, an unconnected
 * datagram socket, a reconnected one, and every call when events stream. */
static __always_inline int account_slow(struct sock *sk, int ret, bool is_tx)
{
	struct nt_sock_owner *owner;
	struct nt_endpoints ends = {};
	struct task_struct *leader;
	struct tcp_sock *tp;
	__u64 pid_tgid;
	__u32 tgid, netns;
	__u16 family;
	bool traced, per_peer;

	family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	tgid = pid_tgid >> 32;
	leader = bpf_get_current_task_btf()->group_leader;
	netns = sock_netns(sk);
	traced = is_traced(tgid, leader, netns);
	owner = stamp_from_io(sk, tgid, (__u32)pid_tgid, leader, netns);
	if (!owner) {
		if (traced)
			count_loss(NT_LOSS_PROC_BYTES_NOT_HELD, ret);
		return 0;
	}
	owner->verdict = traced ? NT_VERDICT_TRACED : NT_VERDICT_IGNORED;
	if (!traced)
		return 0;
	per_peer = sk->sk_protocol == IPPROTO_UDP && sk->__sk_common.skc_state != TCP_ESTABLISHED;
	endpoints_of(&ends, sk, owner);
	if (owner->per_peer != per_peer || (!per_peer && !same_endpoints(&ends, &owner->ends)))
		cut_segment(owner, bpf_get_socket_cookie(sk), false); /* (re)connected: a new flow */
	owner->per_peer = per_peer;
	__builtin_memcpy(&owner->ends, &ends, sizeof(ends));
	if (sk->sk_protocol == IPPROTO_TCP) {
		tp = bpf_skc_to_tcp_sock(sk);
		if (tp)
			owner->srtt_us = tp->srtt_us >> 3;
	}
	count_on_socket(owner, ret, is_tx);
	if (per_peer)
		add_to_peer_flow(owner, &ends, ret, is_tx);
	if (emit_events)
		emit_event(owner, &ends, (__u32)pid_tgid, ret, is_tx);
	return 0;
}

static __always_inline int account(struct sock *sk, int ret, int flags, bool is_tx)
{
	struct nt_sock_owner *owner;
	__u32 tgid;

	if (ret <= 0 || (!is_tx && (flags & MSG_PEEK)))
		return 0;
	tgid = bpf_get_current_pid_tgid() >> 32;
	owner = bpf_sk_storage_get(&sock_owners, sk, 0, 0);
	/* The common case: the socket's owner calls again and its filters were evaluated already.
	 * A verdict is kept per socket and owner: a process's pid, name, namespace and cgroup do not
	 * change between its calls on one socket (a later rename or cgroup move is not seen). */
	if (owner && owner->tgid == tgid && owner->verdict && !owner->per_peer && !emit_events) {
		if (owner->verdict == NT_VERDICT_TRACED)
			count_on_socket(owner, ret, is_tx);
		return 0;
	}
	return account_slow(sk, ret, is_tx);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(count_send, struct sock *sk, int ret, int flags)
{
	return account(sk, ret, flags, true);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(count_recv, struct sock *sk, int ret, int flags)
{
	return account(sk, ret, flags, false);
}

/* Kernels before 6.3 have no sock:sock_send_length / sock_recv_length. The same calls pass through
 * the inet protocol family's sendmsg and recvmsg (what sock_sendmsg and sock_recvmsg call for every
 * AF_INET and AF_INET6 socket), in the caller's context, with the same return value. */
SEC("fexit/inet_sendmsg")
int BPF_PROG(count_send_inet, struct socket *sock, struct msghdr *msg, size_t size, int ret)
{
	return account(sock->sk, ret, 0, true);
}

SEC("fexit/inet6_sendmsg")
int BPF_PROG(count_send_inet6, struct socket *sock, struct msghdr *msg, size_t size, int ret)
{
	return account(sock->sk, ret, 0, true);
}

SEC("fexit/inet_recvmsg")
int BPF_PROG(count_recv_inet, struct socket *sock, struct msghdr *msg, size_t size, int flags, int ret)
{
	return account(sock->sk, ret, flags, false);
}

SEC("fexit/inet6_recvmsg")
int BPF_PROG(count_recv_inet6, struct socket *sock, struct msghdr *msg, size_t size, int flags, int ret)
{
	return account(sock->sk, ret, flags, false);
}

/* The last descriptor of a socket closed: its counters leave in a final segment. Runs in the
 * closing process's context, after the last call that could count on the socket. */
SEC("cgroup/sock_release")
int fold_on_release(struct bpf_sock *sk)
{
	struct nt_sock_owner *owner = bpf_sk_storage_get(&sock_owners, sk, 0, 0);

	if (owner && !owner->released)
		cut_segment(owner, bpf_get_socket_cookie(sk), true);
	return 1;
}

/* One live socket with traffic as an nt_sock_record, for user space's interval read. */
static __always_inline void write_live_socket(struct seq_file *seq, struct sock *sk, struct nt_sock_owner *owner)
{
	struct nt_sock_record r = {};
	struct tcp_sock *tp;
	__u32 generation;

	if (owner->released || (!owner->tx_calls && !owner->rx_calls))
		return;
	generation = owner->generation;
	if (generation & 1)
		return; /* a segment is being cut: it arrives on the ring */
	describe(&r, bpf_get_socket_cookie(sk), owner);
	r.generation = generation;
	r.tx_bytes = owner->tx_bytes;
	r.rx_bytes = owner->rx_bytes;
	r.tx_calls = owner->tx_calls;
	r.rx_calls = owner->rx_calls;
	if (r.ends.protocol == IPPROTO_TCP) {
		tp = bpf_skc_to_tcp_sock(sk);
		if (tp) {
			r.srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
			r.spurious_retransmits = BPF_CORE_READ(tp, dsack_dups);
		}
	}
	if (owner->generation != generation)
		return;
	bpf_seq_write(seq, &r, sizeof(r));
}

/* A live socket's record, if it has an owner. Inlined into each iterator, so that the verifier
 * sees the socket as the iterator gave it (trusted or not). */
static __always_inline void write_if_owned(struct seq_file *seq, struct sock *sk)
{
	struct nt_sock_owner *owner = bpf_sk_storage_get(&sock_owners, sk, 0, 0);

	if (owner)
		write_live_socket(seq, sk, owner);
}

/* Live sockets, walked in the owner map itself: each socket once, every namespace. */
SEC("iter/bpf_sk_storage_map")
int dump_sockets(struct bpf_iter__bpf_sk_storage_map *ctx)
{
	struct nt_sock_owner *owner = ctx->value;
	struct sock *sk = ctx->sk;

	if (sk && owner)
		write_live_socket(ctx->meta->seq, sk, owner);
	return 0;
}

/* A full TCP socket, or NULL (request and time-wait sockets carry no storage). */
static __always_inline struct tcp_sock *tcp_sock_of(struct sock_common *common)
{
	if (!common)
		return NULL;
	return bpf_skc_to_tcp_sock(common);
}

/* The same, from the TCP and UDP socket tables of the iterator's network namespace: user space
 * creates these in every namespace that holds sockets. Kernels that refuse the storage iterator and
 * socket storage on sockets found through files accept it on these, whose sockets are trusted. */
SEC("iter/tcp")
int dump_tcp_sockets(struct bpf_iter__tcp *ctx)
{
	struct tcp_sock *tp = tcp_sock_of(ctx->sk_common);

	if (tp)
		write_if_owned(ctx->meta->seq, (struct sock *)tp);
	return 0;
}

SEC("iter/udp")
int dump_udp_sockets(struct bpf_iter__udp *ctx)
{
	struct udp_sock *udp = ctx->udp_sk;

	if (udp)
		write_if_owned(ctx->meta->seq, (struct sock *)udp);
	return 0;
}

/* The socket behind an open file, if the file is one (task_file iterators). */
static __always_inline struct sock *sock_of_file(struct file *file)
{
	struct socket *sock;

	if (!file)
		return NULL;
	sock = bpf_sock_from_file(file);
	return sock ? sock->sk : NULL;
}

/* The same, found through every process's open files, for kernels that allow socket storage on
 * them. A socket held by several processes comes once per holder: user space keeps one reading per
 * cookie. Sockets without a descriptor have been released, and their counters arrived as a final
 * segment. */
SEC("iter/task_file")
int dump_sockets_by_file(struct bpf_iter__task_file *ctx)
{
	struct sock *sk = sock_of_file(ctx->file);

	if (sk)
		write_if_owned(ctx->meta->seq, sk);
	return 0;
}

/* The filters, for hooks outside the owner's context: pid and name from the stamp, namespace from
 * the socket; the cgroup can be checked only in process context, so under --cgroup a connection
 * counts once a call on it passed the filter. */
static __always_inline bool owner_is_traced(const struct sock *sk, const struct nt_sock_owner *owner)
{
	__u32 tgid = owner->tgid;

	if (process_filter.netns && sock_netns(sk) != process_filter.netns)
		return false;
	if (process_filter.by_tgid && !bpf_map_lookup_elem(&traced_tgids, &tgid))
		return false;
	if (process_filter.by_comm && !filter_comm_matches(owner->comm))
		return false;
	if (process_filter.by_cgroup && owner->verdict != NT_VERDICT_TRACED)
		return false;
	return true;
}

static __always_inline void emit_conn(const struct sock *sk, struct nt_sock_owner *owner, __u8 type,
				      __u64 tx_bytes, __u64 rx_bytes)
{
	struct nt_conn_event *event;
	struct nt_endpoints ends = {};
	struct tcp_sock *tp = (struct tcp_sock *)sk;

	if (!owner_is_traced(sk, owner))
		return;
	event = bpf_ringbuf_reserve(&conn_events, sizeof(*event), 0);
	if (!event) {
		count_loss(NT_LOSS_CONN_RINGBUF_FULL, 1);
		return;
	}
	endpoints_of(&ends, sk, owner);
	event->ts_ns = bpf_ktime_get_ns();
	event->start_ns = owner->start_ns;
	event->open_ns = owner->open_ns;
	event->tx_bytes = tx_bytes;
	event->rx_bytes = rx_bytes;
	event->tgid = owner->tgid;
	event->netns = owner->netns ? owner->netns : sock_netns(sk);
	event->srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
	event->retransmits = BPF_CORE_READ(tp, total_retrans);
	event->delivered = BPF_CORE_READ(tp, delivered);
	event->lost = BPF_CORE_READ(tp, lost);
	event->resets_sent = owner->resets_sent;
	event->resets_received = owner->resets_received;
	event->rcvqueue_full = owner->rcvqueue_full;
	event->type = type;
	event->active = owner->active_open;
	event->family = ends.family;
	event->preexisting = owner->preexisting;
	event->sport = ends.sport;
	event->dport = ends.dport;
	event->pad = 0;
	__builtin_memcpy(event->saddr, ends.saddr, 16);
	__builtin_memcpy(event->daddr, ends.daddr, 16);
	__builtin_memcpy(event->comm, owner->comm, sizeof(event->comm));
	submit_batched(&conn_events, event, CONN_RING_SIZE);
}

/* Opens (tcplife: SYN_SENT or SYN_RECV -> ESTABLISHED) and closes (-> CLOSE) of TCP sockets.
 * These run in softirq or a timer as often as not, so the owner comes from the stamp, never
 * `current`. At close, what the socket counted itself minus what the socket hooks saw is unseen. */
SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_tcp_state, const struct sock *sk, const int oldstate, const int newstate)
{
	struct nt_sock_owner *owner;
	struct nt_unseen *unseen, fresh = {};
	struct tcp_sock *tp;
	__u64 acked, received, seen_tx, seen_rx, missing_tx = 0, missing_rx = 0;
	struct nt_proc_key key;

	if (sk->sk_protocol != IPPROTO_TCP)
		return 0;
	if (newstate == TCP_ESTABLISHED && (oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV)) {
		owner = bpf_sk_storage_get(&sock_owners, (struct sock *)sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
		if (!owner) {
			count_loss(NT_LOSS_SOCK_STAMP_FAILED, 1);
			return 0;
		}
		owner->open_ns = bpf_ktime_get_ns();
		owner->local_port = sk->__sk_common.skc_num;
		owner->announced = 1;
		emit_conn(sk, owner, NT_CONN_OPEN, 0, 0);
		return 0;
	}
	if (newstate != TCP_CLOSE)
		return 0;
	owner = bpf_sk_storage_get(&sock_owners, (struct sock *)sk, 0, 0);
	if (!owner || !owner->tgid)
		return 0;
	tp = (struct tcp_sock *)sk;
	acked = BPF_CORE_READ(tp, bytes_acked);
	received = BPF_CORE_READ(tp, bytes_received);
	/* SYN and FIN take one sequence number each, and these counters include them: the peer's
	 * FIN once it arrived (RCV_SHUTDOWN: close() sets it too, but then a FIN came or the data
	 * count is what was read), ours once acknowledged (snd_una reached write_seq, which includes
	 * the FIN), and our SYN when we opened the connection. */
	if ((sk->sk_shutdown & RCV_SHUTDOWN) && received)
		received--;
	if ((sk->sk_shutdown & SEND_SHUTDOWN) && acked && BPF_CORE_READ(tp, snd_una) == BPF_CORE_READ(tp, write_seq))
		acked--;
	if (owner->active_open && acked)
		acked--;
	if (owner->announced) {
		owner->announced = 0; /* one close per open, even if the state machine repeats CLOSE */
		emit_conn(sk, owner, NT_CONN_CLOSE, acked, received);
	}
	owner->srtt_us = BPF_CORE_READ(tp, srtt_us) >> 3;
	seen_tx = owner->folded_tx_bytes + owner->tx_bytes;
	seen_rx = owner->folded_rx_bytes + owner->rx_bytes;
	if (acked > seen_tx)
		missing_tx = acked - seen_tx;
	if (received > seen_rx)
		missing_rx = received - seen_rx;
	/* Counted once: a socket can reach TCP_CLOSE again only after being reused by connect(). */
	owner->folded_tx_bytes += missing_tx;
	owner->folded_rx_bytes += missing_rx;
	if (!missing_tx && !missing_rx)
		return 0;

	key.tgid = owner->tgid;
	key.netns = owner->netns ? owner->netns : sock_netns(sk);
	key.start_ns = owner->start_ns;
	__builtin_memcpy(fresh.comm, owner->comm, sizeof(fresh.comm));
	unseen = lookup_or_create(&unseen_bytes, &key, &fresh);
	if (!unseen) {
		count_loss(NT_LOSS_UNSEEN_MAP_FULL, 1);
		return 0;
	}
	__sync_fetch_and_add(&unseen->tx_bytes, missing_tx);
	__sync_fetch_and_add(&unseen->rx_bytes, missing_rx);
	__sync_fetch_and_add(&unseen->sockets, 1);
	return 0;
}

/* Retransmits, resets and full receive queues: counted on the socket's stamp, since
 * these run from timers and softirq. */
static __always_inline void count_retransmit_on(const struct sock *sk)
{
	struct nt_sock_owner *owner = bpf_sk_storage_get(&sock_owners, (struct sock *)sk, 0, 0);

	if (owner && owner->tgid)
		__sync_fetch_and_add(&owner->retransmits, 1);
}

/* Newer kernels fire this for failed retransmits too, and say so in a third argument. */
SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(count_retransmit, const struct sock *sk, const struct sk_buff *skb, int err)
{
	if (!err)
		count_retransmit_on(sk);
	return 0;
}

/* Older ones (6.12 and before) only for those sent, with two. */
SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(count_retransmit_sent, const struct sock *sk, const struct sk_buff *skb)
{
	count_retransmit_on(sk);
	return 0;
}

/* A reason argument came in 6.10; it is not read, so one program fits both. */
SEC("tp_btf/tcp_send_reset")
int BPF_PROG(count_reset_sent, const struct sock *sk, const struct sk_buff *skb)
{
	struct nt_sock_owner *owner;

	if (!sk)
		return 0;
	owner = bpf_sk_storage_get(&sock_owners, (struct sock *)sk, 0, 0);
	if (owner)
		__sync_fetch_and_add(&owner->resets_sent, 1);
	return 0;
}

SEC("tp_btf/tcp_receive_reset")
int BPF_PROG(count_reset_received, struct sock *sk)
{
	struct nt_sock_owner *owner = bpf_sk_storage_get(&sock_owners, sk, 0, 0);

	if (owner)
		__sync_fetch_and_add(&owner->resets_received, 1);
	return 0;
}

SEC("tp_btf/sock_rcvqueue_full")
int BPF_PROG(count_rcvqueue_full, struct sock *sk, struct sk_buff *skb)
{
	struct nt_sock_owner *owner = bpf_sk_storage_get(&sock_owners, sk, 0, 0);

	if (owner)
		__sync_fetch_and_add(&owner->rcvqueue_full, 1);
	return 0;
}

/* At start: sockets created before the agent get their owner from the first task found holding
 * them, and TCP connections established before it an open record marked pre-existing. */
struct socket_holder {
	__u32 tgid;
	__u32 tid;
	__u64 start_ns;
	char comm[NT_COMM_LEN];
};

static __always_inline void holder_of(struct socket_holder *holder, struct task_struct *task)
{
	struct task_struct *leader = BPF_CORE_READ(task, group_leader);

	holder->tgid = BPF_CORE_READ(task, tgid);
	holder->tid = BPF_CORE_READ(task, pid);
	holder->start_ns = BPF_CORE_READ(leader, start_boottime);
	bpf_probe_read_kernel(holder->comm, sizeof(holder->comm), &leader->comm);
}

static __always_inline void adopt_preexisting(struct sock *sk, const struct socket_holder *holder)
{
	struct nt_sock_owner *owner;
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	if (family != AF_INET && family != AF_INET6)
		return;
	/* Every socket gets its owner (listeners too: what they accept inherits it); established TCP
	 * connections are also announced. */
	owner = bpf_sk_storage_get(&sock_owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!owner) {
		count_loss(NT_LOSS_SOCK_STAMP_FAILED, 1);
		return;
	}
	if (!owner->tgid) {
		owner->tgid = holder->tgid;
		owner->tid = holder->tid;
		owner->start_ns = holder->start_ns;
		owner->netns = BPF_CORE_READ(sk, __sk_common.skc_net.net, ns.inum);
		owner->origin = NT_STAMP_ITER;
		owner->local_port = BPF_CORE_READ(sk, __sk_common.skc_num);
		__builtin_memcpy(owner->comm, holder->comm, sizeof(owner->comm));
	}
	if (owner->announced || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP ||
	    BPF_CORE_READ(sk, __sk_common.skc_state) != TCP_ESTABLISHED)
		return;
	owner->preexisting = 1;
	owner->announced = 1;
	emit_conn(sk, owner, NT_CONN_OPEN, 0, 0);
}

/* In one pass, where the kernel allows socket storage on a socket found through a file. */
SEC("iter/task_file")
int find_preexisting(struct bpf_iter__task_file *ctx)
{
	struct sock *sk = sock_of_file(ctx->file);
	struct task_struct *task = ctx->task;
	struct socket_holder holder;

	if (!task || !sk)
		return 0;
	holder_of(&holder, task);
	adopt_preexisting(sk, &holder);
	return 0;
}

/* In two, where it does not: the holders by socket address first, then the sockets themselves from
 * each namespace's TCP and UDP tables, where the kernel trusts them. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 262144);
	__type(key, __u64);
	__type(value, struct socket_holder);
} socket_holders SEC(".maps");

SEC("iter/task_file")
int note_socket_holders(struct bpf_iter__task_file *ctx)
{
	struct sock *sk = sock_of_file(ctx->file);
	struct task_struct *task = ctx->task;
	struct socket_holder holder;
	__u64 address = (__u64)sk;

	if (!task || !sk)
		return 0;
	holder_of(&holder, task);
	if (bpf_map_update_elem(&socket_holders, &address, &holder, BPF_NOEXIST) == -E2BIG)
		count_loss(NT_LOSS_SOCK_STAMP_FAILED, 1);
	return 0;
}

static __always_inline void adopt_held(struct sock *sk)
{
	__u64 address = (__u64)sk;
	struct socket_holder *holder = bpf_map_lookup_elem(&socket_holders, &address);

	if (holder)
		adopt_preexisting(sk, holder);
}

SEC("iter/tcp")
int find_preexisting_tcp(struct bpf_iter__tcp *ctx)
{
	struct tcp_sock *tp = tcp_sock_of(ctx->sk_common);

	if (tp)
		adopt_held((struct sock *)tp);
	return 0;
}

SEC("iter/udp")
int find_preexisting_udp(struct bpf_iter__udp *ctx)
{
	struct udp_sock *udp = ctx->udp_sk;

	if (udp)
		adopt_held((struct sock *)udp);
	return 0;
}

/* cgroup hooks run in the process's context but cannot read its task_struct: they stamp
 * tgid, tid and the calling thread's comm; start_ns and netns stay 0 until the first I/O. */
static __always_inline struct nt_sock_owner *stamp_from_cgroup_hook(struct bpf_sock *sk, __u32 origin, __u64 cookie)
{
	struct nt_sock_owner *owner;
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	owner = bpf_sk_storage_get(&sock_owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!owner) {
		count_loss(NT_LOSS_SOCK_STAMP_FAILED, 1);
		return NULL;
	}
	if (owner->tgid != pid_tgid >> 32) {
		cut_segment(owner, cookie, false);
		owner->verdict = NT_VERDICT_UNKNOWN;
		owner->tgid = pid_tgid >> 32;
		owner->start_ns = 0;
		owner->netns = 0;
		bpf_get_current_comm(owner->comm, sizeof(owner->comm));
	}
	owner->tid = (__u32)pid_tgid;
	if (origin)
		owner->origin = origin; /* the latest of create, connect, listen */
	return owner;
}

SEC("cgroup/sock_create")
int stamp_on_create(struct bpf_sock *sk)
{
	if (sk->family == AF_INET || sk->family == AF_INET6)
		stamp_from_cgroup_hook(sk, NT_STAMP_CREATE, 0); /* new: nothing counted yet */
	return 1;
}

/* A connect (a datagram socket may connect again, to another peer): the next call re-reads the
 * socket's ends on the slow path. */
static __always_inline void stamp_on_connect(struct bpf_sock_addr *ctx)
{
	struct nt_sock_owner *owner;

	if (!ctx->sk)
		return;
	owner = stamp_from_cgroup_hook(ctx->sk, NT_STAMP_CONNECT, bpf_get_socket_cookie(ctx));
	if (owner) {
		owner->active_open = 1;
		owner->verdict = NT_VERDICT_UNKNOWN;
	}
}

SEC("cgroup/connect4")
int stamp_on_connect4(struct bpf_sock_addr *ctx)
{
	stamp_on_connect(ctx);
	return 1;
}

SEC("cgroup/connect6")
int stamp_on_connect6(struct bpf_sock_addr *ctx)
{
	stamp_on_connect(ctx);
	return 1;
}

SEC("sockops")
int stamp_on_listen(struct bpf_sock_ops *ops)
{
	struct bpf_sock *sk;

	if (ops->op != BPF_SOCK_OPS_TCP_LISTEN_CB)
		return 1;
	sk = ops->sk;
	if (sk)
		stamp_from_cgroup_hook(sk, NT_STAMP_LISTEN, bpf_get_socket_cookie(ops));
	return 1;
}

/* Unconnected datagrams name their peer only in the call: the cgroup sendmsg/recvmsg hooks
 * see it (before sock_send_length / sock_recv_length fire for the same call) and leave it on the
 * socket for the flow and the event. Concurrent threads on one unconnected socket may see each other's peer. */
static __always_inline void remember_peer(struct bpf_sock_addr *ctx, bool v6)
{
	struct bpf_sock *sk = ctx->sk;
	struct nt_sock_owner *owner;

	if (!sk)
		return;
	owner = stamp_from_cgroup_hook(sk, 0, bpf_get_socket_cookie(ctx));
	if (!owner)
		return;
	__builtin_memset(owner->peer_addr, 0, sizeof(owner->peer_addr));
	if (v6) {
		__u32 ip6[4] = {ctx->user_ip6[0], ctx->user_ip6[1], ctx->user_ip6[2], ctx->user_ip6[3]};

		__builtin_memcpy(owner->peer_addr, ip6, 16);
		owner->peer_family = AF_INET6;
	} else {
		__u32 ip4 = ctx->user_ip4;

		__builtin_memcpy(owner->peer_addr, &ip4, 4);
		owner->peer_family = AF_INET;
	}
	owner->peer_port = (__u16)ctx->user_port;
}

SEC("cgroup/sendmsg4")
int peer_on_sendmsg4(struct bpf_sock_addr *ctx)
{
	remember_peer(ctx, false);
	return 1;
}

SEC("cgroup/sendmsg6")
int peer_on_sendmsg6(struct bpf_sock_addr *ctx)
{
	remember_peer(ctx, true);
	return 1;
}

SEC("cgroup/recvmsg4")
int peer_on_recvmsg4(struct bpf_sock_addr *ctx)
{
	remember_peer(ctx, false);
	return 1;
}

SEC("cgroup/recvmsg6")
int peer_on_recvmsg6(struct bpf_sock_addr *ctx)
{
	remember_peer(ctx, true);
	return 1;
}
