"""Issue 16: scripts/demo-cluster.sh, as a user runs it after setup: the job across three simulated
hosts, a slow link halfway that the server names, and nothing left behind (namespaces, bridges,
cgroups, processes)."""
import glob
import os
import re
import subprocess
import sys
import unittest

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def leftovers():
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split("\n")
    links = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    processes = subprocess.run(["pgrep", "-af", "ddp_demo.py|demo_cluster.py|neutracer-server|neutracer record"],
                               capture_output=True, text=True).stdout.splitlines()
    return {
        "namespaces": sorted(n.split()[0] for n in namespaces if n.strip()),
        "bridges and veths": sorted(l.split(":")[1].strip() for l in links.splitlines() if ": ntbr" in l or ": ntv" in l),
        "cgroups": sorted(glob.glob("/sys/fs/cgroup/ntjc*") + glob.glob("/sys/fs/cgroup/cpu/ntjc*")),
        "processes": sorted(p for p in processes if "pgrep" not in p),
    }


class DemoCluster(unittest.TestCase):
    def test_the_demo_names_the_slow_link_and_leaves_nothing_behind(self):
        before = leftovers()
        run = subprocess.run([os.path.join(REPO, "scripts", "demo-cluster.sh"), "--seconds", "40"],
                             capture_output=True, text=True, timeout=300)
        print(run.stdout, run.stderr[-2000:], sep="\n", file=sys.stderr)
        self.assertEqual(run.returncode, 0)
        self.assertIn("dashboard: http://", run.stdout)
        self.assertRegex(run.stdout, r"the server named, [0-9.]+ s after the fault:")
        named = re.findall(r"^  (links of rank \d+|link \d+>\d+|rank \d+) \((?:slow link|straggler)\)", run.stdout, re.M)
        self.assertIn("links of rank 1", named)
        self.assertTrue(all(re.fullmatch(r"links of rank 1|link (1>\d+|\d+>1)", n) for n in named), named)
        self.assertIn("namespaces, cgroups and processes removed", run.stdout)
        self.assertEqual(leftovers(), before)


if __name__ == "__main__":
    unittest.main()
