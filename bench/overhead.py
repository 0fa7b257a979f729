"""What NeuTracer costs a real workload, measured side by side in one run (issue 6, items 1 and 4).

iperf3 TCP over loopback, alternating (the order rotates every round) between no tracer and each
NeuTracer mode; for each traced run: the throughput ratio traced/untraced against the untraced
run of the same round, the agent's CPU seconds per second and per GB moved, and its peak RSS.
A separate run per mode with BPF statistics on gives the per-event cost of every program.
Beside each run: load average, steal time and the CPU other tasks used, so that runs polluted by
a neighbour are marked rather than averaged in silently.

Usage: /usr/bin/python3 bench/overhead.py [--seconds S] [--rounds N] [--out FILE]"""
import argparse
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
NEUTRACER = os.path.join(os.environ.get("NT_BUILD_DIR", os.path.join(REPO, "build")), "src", "neutracer")
MODES = {
    "record": ["record", "-o", "/dev/null"],
    "trace": ["trace", "-o", "/dev/null"],
    "packets": ["record", "--packets", "-o", "/dev/null"],
}
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_times():
    """(total, idle, steal) jiffies of the whole machine."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(fields), fields[3] + fields[4], fields[7]


def process_cpu_s(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def peak_rss(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


def start_agent(args):
    out = tempfile.NamedTemporaryFile(prefix="nt-bench-", suffix=".jsonl", delete=False)
    argv = [NEUTRACER] + [a if a != "/dev/null" else out.name for a in args]
    agent = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if os.path.getsize(out.name) > 0 or agent.poll() is not None:
            break
        time.sleep(0.05)
    if agent.poll() is not None:
        sys.exit(f"overhead.py: agent failed: {agent.stderr.read().strip()}")
    return agent, out.name


def stop_agent(agent, path):
    agent.send_signal(signal.SIGINT)
    agent.wait(timeout=60)
    summary = None
    with open(path) as f:
        for line in f:
            if '"type":"summary"' in line:
                summary = json.loads(line)
    os.unlink(path)
    return summary


def iperf(seconds):
    port = free_port()
    server = subprocess.Popen(["iperf3", "-s", "-1", "-p", str(port)], stdout=subprocess.DEVNULL)
    time.sleep(0.3)
    result = json.loads(subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "-J"],
                                       check=True, stdout=subprocess.PIPE).stdout)
    server.wait(timeout=30)
    return result["end"]["sum_received"]["bytes"], result["end"]["sum_received"]["bits_per_second"]


def one_run(mode, seconds):
    before_total, before_idle, before_steal = cpu_times()
    load = os.getloadavg()[0]
    agent = path = None
    if mode != "untraced":
        agent, path = start_agent(MODES[mode])
        agent_cpu0 = process_cpu_s(agent.pid)
    start = time.monotonic()
    moved, bps = iperf(seconds)
    elapsed = time.monotonic() - start
    run = {"mode": mode, "bps": bps, "bytes": moved, "load1": load}
    if agent:
        run["agent_cpu_s"] = process_cpu_s(agent.pid) - agent_cpu0
        run["agent_peak_rss"] = peak_rss(agent.pid)
        stop_agent(agent, path)
        run["agent_cpu_per_s"] = run["agent_cpu_s"] / elapsed
        run["agent_cpu_s_per_gb"] = run["agent_cpu_s"] / (moved / 1e9)
    after_total, after_idle, after_steal = cpu_times()
    total = max(after_total - before_total, 1)
    run["steal_pct"] = 100 * (after_steal - before_steal) / total
    run["busy_pct"] = 100 * (1 - (after_idle - before_idle) / total)
    # Polluted: a neighbour stole time, or the load says something else competed for the 2 cores.
    run["polluted"] = run["steal_pct"] > 5 or load > os.cpu_count() + 1
    return run


def bpf_costs(mode, seconds):
    agent, path = start_agent(MODES[mode] + ["--bpf-stats"])
    iperf(seconds)
    summary = stop_agent(agent, path)
    return {p["name"]: p for p in summary["bpf_programs"] if p["run_count"]}


def spread(values):
    return f"{statistics.median(values):.3f} [{min(values):.3f}, {max(values):.3f}]"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", default=None, help="write the markdown here (default: stdout)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("overhead.py: must run as root")
    if not os.access(NEUTRACER, os.X_OK):
        sys.exit(f"overhead.py: {NEUTRACER} is not built: run scripts/setup.sh")

    order = ["untraced"] + list(MODES)
    runs = []
    for r in range(args.rounds):
        rotated = order[r % len(order):] + order[:r % len(order)]
        for mode in rotated:
            run = one_run(mode, args.seconds)
            run["round"] = r
            runs.append(run)
    costs = {mode: bpf_costs(mode, args.seconds) for mode in MODES}

    lines = ["# Overhead on iperf3 (TCP, loopback)", "",
             f"Machine: {platform.node()}, {os.cpu_count()} CPUs, kernel {platform.release()}, "
             f"{args.rounds} rounds of {args.seconds} s, modes alternating.", "",
             "| mode | throughput traced/untraced: median [min, max] | agent CPU s/s | agent CPU s/GB | peak RSS MiB |",
             "|---|---|---|---|---|"]
    untraced = {r["round"]: r["bps"] for r in runs if r["mode"] == "untraced"}
    for mode in MODES:
        mine = [r for r in runs if r["mode"] == mode and not r["polluted"]]
        if not mine:
            lines.append(f"| {mode} | every run polluted | | | |")
            continue
        ratios = [r["bps"] / untraced[r["round"]] for r in mine]
        lines.append(f"| {mode} | {spread(ratios)} | {statistics.median(r['agent_cpu_per_s'] for r in mine):.4f} | "
                     f"{statistics.median(r['agent_cpu_s_per_gb'] for r in mine):.5f} | "
                     f"{max(r['agent_peak_rss'] for r in mine) / 2**20:.1f} |")
    lines += ["", "## BPF cost per event (kernel run_time_ns / run_cnt, one run per mode with statistics on)", "",
              "| mode | program | events | ns/event |", "|---|---|---|---|"]
    for mode, programs in costs.items():
        for name, p in sorted(programs.items()):
            lines.append(f"| {mode} | {name} | {p['run_count']} | {p['run_time_ns'] / p['run_count']:.1f} |")
    lines += ["", "## Raw runs", "", "| round | mode | Gbit/s | load1 | steal % | busy % | polluted |",
              "|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['round']} | {r['mode']} | {r['bps'] / 1e9:.2f} | {r['load1']:.2f} | "
                     f"{r['steal_pct']:.1f} | {r['busy_pct']:.0f} | {'yes' if r['polluted'] else ''} |")
    text = "\n".join(lines) + "\n"
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    print(text)


if __name__ == "__main__":
    main()
