"""Issue 3, acceptance 2: each kernel filter keeps exactly its target."""
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
from ntlib import (TRAFFIC, Agent, NetNs, finish_receiver, held, release, sender_argv,  # noqa: E402
                   start_receiver, transfer)

NBYTES = 100_003


def udp_sender(port, argv0=TRAFFIC):
    return sender_argv("udp", 4, "127.0.0.1", port, NBYTES, argv0=argv0)


def cgroup2_mount():
    return subprocess.run(["findmnt", "-n", "-t", "cgroup2", "-o", "TARGET"], check=True, stdout=subprocess.PIPE,
                          text=True).stdout.split()[0]


class KernelFilters(unittest.TestCase):
    def senders(self, agent):
        return {p["pid"]: p["tx_bytes"] for p in agent.summary()["processes"] if p["tx_bytes"]}

    def test_by_process_name(self):
        with NetNs() as ns, tempfile.TemporaryDirectory() as tmp:
            renamed = os.path.join(tmp, f"ntc{os.getpid() % 100000}")
            os.symlink(os.path.abspath(TRAFFIC), renamed)  # comm is the name it is run by
            receiver, port, _ = start_receiver("udp", 4, "127.0.0.1", 2 * NBYTES, ns=ns)
            named, other = held(udp_sender(port, renamed), ns=ns), held(udp_sender(port), ns=ns)
            with Agent("-c", os.path.basename(renamed)) as agent:
                release(named), release(other)
                finish_receiver(receiver)
            self.assertEqual(self.senders(agent), {named.pid: NBYTES})

    def test_by_cgroup_and_below(self):
        parent = os.path.join(cgroup2_mount(), f"nt-test-{os.getpid()}")
        child = os.path.join(parent, "child")
        os.makedirs(child)
        try:
            with NetNs() as ns:
                receiver, port, _ = start_receiver("udp", 4, "127.0.0.1", 2 * NBYTES, ns=ns)
                inside, outside = held(udp_sender(port), ns=ns), held(udp_sender(port), ns=ns)
                with open(os.path.join(child, "cgroup.procs"), "w") as procs:
                    procs.write(str(inside.pid))
                with Agent("--cgroup", parent) as agent:
                    release(inside), release(outside)
                    finish_receiver(receiver)
                self.assertEqual(self.senders(agent), {inside.pid: NBYTES})
        finally:
            os.rmdir(child)
            os.rmdir(parent)

    def test_children_born_after_the_start(self):
        with NetNs() as ns:
            receiver, port, receiver_pid = start_receiver("udp", 4, "127.0.0.1", 2 * NBYTES, ns=ns)
            # A shell that, once released, runs the tree as its child: child, grandchild, all new.
            shell = subprocess.Popen(ns.argv(["sh", "-c", f'read go; {TRAFFIC} tree --family 4 --addr 127.0.0.1 '
                                                          f'--port {port} --bytes {NBYTES} --exit-code 0']),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            with Agent("-p", str(shell.pid), "--children") as agent:
                tree = release(shell)
                finish_receiver(receiver)
            self.assertEqual(self.senders(agent), {tree["pid"]: NBYTES, tree["grandchild"]: NBYTES})
            self.assertNotIn(receiver_pid, {p["pid"] for p in agent.summary()["processes"]})

    def test_one_of_two_namespaces(self):
        with NetNs() as a, NetNs() as b:
            for selector in (f"/run/netns/{a.name}", str(a.inode)):
                with self.subTest(selector=selector):
                    with Agent("--netns", selector) as agent:
                        in_a = transfer("tcp", 4, NBYTES, send_ns=a, recv_ns=a)
                        transfer("tcp", 4, NBYTES, send_ns=b, recv_ns=b)
                    got = {p["pid"]: (p["netns"], p["tx_bytes"], p["rx_bytes"]) for p in agent.summary()["processes"]}
                    self.assertEqual(got, {in_a[0]: (a.inode, NBYTES, 0), in_a[1]: (a.inode, 0, NBYTES)})


if __name__ == "__main__":
    unittest.main()
