"""The CPU collector against the kernel's own accounting: /proc/PID/task/*/schedstat (on-CPU time,
run-queue wait) and voluntary/nonvoluntary_ctxt_switches, over the same window."""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
from ntlib import BUILD, Agent, held, release  # noqa: E402

SCHED = os.path.join(BUILD, "tests", "helpers", "nt-sched")


def kernel_now(pid):
    """What the kernel has counted for every thread of pid so far."""
    counts = {"on_cpu_ns": 0, "run_delay_ns": 0, "voluntary_switches": 0, "involuntary_switches": 0}
    task_dir = f"/proc/{pid}/task"
    for tid in os.listdir(task_dir):
        with open(f"{task_dir}/{tid}/schedstat") as f:
            on_cpu, delay, _ = (int(v) for v in f.read().split())
        counts["on_cpu_ns"] += on_cpu
        counts["run_delay_ns"] += delay
        with open(f"{task_dir}/{tid}/status") as f:
            for line in f:
                key, _, value = line.partition(":")
                if key == "voluntary_ctxt_switches":
                    counts["voluntary_switches"] += int(value)
                elif key == "nonvoluntary_ctxt_switches":
                    counts["involuntary_switches"] += int(value)
    return counts


def last_sched(agent, pid):
    rows = [r for r in agent.records if r["type"] == "sched" and r["pid"] == pid]
    if not rows:
        raise AssertionError(f"no sched record of pid {pid}")
    return rows[-1]


def run_held(argvs, *agent_args):
    """Starts each argv held, the agent on them, releases them together; returns (agent, [(pid,
    kernel counts when the agent was ready, what the process reported at its end)])."""
    procs = [held(argv) for argv in argvs]
    try:
        pid_args = [a for p in procs for a in ("-p", str(p.pid))]
        with Agent("--collect", "cpu", *pid_args, *agent_args) as agent:
            baseline = [kernel_now(p.pid) for p in procs]
            for p in procs:
                p.stdin.write("go\n")
                p.stdin.flush()
            reports = [json.loads(p.communicate(timeout=120)[0].strip().splitlines()[-1]) for p in procs]
        return agent, [(p.pid, b, r) for p, b, r in zip(procs, baseline, reports)]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


