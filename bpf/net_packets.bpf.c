// SPDX-License-Identifier: GPL-2.0
/* Packet mode (opt-in): the seed's hooks, net_dev_queue and netif_receive_skb, made right.
 *
 * These run in softirq as often as in process context, so `current` says nothing about who
 * owns a packet. A packet is charged to the owner stamped on its socket (skb->sk, see
 * net_accounting.bpf.c), and to tgid 0 (unattributed) when it has none: receive before socket
 * demux, ARP/ND, forwarded traffic. Lengths are converted to what the device's own statistics
 * count, so per-device totals reconcile with the kernel's counters exactly. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "net_common.bpf.h"
#include "process_filter.bpf.h"
#include "shared/net_packets.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IFF_LOOPBACK 0x8

char LICENSE[] SEC("license") = "GPL";

const volatile bool emit_events = false; /* stream nt_packet_event for `trace --packets` */
const volatile __u64 packet_ring_size = 4096; /* the size the loader gave `packet_events` */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct nt_device_key);
	__type(value, struct nt_device_counters);
} device_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, struct nt_packet_owner_key);
	__type(value, struct nt_packet_owner_counters);
} packet_owners SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096); /* resized by the loader */
} packet_events SEC(".maps");

static __always_inline void add(struct nt_device_counters *c, __u32 len, bool is_tx)
{
	if (is_tx) {
		__sync_fetch_and_add(&c->tx_bytes, len);
		__sync_fetch_and_add(&c->tx_packets, 1);
	} else {
		__sync_fetch_and_add(&c->rx_bytes, len);
		__sync_fetch_and_add(&c->rx_packets, 1);
	}
}

/* Ports and addresses from the IP header at `l3`, read with probe reads (the skb is not ours). */
static __always_inline void parse_ip(struct nt_packet_event *event, const void *l3)
{
	if (event->ethertype == ETH_P_IP) {
		struct iphdr ip;

		if (bpf_probe_read_kernel(&ip, sizeof(ip), l3))
			return;
		event->protocol = ip.protocol;
		__builtin_memcpy(event->saddr, &ip.saddr, 4);
		__builtin_memcpy(event->daddr, &ip.daddr, 4);
		l3 += ip.ihl * 4;
	} else if (event->ethertype == ETH_P_IPV6) {
		struct ipv6hdr ip6;

		if (bpf_probe_read_kernel(&ip6, sizeof(ip6), l3))
			return;
		event->protocol = ip6.nexthdr; /* extension headers are reported by number */
		__builtin_memcpy(event->saddr, &ip6.saddr, 16);
		__builtin_memcpy(event->daddr, &ip6.daddr, 16);
		l3 += sizeof(ip6);
	} else {
		return;
	}
	if (event->protocol == IPPROTO_TCP || event->protocol == IPPROTO_UDP) {
		__be16 ports[2];

		if (!bpf_probe_read_kernel(ports, sizeof(ports), l3)) {
			event->sport = bpf_ntohs(ports[0]);
			event->dport = bpf_ntohs(ports[1]);
		}
	}
}

static __always_inline void on_packet(struct sk_buff *skb, bool is_tx)
{
	struct net_device *dev = skb->dev;
	struct nt_device_key dev_key;
	struct nt_packet_owner_key owner_key = {};
	struct nt_device_counters *counters, zero = {};
	struct nt_packet_owner_counters *owned, fresh_owned = {};
	struct nt_sock_owner *owner = NULL;
	unsigned char *head = skb->head;
	__u16 mac_len = 0;
	const void *l3;
	__u32 len;

	if (!dev)
		return;
	dev_key.netns = dev->nd_net.net->ns.inum;
	if (process_filter.netns && dev_key.netns != process_filter.netns)
		return;
	dev_key.ifindex = dev->ifindex;

	/* At net_dev_queue the link-layer header is in skb->len; at netif_receive_skb it has been
	 * pulled. Loopback's statistics leave it out, every other device counts it. */
	if (skb->mac_header != (__u16)~0U)
		mac_len = is_tx ? skb->network_header - skb->mac_header : skb->data - (head + skb->mac_header);
	len = skb->len;
	if (dev->flags & IFF_LOOPBACK) {
		if (is_tx)
			len -= mac_len;
	} else if (!is_tx) {
		len += mac_len;
	}
	l3 = is_tx ? head + skb->network_header : skb->data;

	counters = lookup_or_create(&device_counters, &dev_key, &zero);
	if (counters)
		add(counters, len, is_tx);
	else
		count_loss(NT_LOSS_DEVICE_MAP_FULL, 1);

	if (skb->sk)
		owner = bpf_sk_storage_get(&sock_owners, skb->sk, 0, 0);
	owner_key.netns = dev_key.netns;
	owner_key.ifindex = dev_key.ifindex;
	if (owner) {
		owner_key.tgid = owner->tgid;
		owner_key.start_ns = owner->start_ns;
		__builtin_memcpy(fresh_owned.comm, owner->comm, sizeof(fresh_owned.comm));
	}
	owned = lookup_or_create(&packet_owners, &owner_key, &fresh_owned);
	if (owned)
		add(&owned->counters, len, is_tx);
	else
		count_loss(NT_LOSS_PACKET_OWNER_MAP_FULL, 1);

	if (emit_events) {
		struct nt_packet_event *event = bpf_ringbuf_reserve(&packet_events, sizeof(*event), 0);

		if (!event) {
			count_loss(NT_LOSS_PACKET_RINGBUF_FULL, 1);
			return;
		}
		__builtin_memset(event, 0, sizeof(*event));
		event->ts_ns = bpf_ktime_get_ns();
		event->netns = dev_key.netns;
		event->ifindex = dev_key.ifindex;
		event->tgid = owner_key.tgid;
		event->start_ns = owner_key.start_ns;
		event->len = len;
		event->direction = is_tx ? NT_DIR_TX : NT_DIR_RX;
		event->ethertype = bpf_ntohs(skb->protocol);
		__builtin_memcpy(event->comm, fresh_owned.comm, sizeof(event->comm));
		parse_ip(event, l3);
		submit_batched(&packet_events, event, packet_ring_size);
	}
}

SEC("tp_btf/net_dev_queue")
int BPF_PROG(packet_tx, struct sk_buff *skb)
{
	on_packet(skb, true);
	return 0;
}

SEC("tp_btf/netif_receive_skb")
int BPF_PROG(packet_rx, struct sk_buff *skb)
{
	on_packet(skb, false);
	return 0;
}
