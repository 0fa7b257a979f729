"""Issue 5, acceptance 1-2: `top --batch` prints the workload's rows; the interactive view sorts,
shows flows, filters and quits under tmux at 80x24, and leaves the terminal as it found it.
Issue 8: a real burst is marked on its process's row, named after the batch table, shown above the
interactive footer and listed by the `a` view."""
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
from ntlib import NEUTRACER, TRAFFIC, NetNs, paced, sender_argv, wait_for  # noqa: E402

NBYTES = 3_000_017  # shown as 2.9M
# As in test_anomalies.py: a 10 s warm-up, then the sender's rate jumps 50x 12 s in.
DETECT = ("--interval", "250", "--detect-warmup", "40")


def written_line(path):
    """A line the shell writes to `path`: the file exists as soon as the redirection opens it, so
    wait until the line is whole."""
    def line():
        if not os.path.exists(path):
            return None
        with open(path) as f:
            text = f.read()
        return text if text.endswith("\n") else None
    return wait_for(line, what=f"a whole line in {path}")


class Lingering:
    """A sender and a receiver that move NBYTES, then stay alive so that top keeps their rows."""

    def __init__(self, ns):
        linger = ["--linger-ms", "60000"]
        self.serve = subprocess.Popen(ns.argv([TRAFFIC, "serve", "--proto", "tcp", "--family", "4", "--addr",
                                               "127.0.0.1", "--port", "0", "--bytes", str(NBYTES), *linger]),
                                      stdout=subprocess.PIPE, text=True)
        ready = json.loads(self.serve.stdout.readline())
        self.send = subprocess.Popen(ns.argv(sender_argv("tcp", 4, "127.0.0.1", ready["ready"], NBYTES) + linger),
                                     stdout=subprocess.PIPE, text=True)
        self.sender = json.loads(self.send.stdout.readline())["pid"]
        self.receiver = ready["pid"]
        json.loads(self.serve.stdout.readline())  # all received

    def close(self):
        for proc in (self.send, self.serve):
            proc.kill()
            proc.wait()


class Burst:
    """A paced sender at 100 KB/s to a sink, 50 times faster for 2 s from 12 s in; `seconds` in all."""

    def __init__(self, ns, seconds=15):
        self.sink, port = paced(ns, "serve")
        self.send, said = paced(ns, "send", "--addr", "127.0.0.1", "--port", str(port["port"]), "--rate", "100000",
                                "--seconds", str(seconds), "--burst-at", "12", "--burst-factor", "50")
        self.pid = said["pid"]

    def close(self):
        for proc in (self.send, self.sink):
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            proc.stdout.close()


def rows(frame):
    """pid -> the columns of its row in one batch frame."""
    out = {}
    for line in frame.splitlines()[2:]:
        cols = line.split()
        if cols and cols[0].isdigit():
            out[int(cols[0])] = cols
    return out


class Tmux:
    def __init__(self, command):
        self.session = f"nt{os.getpid()}"
        subprocess.run(["tmux", "kill-session", "-t", self.session], stderr=subprocess.DEVNULL)
        subprocess.run(["tmux", "new", "-d", "-s", self.session, "-x", "80", "-y", "24", command], check=True)

    def screen(self):
        return subprocess.run(["tmux", "capture-pane", "-p", "-t", self.session], stdout=subprocess.PIPE,
                              text=True).stdout

    def keys(self, *keys):
        subprocess.run(["tmux", "send-keys", "-t", self.session, *keys], check=True)

    def wait_for(self, text, timeout=15):
        return wait_for(lambda: text in self.screen(), timeout=timeout, what=f"{text!r} on the screen")

    def close(self):
        subprocess.run(["tmux", "kill-session", "-t", self.session], stderr=subprocess.DEVNULL)


