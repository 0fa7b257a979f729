/* The contract between bpf/probes.bpf.c and the C++ probe collector (--probe, --collect cuda).
 * Fixed-width fields and explicit padding only: C++ pins every size with static_assert. */
#ifndef NEUTRACER_BPF_SHARED_PROBES_H
#define NEUTRACER_BPF_SHARED_PROBES_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "net_accounting.h" /* struct nt_proc_key, NT_COMM_LEN */

/* Log2 buckets of a call's latency in nanoseconds: slot i holds [2^i, 2^(i+1)), the last is open. */
#define NT_PROBE_LATENCY_SLOTS 36
/* Functions one run can probe (each function's settings are a slot of the function table). */
#define NT_PROBE_MAX_FUNCTIONS 1024
/* Frames kept of a device allocation's user stack. */
#define NT_PROBE_STACK_DEPTH 16

/* When a return value is an error. */
enum nt_probe_error_rule {
	NT_PROBE_ERRORS_NONE = 0,    /* never */
	NT_PROBE_ERRORS_NEGATIVE = 1, /* < 0 as a long, or as an int (the upper half clear): -1, -errno */
	NT_PROBE_ERRORS_NONZERO = 2, /* != 0 as a 32-bit int (cudaError_t, ncclResult_t) */
	NT_PROBE_ERRORS_NULL = 3,    /* == 0 (a pointer) */
};

/* What the entry program keeps of the arguments, and whether each call is an event. */
enum nt_probe_shape {
	NT_PROBE_PLAIN = 0,          /* counts and latency only */
	NT_PROBE_DEVICE_ALLOC = 1,   /* (void **ptr, size_t size, ...): the block is *ptr at the return */
	NT_PROBE_DEVICE_FREE = 2,    /* (void *ptr, ...) */
	NT_PROBE_MEMCPY = 3,         /* (dst, src, size_t count, enum kind, [stream]) */
	NT_PROBE_LAUNCH = 4,         /* cudaLaunchKernel(func, dim3 grid, dim3 block, args, shared, stream) */
	NT_PROBE_COLLECTIVE = 5,     /* NCCL: (send, recv, size_t count, datatype, ...) */
	NT_PROBE_SEND_RECV = 6,      /* NCCL: (buf, size_t count, datatype, peer, comm, stream) */
};

/* A function's settings, by its index (the uprobe's cookie). */
struct nt_probe_function {
	__u8 error_rule; /* enum nt_probe_error_rule */
	__u8 shape;      /* enum nt_probe_shape */
	__u8 pad[6];
};

struct nt_probe_stats_key {
	__u32 tgid;
	__u32 function;
};

/* One process's calls of one function, updated atomically by every thread. */
struct nt_probe_stats {
	struct nt_proc_key process;
	char comm[NT_COMM_LEN]; /* its group leader's, when the entry was made */
	__u64 calls;            /* counted at the entry */
	__u64 returns;          /* returns seen (a call in progress, or one that never returned: not yet) */
	__u64 errors;           /* returns the function's rule calls errors */
	__u64 total_ns;         /* time in the function, over the returns */
	__u64 latency[NT_PROBE_LATENCY_SLOTS];
};

/* Errors by return code. */
struct nt_probe_code_key {
	__u32 tgid;
	__u32 function;
	__s64 code;
};

/* One call with its arguments, for the shapes that need them, and every call with --timeline. */
struct nt_probe_event {
	__u64 start_ns; /* CLOCK_MONOTONIC */
	__u64 duration_ns;
	__u32 tgid;
	__u32 tid;
	__u32 function;
	__s32 stack_id; /* device allocations: the user stack (< 0: not kept) */
	__s64 code;     /* the return value */
	__u64 args[6];  /* by shape: see probes.bpf.c */
};

enum nt_probe_loss {
	NT_PROBE_LOSS_STATS_FULL,  /* a (process, function) the stats table had no room for: its calls uncounted */
	NT_PROBE_LOSS_CODES_FULL,  /* an error code the code table had no room for */
	NT_PROBE_LOSS_CALLS_FULL,  /* a call in progress the call table had no room for: its return unseen */
	NT_PROBE_LOSS_EVENTS_FULL, /* an event the ring buffer had no room for */
	NT_PROBE_LOSS_STACK_LOST,  /* a device allocation without its stack */
	NT_PROBE_LOSS__COUNT,
};

#endif
