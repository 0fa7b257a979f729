"""What NeuTracer costs and how right it is, side by side with what users would pick instead.

One command runs every item of the benchmark and writes bench/RESULTS.md:
  1. iperf3 TCP over loopback: throughput traced/untraced, for NeuTracer's modes, bpftrace, nethogs;
  2. 64-byte request/response over TCP and UDP (bench/nt_rr.cpp): transactions/s traced/untraced;
  3. PyTorch DDP (gloo, 2 ranks, loopback, fixed steps): median step time traced/untraced;
  4. BPF ns per event and per second per program, agent CPU per second and per GB, peak RSS, and the
     same with 10,000 concurrent flows (bench/flows.py);
  5. bpftrace (the same two socket tracepoints, summed by pid) and nethogs (-t -a -C) in the same
     alternating runs as 1-3;
  6. accuracy beside the seed's design (packet hooks charged to `current`): share of each
     direction's bytes charged to the right process, on iperf3 and on DDP.
Runs alternate (the order rotates every round); beside each run: load average, steal time and the
CPU other tasks used; runs polluted by a neighbour are marked and left out of the medians.
kernel.bpf_stats_enabled is on during every traced run (the per-program costs come from the same
runs), so the ratios include the statistics' own clock reads.

Usage: /usr/bin/python3 bench/run.py [--smoke] [--out bench/RESULTS.md]
  --smoke: a few seconds per item, every item, and a gate on the per-event cost target (ctest)."""
import argparse
import atexit
import json
import os
import platform
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.environ.get("NT_BUILD_DIR", os.path.join(REPO, "build"))
NEUTRACER = os.path.join(BUILD, "src", "neutracer")
NT_RR = os.path.join(BUILD, "bench", "nt-rr")
PYTHON = "/usr/bin/python3"  # Debian's, with python3-torch
CLK_TCK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count()

# What a user would script with bpftrace: the same two tracepoints NeuTracer uses, summed by pid.
BPFTRACE_BY_PID = ("tracepoint:sock:sock_send_length /args->ret > 0/ { @tx[pid] = sum(args->ret); } "
                   "tracepoint:sock:sock_recv_length /args->ret > 0/ { @rx[pid] = sum(args->ret); }")
# The seed's design: packet hooks, charged to whatever task `current` is. Keyed also by the local
# end's TCP port (sender's source, receiver's destination), for the evaluation only: who owns that
# port is who should have been charged.
BPFTRACE_SEED = """
tracepoint:net:net_dev_queue {
  $skb = (struct sk_buff *)args->skbaddr;
  $ip = (struct iphdr *)($skb->head + $skb->network_header);
  if ($ip->version == 4 && $ip->protocol == 6) {
    $tcp = (struct tcphdr *)($skb->head + $skb->network_header + $ip->ihl * 4);
    @tx[pid, (($tcp->source & 0xff) << 8) | ($tcp->source >> 8)] = sum(args->len);
  }
}
tracepoint:net:netif_receive_skb {
  $skb = (struct sk_buff *)args->skbaddr;
  $ip = (struct iphdr *)($skb->head + $skb->network_header);
  if ($ip->version == 4 && $ip->protocol == 6) {
    $tcp = (struct tcphdr *)($skb->head + $skb->network_header + $ip->ihl * 4);
    @rx[pid, (($tcp->dest & 0xff) << 8) | ($tcp->dest >> 8)] = sum(args->len);
  }
}"""
# An empty program on the same tracepoints: what the kernel's run-time statistics cost by themselves.
BPFTRACE_EMPTY = ("tracepoint:sock:sock_send_length { } tracepoint:sock:sock_recv_length { }")

# Per-event cost targets of the default-mode programs: at most 150 ns each, net of the statistics'
# own floor (reported), and cheaper than what a user would script with bpftrace on the same
# tracepoints (gated): the event-weighted mean over the iperf3 and TCP request/response runs of
# `record` against the same for bpftrace's script, runs alternating. A ratio of runs side by side
# holds whatever the host's speed; absolute nanoseconds do not on this VM (the same code measured
# count_send at 155 ns raw in iperf3 one day and 278 ns another).
COST_TARGET_NS = 150
GATED_PROGRAMS = ("count_send", "count_recv")


def fail(message):
    sys.exit(f"bench/run.py: {message}")


STARTED = []  # observers still running when the bench stops early are stopped with it


@atexit.register
def stop_leftovers():
    for proc in STARTED:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def spawn(argv, **kwargs):
    kwargs.setdefault("stdout", subprocess.DEVNULL)
    proc = subprocess.Popen(argv, **kwargs)
    STARTED.append(proc)
    return proc


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    fail(f"timed out waiting for {what}")


