"""Issue 4: flows, connection lifecycle, TCP health, the bounded flow table, pre-existing
connections and distributed-job identity. Real traffic, scoped to the test's own processes."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
from ntlib import (NEUTRACER, Agent, NetNs, connect_veth, finish_receiver, held, release,  # noqa: E402
                   run_sender, sender_argv, start_receiver, transfer, wait_for)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
NBYTES = 1_000_003


def final_flows(agent, pid):
    """(saddr, sport, daddr, dport) -> the last flow record of that flow of `pid`."""
    flows = {}
    for r in agent.records:
        if r["type"] == "flow" and r["pid"] == pid:
            flows[(r["saddr"], r["sport"], r["daddr"], r["dport"])] = r
    return flows


def held_flow_bytes(agent, pid):
    """Bytes sent on the flows of `pid`, each lifetime of a flow key once: a retired (closed)
    record ends a lifetime, and the last record of a key still open ends the last one."""
    total, last = 0, {}
    for r in agent.records:
        if r["type"] == "flow" and r["pid"] == pid:
            key = (r["saddr"], r["sport"], r["daddr"], r["dport"])
            if r.get("closed"):
                total += r["tx_bytes"]
                last.pop(key, None)
            else:
                last[key] = r["tx_bytes"]
    return total + sum(last.values())


def conns(agent, pid, event):
    return [r for r in agent.records if r["type"] == "conn" and r["pid"] == pid and r["event"] == event]


class Flows(unittest.TestCase):
    def test_flow_bytes_exact_on_both_ends(self):
        cases = [("tcp", 4, ()), ("tcp", 6, ()), ("udp", 4, ()), ("udp", 6, ()),
                 ("udp", 4, ("--unconnected",)), ("udp", 6, ("--unconnected",))]
        with NetNs() as ns:
            with Agent() as agent:
                results = [transfer(p, f, NBYTES, send_ns=ns, recv_ns=ns, extra=e) for p, f, e in cases]
            for (proto, family, extra), (sender, receiver, report) in zip(cases, results):
                with self.subTest(proto=proto, family=family, extra=extra):
                    loopback = "127.0.0.1" if family == 4 else "::1"
                    sent, received = final_flows(agent, sender), final_flows(agent, receiver)
                    self.assertEqual(len(sent), 1, sent)
                    self.assertEqual(len(received), 1, received)
                    (s_local, s_port, s_peer, s_peer_port), s = next(iter(sent.items()))
                    (r_local, r_port, r_peer, r_peer_port), r = next(iter(received.items()))
                    self.assertEqual((s["tx_bytes"], s["rx_bytes"]), (NBYTES, 0))
                    self.assertEqual((r["tx_bytes"], r["rx_bytes"]), (0, NBYTES))
                    self.assertEqual((s_peer, s_peer_port), (loopback, r_port))
                    self.assertEqual((r_peer, r_peer_port), (loopback, report["ports"][0]))
                    self.assertEqual((s["proto"], s["family"], r["proto"], r["family"]), (proto, family, proto, family))

    def test_connection_lifecycle_once_per_end(self):
        with NetNs() as ns:
            with Agent() as agent:
                runs = {nbytes: transfer("tcp", 4, nbytes, send_ns=ns, recv_ns=ns, extra=("--hold-ms", "1000"))
                        for nbytes in (NBYTES, 0)}
                time.sleep(0.3)  # the close records come from the kernel as the FINs complete
            for nbytes, (client, server, report) in runs.items():
                with self.subTest(nbytes=nbytes):
                    port, open_ms = report["ports"][0], report["open_ms"][0]
                    for pid, direction, key in ((client, "active", "sport"), (server, "passive", "dport")):
                        opens = [c for c in conns(agent, pid, "open") if c[key] == port]
                        closes = [c for c in conns(agent, pid, "close") if c[key] == port]
                        self.assertEqual(len(opens), 1, opens)
                        self.assertEqual(len(closes), 1, closes)
                        close = closes[0]
                        self.assertEqual((close["direction"], close["preexisting"]), (direction, False))
                        # The kernel's span is the helper's plus the teardown (the FINs, the peer's
                        # turn to close), which takes a few hundred ms under emulation.
                        self.assertGreaterEqual(close["duration_ms"], open_ms - 20)
                        self.assertLess(close["duration_ms"], 1.5 * open_ms)
                        sent, received = (nbytes, 0) if direction == "active" else (0, nbytes)
                        self.assertEqual((close["tx_bytes"], close["rx_bytes"]), (sent, received))

    def test_retransmits_on_the_lossy_flow_only(self):
        with NetNs() as a, NetNs() as b:
            connect_veth(a, b, ipv6=False)
            lossy_rx, lossy_port, _ = start_receiver("tcp", 4, "0.0.0.0", 4 * NBYTES, ns=b)
            clean_rx, clean_port, _ = start_receiver("tcp", 4, "0.0.0.0", NBYTES, ns=b)
            # Drop 1 packet in 10 that arrives for the lossy flow's port: 4 MB in 64 KiB offloaded
            # segments are about 60 packets, and 1 in 20 left all of them through 4% of the time.
            rules = (f"table inet ntloss {{\n chain input {{\n type filter hook input priority 0;\n"
                     f" tcp dport {lossy_port} numgen random mod 10 == 0 drop\n }}\n}}\n")
            subprocess.run(["ip", "netns", "exec", b.name, "nft", "-f", "-"], input=rules, text=True, check=True)
            with Agent() as agent:
                lossy = run_sender("tcp", 4, "192.0.2.2", lossy_port, 4 * NBYTES, ns=a)
                finish_receiver(lossy_rx)
                clean = run_sender("tcp", 4, "192.0.2.2", clean_port, NBYTES, ns=a)
                finish_receiver(clean_rx)
                loop = transfer("tcp", 4, NBYTES, send_ns=a, recv_ns=a)
                time.sleep(0.3)
            lossy_flow = final_flows(agent, lossy["pid"])[("192.0.2.1", lossy["ports"][0], "192.0.2.2", lossy_port)]
            clean_flow = final_flows(agent, clean["pid"])[("192.0.2.1", clean["ports"][0], "192.0.2.2", clean_port)]
            self.assertGreater(lossy_flow["retrans"], 0)
            # Nothing drops the clean flow's packets; under emulation (CI's 6.1 guest) a slow veth
            # has made the sender fire a tail-loss probe or an RTO now and then: a few at most (the
            # lossy flow's, misattributed, would be more).
            self.assertLessEqual(clean_flow["retrans"], 3)
            lossy_close = [c for c in conns(agent, lossy["pid"], "close") if c["sport"] == lossy["ports"][0]]
            self.assertGreater(lossy_close[0]["retrans"], 0)
            loop_flow = next(iter(final_flows(agent, loop[0]).values()))
            self.assertTrue(0 < loop_flow["srtt_us"] < 10_000, loop_flow)

    def test_full_flow_table_counts_what_it_cannot_hold(self):
        size, extra, message = 32, 16, 100
        with NetNs() as ns:
            receiver, port, _ = start_receiver("udp", 4, "127.0.0.1", (size + extra) * message, ns=ns)
            sender = held(sender_argv("udp", 4, "127.0.0.1", port, (size + extra) * message, threads=size + extra),
                          ns=ns)
            with Agent("-p", str(sender.pid), "--max-flows", str(size)) as agent:
                release(sender)
                finish_receiver(receiver)
            summary = agent.summary()
            # Every byte is in a reported flow or counted as not held. All 48 usually arrive in one
            # interval (16 refused); a straggler that comes after the first ones closed finds room
            # again, so the split may move by one or two, never the sum. Bytes, not flow keys, are
            # summed: a port freed by a thread that finished may be bound again by a later one,
            # and the same four-tuple of the same process is then one flow key twice in a row.
            refused = summary["loss"]["flow_map_full"]
            self.assertTrue(extra - 3 <= refused <= extra, refused)
            self.assertEqual(summary["loss"]["flow_bytes_not_held"], refused * message)
            self.assertEqual(held_flow_bytes(agent, sender.pid) + refused * message, (size + extra) * message)
            self.assertGreaterEqual(len(final_flows(agent, sender.pid)) + refused, size)
            totals = {p["pid"]: p["tx_bytes"] for p in summary["processes"]}
            self.assertEqual(totals, {sender.pid: (size + extra) * message})

    def test_connection_opened_before_the_agent(self):
        with NetNs() as ns:
            receiver, port, server = start_receiver("tcp", 4, "127.0.0.1", 1000, ns=ns)
            # Held until the agent is up: its start takes seconds under emulation.
            client = subprocess.Popen(ns.argv(sender_argv("tcp", 4, "127.0.0.1", port, 1000) + ["--hold-until-line"]),
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
            wait_for(lambda: subprocess.run(["ip", "netns", "exec", ns.name, "ss", "-Htn", "state", "established"],
                                            stdout=subprocess.PIPE, text=True).stdout.strip(),
                     what="the connection")
            with Agent() as agent:
                time.sleep(0.5)  # a first interval with the connection open and idle
                report = json.loads(client.communicate("go\n", timeout=30)[0])
                finish_receiver(receiver)
                time.sleep(0.3)
            for pid, key in ((report["pid"], "sport"), (server, "dport")):
                with self.subTest(pid=pid):
                    opens = [c for c in conns(agent, pid, "open") if c[key] == report["ports"][0]]
                    self.assertEqual(len(opens), 1, opens)
                    self.assertTrue(opens[0]["preexisting"])
                    self.assertEqual(opens[0]["comm"], "nt-traffic")
                    closes = [c for c in conns(agent, pid, "close") if c[key] == report["ports"][0]]
                    self.assertEqual(len(closes), 1)
                    self.assertIsNone(closes[0]["duration_ms"])

    def torchrun(self, *demo_args, host_id="flows-test"):
        """2 ranks of scripts/ddp_demo.py under torchrun on a loopback rendezvous, recorded: the
        records, the job's name as the agent qualifies it, and what the ranks printed."""
        with socket.socket() as probe:  # a port nothing listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with tempfile.NamedTemporaryFile(suffix=".jsonl") as out:
            # --redirects/--tee 1: torch 1.13's torchrun cannot parse the default 0 on Python 3.11.
            run = subprocess.run([NEUTRACER, "record", "--host-id", host_id, "-o", out.name, "--", "/usr/bin/torchrun",
                                  "--nnodes", "1", "--nproc_per_node", "2", "--redirects", "1", "--tee", "1",
                                  "--master_addr", "127.0.0.1", "--master_port", str(port),
                                  os.path.join(REPO, "scripts", "ddp_demo.py"), *demo_args],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
            self.assertEqual(run.returncode, 0, run.stderr[-2000:])
            with open(out.name) as f:
                records = [json.loads(line) for line in f]
        # A loopback rendezvous names a job on this host and in this namespace only.
        netns = os.stat("/proc/self/ns/net").st_ino
        return records, f"{host_id}/{netns}/127.0.0.1:{port}", run.stdout

    def test_torchrun_job_grouped_by_rendezvous(self):
        records, name, _ = self.torchrun("--seconds", "3")
        summary = next(r for r in records if r["type"] == "summary")
        jobs = [j for j in summary["jobs"] if j["job"] == name]
        self.assertEqual(len(jobs), 1, summary["jobs"])
        ranks = {r["rank"]: r["pid"] for r in jobs[0]["ranks"]}
        self.assertEqual(sorted(ranks), [0, 1])
        self.assertEqual(jobs[0]["world_size"], 2)
        self.assertGreater(jobs[0]["bytes_between_ranks"], 0)
        infos = {r["pid"]: r for r in records if r["type"] == "process_info"}
        for rank, pid in ranks.items():
            self.assertEqual((infos[pid]["rank"], infos[pid]["rank_status"]), (rank, "known"))
        launcher = [r for r in infos.values() if "torchrun" in r["cmdline"] and r["pid"] not in ranks.values()]
        self.assertTrue(all(r["rank_status"] == "unknown" for r in launcher))

    def test_step_time_of_each_rank_from_its_send_rhythm(self):
        """Two processes a job's environment names ranks 0 and 1, each sending a burst every 50 ms
        (tests/helpers/paced.py keeps an absolute schedule): the agent's step time is the 50 ms."""
        paced = os.path.join(REPO, "tests", "helpers", "paced.py")
        sink = subprocess.Popen(["/usr/bin/python3", paced, "serve"], stdout=subprocess.PIPE, text=True)
        ranks = []
        try:
            port = json.loads(sink.stdout.readline())["port"]
            with Agent("--host-id", "rhythm-test", interval_ms=1000) as agent:
                for rank in (0, 1):
                    env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1", "RANK": str(rank),
                           "LOCAL_RANK": str(rank), "WORLD_SIZE": "2"}
                    ranks.append(subprocess.Popen(["/usr/bin/python3", paced, "send", "--addr", "127.0.0.1", "--port",
                                                   str(port), "--rate", "4000000", "--seconds", "14"],
                                                  stdout=subprocess.PIPE, text=True, env=env))
                for proc in ranks:
                    proc.communicate(timeout=60)
        finally:
            for proc in ranks + [sink]:
                proc.kill()
                proc.wait()
        netns = os.stat("/proc/self/ns/net").st_ino
        estimated = {}  # rank -> the last step the agent gave while the rank ran
        for r in agent.records:
            if r["type"] == "job" and r["job"] == f"rhythm-test/{netns}/127.0.0.1:1":
                for rank in r["ranks"]:
                    if "step_s" in rank:
                        estimated[rank["rank"]] = rank
        self.assertEqual(sorted(estimated), [0, 1], [r for r in agent.records if r["type"] == "job"][-2:])
        for rank, step in estimated.items():
            with self.subTest(rank=rank):
                print(f"rank {rank}: step {step['step_s'] * 1000:.1f} ms, {step['bytes_per_step']:.0f} bytes a step "
                      f"(sent: 50 ms, 200000 bytes)", file=sys.stderr)
                self.assertAlmostEqual(step["step_s"], 0.050, delta=0.005)
                self.assertAlmostEqual(step["bytes_per_step"], 200_000, delta=20_000)
                self.assertLessEqual(abs(step["onset"] - time.time()), 60)

if __name__ == "__main__":
    unittest.main()
