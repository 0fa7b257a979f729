"""`record --timeline FILE` (docs/timeline.md): the Chrome trace event file of real workloads under
the real agent. The file's structure (valid JSON, microseconds on the monotonic clock, slices
balanced and in time order per track, every track named), on-CPU time per thread against the
kernel's own count, a 2-rank DDP training with both ranks' threads on it, and the size bound with
its drop count. The DDP training's file is opened in a real trace viewer, speedscope (from npm,
web/'s devDependencies), in headless Chromium through web/e2e/driver.mjs; a screenshot goes to
build/timeline-screenshots/."""
import functools
import http.server
import json
import os
import socket
import subprocess
import sys
import tempfile
import signal
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from ntlib import BUILD, NEUTRACER, PACED, NetNs, paced, wait_for  # noqa: E402
from test_dashboard import CHROMIUM, Browser  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PATTERN = os.path.join(REPO, "tests", "helpers", "timeline_pattern.py")
SPEEDSCOPE = os.path.join(REPO, "web", "node_modules", "speedscope", "dist", "release")
SHOTS = os.path.join(BUILD, "timeline-screenshots")


def require_viewer():
    """A missing piece fails the test with its reason: nothing is skipped."""
    missing = [what for what, path in (("Chromium (Debian's chromium package)", CHROMIUM),
                                       ("speedscope (npm ci in web/; scripts/setup.sh does)",
                                        os.path.join(SPEEDSCOPE, "index.html")))
               if not os.path.exists(path)]
    if missing:
        raise RuntimeError("cannot open the timeline in a viewer without " + ", ".join(missing))


def open_in_speedscope(trace, shot):
    """Serves speedscope and the file on a loopback port, opens it in headless Chromium; returns
    what the viewer shows: {"title", "toolbar", "errors"}, and a screenshot at `shot`."""
    require_viewer()
    with tempfile.TemporaryDirectory(prefix="nt-viewer-") as root:
        os.symlink(SPEEDSCOPE, os.path.join(root, "viewer"))
        os.symlink(trace, os.path.join(root, "trace.json"))

        class Quiet(http.server.SimpleHTTPRequestHandler):
            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=root))
        serving = threading.Thread(target=server.serve_forever, daemon=True)
        serving.start()
        browser = Browser()
        try:
            base = f"http://127.0.0.1:{server.server_address[1]}"
            browser.goto(f"{base}/viewer/index.html#profileURL={base}/trace.json&title=trace.json")
            # The title names the file once speedscope has imported it.
            browser.wait("document.title.startsWith('trace.json')", timeout=60)
            os.makedirs(SHOTS, exist_ok=True)
            browser.call("screenshot", path=shot)
            return {"title": browser.eval("document.title"),
                    "toolbar": browser.eval("document.body.innerText"),
                    "errors": browser.call("events")["errors"]}
        finally:
            browser.close()
            server.shutdown()
            server.server_close()


def record(timeline, *args, timeout=120, interval_ms=500):
    """`neutracer record --timeline FILE ARGS...` to its end: (the JSON Lines records, stdout (the
    traced command's), stderr)."""
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as out:
        run = subprocess.run([NEUTRACER, "record", "--interval", str(interval_ms), "-o", out.name, "--timeline", timeline, *args],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=timeout)
        if run.returncode != 0:
            raise AssertionError(f"agent exit {run.returncode}: {run.stderr[-2000:]}")
        with open(out.name) as f:
            return [json.loads(line) for line in f], run.stdout, run.stderr


