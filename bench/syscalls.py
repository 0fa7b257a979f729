"""What the syscall collector costs, side by side with bpftrace's syscount and syscall-latency
equivalents, in one run; writes bench/SYSCALLS.md.

  1. getppid: `nt-syscalls --getppid N` (tests/helpers/nt_syscalls.cpp), the cheapest syscall there
     is, one after the other: the worst case, where the tracing's fixed cost per call is all there is
     to see. Calls/s untraced, under `neutracer record` (default collectors: the syscalls collector
     off), under `neutracer record --collect syscalls -c nt-syscalls` (the workload only), and
     under bpftrace's syscount (count per pid and syscall at sys_exit) and syscall-latency (entry
     stamped per thread, a log2 histogram per pid and syscall at exit: what the collector keeps)
     equivalents, which watch every process.
  2. 4 KiB preads of a file in the page cache (`nt-syscalls --preads N`): a syscall-heavy I/O loop.
  3. Per program: events and ns per event from the kernel's run-time statistics
     (kernel.bpf_stats_enabled, on in a quarter as many rounds after the throughput rounds), and BPF
     ns per syscall over all of a tool's programs on the workload's path.
Runs alternate (the order rotates every round); ratios are traced/untraced against the untraced run
of the same round, medians over the runs no neighbour polluted (bench/sched_io.py's rules).

Usage: /usr/bin/python3 bench/syscalls.py [--smoke] [--out bench/SYSCALLS.md] [--rounds N]
  --smoke: one short round of each item and a gate on the per-syscall cost (prints a `syscalls gate:`
  line; exits non-zero when the collector costs as much per syscall as bpftrace's latency equivalent)."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402
import sched_io  # noqa: E402

NT_SYSCALLS = os.path.join(bench.BUILD, "tests", "helpers", "nt-syscalls")
BPFTRACE_SYSCOUNT = "tracepoint:raw_syscalls:sys_exit { @calls[pid, args->id] = count(); }"
BPFTRACE_SYSLAT = """
tracepoint:raw_syscalls:sys_enter { @entered[tid] = nsecs; }
tracepoint:raw_syscalls:sys_exit /@entered[tid]/ {
  @us[pid, args->id] = hist((nsecs - @entered[tid]) / 1000); delete(@entered[tid]);
}"""
# The program that runs once per syscall, per tool: the denominator of "BPF ns per syscall".
PER_SYSCALL_PROGRAM = {"record": None, "record --collect syscalls": "exit_syscall", "bpftrace syscount": "sys_exit",
                       "bpftrace latency": "sys_exit"}
TARGET = 0.97  # record with its default collectors, on the syscall-heavy loop


def workload(calls, args, cpu):
    """Calls/s of one run of nt-syscalls, pinned to `cpu`."""
    def run():
        argv = ["taskset", "-c", str(cpu), NT_SYSCALLS, "--getppid", "0", "--failing-opens", "0", "--sleeps", "0",
                "--report", "1", *args]
        result = sched_io.run_helper(argv, timeout=300)
        return {"value": calls / (result["elapsed_ns"] / 1e9), "bytes": 0}
    return run


def main():
    args = sched_io.bench_arguments("SYSCALLS.md", "alternating rounds per item (default 10; smoke 1)",
                                    "one short round per item; gate on the per-call cost")
    rounds = args.rounds or (1 if args.smoke else 10)
    calls = 300_000 if args.smoke else 3_000_000
    cpu = bench.NCPU - 1
    items = {}
    started = time.monotonic()
    with sched_io.bench_session([bench.NEUTRACER, NT_SYSCALLS], tracefs=True) as bpf_stats:
        for item, item_args in (("getppid", ["--getppid", str(calls)]), ("pread", ["--preads", str(calls)])):
            runner = workload(calls, item_args, cpu)
            observers = [("untraced", bench.Observer),
                         ("record", lambda: bench.NeuTracer("record", ["record"])),
                         ("record --collect syscalls", lambda: bench.NeuTracer(
                             "record --collect syscalls", ["record", "--collect", "syscalls", "-c", "nt-syscalls"])),
                         ("bpftrace syscount", lambda: bench.Bpftrace("bpftrace syscount", BPFTRACE_SYSCOUNT)),
                         ("bpftrace latency", lambda: bench.Bpftrace("bpftrace latency", BPFTRACE_SYSLAT))]
            print(f"item {item}: {calls} calls on CPU {cpu}", file=sys.stderr)
            runner()  # warm-up, not counted
            items[item] = sched_io.measured(bpf_stats, observers, rounds, runner, item)
    duration = time.monotonic() - started

    names = ["record", "record --collect syscalls", "bpftrace syscount", "bpftrace latency"]
    all_runs = [r for ratio_runs, _ in items.values() for r in ratio_runs]
    lines = sched_io.report_head(
        "NeuTracer syscall collector: cost beside bpftrace", "syscalls.py", args, duration,
        f"{rounds} alternating rounds per item",
        "for the ns per event (the programs' bodies only: enabling syscall tracepoints also sends every syscall "
        "of every process through the kernel's slower traced path, which only the throughput ratios show).",
        "The tools: `neutracer record` with its default collectors (net: the syscalls collector off), "
        "`neutracer record --collect syscalls -c nt-syscalls` (calls, errnos and a latency histogram per "
        "process and syscall, for the workload only: the filter is asked at every syscall entry); bpftrace "
        "0.17's syscount equivalent (a count per pid and syscall at sys_exit) and syscall-latency equivalent "
        "(sys_enter stamps the thread, sys_exit puts the time into a log2 histogram per pid and syscall), both "
        "for every process. The scripts are in bench/syscalls.py.", all_runs)
    titles = {"getppid": f"1. getppid, {calls} calls one after the other (`nt-syscalls --getppid {calls}`)",
              "pread": f"2. 4 KiB preads of a cached file, {calls} of them (`nt-syscalls --preads {calls}`)"}
    for item, (ratio_runs, cost_runs) in items.items():
        lines += sched_io.item_lines(titles[item], ratio_runs, cost_runs, names, PER_SYSCALL_PROGRAM, "calls/s", "syscall")
        lines += [""]
    lines += [f"Target: >= {TARGET}x untraced for `record` (default collectors) on the syscall-heavy loops.", "",
              "## Raw runs", ""]
    for item, (ratio_runs, _) in items.items():
        lines += [f"### {item} (calls/s)", ""] + bench.raw_table(ratio_runs, "calls/s") + [""]
    bench.publish(lines, args.out)
    if args.smoke:
        gate(items)


def gate(items):
    """Per syscall, all of the collector's programs below all of bpftrace's latency equivalent (the
    same work: a stamp at entry, a histogram at exit), on every item; polluted runs count too."""
    parts, dearer = [], []
    for item, (_, cost_runs) in items.items():
        runs = [dict(r, polluted=False) for r in cost_runs]
        ours = sched_io.per_event(runs, PER_SYSCALL_PROGRAM, "record --collect syscalls")
        theirs = sched_io.per_event(runs, PER_SYSCALL_PROGRAM, "bpftrace latency")
        if not ours or not theirs:
            sched_io.fail(f"no events of {item} for both tools")
        parts.append(f"{item} {ours[0]:.0f} ns/syscall {'<' if ours[0] < theirs[0] else '>='} bpftrace {theirs[0]:.0f}")
        if ours[0] >= theirs[0]:
            dearer.append(item)
    line = "syscalls gate: " + ", ".join(parts)
    if dearer:
        sched_io.fail(f"per-syscall cost not below bpftrace's for {dearer}: {line}")
    print(line, flush=True)


if __name__ == "__main__":
    main()
