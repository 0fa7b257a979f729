/* The contract between bpf/process_filter.bpf.h (the one kernel-side process filter every BPF
 * object includes) and src/collectors/process_filter.{h,cpp}, which sets it identically in each. */
#ifndef NEUTRACER_BPF_SHARED_PROCESS_FILTER_H
#define NEUTRACER_BPF_SHARED_PROCESS_FILTER_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#define NT_FILTER_COMM_LEN 16

/* Filters combine: a process counts when every one that is set matches. */
struct nt_filter_config {
	__u8 by_tgid;         /* only tgids in traced_tgids */
	__u8 follow_children; /* children of traced tgids become traced at fork */
	__u8 by_comm;         /* only processes whose group leader's comm is `comm` */
	__u8 by_cgroup;       /* only tasks under traced_cgroup[0] */
	__u32 netns;          /* only this network namespace (0: all) */
	char comm[NT_FILTER_COMM_LEN];
};

/* Losses of the filter object itself (process_filter_losses). */
enum nt_filter_loss {
	NT_FILTER_LOSS_MAP_FULL, /* a child of a traced process could not join traced_tgids */
	NT_FILTER_LOSS__COUNT,
};

#endif