class Tracks:
    """A timeline file, checked for its structure as it is read: per track, its slices."""

    def __init__(self, test, path):
        with open(path) as f:
            self.file = json.load(f)  # valid JSON, or the test fails here
        test.assertEqual(self.file["displayTimeUnit"], "ms")
        other = self.file["otherData"]
        test.assertEqual((other["clock"], other["unit"]), ("CLOCK_MONOTONIC", "us"))
        self.dropped = other["dropped_events"]
        self.thread_names, self.process_names = {}, {}
        self.slices = {}  # (pid, tid) -> [(ts, dur, cat, name)], in file order
        open_ends = {}
        last_ts = {}
        for e in self.file["traceEvents"]:
            test.assertIn(e["ph"], ("X", "i", "M"), e)
            track = (e["pid"], e["tid"])
            if e["ph"] == "M":
                names = self.thread_names if e["name"] == "thread_name" else self.process_names
                names[track if e["name"] == "thread_name" else e["pid"]] = e["args"]["name"]
                continue
            ts = e["ts"]
            test.assertIsInstance(ts, int)  # whole microseconds: exact in every viewer
            test.assertGreaterEqual(ts, last_ts.get(track, 0), f"ts goes back on track {track}: {e}")
            last_ts[track] = ts
            if e["ph"] != "X":
                continue
            test.assertGreaterEqual(e["dur"], 0, e)
            end = ts + e["dur"]
            stack = open_ends.setdefault(track, [])
            while stack and stack[-1] <= ts:
                stack.pop()
            # Balanced: a slice that starts inside another ends inside it too.
            test.assertTrue(not stack or end <= stack[-1],
                            f"slice overlaps its enclosing one without nesting on track {track}: {e}")
            stack.append(end)
            self.slices.setdefault(track, []).append((ts, e["dur"], e["cat"], e["name"]))
        for track in self.slices:
            test.assertIn(track, self.thread_names, f"track {track} has no name")

    def of(self, pid, tid, cat):
        """The slices of one category on a thread's own track, in time order."""
        return [s for s in self.slices.get((pid, tid), []) if s[2] == cat]


