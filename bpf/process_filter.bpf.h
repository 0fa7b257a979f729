/* The process filter, one for every BPF object (the seed's snoop_proc, generalised): `-p`,
 * `--children`, `-c`, `--cgroup`, `--netns` and `-- CMD` mean the same to every collector.
 * The configuration is read-only data, set by the loader the same way in each object (the
 * verifier prunes the checks of filters that are off); the two maps are created once, by
 * process_filter.bpf.c, and every other object reuses them by fd. */
#ifndef NEUTRACER_BPF_PROCESS_FILTER_BPF_H
#define NEUTRACER_BPF_PROCESS_FILTER_BPF_H

#include "shared/process_filter.h"

const volatile struct nt_filter_config process_filter = {};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, __u8);
} traced_tgids SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} traced_cgroup SEC(".maps");

static __always_inline bool filter_comm_matches(const char *comm)
{
	for (int i = 0; i < NT_FILTER_COMM_LEN; i++) {
		if (comm[i] != process_filter.comm[i])
			return false;
		if (!comm[i])
			break;
	}
	return true;
}

/* Every filter but the namespace's, which each caller takes from what it sees (a socket's
 * namespace, a task's). The cgroup test is of `current`: call it in the process's own context. */
static __always_inline bool filter_passes_current(__u32 tgid, const char *leader_comm)
{
	if (process_filter.by_tgid && !bpf_map_lookup_elem(&traced_tgids, &tgid))
		return false;
	if (process_filter.by_comm && !filter_comm_matches(leader_comm))
		return false;
	if (process_filter.by_cgroup && bpf_current_task_under_cgroup(&traced_cgroup, 0) != 1)
		return false;
	return true;
}

/* Every filter, the namespace's too, for the current task of process `tgid` (a uprobe's: no socket
 * to take the namespace from). The leader's name is read only when a filter asks for it. */
static __always_inline bool filter_passes_current_task(__u32 tgid)
{
	struct task_struct *task;
	char comm[NT_FILTER_COMM_LEN] = {};

	if (!process_filter.netns && !process_filter.by_comm)
		return filter_passes_current(tgid, comm);
	task = bpf_get_current_task_btf();
	if (process_filter.netns && BPF_CORE_READ(task, nsproxy, net_ns, ns.inum) != process_filter.netns)
		return false;
	if (process_filter.by_comm)
		bpf_probe_read_kernel(comm, sizeof(comm), &task->group_leader->comm);
	return filter_passes_current(tgid, comm);
}

#endif
