/* Who a task belongs to, as every collector names a process: its thread group, its network
 * namespace and its group leader's start (a pid alone is reused). */
#ifndef NEUTRACER_BPF_PROCESS_KEY_BPF_H
#define NEUTRACER_BPF_PROCESS_KEY_BPF_H

#include "shared/net_accounting.h" /* struct nt_proc_key */

/* An exiting task has no nsproxy: its namespace reads as 0. */
static __always_inline struct nt_proc_key process_key_of(struct task_struct *task)
{
	struct nt_proc_key key = {};

	key.tgid = BPF_CORE_READ(task, tgid);
	key.netns = BPF_CORE_READ(task, nsproxy, net_ns, ns.inum);
	key.start_ns = BPF_CORE_READ(task, group_leader, start_boottime);
	return key;
}

#endif