class Sched(unittest.TestCase):
    def assertWithin(self, ours, kernel, share, what):
        self.assertLessEqual(abs(ours - kernel), share * kernel, f"{what}: ours {ours}, kernel {kernel}")

    def test_two_spinners_on_one_cpu_match_schedstat(self):
        cpu = str(max(os.sched_getaffinity(0)))
        seconds = 5
        agent, runs = run_held([["taskset", "-c", cpu, SCHED, "spin", str(seconds)]] * 2)
        rows = []
        for pid, baseline, report in runs:
            row = last_sched(agent, pid)
            rows.append(row)
            kernel_on_cpu = report["on_cpu_ns"] - baseline["on_cpu_ns"]
            kernel_runq = report["run_delay_ns"] - baseline["run_delay_ns"]
            self.assertWithin(row["on_cpu_ns"], kernel_on_cpu, 0.02, f"pid {pid} on-CPU")
            self.assertWithin(row["runq_ns"], kernel_runq, 0.02, f"pid {pid} run-queue wait")
            # Runnable for the whole run: running or waiting for the CPU, never off it otherwise.
            self.assertWithin(row["on_cpu_ns"] + row["runq_ns"], seconds * 1e9, 0.1, f"pid {pid} runnable time")
            self.assertGreater(row["involuntary_switches"], 10)
        # Sharing one CPU: each ran about half of what the two ran (about half of the run on an
        # otherwise idle CPU; less, evenly, where something else also runs there).
        both = sum(r["on_cpu_ns"] for r in rows)
        for row in rows:
            self.assertTrue(0.4 < row["on_cpu_ns"] / both < 0.6, rows)
        waits = sum(sum(r["runq_hist"]) for r in agent.records if r["type"] == "sched" and r["pid"] == pid)
        self.assertGreater(waits, 10, "run-queue waits in the histograms")

    def test_sleeper_switches_and_off_cpu_time(self):
        sleeps = 10_000
        agent, [(pid, baseline, report)] = run_held([[SCHED, "sleep", str(sleeps), "1000"]])
        row = last_sched(agent, pid)
        kernel_voluntary = report["voluntary_switches"] - baseline["voluntary_switches"]
        self.assertGreaterEqual(row["voluntary_switches"], sleeps)
        # The kernel's own count over the same window (the few beyond the sleeps are exec, reading the
        # binary); ours also has the exit after the process's last reading (a few switches more
        # where files are remote, as in the kernel matrix's VMs), and never fewer.
        self.assertGreaterEqual(row["voluntary_switches"], kernel_voluntary, (row, report, baseline))
        self.assertLessEqual(row["voluntary_switches"] - kernel_voluntary, 10, (row, report, baseline))
        # Time measured around each sleep also holds what the thread ran inside the call, at most
        # what the kernel says its loop ran: off-CPU time lies between the two.
        off_cpu = row["off_voluntary_ns"] + row["off_involuntary_ns"]
        slept, ran = report["slept_ns"], report["loop_on_cpu_ns"]
        self.assertGreaterEqual(off_cpu, slept - ran - 0.005 * slept, (off_cpu, slept, ran))
        self.assertLessEqual(off_cpu, slept * 1.005, (off_cpu, slept, ran))
        if ran < 0.02 * slept:  # where a sleep call itself is cheap (not under emulation)
            self.assertWithin(off_cpu, slept, 0.02, "off-CPU vs slept")
        self.assertGreater(row["off_voluntary_ns"], 0.95 * off_cpu)

    def test_threads_fold_into_their_process(self):
        threads, sleeps = 8, 8000  # about a second: several intervals with the threads alive
        agent, [(pid, baseline, report)] = run_held([[SCHED, "sleep", str(sleeps), "1000", str(threads)]])
        rows = [r for r in agent.records if r["type"] == "sched" and r["pid"] == pid]
        self.assertEqual(len({(r["pid"], r["start_time"]) for r in rows}), 1, "one process, one row per interval")
        self.assertEqual(len({r["ts"] for r in rows}), len(rows), "never two rows of it in one interval")
        row = rows[-1]
        self.assertGreaterEqual(row["voluntary_switches"], sleeps)
        self.assertLessEqual(abs(row["voluntary_switches"] - (report["voluntary_switches"] - baseline["voluntary_switches"])),
                             3 * threads, (row, report))
        # Each thread's own reading is taken before it exits, and its exit runs after that (slower
        # under emulation): ours may be a little more than the readings, never less.
        for ours, kernel, what in ((row["on_cpu_ns"], report["on_cpu_ns"] - baseline["on_cpu_ns"], "on-CPU"),
                                   (row["runq_ns"], report["run_delay_ns"] - baseline["run_delay_ns"], "run-queue")):
            self.assertGreaterEqual(ours, 0.98 * kernel, f"{what} of all threads: ours {ours}, kernel {kernel}")
            self.assertLessEqual(ours, 1.10 * kernel, f"{what} of all threads: ours {ours}, kernel {kernel}")
        # Per-thread detail while they run: the busiest threads, each once, all of this process.
        detailed = [r for r in rows if r.get("threads")]
        self.assertTrue(detailed, rows)
        for r in detailed:
            tids = [t["tid"] for t in r["threads"]]
            self.assertEqual(len(tids), len(set(tids)))
        self.assertGreaterEqual(max(len(r["threads"]) for r in detailed), 2, detailed)

    def test_filter_keeps_other_processes_out(self):
        other = held([SCHED, "spin", "0.5"])
        try:
            agent, [(pid, _, _)] = run_held([[SCHED, "sleep", "100", "1000"]])
            release(other)
        finally:
            if other.poll() is None:
                other.kill()
        pids = {r["pid"] for r in agent.records if r["type"] == "sched"}
        self.assertEqual(pids, {pid})


if __name__ == "__main__":
    unittest.main()
