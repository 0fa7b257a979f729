/* Counting in a per-CPU array, as every object counts its losses: each CPU adds to its own slot. */
#ifndef NEUTRACER_BPF_COUNTERS_BPF_H
#define NEUTRACER_BPF_COUNTERS_BPF_H

static __always_inline void add_to_slot(void *percpu_array, __u32 slot, __u64 amount)
{
	__u64 *counter = bpf_map_lookup_elem(percpu_array, &slot);

	if (counter)
		*counter += amount; /* per-CPU slot: no other writer */
}

#endif
