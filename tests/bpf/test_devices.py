"""Issue 3, acceptance 3 and 4: device records equal the kernel's statistics; packet mode's
per-device counts equal the statistics' deltas, and no packet lands on a process that does not
own its socket."""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
from ntlib import Agent, NetNs, connect_veth, quiet_stats, transfer  # noqa: E402

NBYTES = 2_000_003
FIELDS = ("tx_bytes", "rx_bytes", "tx_packets", "rx_packets")


def traffic(a, b):
    """TCP and UDP over the veth (ARP first: no static neighbours) and over lo in namespace a."""
    pids = set()
    for proto in ("tcp", "udp"):
        pids.update(transfer(proto, 4, NBYTES, send_ns=a, recv_ns=b, addr="192.0.2.2")[:2])
        pids.update(transfer(proto, 4, NBYTES, send_ns=a, recv_ns=a)[:2])
    return pids


def last_by_ifindex(records, kind, netns):
    last = {}
    for r in records:
        if r["type"] == kind and r["netns"] == netns:
            last[r["ifindex"]] = r
    return last


class Devices(unittest.TestCase):
    def test_device_records_are_the_kernel_statistics(self):
        with NetNs() as a, NetNs() as b:
            veth, _ = connect_veth(a, b, ipv6=False, static_neighbours=False)
            quiet_stats(a)
            with Agent() as agent:
                traffic(a, b)
                after = quiet_stats(a)
            devices = last_by_ifindex(agent.records, "device", a.inode)
            for ifname in ("lo", veth):
                with self.subTest(ifname=ifname):
                    record = devices[after[ifname]["ifindex"]]
                    self.assertEqual(record["ifname"], ifname)
                    self.assertEqual({f: record[f] for f in FIELDS}, {f: after[ifname][f] for f in FIELDS})

    def test_packet_mode_equals_the_statistics_deltas(self):
        with NetNs() as a, NetNs() as b:
            veth, peer = connect_veth(a, b, ipv6=False, static_neighbours=False)
            before_a, before_b = quiet_stats(a), quiet_stats(b)
            with Agent("--packets") as agent:
                test_pids = traffic(a, b)
                after_a, after_b = quiet_stats(a), quiet_stats(b)
            for ns, before, after, ifname in ((a, before_a, after_a, "lo"), (a, before_a, after_a, veth),
                                              (b, before_b, after_b, peer)):
                with self.subTest(ifname=ifname):
                    counted = last_by_ifindex(agent.records, "device_packets", ns.inode)[after[ifname]["ifindex"]]
                    delta = {f: after[ifname][f] - before[ifname][f] for f in FIELDS}
                    self.assertGreater(delta["tx_packets"] + delta["rx_packets"], 0)
                    self.assertEqual({f: counted[f] for f in FIELDS}, delta)
            owners = [r for r in agent.records if r["type"] == "packet_owner" and r["netns"] in (a.inode, b.inode)]
            self.assertTrue(any(r["pid"] in test_pids and r["tx_packets"] for r in owners))
            self.assertTrue(any(r["pid"] == 0 for r in owners), "ARP and pre-demux receive are unattributed")
            self.assertEqual({r["pid"] for r in owners} - test_pids - {0}, set())


if __name__ == "__main__":
    unittest.main()
