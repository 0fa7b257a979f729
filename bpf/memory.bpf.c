// SPDX-License-Identifier: GPL-2.0
/* Memory per process: RSS by kind as the kernel changes it, minor and major page faults, and OOM
 * kills as they happen.
 *
 * RSS: tp_btf rss_stat fires whenever one of a process's RSS counters changes (file, anon, swap
 * entries, shmem), in whatever context changed it; the counter's value is read from the mm as
 * /proc/PID/status reads it (percpu_counter's count since 6.2, an atomic before), and kept per
 * process. The mm's owner (CONFIG_MEMCG) says whose it is; without it, only changes made by the
 * process itself are seen.
 *
 * Faults: iter/task reads each thread's own counts (min_flt, maj_flt) each interval, and a group
 * leader's signal struct, which holds what the process's exited threads counted: /proc/PID/stat's
 * minflt and majflt are their sum.
 *
 * OOM kills: oom:mark_victim, in the context of the task whose allocation ran the OOM killer. With
 * the victim's task (tp_btf, kernels whose event passes it): its RSS counters, total VM and memory
 * cgroup; with its pid only (older kernels), the trigger's memory cgroup. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "counters.bpf.h"
#include "process_filter.bpf.h"
#include "process_key.bpf.h"
#include "shared/memory.h"

char LICENSE[] SEC("license") = "GPL";

#define NT_E2BIG 7 /* a full hash table refuses an insert with -E2BIG */

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384); /* resized by the loader: --max-processes */
	__type(key, struct nt_proc_key);
	__type(value, struct nt_mem_rss);
} mem_rss SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} mem_ooms SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NT_MEM_LOSS__COUNT);
	__type(key, __u32);
	__type(value, __u64);
} mem_losses SEC(".maps");

/* Before 6.2 the RSS counters were atomics in a struct mm_rss_stat. */
struct mm_rss_stat___pre62 {
	atomic_long_t count[NT_MEM_MEMBERS];
};
struct mm_struct___pre62 {
	struct mm_rss_stat___pre62 rss_stat;
} __attribute__((preserve_access_index));

/* mark_victim passed only the pid before 6.8; since, the victim's task, and its event records the
 * uid too. */
struct trace_event_raw_mark_victim___pid {
	struct trace_entry ent;
	int pid;
} __attribute__((preserve_access_index));
struct trace_event_raw_mark_victim___task {
	uid_t uid;
} __attribute__((preserve_access_index));

static __always_inline __s64 rss_pages(struct mm_struct *mm, __u32 member)
{
	__s64 value = 0;

	member &= NT_MEM_MEMBERS - 1;
	if (bpf_core_type_exists(struct mm_rss_stat___pre62))
		bpf_probe_read_kernel(&value, sizeof(value), &((struct mm_struct___pre62 *)mm)->rss_stat.count[member]);
	else
		bpf_probe_read_kernel(&value, sizeof(value), &mm->rss_stat[member].count);
	return value < 0 ? 0 : value; /* as the kernel shows it: never below 0 */
}

/* A process's first entry: every counter read now, not only the one that changed (the others may
 * not change again for a long time). */
static __always_inline struct nt_mem_rss *new_rss(const struct nt_proc_key *key, struct mm_struct *mm, const char *comm)
{
	struct nt_mem_rss fresh = {};

	for (__u32 m = 0; m < NT_MEM_MEMBERS; m++)
		fresh.pages[m] = rss_pages(mm, m);
	fresh.peak_pages = fresh.pages[NT_MEM_FILE] + fresh.pages[NT_MEM_ANON] + fresh.pages[NT_MEM_SHMEM];
	__builtin_memcpy(fresh.comm, comm, sizeof(fresh.comm));
	if (bpf_map_update_elem(&mem_rss, key, &fresh, BPF_NOEXIST) == -NT_E2BIG)
		add_to_slot(&mem_losses, NT_MEM_LOSS_MAP_FULL, 1);
	return bpf_map_lookup_elem(&mem_rss, key);
}

/* The filters, asked of `task`'s process; the cgroup one only in the process's own context. */
static __always_inline bool passes(const struct nt_proc_key *key, const char *leader_comm, bool own_context)
{
	if (process_filter.netns && key->netns != process_filter.netns)
		return false;
	if (process_filter.by_cgroup && !own_context)
		return false;
	return filter_passes_current(key->tgid, leader_comm);
}

