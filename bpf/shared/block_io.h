/* The contract between bpf/block_io.bpf.c and the C++ block I/O collector.
 * Fixed-width fields and explicit padding only: C++ pins every size with static_assert. */
#ifndef NEUTRACER_BPF_SHARED_BLOCK_IO_H
#define NEUTRACER_BPF_SHARED_BLOCK_IO_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "net_accounting.h" /* struct nt_proc_key, NT_COMM_LEN */

/* log2 buckets of microseconds: slot i holds [2^i, 2^(i+1)) us, slot 0 also < 1 us. */
#define NT_IO_HIST_SLOTS 27

/* As /sys/block/DEV/stat groups requests (the kernel's op_stat_group). */
enum nt_io_kind {
	NT_IO_READ = 0,
	NT_IO_WRITE = 1, /* write zeroes, zone append, secure erase and zone management too */
	NT_IO_FLUSH = 2,
	NT_IO_DISCARD = 3,
	NT_IO_KINDS = 4,
};

/* Whom a counter entry's requests belong to. */
enum nt_io_origin {
	NT_IO_ORIGIN_PROCESS = 0,  /* `owner`: the task current when the request was stamped */
	NT_IO_ORIGIN_FILTERED = 1, /* stamped by a process the filters exclude: owner zeroed */
	NT_IO_ORIGIN_UNSTAMPED = 2, /* completed with no stamp (in flight at attach, or the request
				      * table was full): owner zeroed, counted for the device only */
};

/* Counters are per (owner, whole disk): a completion updates one entry, and user space sums them
 * per process and per device. */
struct nt_io_key {
	struct nt_proc_key owner;
	__u32 major; /* the whole disk's (gendisk), any major: NVMe's 259 too */
	__u32 minor; /* its first_minor */
	__u32 origin; /* enum nt_io_origin */
	__u32 pad;
};

/* One owner's requests to one disk, on one CPU (a per-CPU hash: completions of different CPUs
 * never share a line). Cumulative; requests are counted when they finish, bytes as they complete. */
struct nt_io_counters {
	__u64 ops[NT_IO_KINDS];
	__u64 bytes[NT_IO_KINDS];
	__u64 queue_ns;  /* stamp -> issue, summed over the finished requests that were issued */
	__u64 device_ns; /* issue -> finish */
	__u64 queue_hist[NT_IO_HIST_SLOTS];
	__u64 device_hist[NT_IO_HIST_SLOTS];
	__u32 flags;     /* NT_IO_KERNEL_THREAD */
	__u32 pad;
	char comm[NT_COMM_LEN]; /* the owner's group leader's, when this CPU's entry was created */
};

#define NT_IO_KERNEL_THREAD 1 /* the owner is a kernel thread (writeback, journal, loop worker) */

/* A request, keyed by its address (struct request *): stamped when made, finished when it
 * finishes. The entry stays for the address's next request, which rewrites it. */
struct nt_io_request {
	__u64 stamp_ns; /* block_io_start or block_rq_insert; the issue when neither was seen; 0: finished */
	__u64 issue_ns; /* last block_rq_issue; 0 while not issued */
	struct nt_proc_key owner;
	char comm[NT_COMM_LEN];
	__u32 origin; /* NT_IO_ORIGIN_PROCESS or NT_IO_ORIGIN_FILTERED */
	__u32 flags;  /* NT_IO_KERNEL_THREAD, NT_IO_REQUEUED */
};

#define NT_IO_REQUEUED 2 /* sent back by the driver: its next insert keeps the stamp */

/* --timeline: one finished request of a traced process, from its stamp to its completion
 * (bpf_ktime_get_ns, the monotonic clock). */
struct nt_io_slice {
	struct nt_proc_key owner;
	__u64 stamp_ns;
	__u64 issue_ns; /* 0: its issue was not seen */
	__u64 complete_ns;
	__u32 major;
	__u32 minor;
	__u32 kind; /* enum nt_io_kind */
	__u32 pad;
	char comm[NT_COMM_LEN]; /* the owner's, at the stamp */
};

enum nt_io_loss {
	NT_IO_LOSS_REQUEST_MAP_FULL, /* a request could not be stamped (no entry could be made): counted
				       * for its disk as unstamped, with no owner and no latency */
	NT_IO_LOSS_COUNTER_MAP_FULL, /* a completion found no counter entry and none could be made:
				       * not counted at all */
	NT_IO_LOSS_SLICE_RINGBUF_FULL, /* --timeline: a finished request the ring buffer could not take */
	NT_IO_LOSS__COUNT,
};

#endif
