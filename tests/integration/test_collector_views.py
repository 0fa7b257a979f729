"""Issues 13 and 17: the cpu, io, syscalls and memory collectors through every sink: `top --batch`
sections, Prometheus families, and the anomaly watch on their series (live and in replay alike)."""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
from ntlib import BUILD, NEUTRACER, Agent, held, wait_for  # noqa: E402
import promtext  # noqa: E402

SCHED = os.path.join(BUILD, "tests", "helpers", "nt-sched")
SYSCALLS = os.path.join(BUILD, "tests", "helpers", "nt-syscalls")
CPU = str(max(os.sched_getaffinity(0)))


def pinned(*argv):
    return ["taskset", "-c", CPU, SCHED, *argv]


class CollectorViews(unittest.TestCase):
    def setUp(self):
        self.procs = []

    def tearDown(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()

    def start(self, argv):
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        self.procs.append(proc)
        return proc

    def test_top_batch_has_a_cpu_section_with_the_spinner(self):
        spinner = self.start(pinned("spin", "4"))
        out = subprocess.run([NEUTRACER, "top", "--batch", "--collect", "cpu,io", "-p", str(spinner.pid),
                              "--interval", "500", "--duration", "2"], stdout=subprocess.PIPE, text=True,
                             timeout=30, check=True).stdout
        frames = out.split("neutracer top  ")[1:]
        self.assertGreaterEqual(len(frames), 3, out)
        last = frames[-1].splitlines()
        self.assertIn("cpu", last)
        self.assertIn("io", last)
        self.assertNotIn("RTT_US", frames[-1], "no network table without the net collector")
        rows = [line.split() for line in last[last.index("cpu") + 2:last.index("io")]]
        self.assertEqual([int(r[0]) for r in rows], [spinner.pid], out)
        # A spinner is runnable all the time: running, or waiting for its CPU when something else runs.
        cpu, runq = float(rows[0][2]), float(rows[0][3])
        self.assertGreater(cpu, 30, rows)
        self.assertTrue(80 <= cpu + runq <= 120, rows)

    def test_prometheus_cpu_seconds_of_a_spinner(self):
        spinner = self.start(pinned("spin", "3"))
        with Agent("--collect", "cpu", "-p", str(spinner.pid), "--metrics", "127.0.0.1:0") as agent:
            start = wait_for(lambda: next((r for r in agent._lines() if r["type"] == "start"), None),
                             what="the start record")
            time.sleep(1.5)
            samples = promtext.parse(promtext.scrape(start["metrics"]))
        cpu = promtext.family(samples, "neutracer_process_cpu_seconds_total")
        mine = [v for labels, v in cpu.items() if ("pid", str(spinner.pid)) in labels]
        self.assertEqual(len(mine), 1, cpu)
        self.assertTrue(0.5 < mine[0] < 2.5, mine)
        self.assertFalse(promtext.family(samples, "neutracer_process_sent_bytes_total"), "net is not running")
        self.assertTrue(promtext.family(samples, "neutracer_process_runqueue_wait_seconds_total"))

    def test_syscalls_in_top_and_syscalls_and_faults_in_prometheus(self):
        # 100 sleeps of 20 ms after 200,000 getppid calls: two seconds in clock_nanosleep.
        argv = [SYSCALLS, "--getppid", "200000", "--failing-opens", "0", "--sleeps", "100", "--sleep-ms", "20"]
        out = subprocess.run([NEUTRACER, "top", "--batch", "--collect", "syscalls", "--interval", "500", "--", *argv],
                             stdout=subprocess.PIPE, text=True, timeout=60, check=True).stdout
        frames = [f for f in out.split("neutracer top  ")[1:] if "nt-syscalls" in f]
        self.assertTrue(frames, out)
        rows = [line.split() for line in frames[-1].splitlines() if "nt-syscalls" in line]
        self.assertEqual(rows[0][-2], "clock_nanosleep", rows)  # where it spends its time in syscalls
        process = held(argv)
        self.procs.append(process)
        with Agent("--collect", "syscalls,memory", "-p", str(process.pid), "--metrics", "127.0.0.1:0") as agent:
            start = wait_for(lambda: next((r for r in agent._lines() if r["type"] == "start"), None),
                             what="the start record")
            process.stdin.write("go\n")
            process.stdin.flush()
            time.sleep(1.5)  # in its sleeps
            samples = promtext.parse(promtext.scrape(start["metrics"]))
            process.communicate(timeout=30)
        calls = promtext.family(samples, "neutracer_process_syscalls_total")
        mine = [v for labels, v in calls.items() if ("pid", str(process.pid)) in labels]
        self.assertEqual(len(mine), 1, calls)
        self.assertGreaterEqual(mine[0], 200_000)
        faults = promtext.family(samples, "neutracer_process_minor_faults_total")
        self.assertTrue(any(("pid", str(process.pid)) in labels for labels in faults), faults)
        self.assertFalse(promtext.family(samples, "neutracer_process_sent_bytes_total"), "net is not running")

    def test_cpu_burst_anomaly_when_a_quiet_process_starts_spinning(self):
        # 500 wakeups a second for 6 s (about 1% of a CPU), then a CPU's worth for 3 s.
        process = held(pinned("sleep-then-spin", "3000", "2000", "3"))
        self.procs.append(process)
        with Agent("--collect", "cpu", "-p", str(process.pid), "--detect-warmup", "16", interval_ms=250) as agent:
            process.stdin.write("go\n")
            process.stdin.flush()
            first = json.loads(process.stdout.readline())  # the sleeps are over
            spinning_at = time.time()
            process.communicate(timeout=60)
        self.assertEqual(first["sleeps"], 3000)
        raised = [r for r in agent.records if r["type"] == "anomaly"]
        found = [r for r in raised if r["pid"] == process.pid and r["metric"] == "on_cpu_share"]
        self.assertTrue(found, raised)
        self.assertEqual((found[0]["detector"], found[0]["kind"]), ("burst", "process"))
        self.assertGreaterEqual(found[0]["ts"], spinning_at - 0.3, "nothing while it only slept")
        self.assertLess(found[0]["ts"] - spinning_at, 1.5)
        # Replay of the recording raises exactly the same anomalies.
        with tempfile.NamedTemporaryFile("w", suffix=".jsonl") as recorded:
            recorded.write(agent.text)
            recorded.flush()
            out = subprocess.run([NEUTRACER, "replay", recorded.name], check=True, stdout=subprocess.PIPE,
                                 text=True, timeout=60).stdout
        self.assertEqual([json.loads(line) for line in out.splitlines()], raised)


if __name__ == "__main__":
    unittest.main()
