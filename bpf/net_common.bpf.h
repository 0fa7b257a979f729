/* Maps shared by the net programs: one owner table and one loss table for the whole agent. The
 * loader creates them with net_accounting and hands their fds to the other objects. */
#ifndef NEUTRACER_BPF_NET_COMMON_BPF_H
#define NEUTRACER_BPF_NET_COMMON_BPF_H

#include "counters.bpf.h"
#include "shared/net_accounting.h"

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
	add_to_slot(&loss_counters, reason, amount);
}

#define EEXIST 17

/* Submits without waking the reader, which drains every few tens of milliseconds anyway, until the
 * ring is half full: a wakeup per event would cost microseconds (irq_work + epoll). */
static __always_inline void submit_batched(void *ring, void *event, __u64 ring_size)
{
	__u64 flags = bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) > ring_size / 2 ? BPF_RB_FORCE_WAKEUP
										  : BPF_RB_NO_WAKEUP;

	bpf_ringbuf_submit(event, flags);
}

/* The entry for `key`, created from `fresh` when missing; NULL when the table is full. Another
 * CPU may create the same entry at the same time: EEXIST is success. */
static __always_inline void *lookup_or_create(void *map, const void *key, const void *fresh)
{
	void *value = bpf_map_lookup_elem(map, key);
	long err;

	if (value)
		return value;
	err = bpf_map_update_elem(map, key, fresh, BPF_NOEXIST);
	if (err && err != -EEXIST)
		return NULL;
	return bpf_map_lookup_elem(map, key);
}

#endif
