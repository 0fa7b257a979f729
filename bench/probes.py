"""What --probe costs per call, side by side with bpftrace's uprobe and uretprobe on the same
function, in one run; writes bench/PROBES.md.

The workload: nt-probed calling the C library's getpid N times, pinned to one CPU (a function that
does almost nothing: the tracing's cost per call is all there is to see). Calls/s untraced, under
`neutracer record --collect probes --probe libc:getpid -c nt-probed` (calls, latency histogram and errors per process
and function in the kernel), and under bpftrace doing the same work (a start time per thread at
the entry; at the return, a count and a log2 histogram of the latency per process), for the same
process name. Per tool: BPF ns per call over all of its programs, from the kernel's run-time
statistics (kernel.bpf_stats_enabled, on in a quarter as many rounds after the throughput rounds).
Both tools pay the same uprobe and uretprobe traps, in the throughput ratios alone. Runs alternate
(the order rotates every round); ratios are traced/untraced against the untraced run of the same
round, medians over the runs no neighbour polluted (bench/sched_io.py's rules).

Usage: /usr/bin/python3 bench/probes.py [--smoke] [--out bench/PROBES.md] [--rounds N]
  --smoke: one short round and a gate on the per-call cost (prints a `probes gate:` line; exits
  non-zero when --probe costs as much per call as bpftrace)."""
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402
import sched_io  # noqa: E402

NT_PROBED = os.path.join(bench.BUILD, "tests", "helpers", "nt-probed")
BPFTRACE_CALLS = """
uprobe:libc:getpid /comm == "nt-probed"/ { @start[tid] = nsecs; }
uretprobe:libc:getpid /@start[tid]/ { @calls[pid] = count(); @latency[pid] = hist(nsecs - @start[tid]); delete(@start[tid]); }"""


def workload(calls, cpu):
    """getpid calls/s of one run of nt-probed, pinned to `cpu`."""
    def run():
        _, elapsed_ns = sched_io.run_released(["taskset", "-c", str(cpu), NT_PROBED], f"getpid {calls}", 2)
        return {"value": calls / (int(elapsed_ns) / 1e9), "bytes": 0}
    return run


def per_call(cost_runs, name, calls):
    """BPF ns per getpid call over all of a tool's programs (each run makes `calls` calls)."""
    runs = [r for r in cost_runs if r["observer"] == name and not r["polluted"]]
    if not runs:
        return None
    ns = sum(c["ns"] for r in runs for c in r["programs"].values())
    return ns / (calls * len(runs))


def main():
    args = sched_io.bench_arguments("PROBES.md", "alternating rounds (default 6; smoke 1)",
                                    "one short round; gate on the per-call cost")
    rounds = args.rounds or (1 if args.smoke else 6)
    calls = 20_000 if args.smoke else 200_000
    cpu = bench.NCPU - 1
    observers = [("untraced", bench.Observer),
                 ("record --probe libc:getpid", lambda: bench.NeuTracer(
                     "record --probe libc:getpid", ["record", "--collect", "probes", "--probe", "libc:getpid",
                                                    "-c", "nt-probed"])),
                 ("bpftrace uprobe+uretprobe", lambda: bench.Bpftrace("bpftrace uprobe+uretprobe", BPFTRACE_CALLS))]
    runner = workload(calls, cpu)
    started = time.monotonic()
    with sched_io.bench_session([bench.NEUTRACER, NT_PROBED]) as bpf_stats:
        print(f"getpid calls: {calls} on CPU {cpu}", file=sys.stderr)
        runner()  # warm-up, not counted
        ratio_runs, cost_runs = sched_io.measured(bpf_stats, observers, rounds, runner, "calls")
    duration = time.monotonic() - started

    names = [name for name, _ in observers[1:]]
    command = "/usr/bin/python3 bench/probes.py" + (" --smoke" if args.smoke else "") + \
        (f" --rounds {args.rounds}" if args.rounds else "")
    lines = ["# NeuTracer user-function probes (--probe): cost per call beside bpftrace", "",
             f"Date: {time.strftime('%Y-%m-%d %H:%M %Z')}.", "", f"Machine: {bench.machine()}.", "",
             f"Command: `{command}` ({duration / 60:.1f} min; {rounds} alternating rounds, the order rotating every "
             "round). Ratios are traced/untraced against the untraced run of the same round, over the runs no "
             "neighbour polluted (bench/sched_io.py's rules): median [min, max]. Throughput rounds run with "
             "`kernel.bpf_stats_enabled` off; a quarter as many follow with it on, for the BPF ns per call (the "
             "programs' bodies: the uprobe and uretprobe traps, the same for both tools, are in the throughput "
             "ratios alone).", "",
             "The tools: `neutracer record --collect probes --probe libc:getpid -c nt-probed` (the probes "
             "collector alone); bpftrace 0.17 with a uprobe and a uretprobe on "
             "getpid keeping what --probe keeps (a start time per thread; a count and a log2 latency histogram "
             "per process), for the same process name. The script is in bench/probes.py.", "",
             f"Load1 at the runs' start: median {statistics.median(r['load1'] for r in ratio_runs):.2f}; "
             f"{sum(r['polluted'] for r in ratio_runs)} of {len(ratio_runs)} runs polluted.", "",
             f"## getpid calls, {calls} of them (`nt-probed`, on CPU {cpu})", "",
             "| observer | calls/s traced/untraced: median [min, max] | BPF ns per call | tool CPU s/s | peak RSS MiB |",
             "|---|---|---|---|---|"]
    for name in names:
        mine = [r for r in ratio_runs if r["observer"] == name and not r["polluted"]]
        if not mine:
            lines.append(f"| {name} | all runs polluted | | | |")
            continue
        cost = per_call(cost_runs, name, calls)
        cpu_share = sum(r["cpu_s"] for r in mine) / sum(r["elapsed"] for r in mine)
        lines.append(f"| {name} | {bench.fmt_ratio(bench.ratios(ratio_runs, name))} | "
                     f"{f'{cost:.0f}' if cost else '-'} | {cpu_share:.4f} | {max(r['peak_rss'] for r in mine) / 2**20:.1f} |")
    base = [r["value"] for r in ratio_runs if r["observer"] == "untraced" and not r["polluted"]]
    if base:
        lines += ["", f"Untraced: median {statistics.median(base):.4g} calls/s [{min(base):.4g}, {max(base):.4g}]."]
    lines += ["", "| observer | program | events | ns/event |", "|---|---|---|---|"]
    for name in names:
        for prog, (events, ns, _, _) in sorted(bench.costs_of(cost_runs, name).items()):
            lines.append(f"| {name} | {prog} | {events} | {ns:.1f} |")
    lines += ["", "## Raw runs", ""] + bench.raw_table(ratio_runs, "calls/s") + [""]
    bench.publish(lines, args.out)
    if args.smoke:
        ours, theirs = (per_call(cost_runs, n, calls) for n in names)
        if not ours or not theirs:
            sched_io.fail("no getpid calls seen by both tools")
        line = f"probes gate: {ours:.0f} ns/call {'<' if ours < theirs else '>='} bpftrace {theirs:.0f}"
        if ours >= theirs:
            sched_io.fail(f"per-call cost not below bpftrace's: {line}")
        print(line, flush=True)


if __name__ == "__main__":
    main()
