"""Acceptance 5 of the foundation issue: -p keeps only its process; -- CMD traces the whole tree."""
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
from ntlib import NEUTRACER, TRAFFIC, Agent, NetNs, finish_receiver, held, release, sender_argv, start_receiver  # noqa: E402

NBYTES = 200_003


class Filters(unittest.TestCase):
    def test_pid_filter_keeps_only_that_process(self):
        with NetNs() as ns:
            receiver, port, receiver_pid = start_receiver("udp", 4, "127.0.0.1", 2 * NBYTES, ns=ns)
            traced, other = held(sender_argv("udp", 4, "127.0.0.1", port, NBYTES), ns=ns), held(sender_argv("udp", 4, "127.0.0.1", port, NBYTES), ns=ns)
            with Agent("-p", str(traced.pid)) as agent:
                release(traced), release(other)
                finish_receiver(receiver)
            pids = {p["pid"]: p["tx_bytes"] for p in agent.summary()["processes"]}
            self.assertEqual(pids, {traced.pid: NBYTES})

    def test_command_tree_first_bytes_and_exit_status(self):
        with NetNs() as ns:
            receiver, port, receiver_pid = start_receiver("udp", 4, "127.0.0.1", 2 * NBYTES, ns=ns)
            with tempfile.NamedTemporaryFile(suffix=".jsonl") as out:
                run = subprocess.run(
                    # ip netns exec execs in place, so the command's pid is nt-traffic's. The agent
                    # itself stays outside: ip netns exec remounts /sys and hides the cgroup2 mount.
                    [NEUTRACER, "record", "--interval", "100", "-o", out.name, "--"]
                    + ns.argv([TRAFFIC, "tree", "--family", "4", "--addr", "127.0.0.1", "--port", str(port),
                               "--bytes", str(NBYTES), "--exit-code", "7"]),
                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
                records = [json.loads(line) for line in open(out.name)]
            finish_receiver(receiver)
            self.assertEqual(run.returncode, 7, run.stderr)
            tree = json.loads(run.stdout.strip().splitlines()[-1])
            summary = next(r for r in records if r["type"] == "summary")
            self.assertEqual(summary["exit_status"], 7)
            sent = {p["pid"]: p["tx_bytes"] for p in summary["processes"]}
            # The command's very first datagrams, and its grandchild's, all counted; the receiver
            # is not in the tree and must not appear.
            self.assertEqual(sent, {tree["pid"]: NBYTES, tree["grandchild"]: NBYTES})
            self.assertNotIn(receiver_pid, sent)


if __name__ == "__main__":
    unittest.main()
