/* The contract between bpf/memory.bpf.c and the C++ memory collector.
 * Fixed-width fields and explicit padding only: C++ pins every size with static_assert. */
#ifndef NEUTRACER_BPF_SHARED_MEMORY_H
#define NEUTRACER_BPF_SHARED_MEMORY_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "net_accounting.h" /* struct nt_proc_key, NT_COMM_LEN */

/* The kernel's RSS counters, in its order (MM_FILEPAGES, MM_ANONPAGES, MM_SWAPENTS, MM_SHMEMPAGES). */
enum nt_mem_member {
	NT_MEM_FILE = 0,
	NT_MEM_ANON = 1,
	NT_MEM_SWAP = 2,
	NT_MEM_SHMEM = 3,
	NT_MEM_MEMBERS = 4,
};

/* A process's RSS as the kernel last reported it (rss_stat), in pages: each member is written as the
 * kernel changes it, by whoever changes it. */
struct nt_mem_rss {
	__s64 pages[NT_MEM_MEMBERS];
	__u64 updates;   /* rss_stat events seen */
	__s64 peak_pages; /* the largest file + anon + shmem seen */
	char comm[NT_COMM_LEN]; /* the group leader's, when the entry was made */
};

/* A thread as iter/task reports it each interval: its own fault counts and, for a group leader, the
 * counts the process's exited threads left in its signal struct (/proc/PID/stat sums the two). */
struct nt_mem_thread {
	struct nt_proc_key owner;
	__u32 tid;
	__u8 leader;
	__u8 traced; /* the filters' verdict, but the cgroup's (it needs the thread's own context) */
	__u8 pad[2];
	__u64 min_flt;
	__u64 maj_flt;
	__u64 exited_min_flt; /* leader only: signal->min_flt */
	__u64 exited_maj_flt;
	char comm[NT_COMM_LEN]; /* the group leader's */
};

/* An OOM kill, sent as the victim is marked. */
struct nt_mem_oom {
	__u64 ts_ns;
	struct nt_proc_key victim;
	__u32 trigger_tgid; /* the task that ran the OOM killer: the one whose allocation failed */
	__u32 pad;
	__u64 victim_pages[NT_MEM_MEMBERS]; /* its RSS counters at the kill */
	__u64 total_vm_pages;
	__u64 memcg_id; /* the victim's memory cgroup (its kernfs id: the directory's inode); 0 if none */
	__s32 oom_score_adj;
	__u32 pad2;
	char victim_comm[NT_COMM_LEN];
	char trigger_comm[NT_COMM_LEN];
};

enum nt_mem_loss {
	NT_MEM_LOSS_MAP_FULL,     /* a process's RSS found no table entry: its RSS not known */
	NT_MEM_LOSS_RINGBUF_FULL, /* an OOM kill the ring buffer could not take */
	NT_MEM_LOSS__COUNT,
};

#endif
