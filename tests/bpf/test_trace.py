"""Issue 3, acceptance 1: trace streams one event per socket call; every event the ring buffer
could not take is counted, so events + dropped = calls."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
from ntlib import Agent, NetNs, finish_receiver, held, release, sender_argv, start_receiver, transfer  # noqa: E402

NBYTES = 1_000_003


class Trace(unittest.TestCase):
    def test_tiny_ring_counts_every_drop(self):
        # Two connections, so events come from both CPUs at once while the agent's reader has
        # to be scheduled between them: with one, a reader that kept pace with a 4 KB ring
        # once saw no drop at all.
        with NetNs() as ns:
            nbytes = 128 << 20
            receiver, port, receiver_pid = start_receiver("tcp", 4, "127.0.0.1", nbytes, ns=ns, conns=2)
            sender = held(sender_argv("tcp", 4, "127.0.0.1", port, nbytes, threads=2), ns=ns)
            with Agent("-p", str(receiver_pid), "-p", str(sender.pid), "--ringbuf-kb", "4", mode="trace") as agent:
                sent = release(sender)
                received = finish_receiver(receiver)
            events = [r for r in agent.records if r["type"] == "event"]
            summary = agent.summary()
            dropped = summary["loss"]["ringbuf_full"]
            self.assertEqual(sum(summary["ringbuf_dropped_per_cpu"]), dropped)
            self.assertGreater(dropped, 0)
            self.assertEqual(len(events) + dropped, sent["calls"] + received["calls"])
            self.assertEqual({e["pid"] for e in events}, {sender.pid, receiver_pid})
            self.assertIn("dropped", agent.stderr)

    def test_events_sum_to_the_transfer(self):
        cases = [("tcp", 4, ()), ("tcp", 6, ()), ("udp", 4, ()), ("udp", 6, ()),
                 ("udp", 4, ("--unconnected",)), ("udp", 6, ("--unconnected",))]
        with NetNs() as ns:
            with Agent(mode="trace") as agent:
                results = [transfer(proto, family, NBYTES, send_ns=ns, recv_ns=ns, extra=extra)
                           for proto, family, extra in cases]
            events = [r for r in agent.records if r["type"] == "event"]
            self.assertEqual(agent.summary()["loss"]["ringbuf_full"], 0)
            for (proto, family, extra), (sender, receiver, report) in zip(cases, results):
                with self.subTest(proto=proto, family=family, extra=extra):
                    tx = [e for e in events if e["pid"] == sender]
                    rx = [e for e in events if e["pid"] == receiver]
                    self.assertEqual(sum(e["bytes"] for e in tx), NBYTES)
                    self.assertEqual(sum(e["bytes"] for e in rx), NBYTES)
                    self.assertEqual(len(tx), report["calls"])
                    self.assertTrue(all(e["dir"] == "tx" for e in tx) and all(e["dir"] == "rx" for e in rx))
                    for e in tx + rx:
                        self.assertEqual((e["proto"], e["family"], e["netns"]), (proto, family, ns.inode))
                        self.assertEqual(e["comm"], "nt-traffic")
                    loopback = "127.0.0.1" if family == 4 else "::1"
                    # The receiver's peer is the sender's socket and the other way round, also for
                    # unconnected datagrams, whose peer only the call itself names.
                    peer_of_receiver = {(e["daddr"], e["dport"]) for e in rx}
                    self.assertEqual(peer_of_receiver, {(loopback, tx[0]["sport"])})
                    self.assertEqual({(e["daddr"], e["dport"]) for e in tx}, {(loopback, rx[0]["sport"])})


if __name__ == "__main__":
    unittest.main()