def process_cpu_s(pid):
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def peak_rss(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except FileNotFoundError:
        pass
    return 0


def machine_jiffies():
    """(total, idle, steal) jiffies of the whole machine."""
    fields = [int(x) for x in open("/proc/stat").readline().split()[1:]]
    return sum(fields), fields[3] + fields[4], fields[7]


def our_cpu_s():
    """CPU of this script and every child it has waited for."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def bpf_programs():
    """id -> (name, None, run_cnt, run_time_ns) of every loaded BPF program."""
    out = subprocess.run(["bpftool", "prog", "show", "-j"], check=True, stdout=subprocess.PIPE, text=True).stdout
    return {p["id"]: (p.get("name", "?"), None, p.get("run_cnt", 0), p.get("run_time_ns", 0))
            for p in json.loads(out or "[]")}


class Environment:
    """Load, steal and other tasks' CPU over one run."""

    def __enter__(self):
        self.load1 = os.getloadavg()[0]
        self.jiffies = machine_jiffies()
        self.ours = our_cpu_s()
        self.start = time.monotonic()
        return self

    def close(self):
        total, idle, steal = (b - a for a, b in zip(self.jiffies, machine_jiffies()))
        total = max(total, 1)
        elapsed = time.monotonic() - self.start
        busy_s = (total - idle - steal) / CLK_TCK
        others = max(0.0, busy_s - (our_cpu_s() - self.ours))  # every tool and workload has been waited for
        env = {"load1": self.load1, "steal_pct": 100 * steal / total, "others_pct": 100 * others / elapsed}
        # Polluted: a neighbour stole time, or something else competed for the cores.
        env["polluted"] = env["steal_pct"] > 5 or self.load1 > NCPU + 1
        return env

    def __exit__(self, *exc):
        pass


# ---------------------------------------------------------------- observers


class Observer:
    """A tool watching the workload: started before it, stopped after it."""
    name = "untraced"

    def start(self):
        self.pid = None

    def stop(self):
        return {}

    def cpu_s(self):
        return process_cpu_s(self.pid) if self.pid else 0.0


class NeuTracer(Observer):
    def __init__(self, name, args):
        self.name, self.args = name, args

    def start(self):
        self.out = tempfile.NamedTemporaryFile(prefix="nt-bench-", suffix=".jsonl", delete=False).name
        self.proc = spawn([NEUTRACER] + self.args + ["-o", self.out], stderr=subprocess.PIPE, text=True)
        self.pid = self.proc.pid
        wait_until(lambda: os.path.getsize(self.out) > 0 or self.proc.poll() is not None, 30, "neutracer")
        if self.proc.poll() is not None:
            fail(f"neutracer failed: {self.proc.stderr.read().strip()}")
        self.cpu0 = self.cpu_s()

    def stop(self):
        cpu = self.cpu_s() - self.cpu0
        rss = peak_rss(self.pid)
        self.proc.send_signal(signal.SIGINT)
        self.proc.communicate(timeout=60)
        records = [json.loads(line) for line in open(self.out) if line.strip()]
        os.unlink(self.out)
        return {"cpu_s": cpu, "peak_rss": rss, "records": records}


class Bpftrace(Observer):
    def __init__(self, name, script):
        self.name, self.script = name, script

    def start(self):
        self.out = tempfile.NamedTemporaryFile(prefix="nt-bench-bt-", delete=False).name
        self.proc = spawn(["bpftrace", "-f", "json", "-e", self.script], stdout=open(self.out, "w"),
                          stderr=subprocess.PIPE, text=True)
        self.pid = self.proc.pid
        wait_until(lambda: "attached_probes" in open(self.out).read() or self.proc.poll() is not None, 60, "bpftrace")
        if self.proc.poll() is not None:
            fail(f"bpftrace failed: {self.proc.stderr.read().strip()}")
        # bpftrace says how many probes it attaches before it attaches them (uprobes take a while):
        # each is a perf event, beside one output buffer per CPU.
        probes = next(json.loads(line)["data"]["probes"] for line in open(self.out) if "attached_probes" in line)
        deadline = time.monotonic() + 10
        while self.perf_events() < probes + NCPU and time.monotonic() < deadline and self.proc.poll() is None:
            time.sleep(0.05)
        self.cpu0 = self.cpu_s()

    def perf_events(self):
        count = 0
        for fd in os.listdir(f"/proc/{self.pid}/fd"):
            try:
                count += os.readlink(f"/proc/{self.pid}/fd/{fd}") == "anon_inode:[perf_event]"
            except OSError:
                pass
        return count

    def stop(self):
        cpu = self.cpu_s() - self.cpu0
        rss = peak_rss(self.pid)
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            # Seen rarely with uretprobes attached: bpftrace never returns from SIGINT. Its kernel
            # stack is shown, it is killed, and the run is marked polluted rather than lost.
            stack = open(f"/proc/{self.pid}/stack").read() if os.path.exists(f"/proc/{self.pid}/stack") else "?"
            print(f"bpftrace did not exit in 60 s after SIGINT; kernel stack:\n{stack}", file=sys.stderr)
            self.proc.kill()
            self.proc.communicate()
            os.unlink(self.out)
            return {"cpu_s": cpu, "peak_rss": rss, "maps": {}, "polluted": True}
        maps = {}
        for line in open(self.out):
            if line.strip().startswith("{"):
                record = json.loads(line)
                if record.get("type") == "map":
                    for name, values in record["data"].items():
                        maps[name.lstrip("@")] = {tuple(int(x) for x in k.split(",")) if "," in k else int(k): v
                                                  for k, v in values.items()}
        os.unlink(self.out)
        return {"cpu_s": cpu, "peak_rss": rss, "maps": maps}


class Nethogs(Observer):
    name = "nethogs"

    def start(self):
        self.out = tempfile.NamedTemporaryFile(prefix="nt-bench-nh-", delete=False).name
        self.proc = spawn(["nethogs", "-t", "-a", "-C", "-d", "1", "-v", "2"], stdout=open(self.out, "w"),
                          stderr=subprocess.DEVNULL)
        self.pid = self.proc.pid
        wait_until(lambda: "Refreshing" in open(self.out).read() or self.proc.poll() is not None, 30, "nethogs")
        if self.proc.poll() is not None:
            fail("nethogs exited at start")
        self.cpu0 = self.cpu_s()
        self.drops0 = self.drops()

    def drops(self):
        """Packets the kernel dropped on nethogs's capture sockets (ss: skmem d<N>)."""
        out = subprocess.run(["ss", "-0", "-a", "-e", "-m", "-p"], stdout=subprocess.PIPE, text=True).stdout
        total, mine = 0, False
        for line in out.splitlines():
            if "users:" in line:
                mine = f"pid={self.pid}," in line
            match = re.search(r"skmem:\(.*?,d(\d+)\)", line)
            if match and mine:
                total += int(match.group(1))
        return total

    def stop(self):
        cpu = self.cpu_s() - self.cpu0
        rss = peak_rss(self.pid)
        drops = self.drops() - self.drops0
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.unlink(self.out)
        return {"cpu_s": cpu, "peak_rss": rss, "drops": drops}


def observers(names):
    table = {
        "untraced": Observer(),
        "record": NeuTracer("record", ["record"]),
        "trace": NeuTracer("trace", ["trace"]),
        "packets": NeuTracer("packets", ["record", "--packets"]),
        "bpftrace": Bpftrace("bpftrace", BPFTRACE_BY_PID),
        "nethogs": Nethogs(),
    }
    return [table[n] for n in names]


# ---------------------------------------------------------------- workloads


def iperf3(seconds):
    port = free_port()
    server = spawn(["iperf3", "-s", "-1", "-p", str(port)], stdout=subprocess.DEVNULL)
    time.sleep(0.3)
    client = spawn(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-t", str(seconds), "-J"],
                              stdout=subprocess.PIPE, text=True)
    result = json.loads(client.communicate()[0])
    server.wait(timeout=30)
    end = result["end"]
    return {"value": end["sum_received"]["bits_per_second"], "bytes": end["sum_sent"]["bytes"],
            "received": end["sum_received"]["bytes"], "client": client.pid, "server": server.pid,
            "data_port": result["start"]["connected"][0]["local_port"]}


def rr(proto, seconds):
    server = spawn([NT_RR, "serve", "--proto", proto], stdout=subprocess.PIPE, text=True)
    port = json.loads(server.stdout.readline())["port"]
    out = subprocess.run([NT_RR, "client", "--proto", proto, "--port", str(port), "--seconds", str(seconds)],
                         check=True, stdout=subprocess.PIPE, text=True).stdout
    server.kill()
    server.wait()
    result = json.loads(out)
    return {"value": result["tps"], "bytes": 2 * 64 * result["transactions"]}


def ddp(steps):
    out = subprocess.run([PYTHON, os.path.join(REPO, "scripts", "ddp_demo.py"), "--steps", str(steps)], check=True,
                         stdout=subprocess.PIPE, text=True).stdout
    ranks = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    ranks.sort(key=lambda r: r["rank"])
    return {"value": statistics.median(r["median_step_ms"] for r in ranks), "ranks": [r["pid"] for r in ranks],
            "bytes": 0}


# ---------------------------------------------------------------- runs


def observed_run(observer, workload):
    """One run of the workload under one observer, with the environment and BPF costs beside it."""
    with Environment() as env:
        existing = set(bpf_programs())
        observer.start()
        before = {i: p for i, p in bpf_programs().items() if i not in existing}  # the observer's programs
        result = workload()
        after = bpf_programs() if observer.pid else {}
        seen = observer.stop()
        run = {"observer": observer.name, **result, **env.close(), **seen}
    run["elapsed"] = time.monotonic() - env.start
    programs = {}
    # A program that shows up only after the snapshot (a tool that says it attached a moment before
    # the kernel lists its programs, as bpftrace can under emulation) counts from zero.
    for prog_id, (name, _, count, ns) in after.items():
        if prog_id in existing:
            continue
        _, _, count0, ns0 = before.get(prog_id, (name, None, 0, 0))
        if count > count0:
            programs[name] = {"events": count - count0, "ns": ns - ns0}
    run["programs"] = programs
    return run


def alternate(names, rounds, workload):
    runs = []
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for observer in observers(order):
            run = observed_run(observer, workload)
            run["round"] = r
            runs.append(run)
            print(f"  round {r} {observer.name}: {run['value']:.4g}", file=sys.stderr, flush=True)
    return runs


def ratios(runs, name):
    """Traced/untraced of the same round, clean runs only: (median, min, max, n)."""
    base = {r["round"]: r["value"] for r in runs if r["observer"] == "untraced" and not r["polluted"]}
    values = [r["value"] / base[r["round"]] for r in runs
              if r["observer"] == name and not r["polluted"] and r["round"] in base]
    if not values:
        return None
    return statistics.median(values), min(values), max(values), len(values)


def fmt_ratio(ratio):
    return "all runs polluted" if ratio is None else f"{ratio[0]:.3f} [{ratio[1]:.3f}, {ratio[2]:.3f}] (n={ratio[3]})"


def mean_costs(run_sets, observer):
    """program -> ns per event, event-weighted over the observer's clean runs in all the sets."""
    events, ns = {}, {}
    for runs in run_sets:
        for r in runs:
            if r["observer"] != observer or r["polluted"]:
                continue
            for name, c in r["programs"].items():
                events[name] = events.get(name, 0) + c["events"]
                ns[name] = ns.get(name, 0) + c["ns"]
    return {name: ns[name] / events[name] for name in events if events[name]}


def costs_of(runs, name):
    """program -> (events, ns/event, events/s, BPF ms/s), summed over the observer's clean runs."""
    sums = {}
    elapsed = sum(r["elapsed"] for r in runs if r["observer"] == name and not r["polluted"])
    for r in runs:
        if r["observer"] != name or r["polluted"]:
            continue
        for prog, c in r["programs"].items():
            s = sums.setdefault(prog, [0, 0])
            s[0] += c["events"]
            s[1] += c["ns"]
    return {p: (e, ns / e, e / elapsed, ns / 1e6 / elapsed) for p, (e, ns) in sums.items() if e and elapsed}


# ---------------------------------------------------------------- items


def tracefs_mounted():
    return os.path.isdir("/sys/kernel/tracing/events")


# bpftrace names a program after its probe, cut to 15 characters.
BPFTRACE_TWIN = {"count_send": "sock_send_lengt", "count_recv": "sock_recv_lengt"}


def floor_cost(seconds):
    """The kernel statistics' own cost per event: an empty program on the same tracepoints."""
    empty = Bpftrace("empty", BPFTRACE_EMPTY)
    run = observed_run(empty, lambda: iperf3(seconds))
    total_events = sum(c["events"] for c in run["programs"].values())
    total_ns = sum(c["ns"] for c in run["programs"].values())
    return total_ns / total_events if total_events else 0.0, run


def flows_item(count, seconds, agent_args=()):
    """Agent CPU and RSS with `count` concurrent flows (connected UDP sockets, one datagram/s each)."""
    record = NeuTracer("record", ["record", *agent_args])
    record.start()
    generator = spawn([PYTHON, os.path.join(REPO, "bench", "flows.py"), "--flows", str(count),
                                  "--seconds", str(seconds)], stdout=subprocess.PIPE, text=True)
    ready = json.loads(generator.stdout.readline())  # sockets open: measure from here
    cpu0, t0 = record.cpu_s(), time.monotonic()
    report = json.loads(generator.stdout.readline())
    cpu, elapsed = record.cpu_s() - cpu0, time.monotonic() - t0
    generator.wait()
    seen = record.stop()
    flows = {}
    for r in seen["records"]:
        if r["type"] == "flow" and r["pid"] == generator.pid:
            flows[(r["proto"], r["sport"], r["dport"])] = r
    summary = next((r for r in seen["records"] if r["type"] == "summary"), {})
    return {"flows": count, "sockets": ready["sockets"], "datagrams": report["datagrams"],
            "cpu_per_s": cpu / elapsed, "peak_rss": seen["peak_rss"], "flow_records": len(flows),
            "loss": summary.get("loss", {}), "anomaly_series": summary.get("anomaly_series_peak", 0),
            "watch_s": summary.get("anomaly_watch_seconds", 0), "duration_s": summary.get("duration_s", 0),
            "args": " ".join(agent_args)}


def tcp_port_owners():
    """local TCP port -> owning pid, from the kernel's socket table (ss)."""
    out = subprocess.run(["ss", "-tanpH"], stdout=subprocess.PIPE, text=True).stdout
    owners = {}
    for line in out.splitlines():
        fields = line.split()
        users = re.search(r"pid=(\d+)", line)
        if len(fields) >= 4 and users:
            owners[int(fields[3].rsplit(":", 1)[1])] = int(users.group(1))
    return owners


def with_port_owners(workload):
    """Runs the workload while sampling who owns each TCP port, every 0.3 s."""
    owners, done = {}, threading.Event()

    def sample():
        while not done.is_set():
            owners.update(tcp_port_owners())
            done.wait(0.3)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        result = workload()
    finally:
        done.set()
        sampler.join()
    return result, owners


def share_right(charged, owners, pids):
    """charged: (pid, local port) -> bytes. Of the bytes on ports the workload's processes own, the share
    charged to the port's owner."""
    right = total = 0
    for (pid, port), nbytes in charged.items():
        if owners.get(port) in pids:
            total += nbytes
            right += nbytes if owners[port] == pid else 0
    return right / total if total else 0.0


def neutracer_by_port(records):
    """(pid, local port) -> bytes sent and received, from the final flow records."""
    last = {}
    for r in records:
        if r["type"] == "flow" and r["proto"] == "tcp":
            last[(r["pid"], r["sport"], r["daddr"], r["dport"])] = r
    tx, rx = {}, {}
    for (pid, sport, _, _), r in last.items():
        tx[(pid, sport)] = tx.get((pid, sport), 0) + r["tx_bytes"]
        rx[(pid, sport)] = rx.get((pid, sport), 0) + r["rx_bytes"]
    return tx, rx, last


IPERF3_COOKIE = 37  # iperf3 opens each stream by sending a 37-byte cookie, not counted in its report


def accuracy_item(iperf_seconds, ddp_steps):
    """NeuTracer and the seed's hooks watch the same runs; `ss` says who owns each port."""
    out = {}
    for name, workload in (("iperf3", lambda: iperf3(iperf_seconds)), ("ddp", lambda: ddp(ddp_steps))):
        ours, seed = NeuTracer("record", ["record"]), Bpftrace("seed", BPFTRACE_SEED)
        ours.start()
        seed.start()
        result, owners = with_port_owners(workload)
        seen_seed, seen_ours = seed.stop(), ours.stop()
        pids = {result["client"], result["server"]} if name == "iperf3" else set(result["ranks"])
        our_tx, our_rx, flows = neutracer_by_port(seen_ours["records"])
        item = {"ours": (share_right(our_tx, owners, pids), share_right(our_rx, owners, pids)),
                "seed": (share_right(seen_seed["maps"].get("tx", {}), owners, pids),
                         share_right(seen_seed["maps"].get("rx", {}), owners, pids))}
        if name == "iperf3":
            data = [(k, r) for k, r in flows.items() if k[0] == result["client"] and k[1] == result["data_port"]]
            served = [r for k, r in flows.items() if k[0] == result["server"] and k[3] == result["data_port"]]
            item.update(truth_sent=result["bytes"] + IPERF3_COOKIE, truth_received=result["received"] + IPERF3_COOKIE,
                        ours_sent=data[0][1]["tx_bytes"] if data else 0,
                        ours_received=served[0]["rx_bytes"] if served else 0)
        else:
            # Between the ranks, every byte one sent on a connection the other received on its end.
            ports = {(r["pid"], r["sport"], r["dport"]): r for r in flows.values() if r["pid"] in pids}
            mismatch, between = 0, 0
            for (pid, sport, dport), r in ports.items():
                peer = next((p for (p, s, d) in ports if p != pid and s == dport and d == sport), None)
                if peer is not None:
                    between += r["tx_bytes"]
                    mismatch += abs(r["tx_bytes"] - ports[(peer, dport, sport)]["rx_bytes"])
            item.update(between_ranks=between, mismatch=mismatch)
        out[name] = item
    return out


# ---------------------------------------------------------------- report


def machine():
    model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))

    def version(argv):
        try:
            return subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True).stdout.split(
                "\n")[0].strip()
        except OSError:
            return "missing"

    return (f"{platform.node()}: {model}, {NCPU} CPUs, {mem / 2**20:.1f} GiB, kernel {platform.release()}; "
            f"{version(['iperf3', '--version'])}; bpftrace {version(['bpftrace', '--version'])}; "
            f"nethogs {version(['nethogs', '-V'])}")


