/* The contract between bpf/heap.bpf.c and the C++ heap collector.
 * Fixed-width fields and explicit padding only: C++ pins every size with static_assert. */
#ifndef NEUTRACER_BPF_SHARED_HEAP_H
#define NEUTRACER_BPF_SHARED_HEAP_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

#include "net_accounting.h" /* struct nt_proc_key, NT_COMM_LEN */

/* Frames kept of each allocation's user stack (the stack table's value is this many addresses). */
#define NT_HEAP_STACK_DEPTH 32

/* Which allocator call made a block. */
enum nt_heap_kind {
	NT_HEAP_MALLOC = 0,
	NT_HEAP_CALLOC = 1,
	NT_HEAP_REALLOC = 2,
	NT_HEAP_ALIGNED = 3, /* posix_memalign, aligned_alloc, memalign */
	NT_HEAP_MMAP = 4,
	NT_HEAP_KINDS = 5,
};

/* An outstanding block, by process and address. */
struct nt_heap_block_key {
	__u32 tgid;
	__u32 pad;
	__u64 addr;
};

struct nt_heap_block {
	__u64 size;
	__u64 allocated_ns; /* CLOCK_MONOTONIC, as the allocator returned it */
	__s32 stack_id;     /* in the stack table; < 0 when the stack was not kept */
	__u16 kind;         /* enum nt_heap_kind */
	__u16 image;        /* the process's exec count when it was made: older images' blocks are gone */
};

/* A traced process: who it is, and what it called (updated atomically by every thread). */
struct nt_heap_process {
	struct nt_proc_key key;
	char comm[NT_COMM_LEN]; /* its group leader's, when the entry was made */
	__u64 allocations;      /* allocator calls that returned a block */
	__u64 sampled;          /* of those, the ones kept as outstanding blocks */
	__u64 frees;            /* free and munmap calls, and the old block of a realloc */
	__u64 freed_sampled;    /* of those, the ones that released a kept block */
	__u32 execs;            /* execs since the entry was made (its blocks before the last one are gone) */
	__u32 pad;
};

enum nt_heap_loss {
	NT_HEAP_LOSS_BLOCKS_FULL,    /* a sampled block the block table could not take: never reported */
	NT_HEAP_LOSS_STACK_LOST,     /* a block kept without its stack (stack table full or a collision) */
	NT_HEAP_LOSS_CALLS_FULL,     /* an allocator call in progress the call table could not take */
	NT_HEAP_LOSS_PROCESSES_FULL, /* a process the process table could not take: its calls not counted */
	NT_HEAP_LOSS__COUNT,
};

#endif
