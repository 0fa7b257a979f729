"""Kernels differ: every optional feature refused in turn (NEUTRACER_REFUSE makes BPF_PROG_LOAD fail
as a kernel would), each way of reading live and pre-existing sockets on its own, a refused required
feature, and a test whose agent fails to start. Real programs, real sockets, real namespaces."""
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
from ntlib import NEUTRACER, Agent, NetNs, finish_receiver, start_receiver, transfer, wait_for  # noqa: E402

HELPERS = os.path.join(os.path.dirname(__file__), "..", "helpers")
NBYTES = 1_000_003
LIVE_SOCKETS = ("storage_iter", "netns_iters", "task_file")
PREEXISTING = ("task_file", "holders")

# On a line on stdin, moves NBYTES over TCP and UDP, IPv4 and IPv6, between sockets of this one
# process, then holds them all open until its stdin closes: its bytes can only be read from live sockets.
HOLDER = r"""
import socket, sys
N = int(sys.argv[1])
sys.stdin.readline()
held = []
for family, addr in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    listener = socket.socket(family)
    listener.bind((addr, 0)); listener.listen(1)
    client = socket.create_connection(listener.getsockname()[:2])
    server, _ = listener.accept()
    client.sendall(b"x" * N)
    got = 0
    while got < N:
        got += len(server.recv(1 << 16))
    a, b = socket.socket(family, socket.SOCK_DGRAM), socket.socket(family, socket.SOCK_DGRAM)
    a.bind((addr, 0)); b.bind((addr, 0)); a.connect(b.getsockname()[:2])
    for offset in range(0, N, 1000):
        a.send(b"y" * min(1000, N - offset))
        b.recv(2000)
    held += [listener, client, server, a, b]
print("ready", flush=True)
sys.stdin.read()
"""

# Connects before the agent starts (prints its local port), sends 1000 bytes on a line on stdin.
CONNECTED_EARLY = r"""
import socket, sys
conn = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print(conn.getsockname()[1], flush=True)
sys.stdin.readline()
conn.sendall(b"z" * 1000)
conn.close()
"""


def features_of(agent):
    return agent.summary()["features"]


def unavailable_lines(stderr, name):
    return [line for line in stderr.splitlines() if line.startswith(f"neutracer: {name} unavailable")]


