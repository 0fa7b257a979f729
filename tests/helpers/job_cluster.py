"""Issue 16: a distributed training job across simulated hosts, and the faults that slow it.

Each host is a network namespace on a bridge (ntlib.Cluster) with its own agent (--netns, --host-id
host-i) streaming to one neutracer-server in the root namespace; one PyTorch DDP rank (gloo,
scripts/ddp_demo.py) runs in each. Faults: a rank that sleeps each step, a rank sharing its CPU
with a busy loop, a rate limit (tbf) on a host's link, random drops (nft numgen) into a host.
Used by tests/integration/test_job_cluster.py and scripts/demo-cluster.sh; everything it starts
is stopped and every namespace deleted on exit, whatever happens."""
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from ntlib import Agent, Cluster, sh  # noqa: E402
from test_server import Server, free_port  # noqa: E402

REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
DDP = os.path.join(REPO, "scripts", "ddp_demo.py")
TORCH_PYTHON = "/usr/bin/python3"  # Debian's, with python3-torch


class HostCpus:
    """Each simulated host's processes in a CPU cgroup of their own, capped at `share` of a CPU (cgroup
    v2's cpu.max, or v1's CFS quota): a busy loop on one host then competes with that host's rank
    only, as on separate machines, instead of pushing everything else onto the other CPUs."""

    def __init__(self, tag, hosts, share):
        v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers")
        self.root = os.path.join("/sys/fs/cgroup" if v2 else "/sys/fs/cgroup/cpu", f"ntjc{tag}")
        os.mkdir(self.root)
        if v2:
            with open(os.path.join(self.root, "cgroup.subtree_control"), "w") as f:
                f.write("+cpu")
        self.groups = []
        for i in range(hosts):
            group = os.path.join(self.root, f"host{i}")
            os.mkdir(group)
            quota = int(share * 100000)
            if v2:
                self._write(group, "cpu.max", f"{quota} 100000")
            else:
                self._write(group, "cpu.cfs_period_us", "100000")
                self._write(group, "cpu.cfs_quota_us", str(quota))
            self.groups.append(group)

    @staticmethod
    def _write(group, name, value):
        with open(os.path.join(group, name), "w") as f:
            f.write(value)

    def place(self, host, pid):
        self._write(self.groups[host], "cgroup.procs", str(pid))

    def remove(self):
        """After every process in them has ended (rmdir refuses a cgroup that still has some)."""
        for group in self.groups + [self.root]:
            for _ in range(50):
                try:
                    os.rmdir(group)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)


