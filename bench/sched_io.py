"""What the CPU-scheduling and block-I/O collectors cost, side by side with bpftrace's runqlat and
biolatency equivalents, in one run; writes bench/SCHED_IO.md.

  1. Ping-pong: `nt-sched pingpong ROUNDS` (two processes waking each other over pipes), both pinned
     to the last CPU: every round is two context switches, with no idle exit or cross-CPU wakeup in
     it, the most switch-heavy placement and a steady one (unpinned, the scheduler put both on one
     CPU anyway on the 2-CPU VM). Rounds/s untraced, under `neutracer record --collect cpu` and
     under bpftrace's runqlat equivalent.
  2. 4 KiB O_DIRECT random reads (bench/nt_dio.cpp, one at a time, pinned to the same CPU, where
     they ran faster than unpinned) of a loop device made for the run over a 256 MiB file in
     /dev/shm, so that the device answers at memory speed and the per-request cost of tracing shows
     the most; O_DIRECT keeps the loop device's page cache out, every read is one block request.
     Reads/s untraced, under `neutracer record --collect io` (when this build has it) and under
     bpftrace's biolatency equivalent. On a VM these swing with the host far more than tracing
     moves them; the per-request BPF cost beside them is the steady measure.
  3. Per program: events and ns per event from the kernel's run-time statistics
     (kernel.bpf_stats_enabled, on in every run), and BPF ns per context switch / per completed
     request over all of a tool's programs on the workload's path.
Runs alternate (the order rotates every round); ratios are traced/untraced against the untraced run
of the same round, medians over the runs no neighbour polluted (bench/run.py's rule, and also: other
tools' BPF programs ran meanwhile, or the ping-pong pair lost part of its CPU). The observers,
the environment check, the program statistics and the ratio helpers are bench/run.py's; a tool's
programs are the ones it holds file descriptors of (a shared host runs other tools' programs of
the same names).

Usage: /usr/bin/python3 bench/sched_io.py [--smoke] [--out bench/SCHED_IO.md] [--rounds N]
  --smoke: one short round of each item and a gate on the per-event cost (prints a `sched_io gate:`
  line; exits non-zero when a collector costs as much per event as bpftrace's equivalent)."""
import argparse
import atexit
import contextlib
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402

NT_SCHED = os.path.join(bench.BUILD, "tests", "helpers", "nt-sched")
NT_DIO = os.environ.get("NT_DIO", os.path.join(bench.BUILD, "bench", "nt-dio"))
DIO_FILE_MIB = 256

# runqlat, as a user would script it: a wakeup stamps the task, a task preempted while runnable
# queues again, and the switch to a task records how long it waited.
BPFTRACE_RUNQLAT = """
tracepoint:sched:sched_wakeup, tracepoint:sched:sched_wakeup_new { @queued[args->pid] = nsecs; }
tracepoint:sched:sched_switch {
  if (args->prev_state == 0 && args->prev_pid != 0) { @queued[args->prev_pid] = nsecs; }
  $at = @queued[args->next_pid];
  if ($at != 0) { @runq_us = hist((nsecs - $at) / 1000); delete(@queued[args->next_pid]); }
}"""
# biolatency: issue stamps the request by device and sector, completion records the latency.
BPFTRACE_BIOLATENCY = """
tracepoint:block:block_rq_issue { @issued[args->dev, args->sector] = nsecs; }
tracepoint:block:block_rq_complete {
  $at = @issued[args->dev, args->sector];
  if ($at != 0) { @io_us = hist((nsecs - $at) / 1000); delete(@issued[args->dev, args->sector]); }
}"""

# The program that runs once per event of each item, per tool (bpftrace names a program after its
# probe, cut to 15 characters): the denominator of "BPF ns per context switch / per request".
PER_EVENT_PROGRAM = {"pingpong": {"record": "on_switch", "bpftrace": "sched_switch"},
                     "dio": {"record": "count_complete", "bpftrace": "block_rq_comple"}}
