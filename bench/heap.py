"""What --heap costs, side by side with bpftrace's uprobes on malloc and free, in one run; writes
bench/HEAP.md.

The workload: `nt-leaker --pairs N` (tests/helpers/nt_leaker.cpp), N small mallocs each freed at
once, pinned to one CPU: the allocator-heavy worst case, where the tracing's fixed cost per call is
all there is to see. Allocator calls/s untraced, under `neutracer record` (default collectors: heap
tracing off), under `neutracer record --heap -c nt-leaker` (every block kept with its stack), the
same sampling 1 in 100, and under bpftrace's equivalent of a leak tracer for malloc and free (the size
at entry, the block and its user stack at return, deleted at free), for the same process name.
Per program: events and ns per event from the kernel's run-time statistics (kernel.bpf_stats_enabled,
on in a quarter as many rounds after the throughput rounds), and BPF ns per malloc+free pair over
all of a tool's programs. Runs alternate (the order rotates every round); ratios are traced/untraced
against the untraced run of the same round, medians over the runs no neighbour polluted
(bench/sched_io.py's rules).

Usage: /usr/bin/python3 bench/heap.py [--smoke] [--out bench/HEAP.md] [--rounds N]
  --smoke: one short round and a gate on the per-pair cost (prints a `heap gate:` line; exits
  non-zero when --heap costs as much per pair as bpftrace's equivalent)."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402
import sched_io  # noqa: E402

NT_LEAKER = os.path.join(bench.BUILD, "tests", "helpers", "nt-leaker")
BPFTRACE_LEAKS = """
uprobe:libc:malloc /comm == "nt-leaker"/ { @size[tid] = arg0; }
uretprobe:libc:malloc /@size[tid]/ { @bytes[pid, retval] = @size[tid]; @stack[pid, retval] = ustack; delete(@size[tid]); }
uprobe:libc:free /comm == "nt-leaker"/ { delete(@bytes[pid, arg0]); delete(@stack[pid, arg0]); }"""
# The program that runs once per pair (at its free), per tool: the denominator of "BPF ns per pair".
PER_PAIR_PROGRAM = {"record": None, "record --heap": "free_enter", "record --heap --heap-sample 100": "free_enter",
                    "bpftrace malloc/free": "free"}


def workload(pairs, cpu):
    """Allocator calls/s (a malloc and a free per pair) of one run of nt-leaker, pinned to `cpu`."""
    def run():
        (elapsed_ns,) = sched_io.run_released(["taskset", "-c", str(cpu), NT_LEAKER, "--leak", "0", "--churn", "0",
                                               "--pairs", str(pairs)], "go", 1)
        return {"value": 2 * pairs / (int(elapsed_ns) / 1e9), "bytes": 0}
    return run


def main():
    args = sched_io.bench_arguments("HEAP.md", "alternating rounds (default 6; smoke 1)",
                                    "one short round; gate on the per-pair cost")
    rounds = args.rounds or (1 if args.smoke else 6)
    pairs = 50_000 if args.smoke else 500_000
    cpu = bench.NCPU - 1
    heap = ["record", "--heap", "--heap-min-age", "1", "-c", "nt-leaker"]
    observers = [("untraced", bench.Observer),
                 ("record", lambda: bench.NeuTracer("record", ["record"])),
                 ("record --heap", lambda: bench.NeuTracer("record --heap", heap)),
                 ("record --heap --heap-sample 100", lambda: bench.NeuTracer(
                     "record --heap --heap-sample 100", heap + ["--heap-sample", "100"])),
                 ("bpftrace malloc/free", lambda: bench.Bpftrace("bpftrace malloc/free", BPFTRACE_LEAKS))]
    runner = workload(pairs, cpu)
    started = time.monotonic()
    with sched_io.bench_session([bench.NEUTRACER, NT_LEAKER]) as bpf_stats:
        print(f"malloc/free pairs: {pairs} on CPU {cpu}", file=sys.stderr)
        runner()  # warm-up, not counted
        ratio_runs, cost_runs = sched_io.measured(bpf_stats, observers, rounds, runner, "pairs")
    duration = time.monotonic() - started

    names = [name for name, _ in observers[1:]]
    lines = sched_io.report_head(
        "NeuTracer heap tracing (--heap): cost beside bpftrace", "heap.py", args, duration,
        f"{rounds} alternating rounds",
        "for the ns per event (the programs' bodies only: the uprobe's trap into the kernel and back, which "
        "dominates, is in the throughput ratios alone).",
        "The tools: `neutracer record` with its default collectors (heap tracing off); `neutracer record "
        "--heap -c nt-leaker` (uprobes on malloc, calloc, realloc, the aligned allocators, mmap, free and "
        "munmap; every block kept with its user stack until it is freed), and with `--heap-sample 100`; "
        "bpftrace 0.17 with uprobes on malloc (entry and return) and free doing the same for malloc and free "
        "only (size per thread at entry; block, size and user stack at return; deleted at free), for the "
        "same process name. The script is in bench/heap.py.", ratio_runs)
    lines += sched_io.item_lines(f"malloc/free pairs, {pairs} of them (`nt-leaker --pairs {pairs}`, on CPU {cpu})",
                                 ratio_runs, cost_runs, names, PER_PAIR_PROGRAM, "calls/s", "malloc+free pair")
    lines += ["", "## Raw runs", ""] + bench.raw_table(ratio_runs, "calls/s") + [""]
    bench.publish(lines, args.out)
    if args.smoke:
        sched_io.smoke_gate("heap", cost_runs, PER_PAIR_PROGRAM, "record --heap", "bpftrace malloc/free", "pair")


if __name__ == "__main__":
    main()