def publish(lines, out):
    """The report: to `out` when given, and to stdout."""
    text = "\n".join(lines) + "\n"
    if out:
        with open(out, "w") as f:
            f.write(text)
    print(text)


def raw_table(runs, unit):
    lines = [f"| round | observer | {unit} | tool CPU s | load1 | steal % | others % | polluted |",
             "|---|---|---|---|---|---|---|---|"]
    for r in runs:
        lines.append(f"| {r['round']} | {r['observer']} | {r['value']:.4g} | {r.get('cpu_s', 0):.2f} | "
                     f"{r['load1']:.2f} | {r['steal_pct']:.1f} | {r['others_pct']:.0f} | "
                     f"{'yes' if r['polluted'] else ''} |")
    return lines


def overhead_table(runs, names, label):
    lines = [f"| observer | {label}: median [min, max] | tool CPU s/s | tool CPU s/GB | peak RSS MiB | BPF ms/s |",
             "|---|---|---|---|---|---|"]
    for name in names:
        if name == "untraced":
            continue
        mine = [r for r in runs if r["observer"] == name and not r["polluted"]]
        if not mine:
            lines.append(f"| {name} | all runs polluted | | | | |")
            continue
        cpu_per_s = statistics.median(r["cpu_s"] / r["elapsed"] for r in mine)
        moved = sum(r["bytes"] for r in mine)
        per_gb = f"{sum(r['cpu_s'] for r in mine) / (moved / 1e9):.4f}" if moved else "-"
        bpf = sum(c[3] for c in costs_of(runs, name).values())
        lines.append(f"| {name} | {fmt_ratio(ratios(runs, name))} | {cpu_per_s:.4f} | {per_gb} | "
                     f"{max(r['peak_rss'] for r in mine) / 2**20:.1f} | {bpf:.1f} |")
    drops = [r["drops"] for r in runs if r["observer"] == "nethogs"]
    if drops:
        lines += ["", f"nethogs prints no drop count of its own; its capture sockets' kernel drop counters (`ss -0 -e -m`, "
                      f"skmem `d`) grew by {sum(drops)} packets over its {len(drops)} runs."]
    return lines