# Task iterators run when the agent reads its tables, once per task, not on the workload's path.
ITERATORS = ("dump_threads",)
PINGPONG_TARGET = 0.95
FOREIGN_BPF_PER_S = 1000  # other tools' BPF program runs per second that make a run polluted
WORKLOAD_CPU_SHARE = 0.95  # less of its CPU for the ping-pong pair: a neighbour ran there, polluted


def fail(message):
    sys.exit(f"bench/sched_io.py: {message}")


HELPERS = []  # workload process groups, killed with the bench whatever stops it
OBSERVERS = []  # their output files are removed too (bench/run.py kills the tools themselves)


@atexit.register
def kill_helpers():
    for observer in OBSERVERS:
        out = getattr(observer, "out", None)
        if out and os.path.exists(out):
            os.unlink(out)
    for proc in HELPERS:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


def run_helper(argv, timeout):
    """Runs a workload in a process group of its own; its last stdout line is JSON."""
    proc = bench.spawn(argv, stdout=subprocess.PIPE, text=True, start_new_session=True)
    HELPERS.append(proc)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_helpers()
        fail(f"{' '.join(argv)} ran past {timeout} s")
    if proc.returncode != 0:
        fail(f"{' '.join(argv)} exited with {proc.returncode}")
    return json.loads(out.strip().splitlines()[-1])


def run_released(argv, command, fields, timeout=60):
    """Runs a helper that prints "ready", waits for one line (`command`), works, and prints "done"
    and `fields` more words, in a process group of its own: the words after "done"."""
    name = os.path.basename(argv[-1] if argv[0] == "taskset" else argv[0])
    proc = bench.spawn(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, start_new_session=True)
    HELPERS.append(proc)
    try:
        if proc.stdout.readline().strip() != "ready":
            fail(f"{name} did not start")
        proc.stdin.write(command + "\n")
        proc.stdin.flush()
        done = proc.stdout.readline().split()
        proc.stdin.close()
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_helpers()
        fail(f"{name} ran past {timeout} s")
    if len(done) != fields + 1 or done[0] != "done" or proc.returncode != 0:
        fail(f"{name} failed: {done} (exit {proc.returncode})")
    return done[1:]


# ---------------------------------------------------------------- workloads


def children_cpu_s():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def pingpong(rounds, cpu):
    """Rounds/s, and the share of its CPU the pair had (the tools' BPF time included, as it runs in
    the pair): below WORKLOAD_CPU_SHARE, another task ran on that CPU and the run is polluted."""
    cpu0, wall0 = children_cpu_s(), time.monotonic()
    result = run_helper(["taskset", "-c", str(cpu), NT_SCHED, "pingpong", str(rounds)], timeout=120)
    share = (children_cpu_s() - cpu0) / (time.monotonic() - wall0)  # both reaped: nt-sched waits its child
    return {"value": rounds / (result["elapsed_ns"] / 1e9), "bytes": 0, "cpu_share": share,
            "switches": result["voluntary_switches"] + result["involuntary_switches"]}


def dio(device, seconds, cpu):
    result = run_helper(["taskset", "-c", str(cpu), NT_DIO, device, f"{seconds:g}"], timeout=seconds + 60)
    return {"value": result["ops_per_s"], "bytes": result["bytes"]}


class LoopDevice:
    """A loop device over a file in /dev/shm, made for the run; detached and removed on every path
    (atexit too), found again by its backing file should the bench stop between the two steps."""

    def __init__(self, mib):
        self.mib, self.backing, self.device = mib, None, None

    def __enter__(self):
        atexit.register(self.close)
        directory = "/dev/shm" if os.path.isdir("/dev/shm") else None
        fd, self.backing = tempfile.mkstemp(prefix="nt-bench-dio-", suffix=".img", dir=directory)
        chunk = os.urandom(1 << 20)
        with os.fdopen(fd, "wb") as f:  # written in full: the device reads data, not holes
            for _ in range(self.mib):
                f.write(chunk)
        self.device = subprocess.run(["losetup", "--find", "--show", self.backing], check=True,
                                     stdout=subprocess.PIPE, text=True, timeout=30).stdout.strip()
        return self

    def close(self):
        if self.backing is None:
            return
        attached = subprocess.run(["losetup", "-j", self.backing, "-O", "NAME", "-n"], stdout=subprocess.PIPE,
                                  text=True, timeout=30).stdout.split()
        for device in attached:
            subprocess.run(["losetup", "-d", device], timeout=30)
        if os.path.exists(self.backing):
            os.unlink(self.backing)
        self.backing = self.device = None

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------- runs


