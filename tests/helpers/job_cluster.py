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


class TrainingCluster:
    def __init__(self, ranks=3, seconds=600, token="job-cluster-token", server_args=()):
        self.ranks, self.seconds = ranks, seconds
        self.tmp = tempfile.TemporaryDirectory(prefix="nt-job-cluster-")
        self.slow_file = os.path.join(self.tmp.name, "slow")
        self.cluster = Cluster(ranks)
        self.server = Server(self.tmp.name, token=token, extra=list(server_args))
        self.agents, self.procs, self.busy = [], [], None
        self.steps = {}  # rank -> [(ts, step_s)] as the script measures it
        self.master_port = free_port()

    @property
    def job(self):
        return f"{self.cluster.hosts[0].address}:{self.master_port}"

    def __enter__(self):
        try:
            self.cluster.__enter__()
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
                proc = subprocess.Popen(ns.enter_argv([TORCH_PYTHON, DDP, "--seconds", str(self.seconds), "--report",
                                                       "--slow-file", self.slow_file]),
                                        env=env, stdout=subprocess.PIPE, text=True)
                self.procs.append(proc)
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

    def contend(self, rank, cpu=1):
        """The rank and a busy loop pinned to one CPU."""
        subprocess.run(["taskset", "-a", "-p", "-c", str(cpu), str(self.procs[rank].pid)], check=True,
                       stdout=subprocess.DEVNULL)
        self.busy = subprocess.Popen(["taskset", "-c", str(cpu), TORCH_PYTHON, "-c", "while True: pass"])
        self.contended = rank

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
            all_cpus = f"0-{os.cpu_count() - 1}"
            if self.procs[self.contended].poll() is None:
                subprocess.run(["taskset", "-a", "-p", "-c", all_cpus, str(self.procs[self.contended].pid)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for ns in self.cluster.hosts:
            subprocess.run(["tc", "qdisc", "del", "dev", ns.root_end, "root"], stderr=subprocess.DEVNULL)
            subprocess.run(["ip", "netns", "exec", ns.name, "nft", "delete", "table", "inet", "ntloss"],
                           stderr=subprocess.DEVNULL)
