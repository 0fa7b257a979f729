"""Issue 17: the memory collector. A process that touches known memory and then waits: its RSS by
kind and its minor and major page faults are what /proc/PID/status and /proc/PID/stat say. A process
in a memory-limited cgroup the test makes allocates past the limit: an `oom_kill` record names it,
its RSS and the cgroup within 1 s of its death. The cgroup and every helper are removed on every path."""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
from ntlib import Agent, wait_for  # noqa: E402

MIB = 1 << 20
PYTHON = "/usr/bin/python3"

# Touches ANON_MIB of anonymous memory and every page of FILE (read from disk: major faults), says
# it is ready, then waits for a line before exiting.
TOUCHER = r"""
import mmap, os, sys
anon = bytearray(int(sys.argv[1]) << 20)
for i in range(0, len(anon), 4096):
    anon[i] = 1
fd = os.open(sys.argv[2], os.O_RDONLY)
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # out of the page cache: the touches read the disk
mapped = mmap.mmap(fd, 0, prot=mmap.PROT_READ)
total = sum(mapped[i] for i in range(0, len(mapped), 4096))
print("ready", flush=True)
sys.stdin.readline()
"""


def read(path):
    with open(path) as f:
        return f.read()


def proc_faults(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[7]), int(fields[9])  # minflt, majflt (fields 10 and 12 of stat)


def proc_rss(pid):
    kinds = {"RssAnon": "anon", "RssFile": "file", "RssShmem": "shmem"}
    out = {}
    with open(f"/proc/{pid}/status") as f:
        lines = f.readlines()
    for line in lines:
        name, _, value = line.partition(":")
        if name in kinds:
            out[kinds[name]] = int(value.split()[0]) * 1024
    return out


class MemoryCgroup:
    """A memory cgroup limited to `limit` bytes without swap (v2, or v1's memory hierarchy)."""

    def __init__(self, limit):
        self.v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers") and \
            "memory" in read("/sys/fs/cgroup/cgroup.controllers").split()
        root = "/sys/fs/cgroup" if self.v2 else "/sys/fs/cgroup/memory"
        self.path = os.path.join(root, f"ntoom{os.getpid()}")
        os.mkdir(self.path)
        if self.v2:
            with open("/sys/fs/cgroup/cgroup.subtree_control", "w") as f:
                f.write("+memory")
            self._write("memory.max", str(limit))
            if os.path.exists(os.path.join(self.path, "memory.swap.max")):
                self._write("memory.swap.max", "0")
        else:
            self._write("memory.limit_in_bytes", str(limit))
        self.name = self.path[len(root):]

    def _write(self, name, value):
        with open(os.path.join(self.path, name), "w") as f:
            f.write(value)

    def argv(self, argv):
        """argv run inside the cgroup (the shell joins it, then execs)."""
        return ["sh", "-c", f'echo $$ > {self.path}/cgroup.procs && exec "$@"', "sh"] + argv

    def remove(self):
        for _ in range(50):
            try:
                os.rmdir(self.path)
                return
            except FileNotFoundError:
                return
            except OSError:
                time.sleep(0.1)


class Memory(unittest.TestCase):
    def test_rss_and_faults_are_the_kernels(self):
        with tempfile.NamedTemporaryFile(dir="/var/tmp") as data:
            data.write(os.urandom(8 * MIB))
            data.flush()
            os.fsync(data.fileno())
            on_a_disk = os.major(os.stat(data.name).st_dev) != 0  # tmpfs and overlays read no disk
            toucher = subprocess.Popen([PYTHON, "-c", TOUCHER, "64", data.name], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)
            try:
                with Agent("--collect", "memory", "-p", str(toucher.pid)) as agent:
                    self.assertEqual(toucher.stdout.readline().strip(), "ready")
                    time.sleep(0.6)  # a few intervals with the process idle
                    minflt, majflt = proc_faults(toucher.pid)
                    rss = proc_rss(toucher.pid)
                    time.sleep(0.5)
                toucher.communicate("go\n", timeout=30)
            finally:
                toucher.kill()
                toucher.wait()
        records = [r for r in agent.records if r["type"] == "memory" and r["pid"] == toucher.pid]
        self.assertTrue(records, "no memory record")
        last = records[-1]
        print(f"agent: minflt {last['minflt']} majflt {last['majflt']} rss {last.get('rss')}; "
              f"/proc: minflt {minflt} majflt {majflt} rss {rss}", file=sys.stderr)
        self.assertEqual((last["minflt"], last["majflt"]), (minflt, majflt))
        if on_a_disk:
            self.assertGreater(majflt, 0)
        # The kernel's RSS counters are per-CPU counters: what rss_stat reports (and what the agent
        # keeps) is their folded count, which lags the exact per-CPU sum (/proc/PID/status since
        # 6.16) by under the batch (max(32, 2 x CPUs) pages) on each CPU.
        cpus = os.cpu_count()
        slack = max(32, 2 * cpus) * cpus * os.sysconf("SC_PAGE_SIZE")
        for kind in ("anon", "file", "shmem"):
            self.assertLessEqual(abs(last["rss"][kind] - rss[kind]), slack, kind)
        self.assertGreaterEqual(last["rss"]["anon"], 64 * MIB)
        self.assertLessEqual(abs(last["rss_bytes"] - sum(rss.values())), 3 * slack)
        # Its cgroup's memory pressure is in a record of its own, as the kernel's file says.
        self.assertTrue(last.get("cgroup", "").startswith("/"), last)
        pressure = [r for r in agent.records if r["type"] == "memory_pressure" and r["cgroup"] == last["cgroup"]]
        self.assertTrue(pressure, "no memory_pressure record for " + last["cgroup"])
        self.assertGreaterEqual(pressure[-1]["some_total_us"], pressure[-1]["full_total_us"])
        # Counters (Prometheus, the server) count from when the agent first saw a process older than it.
        totals = {p["pid"]: p for p in agent.summary()["totals"]}
        self.assertEqual(totals[toucher.pid]["minor_faults"], last["minflt"] - records[0]["minflt"])

    def test_an_oom_kill_names_the_victim_its_rss_and_the_cgroup(self):
        group = MemoryCgroup(48 * MIB)
        try:
            with Agent("--collect", "memory") as agent:
                hog = subprocess.Popen(group.argv([PYTHON, "-c", "a = bytearray(256 << 20)\nfor i in range(0, len(a), "
                                                  "4096): a[i] = 1"]), stderr=subprocess.DEVNULL)
                hog.wait(timeout=60)
                died = time.monotonic()
                self.assertEqual(hog.returncode, -9, "not killed")

                def kill_records():
                    return [r for r in agent._lines() if r["type"] == "oom_kill" and r["pid"] == hog.pid]
                wait_for(kill_records, timeout=5, what="the oom_kill record")
                seen_after = time.monotonic() - died
                kill = kill_records()[0]
        finally:
            group.remove()
        print(f"oom_kill after {seen_after:.2f} s: {json.dumps(kill)}", file=sys.stderr)
        self.assertLess(seen_after, 1.0)
        self.assertEqual(kill["comm"], "python3")
        self.assertEqual(kill["cgroup"], group.name)
        self.assertGreater(kill["rss_bytes"], 24 * MIB)
        self.assertLessEqual(kill["rss_bytes"], 64 * MIB)  # the limit counts page tables and kernel memory too
        self.assertEqual(kill["trigger"]["pid"], hog.pid)


if __name__ == "__main__":
    unittest.main()