def held_programs(pid):
    """Ids of the BPF programs a process holds: its program and link file descriptors."""
    ids = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except FileNotFoundError:
        return ids
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") not in ("anon_inode:bpf-prog", "anon_inode:bpf_link"):
                continue
            with open(f"/proc/{pid}/fdinfo/{fd}") as info:
                ids.update(int(line.split()[1]) for line in info if line.startswith("prog_id:"))
        except OSError:  # closed meanwhile
            pass
    return ids


def observed_run(observer, workload):
    """bench/run.py's observed_run, but a tool's programs are those it holds, not every program that
    appeared while it ran: on a shared host other tools load programs of the same names meanwhile
    (the collectors' own tests, another bench), and would be counted as the observer's."""
    with bench.Environment() as env:
        observer.start()
        mine = held_programs(observer.pid) if observer.pid else set()
        before = bench.bpf_programs()
        result = workload()
        if observer.pid:
            mine |= held_programs(observer.pid)
        after = bench.bpf_programs()
        seen = observer.stop()
        run = {"observer": observer.name, **result, **env.close(), **seen}
    run["elapsed"] = time.monotonic() - env.start
    programs, foreign = {}, 0
    for prog_id, (name, _, count, ns) in after.items():
        _, _, count0, ns0 = before.get(prog_id, (name, None, 0, 0))  # listed late: counts from zero
        if prog_id not in mine:
            foreign += count - count0
        elif count > count0:
            p = programs.setdefault(name, {"events": 0, "ns": 0})
            p["events"] += count - count0
            p["ns"] += ns - ns0
    run["programs"] = programs
    # Other tools' programs that ran meanwhile slow the workload too: such a run is polluted.
    run["foreign_per_s"] = foreign / run["elapsed"]
    run["polluted"] = (run["polluted"] or run["foreign_per_s"] > FOREIGN_BPF_PER_S
                       or result.get("cpu_share", 1) < WORKLOAD_CPU_SHARE)
    return run


def alternate(observers, rounds, workload, label):
    """observers: (name, factory) pairs; the order rotates every round."""
    runs = []
    for r in range(rounds):
        shift = r % len(observers)
        for name, make in observers[shift:] + observers[:shift]:
            observer = make()
            OBSERVERS.append(observer)
            run = observed_run(observer, workload)
            run["round"] = r
            runs.append(run)
            print(f"  {label} round {r} {name}: {run['value']:.4g}", file=sys.stderr, flush=True)
    return runs


