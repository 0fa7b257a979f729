"""Issue 3, acceptance 5: bytes a socket moved past the socket-layer hooks (a splice receive) are
reported as unattributed when the socket closes, on the right owner: visible, not silent."""
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
from ntlib import Agent, NetNs, run_sender, wait_for  # noqa: E402

SPLICE_RECEIVER = os.path.join(os.path.dirname(__file__), "..", "helpers", "splice_receiver.py")
NBYTES = 4 << 20


class Reconcile(unittest.TestCase):
    def test_splice_receive_shows_as_unattributed_at_close(self):
        with NetNs() as ns:
            with Agent() as agent:
                receiver = subprocess.Popen(ns.argv(["/usr/bin/python3", SPLICE_RECEIVER]), stdout=subprocess.PIPE,
                                            text=True)
                ready = json.loads(receiver.stdout.readline())
                sent = run_sender("tcp", 4, "127.0.0.1", ready["ready"], NBYTES, ns=ns)
                done = json.loads(receiver.communicate(timeout=30)[0])
                self.assertEqual(done["received"], NBYTES)
                wait_for(lambda: any(r["type"] == "unattributed" and r["pid"] == ready["pid"]
                                     for r in agent._lines()), what="the unattributed record")
            summary = agent.summary()
            unseen = {u["pid"]: u for u in summary["unattributed"]}
            self.assertEqual((unseen[ready["pid"]]["rx_bytes"], unseen[ready["pid"]]["tx_bytes"]), (NBYTES, 0))
            self.assertEqual(unseen[ready["pid"]]["netns"], ns.inode)
            self.assertNotIn(sent["pid"], unseen, "the sender's bytes were all seen")
            processes = {p["pid"]: p for p in summary["processes"]}
            self.assertEqual(processes[sent["pid"]]["tx_bytes"], NBYTES)
            self.assertNotIn(ready["pid"], processes, "splice bypasses sock_recvmsg: the receiver reads nothing")


if __name__ == "__main__":
    unittest.main()