SEC("tp_btf/rss_stat")
int BPF_PROG(on_rss_stat, struct mm_struct *mm, int member)
{
	struct task_struct *current_task = bpf_get_current_task_btf();
	struct task_struct *owner = 0;
	struct nt_mem_rss *rss;
	struct nt_proc_key key;
	char comm[NT_COMM_LEN];
	__s64 pages, total;

	if (bpf_core_field_exists(mm->owner))
		owner = BPF_CORE_READ(mm, owner);
	if (!owner && BPF_CORE_READ(current_task, mm) == mm)
		owner = current_task;
	if (!owner)
		return 0;
	/* Every RSS change on the host comes here: the cheapest test first. */
	key.tgid = BPF_CORE_READ(owner, tgid);
	if (process_filter.by_tgid && !bpf_map_lookup_elem(&traced_tgids, &key.tgid))
		return 0;
	key = process_key_of(owner);
	BPF_CORE_READ_STR_INTO(&comm, owner, group_leader, comm);
	if (!passes(&key, comm, BPF_CORE_READ(current_task, tgid) == key.tgid))
		return 0;
	rss = bpf_map_lookup_elem(&mem_rss, &key);
	if (!rss)
		rss = new_rss(&key, mm, comm);
	if (!rss)
		return 0;
	pages = rss_pages(mm, member);
	rss->pages[member & (NT_MEM_MEMBERS - 1)] = pages;
	rss->updates += 1;
	total = rss->pages[NT_MEM_FILE] + rss->pages[NT_MEM_ANON] + rss->pages[NT_MEM_SHMEM];
	if (total > rss->peak_pages)
		rss->peak_pages = total;
	return 0;
}

/* Every thread with an mm each interval: its fault counts (a leader's with its exited threads'). */
SEC("iter/task")
int dump_faults(struct bpf_iter__task *ctx)
{
	struct task_struct *task = ctx->task;
	struct nt_mem_thread record = {};

	if (!task || !task->mm)
		return 0;
	record.owner = process_key_of(task);
	record.tid = task->pid;
	record.leader = task->group_leader == task;
	__builtin_memcpy(record.comm, task->group_leader->comm, sizeof(record.comm));
	/* The cgroup filter cannot be asked here (the reader's context): such records go up marked
	 * untraced, and user space keeps the processes whose RSS changes passed it in their own. */
	record.traced = passes(&record.owner, record.comm, false);
	if (!record.traced && !process_filter.by_cgroup)
		return 0;
	record.min_flt = task->min_flt;
	record.maj_flt = task->maj_flt;
	if (record.leader) {
		record.exited_min_flt = BPF_CORE_READ(task, signal, min_flt);
		record.exited_maj_flt = BPF_CORE_READ(task, signal, maj_flt);
		/* A process first seen here (older than the agent, or quiet since) has its RSS read from
		 * its counters; rss_stat keeps it from then on. */
		if (record.traced && !bpf_map_lookup_elem(&mem_rss, &record.owner))
			new_rss(&record.owner, task->mm, record.comm);
	}
	bpf_seq_write(ctx->meta->seq, &record, sizeof(record));
	return 0;
}

/* The memory cgroup `task` is charged to, by its kernfs id. */
static __always_inline __u64 memcg_of(struct task_struct *task)
{
	struct cgroup_subsys_state *css = 0;
	struct css_set *set = BPF_CORE_READ(task, cgroups);
	int id = bpf_core_enum_value(enum cgroup_subsys_id, memory_cgrp_id);

	if (!set || id < 0 || id >= 16)
		return 0;
	bpf_probe_read_kernel(&css, sizeof(css), &set->subsys[id]);
	return css ? BPF_CORE_READ(css, cgroup, kn, id) : 0;
}

static __always_inline struct nt_mem_oom *start_oom(void)
{
	struct task_struct *trigger = bpf_get_current_task_btf();
	struct nt_mem_oom *e = bpf_ringbuf_reserve(&mem_ooms, sizeof(*e), 0);

	if (!e) {
		add_to_slot(&mem_losses, NT_MEM_LOSS_RINGBUF_FULL, 1);
		return 0;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_ns();
	e->trigger_tgid = BPF_CORE_READ(trigger, tgid);
	BPF_CORE_READ_STR_INTO(&e->trigger_comm, trigger, group_leader, comm);
	return e;
}

SEC("tp_btf/mark_victim")
int BPF_PROG(oom_victim_task, struct task_struct *victim)
{
	struct nt_mem_oom *e;
	struct mm_struct *mm;

	/* On a kernel whose mark_victim passes a pid, `victim` is not a task: the relocation of this
	 * field, absent there, fails the load, and the pid alternative is taken. */
	if (bpf_core_field_offset(struct trace_event_raw_mark_victim___task, uid) == 0xffffffff)
		return 0;
	e = start_oom();
	if (!e)
		return 0;
	e->victim = process_key_of(victim);
	BPF_CORE_READ_STR_INTO(&e->victim_comm, victim, group_leader, comm);
	mm = BPF_CORE_READ(victim, mm);
	if (mm) {
		for (__u32 m = 0; m < NT_MEM_MEMBERS; m++)
			e->victim_pages[m] = rss_pages(mm, m);
		e->total_vm_pages = BPF_CORE_READ(mm, total_vm);
	}
	e->memcg_id = memcg_of(victim);
	e->oom_score_adj = BPF_CORE_READ(victim, signal, oom_score_adj);
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tracepoint/oom/mark_victim")
int oom_victim_pid(struct trace_event_raw_mark_victim___pid *args)
{
	struct nt_mem_oom *e = start_oom();

	if (!e)
		return 0;
	e->victim.tgid = BPF_CORE_READ(args, pid);
	e->memcg_id = memcg_of(bpf_get_current_task_btf());
	bpf_ringbuf_submit(e, 0);
	return 0;
}
