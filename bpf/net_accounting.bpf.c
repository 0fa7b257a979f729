// SPDX-License-Identifier: GPL-2.0
/* Exact per-process network bytes, counted where the process itself is in the kernel.
 *
 * sock:sock_send_length / sock:sock_recv_length fire in the caller of sock_sendmsg /
 * sock_recvmsg after the I/O, so `current` is the process that moved the bytes. Packet-level
 * hooks (softirq) must never use `current`; for them every socket carries its owner in socket
 * storage, stamped as early as possible in process context: at creation, connect and listen,
 * inherited by accepted sockets (BPF_F_CLONE) and refined by the first send/receive of a
 * different process (pre-fork servers hand sockets to workers). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "shared/net_accounting.h"

#define AF_INET 2
#define AF_INET6 10
#define MSG_PEEK 2
#define EEXIST 17

char LICENSE[] SEC("license") = "GPL";

/* Set between open and load. */
const volatile bool filter_tgids = false;    /* count only tgids in traced_tgids */
const volatile bool follow_children = false; /* children of traced tgids become traced */
const volatile __u32 abi_version = NT_NET_ABI_VERSION;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* resized by the loader */
	__type(key, struct nt_proc_key);
	__type(value, struct nt_proc_stats);
} proc_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u8);
} traced_tgids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC | BPF_F_CLONE);
	__type(key, int);
	__type(value, struct nt_sock_owner);
} sock_owners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NT_LOSS__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} loss_counters SEC(".maps");

static __always_inline void count_loss(__u32 reason, __u64 amount)
{
	__u64 *counter = bpf_map_lookup_elem(&loss_counters, &reason);

	if (counter)
		*counter += amount; /* per-CPU slot: no other writer */
}

static __always_inline bool tgid_is_traced(__u32 tgid)
{
	return !filter_tgids || bpf_map_lookup_elem(&traced_tgids, &tgid);
}

/* tp_btf arguments and bpf_get_current_task_btf() are trusted BTF pointers: plain loads
 * (CO-RE relocated through vmlinux.h's preserve_access_index) instead of probe-read helpers,
 * which is most of this program's cost per event. */
static __always_inline __u32 sock_netns(struct sock *sk)
{
	return sk->__sk_common.skc_net.net->ns.inum;
}

/* Refines the owner stamp from process context: a different process now does I/O on it. */
static __always_inline void stamp_from_io(struct sock *sk, __u32 tgid, __u32 tid,
					  struct task_struct *leader, __u32 netns)
{
	struct nt_sock_owner *owner;

	owner = bpf_sk_storage_get(&sock_owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!owner) {
		count_loss(NT_LOSS_SOCK_STAMP_FAILED, 1);
		return;
	}
	if (owner->tgid == tgid) {
		/* Same owner, stamped by a cgroup hook that could not read the start time. */
		if (!owner->start_ns) {
			owner->start_ns = leader->start_boottime;
			owner->netns = netns;
		}
		return;
	}
	owner->tgid = tgid;
	owner->tid = tid;
	owner->start_ns = leader->start_boottime;
	owner->netns = netns;
	owner->origin = NT_STAMP_IO;
	bpf_probe_read_kernel(owner->comm, sizeof(owner->comm), leader->comm);
}

