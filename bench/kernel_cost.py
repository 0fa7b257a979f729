"""Per-event cost of the byte-counting hooks this kernel gave the agent, beside bpftrace's equivalent on
the same kernel: the sock tracepoints where they exist (6.3+), fexit on the inet send and receive paths
where they do not. Meant to run in each VM of the kernel matrix (bench/kernels.sh) and on the host.

Rounds alternate `record` and bpftrace (each first once) on iperf3 over loopback and on 64-byte TCP
request/response; kernel.bpf_stats_enabled gives each program's run time. Prints one markdown section.

Usage: /usr/bin/python3 bench/kernel_cost.py [--seconds S] [--rounds N]"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402

# bpftrace's equivalent of the fexit path: the same four functions, bytes summed by pid.
BPFTRACE_FEXIT_BY_PID = " ".join(
    f"kretfunc:{fn} /retval > 0/ {{ @{'tx' if 'send' in fn else 'rx'}[pid] = sum(retval); }}"
    for fn in ("inet_sendmsg", "inet6_sendmsg", "inet_recvmsg", "inet6_recvmsg"))


def accounting_path():
    """How this kernel lets the agent count bytes: "tp" or "fexit" (the start record says)."""
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as out:
        subprocess.run([bench.NEUTRACER, "record", "--duration", "0.2", "--no-detect", "-o", out.name], check=True,
                       stderr=subprocess.DEVNULL, timeout=120)
        start = json.loads(open(out.name).readline())
    return start["features"]["net.accounting"]["via"]


def direction_costs(runs, observer, ours):
    """"send"/"recv" -> (events, ns per event) over the observer's runs: our count_* programs, or
    bpftrace's programs named after the send or receive hook."""
    sums = {}
    for r in runs:
        if r["observer"] != observer:
            continue
        for name, c in r["programs"].items():
            if ours and not name.startswith("count_"):
                continue
            for direction in ("send", "recv"):
                if direction in name:
                    s = sums.setdefault(direction, [0, 0])
                    s[0] += c["events"]
                    s[1] += c["ns"]
    return {d: (e, ns / e) for d, (e, ns) in sums.items() if e}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    if not bench.tracefs_mounted():
        subprocess.run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"], check=True)
    stats_before = open("/proc/sys/kernel/bpf_stats_enabled").read().strip()
    subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=True)
    try:
        runs, via = measure(args)
    finally:
        subprocess.run(["sysctl", "-qw", f"kernel.bpf_stats_enabled={stats_before}"], check=True)
    report(runs, via, args)


def measure(args):
    via = accounting_path()
    script = bench.BPFTRACE_BY_PID if via == "tp" else BPFTRACE_FEXIT_BY_PID
    workloads = {"iperf3": lambda: bench.iperf3(args.seconds), "rr-tcp": lambda: bench.rr("tcp", args.seconds)}
    runs = {name: [] for name in workloads}
    for name, workload in workloads.items():
        for r in range(args.rounds):
            pair = [bench.NeuTracer("record", ["record", "--no-detect"]), bench.Bpftrace("bpftrace", script)]
            for observer in pair if r % 2 == 0 else pair[::-1]:
                run = bench.observed_run(observer, workload)
                print(f"  {name} round {r} {observer.name}: {run['value']:.4g}", file=sys.stderr, flush=True)
                runs[name].append(run)
    return runs, via


def report(runs, via, args):
    lines = [f"## Kernel {platform.release()}: accounting through `{via}`", "",
             f"Machine: {bench.machine()}.", "",
             f"{args.rounds} alternating rounds of {args.seconds:g} s per workload; ns per event from "
             "kernel.bpf_stats_enabled (the statistics' own clock reads included, the same for both).", "",
             "| workload | direction | NeuTracer events | NeuTracer ns/event | bpftrace events | bpftrace ns/event | "
             "ratio |", "|---|---|---|---|---|---|---|"]
    for name, workload_runs in runs.items():
        ours, theirs = direction_costs(workload_runs, "record", True), direction_costs(workload_runs, "bpftrace", False)
        for direction in ("send", "recv"):
            if direction in ours and direction in theirs:
                lines.append(f"| {name} | {direction} | {ours[direction][0]} | {ours[direction][1]:.0f} | "
                             f"{theirs[direction][0]} | {theirs[direction][1]:.0f} | "
                             f"{ours[direction][1] / theirs[direction][1]:.2f} |")
    print("\n".join(lines) + "\n", flush=True)


if __name__ == "__main__":
    main()