class Features(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        with Agent() as agent:
            time.sleep(0.3)
        cls.baseline = features_of(agent)

    def test_every_feature_is_reported(self):
        self.assertTrue(self.baseline["net.accounting"]["available"])
        self.assertTrue(self.baseline["net.accounting"]["required"])
        for name, state in self.baseline.items():
            with self.subTest(feature=name):
                self.assertIn(name.split(".")[0], ("net", "filter"))  # the collectors record runs by default
                self.assertIn("via" if state["available"] else "needs", state)

    def test_each_optional_feature_refused_alone(self):
        optional = [name for name, state in self.baseline.items() if not state.get("required")]
        self.assertGreaterEqual(len(optional), 6, optional)
        for name in optional:
            with self.subTest(feature=name), NetNs() as ns:
                with Agent(env={"NEUTRACER_REFUSE": name}) as agent:
                    sender, receiver, _ = transfer("tcp", 4, NBYTES, send_ns=ns, recv_ns=ns)
                features = features_of(agent)
                self.assertFalse(features[name]["available"], features[name])
                self.assertIn("NEUTRACER_REFUSE", features[name]["reason"])
                for other, state in self.baseline.items():
                    if other != name:
                        self.assertEqual(features[other]["available"], state["available"], other)
                self.assertEqual(len(unavailable_lines(agent.stderr, name)), 1, agent.stderr)
                totals = agent.totals_by_pid(ns.inode)
                self.assertEqual((totals[sender]["tx_bytes"], totals[receiver]["rx_bytes"]), (NBYTES, NBYTES))

    def test_gauge_says_which_features_run(self):
        def gauges():
            text = urllib.request.urlopen(url, timeout=10).read().decode()
            return {line.split("{")[1].split(",")[0]: line.rsplit(" ", 1)[1]
                    for line in text.splitlines() if line.startswith("neutracer_feature_available{")}

        with Agent("--metrics", "127.0.0.1:0", env={"NEUTRACER_REFUSE": "net.tcp_health"}) as agent:
            url = next(r for r in agent._lines() if r["type"] == "start")["metrics"]
            gauges = wait_for(gauges, what="the feature gauges")
        self.assertEqual(gauges['feature="net.tcp_health"'], "0")
        self.assertEqual(gauges['feature="net.accounting"'], "1")

    def test_long_lived_sockets_through_each_reader(self):
        for via in LIVE_SOCKETS:
            others = ",".join(f"net.live_sockets/{other}" for other in LIVE_SOCKETS if other != via)
            with self.subTest(reader=via), NetNs() as ns:
                holder = subprocess.Popen(ns.argv(["/usr/bin/python3", "-c", HOLDER, str(NBYTES)]),
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                with Agent(env={"NEUTRACER_REFUSE": others}) as agent:
                    holder.stdin.write("go\n")
                    holder.stdin.flush()
                    self.assertEqual(holder.stdout.readline().strip(), "ready")
                    state = next(r for r in agent._lines() if r["type"] == "start")["features"]["net.live_sockets"]
                    if state["available"]:
                        # Seen while every socket is still open: only a live read can see it.
                        wait_for(lambda: any(r["type"] == "process" and r["pid"] == holder.pid and
                                             r["tx_bytes"] == 4 * NBYTES for r in agent._lines()),
                                 what="the held sockets' bytes in an interval record")
                holder.stdin.close()
                holder.wait(timeout=10)
                if not state["available"]:
                    self.assertNotIn(f"{via}: Invalid argument (NEUTRACER_REFUSE)", state["reason"])
                    self.skipTest(f"this kernel refuses the {via} reader: {state['reason']}")
                self.assertEqual(state["via"], via)
                totals = agent.totals_by_pid(ns.inode)[holder.pid]
                self.assertEqual((totals["tx_bytes"], totals["rx_bytes"]), (4 * NBYTES, 4 * NBYTES))

    def test_preexisting_connections_each_way(self):
        for via in PREEXISTING:
            others = ",".join(f"net.preexisting/{other}" for other in PREEXISTING if other != via)
            with self.subTest(way=via), NetNs() as ns:
                receiver, port, server = start_receiver("tcp", 4, "127.0.0.1", 1000, ns=ns)
                client = subprocess.Popen(ns.argv(["/usr/bin/python3", "-c", CONNECTED_EARLY, str(port)]),
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                local_port = int(client.stdout.readline())
                with Agent(env={"NEUTRACER_REFUSE": others}) as agent:
                    client.communicate("go\n", timeout=30)
                    finish_receiver(receiver)
                    time.sleep(0.3)
                features = features_of(agent)
                state = features["net.preexisting"]
                if not state["available"]:
                    self.skipTest(f"this kernel refuses the {via} way: {state['reason']}")
                self.assertEqual(state["via"], via)
                opens = [r for r in agent.records if r["type"] == "conn" and r["event"] == "open" and
                         r["pid"] == client.pid and r["sport"] == local_port]
                self.assertEqual(len(opens), 1, opens)
                self.assertTrue(opens[0]["preexisting"])
                self.assertEqual(opens[0]["comm"], "python3")
                totals = agent.totals_by_pid(ns.inode)
                self.assertEqual(totals[client.pid]["tx_bytes"], 1000)
                # The receiver has been blocked in recv() since before the agent: a tracepoint
                # fires when that call returns, fexit only for calls entered after it attached.
                if features["net.accounting"]["via"] == "tp":
                    self.assertEqual(totals[server]["rx_bytes"], 1000)

    def test_refused_required_feature_stops_the_agent_with_one_line(self):
        with tempfile.NamedTemporaryFile(suffix=".jsonl") as out:
            started = time.monotonic()
            run = subprocess.run([NEUTRACER, "record", "-o", out.name], env={**os.environ,
                                 "NEUTRACER_REFUSE": "net.accounting"}, stderr=subprocess.PIPE, text=True, timeout=30)
            elapsed = time.monotonic() - started
        self.assertNotEqual(run.returncode, 0)
        self.assertLess(elapsed, 10)
        lines = run.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, run.stderr)
        self.assertIn("net.accounting needs", lines[0])
        self.assertIn("sock_send_length", lines[0])

    def test_a_test_whose_agent_fails_to_start_leaves_nothing(self):
        # A test of the harness: a receiver is waiting when the agent fails to start; the test
        # fails at once, and the receiver goes with it.
        script = (f"import sys; sys.path.insert(0, {HELPERS!r})\n"
                  "from ntlib import Agent, start_receiver\n"
                  "proc, port, pid = start_receiver('tcp', 4, '127.0.0.1', 10**9)\n"
                  "print(pid, flush=True)\n"
                  "with Agent(env={'NEUTRACER_REFUSE': 'net.accounting'}):\n"
                  "    pass\n")
        started = time.monotonic()
        run = subprocess.run(["/usr/bin/python3", "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, timeout=60)
        elapsed = time.monotonic() - started
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("agent exited early", run.stderr)
        self.assertLess(elapsed, 15)
        receiver = int(run.stdout.split()[0])
        wait_for(lambda: not os.path.exists(f"/proc/{receiver}") or
                 open(f"/proc/{receiver}/stat").read().split(")")[1].split()[0] == "Z",
                 timeout=5, what="the receiver to be gone")


if __name__ == "__main__":
    unittest.main()