def cost_table(runs_by_item, floor):
    lines = ["| workload | observer | program | events | ns/event | ns/event net of floor | events/s | BPF ms/s |",
             "|---|---|---|---|---|---|---|---|"]
    for item, (runs, names) in runs_by_item.items():
        for name in names:
            for prog, (events, per_event, rate, ms) in sorted(costs_of(runs, name).items()):
                lines.append(f"| {item} | {name} | {prog} | {events} | {per_event:.1f} | {per_event - floor:.1f} | "
                             f"{rate:.0f} | {ms:.2f} |")
    return lines


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true", help="a few seconds per item; gate on the cost target")
    parser.add_argument("--out", default=None,
                        help="write the report here (default: bench/RESULTS.md; with --smoke, stdout only)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        fail("must run as root")
    for path in (NEUTRACER, NT_RR):
        if not os.access(path, os.X_OK):
            fail(f"{path} is not built: run scripts/setup.sh")

    p = dict(iperf_rounds=1, rounds=1, iperf_s=2, rr_s=1, ddp_steps=20, flows=1000, flows_s=3) if args.smoke else \
        dict(iperf_rounds=5, rounds=3, iperf_s=10, rr_s=5, ddp_steps=150, flows=10000, flows_s=15)
    if not args.smoke and args.out is None:
        args.out = os.path.join(REPO, "bench", "RESULTS.md")
    mounted_tracefs = False
    if not tracefs_mounted():  # bpftrace's tracepoints need it; ours do not
        subprocess.run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"], check=True)
        mounted_tracefs = True
    stats_before = open("/proc/sys/kernel/bpf_stats_enabled").read().strip()
    subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=True)
    started = time.monotonic()
    try:
        all_observers = ["untraced", "record", "trace", "packets", "bpftrace", "nethogs"]
        rr_observers = ["untraced", "record", "bpftrace", "nethogs"]
        ddp_observers = ["untraced", "record"] if args.smoke else ["untraced", "record", "bpftrace", "nethogs"]
        print("item 1, 5: iperf3", file=sys.stderr)
        iperf_runs = alternate(all_observers, p["iperf_rounds"], lambda: iperf3(p["iperf_s"]))
        print("item 2, 5: request/response", file=sys.stderr)
        rr_runs = {proto: alternate(rr_observers, p["rounds"], lambda proto=proto: rr(proto, p["rr_s"]))
                   for proto in ("tcp", "udp")}
        gate_runs = [iperf_runs, rr_runs["tcp"]]
        if args.smoke:  # one short round alone is too noisy to decide the gate: the two gated observers
            # again, in turns (each first once), and the gate takes the events of every round
            print("cost gate: record and bpftrace in turns", file=sys.stderr)
            gate_runs += [alternate(["record", "bpftrace"], 2, lambda: iperf3(p["iperf_s"])),
                          alternate(["record", "bpftrace"], 2, lambda: rr("tcp", p["rr_s"]))]
        print("item 3, 5: DDP", file=sys.stderr)
        ddp_runs = alternate(ddp_observers, p["rounds"], lambda: ddp(p["ddp_steps"]))
        print("item 4: floor and flows", file=sys.stderr)
        floor, floor_run = floor_cost(p["iperf_s"])
        flows = flows_item(p["flows"], p["flows_s"])
        # The same without the anomaly detectors: what their series cost.
        flows_undetected = flows_item(p["flows"], p["flows_s"], ["--no-detect"])
        print("item 6: accuracy", file=sys.stderr)
        accuracy = accuracy_item(p["iperf_s"], p["ddp_steps"])
    finally:
        subprocess.run(["sysctl", "-qw", f"kernel.bpf_stats_enabled={stats_before}"], check=True)
        if mounted_tracefs:
            subprocess.run(["umount", "/sys/kernel/tracing"])
    duration = time.monotonic() - started

    lines = ["# NeuTracer benchmark results", "",
             f"Machine: {machine()}.", "",
             f"Command: `/usr/bin/python3 bench/run.py{' --smoke' if args.smoke else ''}` "
             f"({duration / 60:.1f} min; alternating rounds: {p['iperf_rounds']} for iperf3, {p['rounds']} for the "
             "others). "
             "Ratios are traced/untraced against the untraced run of the same round, over clean runs: "
             "median [min, max]. `kernel.bpf_stats_enabled` was on in every traced run. "
             "Tool CPU is the observer's own process (user space); BPF time runs in the traced tasks "
             "and is the BPF ms/s column.", "",
             "## 1, 5. iperf3 TCP over loopback", ""]
    lines += overhead_table(iperf_runs, all_observers, "throughput traced/untraced")
    for proto in ("tcp", "udp"):
        lines += ["", f"## 2, 5. 64-byte request/response over {proto.upper()} (nt-rr)", ""]
        lines += overhead_table(rr_runs[proto], rr_observers, "transactions/s traced/untraced")
    lines += ["", f"## 3, 5. PyTorch DDP, gloo, 2 ranks, {p['ddp_steps']} steps", ""]
    lines += overhead_table(ddp_runs, ddp_observers, "median step time traced/untraced (lower is better)")
    lines += ["", "## 4. BPF cost per event and per second (same runs)", "",
              f"Floor: an empty program on the same two tracepoints costs {floor:.1f} ns per event here "
              "(the statistics' own clock reads and the call); 'net' subtracts it.", ""]
    lines += cost_table({"iperf3": (iperf_runs, all_observers[1:]),
                         "rr-tcp": (rr_runs["tcp"], rr_observers[1:]),
                         "rr-udp": (rr_runs["udp"], rr_observers[1:]),
                         "ddp": (ddp_runs, ddp_observers[1:])}, floor)
    gate = {observer: mean_costs(gate_runs, observer) for observer in ("record", "bpftrace")}
    lines += ["", "Gate (event-weighted mean over the iperf3 and TCP request/response runs" +
              (", and two more rounds of each with record and bpftrace in turns" if args.smoke else "") +
              "), ns per event: " +
              ", ".join(f"{name} {gate['record'].get(name, 0):.1f} vs bpftrace "
                        f"{gate['bpftrace'].get(BPFTRACE_TWIN[name], 0):.1f}" for name in GATED_PROGRAMS) +
              "; net of the floor: " +
              ", ".join(f"{name} {gate['record'].get(name, 0) - floor:.1f}" for name in GATED_PROGRAMS) +
              f" (target <= {COST_TARGET_NS})."]
    lines += ["", f"### {flows['flows']} concurrent senders (bench/flows.py: connected UDP sockets, one datagram/s "
              f"each, to one sink that reads with recvfrom: {2 * flows['flows']} flows in all), {p['flows_s']} s", "",
              "| agent | senders | datagrams | agent CPU s/s | agent peak RSS MiB | flows reported | flow_map_full | "
              "anomaly series |",
              "|---|---|---|---|---|---|---|---|"]
    for run in (flows, flows_undetected):
        lines += [f"| record {run['args']} | {run['flows']} | {run['datagrams']} | {run['cpu_per_s']:.4f} | "
                  f"{run['peak_rss'] / 2**20:.1f} | {run['flow_records']} | {run['loss'].get('flow_map_full', 0)} | "
                  f"{run['anomaly_series']} |"]
    if flows["anomaly_series"] and flows["duration_s"]:
        # The agent times its own detectors; the two runs' CPU difference is within their noise.
        per_1000 = flows["watch_s"] / flows["duration_s"] / flows["anomaly_series"] * 1000
        lines += ["", f"Anomaly detection: {per_1000 * 1000:.2f} ms per second per 1,000 series (the agent's own "
                  f"time in the detectors, reading records included, over the {flows['anomaly_series']} series it "
                  f"watched at most); agent CPU with and without detection: {flows['cpu_per_s']:.4f} and "
                  f"{flows_undetected['cpu_per_s']:.4f} s/s."]
    it, dd = accuracy["iperf3"], accuracy["ddp"]
    lines += ["", "## 6. Accuracy: bytes charged to the right process", "",
              "The same runs watched by NeuTracer (`record`) and by the seed's hooks (bpftrace on "
              "net:net_dev_queue and net:netif_receive_skb, charged to `current`, keyed also by local port for "
              "this evaluation). Who owns each port comes from the kernel's socket table (`ss -tanp`, sampled "
              "every 0.3 s during the run); a byte is right when it is charged to its port's owner. Shares of "
              "the bytes on the workload's own ports.", "",
              "| workload | NeuTracer sent | NeuTracer received | seed sent | seed received |", "|---|---|---|---|---|"]
    for label, item in (("iperf3", it), ("DDP", dd)):
        lines.append(f"| {label} | {100 * item['ours'][0]:.2f}% | {100 * item['ours'][1]:.2f}% | "
                     f"{100 * item['seed'][0]:.2f}% | {100 * item['seed'][1]:.2f}% |")
    lines += ["", f"iperf3's own count (plus its 37-byte stream cookie): {it['truth_sent']} bytes sent, "
              f"{it['truth_received']} received on the data stream. NeuTracer's flows: {it['ours_sent']} sent by "
              f"the client, {it['ours_received']} received by the server "
              f"({'exact' if (it['ours_sent'], it['ours_received']) == (it['truth_sent'], it['truth_received']) else 'NOT exact'}).",
              "", f"DDP: {dd['between_ranks']} bytes sent between the ranks; what one end of each connection sent "
              f"and the other received differ by {dd['mismatch']} bytes in all (NeuTracer).", "",
              "## Raw runs", "", "### iperf3 (bit/s)", ""]
    lines += raw_table(iperf_runs, "bit/s")
    for proto in ("tcp", "udp"):
        lines += ["", f"### request/response {proto} (transactions/s)", ""] + raw_table(rr_runs[proto], "tps")
    lines += ["", "### DDP (median step ms)", ""] + raw_table(ddp_runs, "step ms")
    lines += ["", "### Floor run", "", f"{floor_run['programs']}"]
    publish(lines, args.out)

    if args.smoke:
        ours, theirs = gate["record"], gate["bpftrace"]
        missing = [p for p in GATED_PROGRAMS if p not in ours or BPFTRACE_TWIN[p] not in theirs]
        if missing:
            fail(f"no events for {missing} in the gated runs")
        dearer = {p: (round(ours[p], 1), round(theirs[BPFTRACE_TWIN[p]], 1)) for p in GATED_PROGRAMS
                  if ours[p] >= theirs[BPFTRACE_TWIN[p]]}
        if dearer:
            fail(f"per-event cost not below bpftrace's on the same workloads (ours, bpftrace's ns): {dearer}")
        print(f"cost gate: {', '.join(f'{p} {ours[p]:.0f} ns < bpftrace {theirs[BPFTRACE_TWIN[p]]:.0f} ns' for p in GATED_PROGRAMS)}"
              f"; against the {COST_TARGET_NS} ns target, net of the {floor:.0f} ns floor: "
              f"{', '.join(f'{p} {ours[p] - floor:.0f} ns' for p in GATED_PROGRAMS)}", flush=True)


if __name__ == "__main__":
    main()