class TrainingCluster:
    def __init__(self, ranks=3, seconds=600, token="job-cluster-token", server_args=(), load_s=0.03, cpu_share=0.6):
        self.ranks, self.seconds, self.load_s, self.cpu_share = ranks, seconds, load_s, cpu_share
        self.tmp = tempfile.TemporaryDirectory(prefix="nt-job-cluster-")
        self.slow_file = os.path.join(self.tmp.name, "slow")
        self.cluster = Cluster(ranks)
        self.server = Server(self.tmp.name, token=token, extra=list(server_args))
        self.agents, self.procs, self.busy = [], [], None
        self.cpus = None
        self.steps = {}  # rank -> [(ts, step_s)] as the script measures it
        self.master_port = free_port()

    @property
    def job(self):
        return f"{self.cluster.hosts[0].address}:{self.master_port}"

    def __enter__(self):
        try:
            self.cluster.__enter__()
            self.cpus = HostCpus(self.cluster.tag, self.ranks, self.cpu_share)
            self.server.listen = f"0.0.0.0:{self.server.grpc_port}"
            self.server.start()
            token_file = os.path.join(self.tmp.name, "token")
            for i, ns in enumerate(self.cluster.hosts):
                agent = Agent("--collect", "net,cpu", "--netns", f"/run/netns/{ns.name}", "--no-detect",
                              "--server", f"{self.cluster.server_address}:{self.server.grpc_port}",
                              "--token-file", token_file, "--host-id", f"host-{i}", ns=ns, interval_ms=1000)
                self.agents.append(agent.__enter__())
            for i, ns in enumerate(self.cluster.hosts):
                env = {**os.environ, "RANK": str(i), "WORLD_SIZE": str(self.ranks), "LOCAL_RANK": "0",
                       "MASTER_ADDR": self.cluster.hosts[0].address, "MASTER_PORT": str(self.master_port),
                       "GLOO_SOCKET_IFNAME": ns.ifname}
                # One thread and a data-loading pause a step: the three ranks leave room on two CPUs,
                # so that CPU contention stays on the host it is made on, as on separate machines.
                proc = subprocess.Popen(ns.enter_argv([TORCH_PYTHON, DDP, "--seconds", str(self.seconds), "--report",
                                                       "--slow-file", self.slow_file, "--threads", "1",
                                                       "--load-s", str(self.load_s)]),
                                        env=env, stdout=subprocess.PIPE, text=True)
                self.procs.append(proc)
                self.cpus.place(i, proc.pid)
                self.steps[i] = []
                threading.Thread(target=self._read_steps, args=(proc, i), daemon=True).start()
        except BaseException:
            self.__exit__()
            raise
        return self

    def _read_steps(self, proc, rank):
        for line in proc.stdout:
            try:
                report = json.loads(line)
            except ValueError:
                continue
            self.steps[rank].append((report["ts"], report["step_s"]))

    def __exit__(self, *exc):
        self.heal()
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        for agent in self.agents:
            try:
                agent.stop()
            except Exception as e:  # the namespaces and the server still go
                print(f"job_cluster: agent: {e}", file=sys.stderr)
        self.server.stop()
        if self.cpus:
            self.cpus.remove()
        self.cluster.__exit__()
        self.tmp.cleanup()

    # ---- what the server says ----
    def api(self, path, **params):
        return self.server.get(f"{path}?{urllib.parse.urlencode(params)}")

    def view(self, seconds=5):
        now = time.time()
        return self.api("/api/v1/job", job=self.job, **{"from": now - seconds, "to": now})

    def findings(self, since):
        """Every finding on the job named at or after `since` (unix seconds)."""
        now = time.time()
        view = self.api("/api/v1/job", job=self.job, **{"from": since, "to": now + 1})
        return [f for f in view["findings"] if f["ts"] >= since]

    def wait_for_ranks(self, timeout=90):
        """Until every rank has a step estimate on the server."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(p.poll() is not None for p in self.procs):
                raise RuntimeError("a rank ended before the job was seen")
            ranks = self.view()["ranks"]
            if len(ranks) == self.ranks and all("step_s" in r and "active_s" in r for r in ranks):
                return ranks
            time.sleep(1)
        raise TimeoutError(f"the server did not see {self.ranks} ranks with steps in {timeout}s")

    # ---- faults ----
    def slow(self, rank, seconds):
        with open(self.slow_file, "w") as f:
            f.write(f"{rank} {seconds}")

    def contend(self, rank):
        """A busy loop on the rank's host: it shares the host's CPU with the rank."""
        self.busy = subprocess.Popen([TORCH_PYTHON, "-c", "while True: pass"])
        self.cpus.place(rank, self.busy.pid)

    def rate_limit(self, rank, rate="40mbit"):
        """tbf on the bridge's end of the host's link: what reaches the host is limited."""
        sh("tc", "qdisc", "add", "dev", self.cluster.hosts[rank].root_end, "root", "tbf", "rate", rate,
           "burst", "32kb", "latency", "100ms")

    def lose(self, rank, percent=3):
        """nft in the host's namespace drops `percent` of the TCP segments it receives, at random."""
        ns = self.cluster.hosts[rank].name
        for command in (["add", "table", "inet", "ntloss"],
                        ["add", "chain", "inet", "ntloss", "input", "{ type filter hook input priority 0 ; }"],
                        ["add", "rule", "inet", "ntloss", "input", "iifname", "eth0", "meta", "l4proto", "tcp",
                         "numgen", "random", "mod", "100", "<", str(percent), "drop"]):
            subprocess.run(["ip", "netns", "exec", ns, "nft", *command], check=True)

    def heal(self):
        """Every fault undone (each step tolerates a fault that is not there)."""
        if os.path.exists(self.slow_file):
            os.unlink(self.slow_file)
        if self.busy:
            self.busy.kill()
            self.busy.wait()
            self.busy = None
        for ns in self.cluster.hosts:
            subprocess.run(["tc", "qdisc", "del", "dev", ns.root_end, "root"], stderr=subprocess.DEVNULL)
            subprocess.run(["ip", "netns", "exec", ns.name, "nft", "delete", "table", "inet", "ntloss"],
                           stderr=subprocess.DEVNULL)
