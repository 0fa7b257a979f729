"""Acceptance 1-3 of the foundation issue: exact per-process bytes, real sockets, real namespaces."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
from ntlib import Agent, NetNs, connect_veth, transfer  # noqa: E402

NBYTES = 3_000_017  # not a multiple of any buffer size


class ExactBytes(unittest.TestCase):
    def assert_only(self, agent, netns, expected):
        """In `netns`, exactly the expected pids carry bytes, and exactly the expected bytes."""
        got = {pid: (t["tx_bytes"], t["rx_bytes"]) for pid, t in agent.totals_by_pid(netns).items()}
        self.assertEqual(got, expected)

    def test_loopback_in_a_namespace(self):
        cases = [(proto, family) for proto in ("tcp", "udp") for family in (4, 6)]
        namespaces = [NetNs() for _ in cases]
        for ns in namespaces:
            ns.__enter__()
        try:
            with Agent() as agent:
                results = [transfer(proto, family, NBYTES, send_ns=ns, recv_ns=ns)
                           for (proto, family), ns in zip(cases, namespaces)]
            for (proto, family), ns, (sender, receiver, _) in zip(cases, namespaces, results):
                with self.subTest(proto=proto, family=family):
                    self.assert_only(agent, ns.inode, {sender: (NBYTES, 0), receiver: (0, NBYTES)})
        finally:
            for ns in namespaces:
                ns.__exit__(None, None, None)

    def test_across_a_veth_pair(self):
        with NetNs() as a, NetNs() as b:
            connect_veth(a, b)
            with Agent() as agent:
                results = {(proto, family): transfer(proto, family, NBYTES, send_ns=a, recv_ns=b,
                                                     addr="192.0.2.2" if family == 4 else "2001:db8::2")
                           for proto in ("tcp", "udp") for family in (4, 6)}
            senders = {r[0]: (NBYTES, 0) for r in results.values()}
            receivers = {r[1]: (0, NBYTES) for r in results.values()}
            self.assert_only(agent, a.inode, senders)
            self.assert_only(agent, b.inode, receivers)

    def test_threads_fold_into_their_process(self):
        with NetNs() as ns:
            with Agent() as agent:
                sender, receiver, report = transfer("tcp", 4, NBYTES, send_ns=ns, recv_ns=ns, threads=8)
            self.assert_only(agent, ns.inode, {sender: (NBYTES, 0), receiver: (0, NBYTES)})
            totals = agent.totals_by_pid(ns.inode)
            self.assertEqual(totals[sender]["comm"], "nt-traffic")
            self.assertEqual(len(report["tids"]), 8)
            self.assertTrue(all(tid not in totals for tid in report["tids"] if tid != sender))


if __name__ == "__main__":
    unittest.main()
