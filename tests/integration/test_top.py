"""Issue 5, acceptance 1-2: `top --batch` prints the workload's rows; the interactive view sorts,
shows flows, filters and quits under tmux at 80x24, and leaves the terminal as it found it."""
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
from ntlib import NEUTRACER, TRAFFIC, NetNs, sender_argv, wait_for  # noqa: E402

NBYTES = 3_000_017  # shown as 2.9M


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
                wait_for(lambda: os.path.exists(f"{tmp}/after"), what="stty after")
                self.assertEqual(open(f"{tmp}/before").read(), open(f"{tmp}/after").read())
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
                wait_for(lambda: os.path.exists(f"{tmp}/after"), what="stty after")
                self.assertEqual(open(f"{tmp}/before").read(), open(f"{tmp}/after").read())
            finally:
                tmux.close()


if __name__ == "__main__":
    unittest.main()
