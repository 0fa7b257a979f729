"""Acceptance 1-3 of the foundation issue: exact per-process bytes, real sockets, real namespaces."""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
from ntlib import Agent, NetNs, connect_veth, transfer, wait_for  # noqa: E402

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

    def test_iperf3_agrees_to_the_byte(self):
        # iperf3 reports the payload of its data stream; the stream also carries iperf3's own
        # preamble, which its report leaves out: a 37-byte cookie on a TCP data connection, a
        # 4-byte hello each way on a UDP one.
        for proto, extra, preamble_out, preamble_back in (("tcp", [], 37, 0), ("udp", ["-u", "-b", "200M"], 4, 4)):
            with self.subTest(proto=proto), NetNs() as ns:
                server = subprocess.Popen(ns.argv(["iperf3", "-s", "-1", "-J", "-p", "5201"]), stdout=subprocess.PIPE,
                                          text=True)
                wait_for(lambda: subprocess.run(ns.argv(["ss", "-Htln", "sport", "= :5201"]), stdout=subprocess.PIPE,
                                                text=True).stdout.strip(), what="iperf3's listener")
                with Agent() as agent:
                    client = json.loads(subprocess.run(ns.argv(["iperf3", "-c", "127.0.0.1", "-p", "5201", "-t", "1",
                                                                "-J", *extra]), check=True, timeout=60,
                                                       stdout=subprocess.PIPE, text=True).stdout)
                    server.communicate(timeout=30)
                data_port = client["start"]["connected"][0]["local_port"]
                sent, received = client["end"]["sum_sent"]["bytes"], client["end"]["sum_received"]["bytes"]
                self.assertGreater(sent, 0)
                # The last record of each flow on either end of the data stream. The UDP server
                # reads the hello on its unconnected socket (a flow per peer), then connects.
                last = {}
                for r in agent.records:
                    if r["type"] == "flow" and r["proto"] == proto and data_port in (r["sport"], r["dport"]):
                        last[(r["family"], r["saddr"], r["sport"], r["daddr"], r["dport"])] = r
                ends = {"client": [0, 0], "server": [0, 0]}
                for r in last.values():
                    end = ends["client" if r["sport"] == data_port else "server"]
                    end[0] += r["tx_bytes"]
                    end[1] += r["rx_bytes"]
                self.assertEqual(ends["client"], [sent + preamble_out, preamble_back])
                self.assertEqual(ends["server"], [preamble_back, received + preamble_out])


if __name__ == "__main__":
    unittest.main()
