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
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402
import sched_io  # noqa: E402

NT_PROBED = os.path.join(bench.BUILD, "tests", "helpers", "nt-probed")
BPFTRACE_CALLS = """
uprobe:libc:getpid /comm == "nt-probed"/ { @start[tid] = nsecs; }
uretprobe:libc:getpid /@start[tid]/ { @calls[pid] = count(); @latency[pid] = hist(nsecs - @start[tid]); delete(@start[tid]); }"""
# The program that runs once per call, per tool: the denominator of "BPF ns per call". bpftrace
# names its uprobe and uretprobe alike (getpid), so its count is two per call.
PER_CALL_PROGRAM = {"record --probe libc:getpid": "probe_entry", "bpftrace uprobe+uretprobe": ("getpid", 2)}


def workload(calls, cpu):
    """getpid calls/s of one run of nt-probed, pinned to `cpu`."""
    def run():
        _, elapsed_ns = sched_io.run_released(["taskset", "-c", str(cpu), NT_PROBED], f"getpid {calls}", 2)
        return {"value": calls / (int(elapsed_ns) / 1e9), "bytes": 0}
    return run


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
    lines = sched_io.report_head(
        "NeuTracer user-function probes (--probe): cost per call beside bpftrace", "probes.py", args, duration,
        f"{rounds} alternating rounds",
        "for the BPF ns per call (the programs' bodies: the uprobe and uretprobe traps, the same for both tools, "
        "are in the throughput ratios alone).",
        "The tools: `neutracer record --collect probes --probe libc:getpid -c nt-probed` (the probes "
        "collector alone); bpftrace 0.17 with a uprobe and a uretprobe on getpid keeping what --probe keeps (a "
        "start time per thread; a count and a log2 latency histogram per process), for the same process name. "
        "The script is in bench/probes.py.", ratio_runs)
    lines += sched_io.item_lines(f"getpid calls, {calls} of them (`nt-probed`, on CPU {cpu})", ratio_runs,
                                 cost_runs, names, PER_CALL_PROGRAM, "calls/s", "call")
    lines += ["", "## Raw runs", ""] + bench.raw_table(ratio_runs, "calls/s") + [""]
    bench.publish(lines, args.out)
    if args.smoke:
        sched_io.smoke_gate("probes", cost_runs, PER_CALL_PROGRAM, "record --probe libc:getpid",
                            "bpftrace uprobe+uretprobe", "call")


if __name__ == "__main__":
    main()