class Top(unittest.TestCase):
    def test_batch_prints_the_workload(self):
        with NetNs() as ns:
            top = subprocess.Popen([NEUTRACER, "top", "--batch", "--interval", "200", "--netns", str(ns.inode)],
                                   stdout=subprocess.PIPE, text=True)
            time.sleep(1)
            work = Lingering(ns)
            try:
                time.sleep(1)
            finally:
                top.terminate()
                out, _ = top.communicate(timeout=20)
                work.close()
        self.assertEqual(top.returncode, 0)
        frames = [rows(frame) for frame in out.split("neutracer top")[1:]]
        last = frames[-1]
        self.assertEqual(set(last), {work.sender, work.receiver})
        # PID USER COMMAND TX/s RX/s TX RX FLOWS RETRANS RTT_US
        self.assertEqual(last[work.sender][1:3] + last[work.sender][5:7], ["root", "nt-traffic", "2.9M", "0B"])
        self.assertEqual(last[work.receiver][1:3] + last[work.receiver][5:7], ["root", "nt-traffic", "0B", "2.9M"])
        # While its connection was open, the sender had one flow with an RTT.
        with_flow = [f[work.sender] for f in frames if work.sender in f and f[work.sender][7] == "1"]
        self.assertTrue(with_flow)
        self.assertNotEqual(with_flow[0][9], "-")

    def test_batch_marks_the_row_and_names_the_anomaly(self):
        with NetNs() as ns:
            top = subprocess.Popen([NEUTRACER, "top", "--batch", *DETECT, "--netns", str(ns.inode)],
                                   stdout=subprocess.PIPE, text=True)
            top.stdout.readline()  # the first frame: tracing has started
            burst = Burst(ns)
            try:
                burst.send.wait(timeout=60)
            finally:
                top.terminate()
                out, _ = top.communicate(timeout=20)
                burst.close()
        self.assertEqual(top.returncode, 0)
        frames = out.split("neutracer top")[1:]
        naming = [i for i, frame in enumerate(frames)
                  if any(line.startswith("anomaly: ") and f"(pid {burst.pid})" in line for line in frame.splitlines())]
        self.assertTrue(naming, out[-4000:])
        raised = frames[naming[0]]
        self.assertIn(f"anomaly: burst tx_rate python3 (pid {burst.pid}) ", raised)
        # Marked from the frame that names it, not before; the marker comes after the columns.
        marked = [i for i, frame in enumerate(frames) if rows(frame).get(burst.pid, [""])[-1] == "!"]
        self.assertEqual(marked[0], naming[0], raised)
        self.assertEqual(len(rows(raised)[burst.pid]), 11)

    def test_interactive_highlights_and_lists_the_anomaly(self):
        with NetNs() as ns:
            tmux = Tmux(f"sh -c '{NEUTRACER} top {' '.join(DETECT)} --netns {ns.inode}; sleep 60'")
            burst = None
            try:
                tmux.wait_for("no anomaly yet")
                burst = Burst(ns, seconds=30)  # still sending (its row shown) well after the burst
                tmux.wait_for("anomalies in 30s", timeout=30)
                screen = tmux.screen().splitlines()
                self.assertEqual(len(screen), 24)
                self.assertTrue(all(len(line) <= 80 for line in screen))
                # Above the two footer lines: the latest anomaly, one of the burst's.
                self.assertRegex(screen[21], r"^anomaly \d\d:\d\d:\d\d (burst|large_transfer) ")
                sender = next(line for line in screen if line.split()[:1] == [str(burst.pid)])
                self.assertEqual(sender[79:], "!")
                tmux.keys("a")
                tmux.wait_for("recent anomalies, newest first")
                listed = tmux.screen().splitlines()
                self.assertTrue(all(len(line) <= 80 for line in listed))
                # Two lines each: time, detector, metric, value and expected range; then whose.
                self.assertTrue(any(re.match(r"\d\d:\d\d:\d\d burst +tx_rate +[0-9.]+M/s  expected ", line) and
                                    next_line.strip() == f"python3 (pid {burst.pid})"
                                    for line, next_line in zip(listed, listed[1:])), "\n".join(listed))
                tmux.keys("Escape")
                tmux.wait_for("COMMAND")
                tmux.keys("h")
                tmux.wait_for("recent anomalies, newest first; Esc: back")
                tmux.keys("q")
            finally:
                tmux.close()
                if burst:
                    burst.close()

    def test_interactive_keys_and_terminal_restored(self):
        with NetNs() as ns, tempfile.TemporaryDirectory() as tmp:
            script = (f"stty -g > {tmp}/before; {NEUTRACER} top --interval 300 --netns {ns.inode}; "
                      f"echo EXITED rc=$?; stty -g > {tmp}/after; sleep 60")
            tmux = Tmux(f"sh -c '{script}'")
            work = None
            try:
                tmux.wait_for("NeuTracer top")
                work = Lingering(ns)
                tmux.wait_for("nt-traffic")
                screen = tmux.screen()
                self.assertEqual(len(screen.splitlines()), 24)
                self.assertTrue(all(len(line) <= 80 for line in screen.splitlines()))
                tmux.keys("r")
                tmux.wait_for("sort: RX/s")
                tmux.keys("s")
                tmux.wait_for("sort: total")
                tmux.keys("s")
                tmux.wait_for("sort: pid")
                pids = [int(line.split()[0]) for line in tmux.screen().splitlines()[3:] if line.split()[:1] and
                        line.split()[0].isdigit()]
                self.assertEqual(pids, sorted(pids))
                tmux.keys("Enter")
                tmux.wait_for(f"flows of {min(pids)}")
                tmux.keys("Escape")
                tmux.wait_for("COMMAND")
                tmux.keys("/", "n", "o", "m", "a", "t", "c", "h", "Enter")
                tmux.wait_for("no process matches the filter")
                tmux.keys("q")
                tmux.wait_for("EXITED rc=0")
                self.assertNotIn("NeuTracer top", tmux.screen())
                self.assertEqual(written_line(f"{tmp}/before"), written_line(f"{tmp}/after"))
            finally:
                tmux.close()
                if work:
                    work.close()

    def test_sigterm_restores_the_terminal(self):
        with tempfile.TemporaryDirectory() as tmp:
            marker = str(300 + os.getpid() % 97)  # an interval that tells this top from any other
            script = (f"stty -g > {tmp}/before; {NEUTRACER} top --interval {marker}; "
                      f"echo EXITED rc=$?; stty -g > {tmp}/after; sleep 60")
            tmux = Tmux(f"sh -c '{script}'")
            try:
                tmux.wait_for("NeuTracer top")
                pid = int(subprocess.run(["pgrep", "-f", f"top --interval {marker}$"], stdout=subprocess.PIPE,
                                         text=True).stdout.split()[0])
                os.kill(pid, 15)
                tmux.wait_for("EXITED rc=0")
                self.assertEqual(written_line(f"{tmp}/before"), written_line(f"{tmp}/after"))
            finally:
                tmux.close()


if __name__ == "__main__":
    unittest.main()
