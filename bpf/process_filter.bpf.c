// SPDX-License-Identifier: GPL-2.0
/* The process filter's own object: it creates the maps every other object shares (see
 * process_filter.bpf.h) and keeps traced_tgids current as traced processes fork and exit. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "process_filter.bpf.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NT_FILTER_LOSS__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} process_filter_losses SEC(".maps");

/* With -- CMD or --children, descendants are traced from their first instruction. */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(follow_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 parent_tgid = parent->tgid, child_tgid = child->tgid, slot = NT_FILTER_LOSS_MAP_FULL;
	__u64 *lost;
	__u8 one = 1;

	if (!process_filter.follow_children || parent_tgid == child_tgid)
		return 0;
	if (!bpf_map_lookup_elem(&traced_tgids, &parent_tgid))
		return 0;
	if (bpf_map_update_elem(&traced_tgids, &child_tgid, &one, BPF_ANY)) {
		lost = bpf_map_lookup_elem(&process_filter_losses, &slot);
		if (lost)
			*lost += 1;
	}
	return 0;
}

/* A traced pid that exits leaves the filter, so that a reused pid is not traced by mistake. Only
 * the task is read: newer kernels add a group_dead argument. The last thread out finds the group's
 * live count at zero (do_exit drops it before this tracepoint). */
SEC("tp_btf/sched_process_exit")
int BPF_PROG(forget_exited, struct task_struct *task)
{
	__u32 tgid = task->tgid;

	if (process_filter.by_tgid && BPF_CORE_READ(task, signal, live.counter) == 0)
		bpf_map_delete_elem(&traced_tgids, &tgid);
	return 0;
}