class Timeline(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory(prefix="nt-timeline-")
        self.path = os.path.join(self.dir.name, "trace.json")

    def tearDown(self):
        self.dir.cleanup()

    def test_threads_on_and_off_cpu_in_microseconds(self):
        """(i) The pattern workload: each thread's on-CPU time against the kernel's count, the
        worker's sleep as an off-CPU slice, and every timestamp on the workload's own monotonic
        clock, in microseconds."""
        records, stdout, _ = record(self.path, "--collect", "net,syscalls", "--slow-syscall", "100", "--",
                                    "/usr/bin/python3", PATTERN)
        report = json.loads(stdout.strip().splitlines()[-1])
        tracks = Tracks(self, self.path)
        self.assertEqual(tracks.dropped, 0)
        kernel = {int(tid): ns for tid, ns in report["on_cpu_ns"].items()}
        pid = min(kernel)  # the main thread's tid is the process's pid
        self.assertEqual(tracks.process_names[pid], "python3")
        threads = sorted(tid for (p, tid) in tracks.slices if p == pid and tid < (1 << 22))
        self.assertEqual(threads, sorted(kernel), f"threads of {pid} on the timeline")
        for tid, kernel_ns in kernel.items():
            oncpu = tracks.of(pid, tid, "oncpu")
            ours_ns = sum(dur for _, dur, _, _ in oncpu) * 1000
            print(f"thread {tid}: on-CPU {ours_ns / 1e6:.1f} ms on the timeline, {kernel_ns / 1e6:.1f} ms by the "
                  f"kernel, {len(oncpu)} slices")
            # The kernel's count was read just before the thread's last few instructions.
            self.assertLess(abs(ours_ns - kernel_ns), 0.1 * kernel_ns + 20e6, f"thread {tid}")
            # On the workload's own CLOCK_MONOTONIC, in microseconds: within its life (Python's own
            # start-up comes before start_ns).
            first, last = oncpu[0][0], max(ts + dur for ts, dur, _, _ in oncpu)
            self.assertGreater(first * 1000, report["start_ns"] - 2e9)
            self.assertLess(last * 1000, report["end_ns"] + 0.5e9)
        worker = max(kernel)
        ts = [(ts, ts + dur) for ts, dur, _, _ in tracks.of(pid, worker, "oncpu")]
        span_s = (ts[-1][1] - ts[0][0]) / 1e6
        print(f"worker: {span_s:.3f} s from its first to its last on-CPU slice (spin 0.3, sleep 0.3, spin 0.3)")
        self.assertGreater(span_s, 0.85)
        self.assertLess(span_s, 1.3)
        sleeps = [dur for _, dur, _, name in tracks.of(pid, worker, "offcpu") if name == "sleeping"]
        self.assertTrue(any(0.28e6 < d < 0.4e6 for d in sleeps), f"no 0.3 s sleep among {sorted(sleeps)[-3:]}")
        # The same sleep as a slow syscall, on a track of the worker's own beside its thread's.
        calls = [(tracks.thread_names[track], name, dur) for track, slices in tracks.slices.items()
                 if track[0] == pid and track[1] % (1 << 22) == worker and track[1] != worker
                 for _, dur, cat, name in slices if cat == "syscall"]
        self.assertTrue(any(name == "clock_nanosleep" and 0.28e6 < dur < 0.4e6 for _, name, dur in calls), calls)
        self.assertEqual({track_name for track_name, _, _ in calls}, {"python3 syscall"})
        self.assertEqual(next(r for r in records if r["type"] == "summary")["loss"]["timeline_full"], 0)

    def test_size_bound_counts_what_did_not_fit(self):
        """A tiny --timeline-max-mb: the file stays within it, stays valid, and what did not fit is
        counted in the file, in the loss records and on stderr."""
        bound_mb = 0.02
        records, _, stderr = record(self.path, "--timeline-max-mb", str(bound_mb), "--", "/usr/bin/python3", PATTERN)
        self.assertLessEqual(os.path.getsize(self.path), bound_mb * (1 << 20))
        tracks = Tracks(self, self.path)
        self.assertGreater(tracks.dropped, 0)
        self.assertEqual(next(r for r in records if r["type"] == "summary")["loss"]["timeline_full"], tracks.dropped)
        self.assertIn(f"{tracks.dropped} dropped", stderr)

    def test_valid_file_after_sigint(self):
        """An agent stopped by SIGINT, tracing a process that outlives it, leaves a complete file."""
        spinner = subprocess.Popen(["/usr/bin/python3", "-c", "import time\nwhile True: time.sleep(0.001)"])
        try:
            agent = subprocess.Popen([NEUTRACER, "record", "-o", os.devnull, "--timeline", self.path,
                                      "-p", str(spinner.pid)], stderr=subprocess.PIPE, text=True)
            try:
                wait_for(lambda: os.path.exists(self.path + ".partial"), timeout=30, what="the agent's start")
                time.sleep(1.5)  # a second of switches
                agent.send_signal(signal.SIGINT)
                _, stderr = agent.communicate(timeout=30)
            finally:
                if agent.poll() is None:
                    agent.kill()
                    agent.wait()
            self.assertEqual(agent.returncode, 0, stderr)
            tracks = Tracks(self, self.path)
            self.assertGreater(len(tracks.of(spinner.pid, spinner.pid, "oncpu")), 100)
            self.assertFalse(os.path.exists(self.path + ".partial"))
        finally:
            spinner.kill()
            spinner.wait()

    def test_anomaly_is_an_instant_on_its_process(self):
        """(e) A sender whose rate jumps fiftyfold: the burst anomaly the agent raises is an
        instant on the sender's process, at the time of the anomaly record."""
        with NetNs() as ns:
            server, said = paced(ns, "serve")
            try:
                # The agent traces the sender only: it is started after the agent, as its command.
                records, _, _ = record(self.path, "--detect-warmup", "8", "--",
                                       *ns.argv(["/usr/bin/python3", PACED, "send", "--port", str(said["port"]),
                                                 "--rate", "100000", "--seconds", "5", "--burst-at", "3.5",
                                                 "--burst-factor", "50", "--burst-seconds", "1"]), interval_ms=250)
            finally:
                server.kill()
                server.wait()
        raised = [r for r in records if r["type"] == "anomaly"]
        self.assertTrue(any(r["detector"] == "burst" and r.get("pid") for r in raised), raised)
        tracks = Tracks(self, self.path)
        instants = [e for e in tracks.file["traceEvents"] if e["ph"] == "i" and e["cat"] == "anomaly"]
        to_unix_s = tracks.file["otherData"]["unix_minus_monotonic_s"]
        # Each one on its process (a device's or a disk's on pid 0), at its record's time.
        for r in raised:
            self.assertTrue(any(e["pid"] == r.get("pid", 0) and e["name"] == f"{r['metric']} {r['detector']}" and
                                abs(e["ts"] / 1e6 + to_unix_s - r["ts"]) < 0.05 for e in instants), (r, instants))
        self.assertEqual(len(instants), len(raised))

    def test_ddp_training_both_ranks(self):
        """(ii) 2 ranks of scripts/ddp_demo.py under torchrun: each rank's threads have on-CPU
        slices, the file is balanced and in order per track."""
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        # --redirects/--tee 1: torch 1.13's torchrun cannot parse the default 0 on Python 3.11.
        records, _, stderr = record(self.path, "--", "/usr/bin/torchrun", "--nnodes", "1", "--nproc_per_node", "2",
                                    "--redirects", "1", "--tee", "1", "--master_addr", "127.0.0.1",
                                    "--master_port", str(port), os.path.join(REPO, "scripts", "ddp_demo.py"),
                                    "--seconds", "3", timeout=300)
        tracks = Tracks(self, self.path)
        ranks = {r["rank"]: r["pid"] for r in records if r["type"] == "process_info" and r.get("rank") is not None}
        self.assertEqual(sorted(ranks), [0, 1], f"ranks seen: {ranks}")
        for rank, pid in ranks.items():
            busy = {tid for (p, tid), slices in tracks.slices.items()
                    if p == pid and tid < (1 << 22) and any(cat == "oncpu" for _, _, cat, _ in slices)}
            print(f"rank {rank} (pid {pid}): {len(busy)} threads with on-CPU slices")
            self.assertGreaterEqual(len(busy), 2, f"rank {rank}")
        size = os.path.getsize(self.path)
        events = sum(len(s) for s in tracks.slices.values())
        print(f"DDP timeline: {size / 1e6:.1f} MB, {events} slices, {tracks.dropped} dropped; {stderr.strip()[-200:]}")
        self.assertEqual(tracks.dropped, 0)
        # The ranks' and the launcher's TCP connections (the rendezvous, gloo's pairs), open to close.
        conns = [name for slices in tracks.slices.values() for _, _, cat, name in slices if cat == "net"]
        self.assertTrue(any(name.startswith("tcp 127.0.0.1:") for name in conns), conns)
        # (iii) It opens in a real viewer: every track with slices is one of speedscope's threads.
        shot = os.path.join(SHOTS, "ddp.png")
        shown = open_in_speedscope(self.path, shot)
        print(f"speedscope: {shown['title']!r}, {shown['toolbar'].splitlines()[1:2]}, screenshot {shot}")
        self.assertIn(f"trace.json (1/{len(tracks.slices)})", shown["toolbar"])
        # Chromium's own WebGL notes are not the viewer's complaints.
        self.assertEqual([e for e in shown["errors"] if "GL Driver" not in e], [])

    def test_unwritable_file_is_one_line_and_a_failure(self):
        run = subprocess.run([NEUTRACER, "record", "--timeline", "/nonexistent-dir/t.json", "--duration", "1"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertNotEqual(run.returncode, 0)
        self.assertEqual(len(run.stderr.strip().splitlines()), 1, run.stderr)
        self.assertIn("/nonexistent-dir/t.json", run.stderr)


if __name__ == "__main__":
    unittest.main()
