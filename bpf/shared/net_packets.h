/* The contract between bpf/net_packets.bpf.c (packet mode) and the C++ packet collector. */
#ifndef NEUTRACER_BPF_SHARED_NET_PACKETS_H
#define NEUTRACER_BPF_SHARED_NET_PACKETS_H

#include "net_accounting.h"

struct nt_device_key {
	__u32 netns;
	__u32 ifindex;
};

/* Lengths as the device's own statistics count them: loopback counts from the network header,
 * other devices count the link-layer header too. */
struct nt_device_counters {
	__u64 tx_bytes;
	__u64 rx_bytes;
	__u64 tx_packets;
	__u64 rx_packets;
};

/* Packets of a socket's owner on one device; tgid 0 gathers packets with no socket (receive
 * before demux, ARP/ND, forwarded traffic): never the interrupted task. */
struct nt_packet_owner_key {
	__u32 netns;
	__u32 ifindex;
	__u32 tgid;
	__u32 pad;
	__u64 start_ns;
};

struct nt_packet_owner_counters {
	struct nt_device_counters counters;
	char comm[NT_COMM_LEN];
};

struct nt_packet_event {
	__u64 ts_ns; /* CLOCK_MONOTONIC */
	__u64 start_ns;
	__u32 netns;
	__u32 ifindex;
	__u32 tgid; /* the socket owner, 0 when the packet has no socket */
	__u32 len;  /* as the device counts it (see nt_device_counters) */
	__u16 ethertype; /* host order: 0x0800 IPv4, 0x86dd IPv6, 0x0806 ARP, ... */
	__u8 direction;  /* enum nt_direction */
	__u8 protocol;   /* IP protocol number, 0 when not IP */
	__u16 sport;
	__u16 dport;
	__u8 saddr[16];
	__u8 daddr[16];
	char comm[NT_COMM_LEN];
};

#endif
