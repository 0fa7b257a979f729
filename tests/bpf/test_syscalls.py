"""Issue 17: the syscall collector. tests/helpers/nt_syscalls.cpp makes 10,000 getppid calls, 1,000
opens that fail with ENOENT and 100 nanosleeps of 10 ms: the agent's counts and errno counts are
exact, the sleeps sit in the 8-16 ms bucket of their histogram, every syscall's calls and errors
equal what `strace -c -f` counts for the same program, and --slow-syscall sends each sleep as an
event with its arguments. Another process's calls meanwhile are not counted."""
import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
from ntlib import BUILD, NEUTRACER  # noqa: E402

PROGRAM = os.path.join(BUILD, "tests", "helpers", "nt-syscalls")
TIMEOUT_S = 120


PROGRAM_ARGS = ["--time-sleeps", "1"]


def record(*args):
    """`record --collect syscalls ... -- nt-syscalls`: the records, parsed, and how long the program
    saw each of its sleeps take (us)."""
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as out:
        run = subprocess.run([NEUTRACER, "record", "--collect", "syscalls", "--interval", "200", "-o", out.name, *args,
                              "--", PROGRAM, *PROGRAM_ARGS], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, timeout=TIMEOUT_S)
        if run.returncode != 0:
            raise AssertionError(f"record exited {run.returncode}: {run.stderr[-2000:]}")
        with open(out.name) as f:
            return [json.loads(line) for line in f], json.loads(run.stdout)["sleeps_us"]


def final_calls(records, pid):
    """name -> the last totals the agent gave for that syscall of `pid`."""
    calls = {}
    for r in records:
        if r["type"] == "syscalls" and r["pid"] == pid:
            for call in r["syscalls"]:
                calls[call["name"]] = call
    return calls


def strace_counts():
    """name -> (calls, errors) as `strace -c -f` counts them for one run of the program."""
    with tempfile.NamedTemporaryFile(suffix=".txt") as out:
        # Its output into a pipe, as under the agent: the C library asks a terminal or /dev/null more.
        subprocess.run(["strace", "-c", "-f", "-o", out.name, PROGRAM, *PROGRAM_ARGS], check=True,
                       stdout=subprocess.PIPE, timeout=TIMEOUT_S)
        counts = {}
        with open(out.name) as f:
            lines = f.readlines()
        for line in lines:
            # % time, seconds, usecs/call, calls, [errors], syscall
            m = re.match(r"\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(\d+\s+)?(\w+)\s*$", line)
            if m and m.group(3) != "total":
                counts[m.group(3)] = (int(m.group(1)), int(m.group(2) or 0))
        return counts


class Syscalls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.records, cls.slept_us = record("--slow-syscall", "5")
        starts = [r for r in cls.records if r["type"] == "syscalls"]
        cls.pids = {r["pid"] for r in starts}

    def program_pid(self):
        by_comm = {r["pid"] for r in self.records if r["type"] == "syscalls" and r["comm"] == "nt-syscalls"}
        self.assertEqual(len(by_comm), 1, by_comm)
        return by_comm.pop()

    def test_counts_errnos_and_latency_are_exact(self):
        pid = self.program_pid()
        calls = final_calls(self.records, pid)
        self.assertEqual(calls["getppid"]["calls"], 10_000)
        self.assertEqual(calls["getppid"]["errors"], 0)
        self.assertEqual(calls["openat"]["errnos"].get("ENOENT"), 1000, calls["openat"])
        self.assertEqual(calls["clock_nanosleep"]["calls"], 100)
        hist = calls["clock_nanosleep"]["hist_us"]
        # [8.192, 16.384) ms; a sleep the program itself saw take longer (an emulated kernel's late
        # timer) may be in the next bucket: the kernel's measure lies within the program's.
        late = sum(us >= 16384 for us in self.slept_us)
        print(f"clock_nanosleep histogram (us: calls): {hist}; sleeps the program saw over 16.384 ms: {late}",
              file=sys.stderr)
        self.assertEqual(set(hist) - {"8192", "16384"}, set(), hist)
        self.assertEqual(hist.get("8192", 0) + hist.get("16384", 0), 100)
        self.assertLessEqual(hist.get("16384", 0), late, hist)
        self.assertGreaterEqual(calls["clock_nanosleep"]["time_ms"], 100 * 10)
        last = [r for r in self.records if r["type"] == "syscalls" and r["pid"] == pid][-1]
        self.assertTrue(last["exited"])
        self.assertEqual(last["calls"], sum(c["calls"] for c in calls.values()))
        self.assertEqual(self.pids, {pid}, "only the command is traced")

    def test_the_same_counts_as_strace(self):
        pid = self.program_pid()
        ours = {name: (c["calls"], c["errors"]) for name, c in final_calls(self.records, pid).items()}
        theirs = strace_counts()
        print(f"strace -c -f: {theirs}", file=sys.stderr)
        self.assertEqual(ours, theirs)

    def test_slow_calls_are_events_with_their_arguments(self):
        pid = self.program_pid()
        slow = [r for r in self.records if r["type"] == "slow_syscall" and r["pid"] == pid]
        sleeps = [r for r in slow if r["name"] == "clock_nanosleep"]
        self.assertEqual(len(sleeps), 100, [(r["name"], r["latency_ms"]) for r in slow][:5])
        for event in sleeps:
            self.assertGreaterEqual(event["latency_ms"], 10)
            self.assertEqual(event["args"][:2], [0, 0])  # CLOCK_REALTIME, relative
            self.assertNotEqual(event["args"][2], 0)     # the timespec's address
            self.assertEqual((event["ret"], event["tid"], event["comm"]), (0, pid, "nt-syscalls"))
        summary = next(r for r in self.records if r["type"] == "summary")
        self.assertEqual(summary["loss"]["syscall_ringbuf_full"], 0)
        self.assertEqual(summary["features"]["syscalls.calls"]["via"], "raw_tp")


if __name__ == "__main__":
    unittest.main()