def io_collector_ready():
    try:
        return subprocess.run([bench.NEUTRACER, "record", "--collect", "io", "--duration", "0.2", "-o", "/dev/null"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def per_event(runs, anchors, name):
    """BPF ns per event (context switch, completed request) over all of the tool's programs on the
    workload's path, and that event count: (ns, events), or None. `anchors`: tool -> the program
    that runs once per event, or (program, runs per event) where a tool gives one name to several
    programs (bpftrace names a uprobe and a uretprobe on one function alike)."""
    program, runs_per_event = anchors[name] if isinstance(anchors[name], tuple) else (anchors[name], 1)
    costs = bench.costs_of(runs, name)
    anchor = costs.get(program)
    if not anchor:
        return None
    events = anchor[0] / runs_per_event
    ns = sum(c[0] * c[1] for prog, c in costs.items() if prog not in ITERATORS)
    return ns / events, events


def bench_arguments(report, rounds_help, gate_help="one short round per item; gate on the per-event cost"):
    """--smoke, --out (default bench/REPORT; with --smoke, stdout only) and --rounds."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--smoke", action="store_true", help=gate_help)
    parser.add_argument("--out", default=None, help=f"report file (default: bench/{report}; with --smoke, stdout only)")
    parser.add_argument("--rounds", type=int, default=None, help=rounds_help)
    args = parser.parse_args()
    if not args.smoke and args.out is None:
        args.out = os.path.join(bench.REPO, "bench", report)
    return args


@contextlib.contextmanager
def bench_session(programs, tracefs=False):
    """Root, the built programs, and a clean stop: SIGTERM and SIGHUP (a ctest timeout, a closed
    terminal) stop the bench the way Ctrl-C does, through the finally blocks and atexit, which stop
    every tool and helper. Mounts tracefs for bpftrace's tracepoints when asked. Yields a function
    that turns kernel.bpf_stats_enabled on or off; its setting is put back at the end."""
    if os.geteuid() != 0:
        fail("must run as root")
    for path in programs:
        if not os.access(path, os.X_OK):
            fail(f"{path} is not built: run scripts/setup.sh")
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))
    mounted_tracefs = False
    if tracefs and not bench.tracefs_mounted():
        subprocess.run(["mount", "-t", "tracefs", "nodev", "/sys/kernel/tracing"], check=True, timeout=30)
        mounted_tracefs = True
    stats_before = open("/proc/sys/kernel/bpf_stats_enabled").read().strip()

    def bpf_stats(on):
        subprocess.run(["sysctl", "-qw", f"kernel.bpf_stats_enabled={1 if on else 0}"], check=True, timeout=30)
    try:
        yield bpf_stats
    finally:
        subprocess.run(["sysctl", "-qw", f"kernel.bpf_stats_enabled={stats_before}"], check=True, timeout=30)
        if mounted_tracefs:
            subprocess.run(["umount", "/sys/kernel/tracing"], timeout=30)


def measured(bpf_stats, observers, rounds, workload, label):
    """Throughput with run-time statistics off, as in production (they add two clock reads to every
    program run, ours and bpftrace's); then a quarter as many rounds with them on, for the ns per
    event: (ratio runs, cost runs)."""
    bpf_stats(False)
    ratio_runs = alternate(observers, rounds, workload, label)
    bpf_stats(True)
    cost_runs = alternate(observers, max(1, rounds // 4), workload, label + " (bpf stats)")
    return ratio_runs, cost_runs


def smoke_gate(tool, cost_runs, anchors, ours, theirs, unit):
    """A smoke run's gate: BPF ns per `unit` over all of `ours`' programs must be below all of
    `theirs`'. Polluted runs count too (a smoke run has one short round). Prints `TOOL gate: ...`."""
    runs = [dict(r, polluted=False) for r in cost_runs]
    mine, other = per_event(runs, anchors, ours), per_event(runs, anchors, theirs)
    if not mine or not other:
        fail(f"no {unit}s seen by both {ours} and {theirs}")
    line = f"{tool} gate: {mine[0]:.0f} ns/{unit} {'<' if mine[0] < other[0] else '>='} bpftrace {other[0]:.0f}"
    if mine[0] >= other[0]:
        fail(f"per-{unit} cost not below bpftrace's: {line}")
    print(line, flush=True)


# ---------------------------------------------------------------- report


def report_head(title, script, args, duration, rounds_text, stats_note, tools, runs):
    """The opening of a cost report beside bpftrace (bench/heap.py, probes.py, syscalls.py): the
    title, date, machine, command and how runs alternate and compare, what the tools are, and the
    load the runs saw. `stats_note`: what the rounds with bpf stats on are for, from "for"."""
    command = f"/usr/bin/python3 bench/{script}" + (" --smoke" if args.smoke else "") + \
        (f" --rounds {args.rounds}" if args.rounds else "")
    return [f"# {title}", "", f"Date: {time.strftime('%Y-%m-%d %H:%M %Z')}.", "", f"Machine: {bench.machine()}.", "",
            f"Command: `{command}` ({duration / 60:.1f} min; {rounds_text}, the order rotating every round). "
            "Ratios are traced/untraced against the untraced run of the same round, over the runs no neighbour "
            "polluted (bench/sched_io.py's rules): median [min, max]. Throughput rounds run with "
            f"`kernel.bpf_stats_enabled` off; a quarter as many follow with it on, {stats_note}", "",
            tools, "",
            f"Load1 at the runs' start: median {statistics.median(r['load1'] for r in runs):.2f}; "
            f"{sum(r['polluted'] for r in runs)} of {len(runs)} runs polluted.", ""]


def item_lines(title, runs, cost_runs, names, anchors, unit, event):
    lines = [f"## {title}", "",
             f"| observer | {unit} traced/untraced: median [min, max] | BPF ns per {event} | tool CPU s/s | "
             "peak RSS MiB |", "|---|---|---|---|---|"]
    for name in names:
        mine = [r for r in runs if r["observer"] == name and not r["polluted"]]
        if not mine:
            lines.append(f"| {name} | all runs polluted | | | |")
            continue
        cost = per_event(cost_runs, anchors, name)
        cpu = sum(r["cpu_s"] for r in mine) / sum(r["elapsed"] for r in mine)
        rss = max(r["peak_rss"] for r in mine) / 2**20
        lines.append(f"| {name} | {bench.fmt_ratio(bench.ratios(runs, name))} | "
                     f"{f'{cost[0]:.1f}' if cost else '-'} | {cpu:.4f} | {rss:.1f} |")
    base = [r["value"] for r in runs if r["observer"] == "untraced" and not r["polluted"]]
    if base:
        lines += ["", f"Untraced: median {statistics.median(base):.4g} {unit} [{min(base):.4g}, {max(base):.4g}]."]
    lines += ["", "| observer | program | events | ns/event | events/s | BPF ms/s |", "|---|---|---|---|---|---|"]
    for name in names:
        for prog, (events, ns, rate, ms) in sorted(bench.costs_of(cost_runs, name).items()):
            note = " (task iterator: the agent's reads)" if prog in ITERATORS else ""
            lines.append(f"| {name} | {prog}{note} | {events} | {ns:.1f} | {rate:.0f} | {ms:.2f} |")
    return lines


def main():
    args = bench_arguments("SCHED_IO.md", "alternating rounds per item (default 8 of the ping-pong, 24 of the reads; "
                           "smoke 1)")
    # The reads swing with what else the host runs (on this VM, 20k to 270k reads/s untraced from one
    # second to the next, as the vCPUs halt or not and neighbours take them): short runs, many
    # rounds, so that the three runs of a round see the same host.
    pp_alternations, dio_alternations = (1, 1) if args.smoke else (8, 24)
    if args.rounds:
        pp_alternations = dio_alternations = args.rounds
    pp_rounds, dio_s = (300_000, 1.0) if args.smoke else (1_500_000, 0.75)
    cpu = bench.NCPU - 1
    started = time.monotonic()
    with bench_session([bench.NEUTRACER, NT_SCHED, NT_DIO], tracefs=True) as bpf_stats:
        io_ready = io_collector_ready()
        pp_observers = [("untraced", bench.Observer),
                        ("record", lambda: bench.NeuTracer("record", ["record", "--collect", "cpu"])),
                        ("bpftrace", lambda: bench.Bpftrace("bpftrace", BPFTRACE_RUNQLAT))]
        print(f"item 1: ping-pong, {pp_rounds} rounds on CPU {cpu}", file=sys.stderr)
        pingpong(pp_rounds // 10, cpu)  # warm-up, not counted
        pp_runs, pp_cost_runs = measured(bpf_stats, pp_observers, pp_alternations, lambda: pingpong(pp_rounds, cpu),
                                         "pingpong")
        dio_observers = [("untraced", bench.Observer)]
        if io_ready:
            dio_observers.append(("record", lambda: bench.NeuTracer("record", ["record", "--collect", "io"])))
        dio_observers.append(("bpftrace", lambda: bench.Bpftrace("bpftrace", BPFTRACE_BIOLATENCY)))
        with LoopDevice(DIO_FILE_MIB) as loop:
            print(f"item 2: O_DIRECT 4 KiB random reads of {loop.device}, {dio_s:g} s"
                  f"{'' if io_ready else ' (record --collect io: not in this build)'}", file=sys.stderr)
            dio(loop.device, 1.0, cpu)  # warm-up, not counted
            dio_runs, dio_cost_runs = measured(bpf_stats, dio_observers, dio_alternations,
                                               lambda: dio(loop.device, dio_s, cpu), "dio")
    duration = time.monotonic() - started

    all_runs = pp_runs + dio_runs
    pp_names = [n for n, _ in pp_observers[1:]]
    dio_names = [n for n, _ in dio_observers[1:]]
    command = "/usr/bin/python3 bench/sched_io.py" + (" --smoke" if args.smoke else "") + \
        (f" --rounds {args.rounds}" if args.rounds else "")
    lines = ["# NeuTracer CPU-scheduling and block-I/O collectors: cost beside bpftrace", "",
             f"Date: {time.strftime('%Y-%m-%d %H:%M %Z')}.", "",
             f"Machine: {bench.machine()}.", "",
             f"Command: `{command}` ({duration / 60:.1f} min; alternating rounds: {pp_alternations} of the ping-pong, "
             f"{dio_alternations} of the reads, the order rotating every round). Ratios are traced/untraced "
             "against the untraced run of the same round, over the runs no neighbour polluted (load1 above "
             f"CPUs + 1, steal above 5 %, other tools' BPF programs running over {FOREIGN_BPF_PER_S} times a "
             f"second, or, for the ping-pong, the pair holding less than {WORKLOAD_CPU_SHARE:.0%} of its CPU): "
             "median [min, max]. "
             "Throughput rounds run with `kernel.bpf_stats_enabled` off, as in production; a quarter as many "
             "rounds follow with it on, and the ns per event come from those: the kernel's run-time statistics "
             "(run_time_ns / run_cnt, their own clock reads included, alike for both tools). These count the "
             "programs' bodies only: what the kernel spends to call them is not in them, and differs between "
             "our BTF tracepoints (tp_btf) and bpftrace's classic tracepoints (which first copy the event's "
             "fields into a buffer); the throughput ratios hold all of it. BPF ns per context switch or per "
             "request: all of a tool's programs on the workload's path (task iterators, which run in the "
             "agent's reads, left out) over the events of the program that runs once per switch or request.",
             "",
             "The tools: `neutracer record --collect cpu` (resp. `--collect io`), records to a file; "
             "bpftrace 0.17 with a runqlat equivalent (sched_wakeup/sched_wakeup_new stamp the task by pid, "
             "sched_switch requeues a preempted task and puts the wait into a histogram) and a biolatency "
             "equivalent (block_rq_issue stamps the request by device and sector, block_rq_complete puts the "
             "latency into a histogram); the scripts are in bench/sched_io.py.", "",
             f"Neighbours: other tasks used a median {statistics.median(r['others_pct'] for r in pp_runs):.0f} % "
             f"of one CPU during the ping-pong runs (at most {max(r['others_pct'] for r in pp_runs):.0f} %; in the "
             "read runs the loop device's kernel worker counts as another task too); load1 at the runs' start: "
             f"median {statistics.median(r['load1'] for r in all_runs):.2f}, at most "
             f"{max(r['load1'] for r in all_runs):.2f}; {sum(r['polluted'] for r in all_runs)} of {len(all_runs)} "
             "runs polluted.", ""]
    lines += item_lines(f"1. Ping-pong over pipes: `nt-sched pingpong {pp_rounds}`, both processes on CPU {cpu}",
                        pp_runs, pp_cost_runs, pp_names, PER_EVENT_PROGRAM["pingpong"], "rounds/s", "context switch")
    switches = [r["switches"] for r in pp_runs if r["observer"] == "untraced"]
    if switches:
        lines += ["", f"The parent switched out {min(switches)}-{max(switches)} times a run by its own count (once a "
                  "round), the child as often: two context switches per round on the shared CPU."]
    lines += ["", f"Target: >= {PINGPONG_TARGET}x untraced for `record --collect cpu`.", ""]
    lines += item_lines(f"2. 4 KiB O_DIRECT random reads, one at a time, of a loop device over a "
                        f"{DIO_FILE_MIB} MiB file in /dev/shm (`nt-dio DEVICE {dio_s:g}` on CPU {cpu})",
                        dio_runs, dio_cost_runs, dio_names, PER_EVENT_PROGRAM["dio"], "reads/s", "request")
    lines += ["", "On a VM the reads/s swing with the host (the untraced range above, the raw runs below) by more "
              "than tracing moves them; the BPF ns per request is the steady measure of the two tools' cost."]
    if not io_ready:
        lines += ["", "`neutracer record --collect io` is not in this build: the row is missing; rerun when it is."]
    lines += ["", "## Raw runs", "", "### Ping-pong (rounds/s)", ""] + bench.raw_table(pp_runs, "rounds/s")
    lines += ["", "### O_DIRECT reads (reads/s)", ""] + bench.raw_table(dio_runs, "reads/s")
    foreign = [f"{label} round {r['round']} {r['observer']}: {r['foreign_per_s']:.0f}/s"
               for label, runs in (("ping-pong", pp_runs), ("reads", dio_runs))
               for r in runs if r["foreign_per_s"] >= 1]
    lines += ["", "Other tools' BPF programs ran during: " + ("; ".join(foreign) if foreign else "no run") + "."]
    crowded = [f"round {r['round']} {r['observer']}: {r['cpu_share']:.0%}" for r in pp_runs
               if r["cpu_share"] < WORKLOAD_CPU_SHARE]
    lines += ["", f"Ping-pong runs whose pair held less than {WORKLOAD_CPU_SHARE:.0%} of its CPU: " +
              ("; ".join(crowded) if crowded else "none") + "."]
    bench.publish(lines, args.out)

    if args.smoke:
        gate(pp_cost_runs, dio_cost_runs, io_ready)


def gate(pp_runs, dio_runs, io_ready):
    """Per event, all of ours on the workload's path below all of bpftrace's; the ping-pong ratio is
    printed beside it (one short round on a shared host is too noisy to decide a 5 % target). The
    costs count polluted runs too: a busy neighbour slows both tools' programs alike, runs
    alternating, and a gate that a parallel build fails would be no gate."""
    pp_runs, dio_runs = ([dict(r, polluted=False) for r in runs] for runs in (pp_runs, dio_runs))
    items = [("pingpong", pp_runs, "ns/switch")] + ([("dio", dio_runs, "ns/request")] if io_ready else [])
    parts, dearer = [], []
    for item, runs, unit in items:
        ours, theirs = per_event(runs, PER_EVENT_PROGRAM[item], "record"), per_event(runs, PER_EVENT_PROGRAM[item], "bpftrace")
        if not ours or not theirs:
            fail(f"no events of {item} for both tools")
        parts.append(f"{item} {ours[0]:.0f} {unit} {'<' if ours[0] < theirs[0] else '>='} bpftrace {theirs[0]:.0f}")
        if ours[0] >= theirs[0]:
            dearer.append(item)
    ratio = bench.ratios(pp_runs, "record")
    line = f"sched_io gate: {', '.join(parts)}; pingpong record {ratio[0]:.3f}x untraced" if ratio else \
        f"sched_io gate: {', '.join(parts)}"
    if dearer:
        fail(f"per-event cost not below bpftrace's for {dearer}: {line}")
    print(line, flush=True)


if __name__ == "__main__":
    main()