static __always_inline int account(struct sock *sk, int ret, int flags, bool is_tx)
{
	struct nt_proc_stats *stats;
	struct nt_proc_key key;
	struct task_struct *task, *leader;
	__u64 pid_tgid;
	__u16 family;
	long err;

	if (ret <= 0 || (!is_tx && (flags & MSG_PEEK)))
		return 0;
	family = sk->__sk_common.skc_family;
	if (family != AF_INET && family != AF_INET6)
		return 0;

	pid_tgid = bpf_get_current_pid_tgid();
	key.tgid = pid_tgid >> 32;
	if (!tgid_is_traced(key.tgid))
		return 0;

	task = bpf_get_current_task_btf();
	leader = task->group_leader;
	key.netns = sock_netns(sk);
	key.start_ns = leader->start_boottime;

	stamp_from_io(sk, key.tgid, (__u32)pid_tgid, leader, key.netns);

	stats = bpf_map_lookup_elem(&proc_stats, &key);
	if (!stats) {
		struct nt_proc_stats fresh = {};

		bpf_probe_read_kernel(fresh.comm, sizeof(fresh.comm), leader->comm);
		err = bpf_map_update_elem(&proc_stats, &key, &fresh, BPF_NOEXIST);
		if (err && err != -EEXIST) {
			count_loss(NT_LOSS_PROC_MAP_FULL, 1);
			count_loss(NT_LOSS_PROC_BYTES_NOT_HELD, ret);
			return 0;
		}
		stats = bpf_map_lookup_elem(&proc_stats, &key);
		if (!stats)
			return 0;
	}
	if (is_tx) {
		__sync_fetch_and_add(&stats->tx_bytes, ret);
		__sync_fetch_and_add(&stats->tx_calls, 1);
	} else {
		__sync_fetch_and_add(&stats->rx_bytes, ret);
		__sync_fetch_and_add(&stats->rx_calls, 1);
	}
	return 0;
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

/* cgroup hooks run in the process's context but cannot read its task_struct: they stamp
 * tgid, tid and the calling thread's comm; start_ns and netns stay 0 until the first I/O. */
static __always_inline void stamp_from_cgroup_hook(struct bpf_sock *sk, __u32 origin)
{
	struct nt_sock_owner *owner;
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	owner = bpf_sk_storage_get(&sock_owners, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!owner) {
		count_loss(NT_LOSS_SOCK_STAMP_FAILED, 1);
		return;
	}
	if (owner->tgid != pid_tgid >> 32) {
		owner->tgid = pid_tgid >> 32;
		owner->start_ns = 0;
		owner->netns = 0;
		bpf_get_current_comm(owner->comm, sizeof(owner->comm));
	}
	owner->tid = (__u32)pid_tgid;
	owner->origin = origin; /* the latest of create, connect, listen */
}

SEC("cgroup/sock_create")
int stamp_on_create(struct bpf_sock *sk)
{
	if (sk->family == AF_INET || sk->family == AF_INET6)
		stamp_from_cgroup_hook(sk, NT_STAMP_CREATE);
	return 1;
}

SEC("cgroup/connect4")
int stamp_on_connect4(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;

	if (sk)
		stamp_from_cgroup_hook(sk, NT_STAMP_CONNECT);
	return 1;
}

SEC("cgroup/connect6")
int stamp_on_connect6(struct bpf_sock_addr *ctx)
{
	struct bpf_sock *sk = ctx->sk;

	if (sk)
		stamp_from_cgroup_hook(sk, NT_STAMP_CONNECT);
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
		stamp_from_cgroup_hook(sk, NT_STAMP_LISTEN);
	return 1;
}

/* With -- CMD or --children, descendants are traced from their first instruction. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(follow_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 parent_tgid = parent->tgid, child_tgid = child->tgid;
	__u8 one = 1;

	if (!follow_children || parent_tgid == child_tgid)
		return 0;
	if (!bpf_map_lookup_elem(&traced_tgids, &parent_tgid))
		return 0;
	if (bpf_map_update_elem(&traced_tgids, &child_tgid, &one, BPF_ANY))
		count_loss(NT_LOSS_FILTER_MAP_FULL, 1);
	return 0;
}

/* A traced pid that exits leaves the filter, so that a reused pid is not traced by mistake. */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(forget_exited, struct task_struct *task, bool group_dead)
{
	__u32 tgid = task->tgid;

	if (filter_tgids && group_dead)
		bpf_map_delete_elem(&traced_tgids, &tgid);
	return 0;
}
