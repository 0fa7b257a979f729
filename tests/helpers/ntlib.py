"""Test helpers: the real agent, real namespaces, real traffic. Every wait polls with a deadline."""
import atexit
import ctypes
import itertools
import json
import os
import signal
import subprocess
import tempfile
import time

BUILD = os.environ.get("NT_BUILD_DIR") or os.path.join(os.path.dirname(__file__), "..", "..", "build")
NEUTRACER = os.path.join(BUILD, "src", "neutracer")
TRAFFIC = os.path.join(BUILD, "tests", "helpers", "nt-traffic")
PACED = os.path.join(os.path.dirname(__file__), "paced.py")

_names = itertools.count()

# Every process a test starts (subprocess.run and Popen alike, here and in the tests) runs in a
# process group of its own, dies with the test process (PR_SET_PDEATHSIG), and has its group killed
# when the test process exits for any reason Python sees. A helper left running by a failed test
# would hold ctest's output pipe open, and ctest waits for that pipe, not for the test.
_libc = ctypes.CDLL(None, use_errno=True)
_PR_SET_PDEATHSIG = 1
_started = []


def _die_with_parent():
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class _HelperPopen(subprocess.Popen):
    def __init__(self, args, **kwargs):
        kwargs.setdefault("start_new_session", True)
        if kwargs.get("preexec_fn") is None:
            kwargs["preexec_fn"] = _die_with_parent
        super().__init__(args, **kwargs)
        _started.append(self)


def kill_helpers():
    """Kills the process group of every process started so far that still runs."""
    while _started:
        proc = _started.pop()
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()


def _exit_on_sigterm(signum, _frame):
    raise SystemExit(128 + signum)  # through Python, so that the cleanup above runs


subprocess.Popen = _HelperPopen
atexit.register(kill_helpers)
signal.signal(signal.SIGTERM, _exit_on_sigterm)


def wait_for(predicate, timeout=10.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def sh(*argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class KilledAtExit:
    """A helper process (`self.proc`) for a with-block: killed, if it still runs, on every way out."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()


class NetNs:
    """A network namespace of the test's own, with lo up; deleted on exit."""

    def __init__(self):
        self.name = f"nt{os.getpid()}x{next(_names)}"

    def __enter__(self):
        sh("ip", "netns", "add", self.name)
        sh("ip", "-n", self.name, "link", "set", "lo", "up")
        self.inode = os.stat(f"/run/netns/{self.name}").st_ino
        return self

    def __exit__(self, *exc):
        subprocess.run(["ip", "netns", "delete", self.name], stderr=subprocess.DEVNULL)

    def argv(self, argv):
        return ["ip", "netns", "exec", self.name] + list(argv)

    def enter_argv(self, argv):
        """argv in the namespace, with the host's mounts as they are (ip netns exec remounts /sys, and
        with it the cgroup2 hierarchy the agent needs)."""
        return ["nsenter", f"--net=/run/netns/{self.name}", "--"] + list(argv)


def connect_veth(ns_a, ns_b, v4=("192.0.2.1", "192.0.2.2"), v6=("2001:db8::1", "2001:db8::2"), ipv6=True,
                 static_neighbours=True):
    """A veth pair between two test namespaces, addressed from the documentation ranges. Without
    IPv6 the link stays silent (no router or multicast listener messages) until the test talks."""
    a, b = f"{ns_a.name}a"[-15:], f"{ns_b.name}b"[-15:]
    sh("ip", "link", "add", a, "netns", ns_a.name, "type", "veth", "peer", "name", b, "netns", ns_b.name)
    for ns, dev, addr4, addr6 in ((ns_a, a, v4[0], v6[0]), (ns_b, b, v4[1], v6[1])):
        sh("ip", "-n", ns.name, "addr", "add", f"{addr4}/24", "dev", dev)
        if ipv6:
            sh("ip", "-n", ns.name, "addr", "add", f"{addr6}/64", "dev", dev, "nodad")
        else:
            sh("ip", "netns", "exec", ns.name, "sysctl", "-qw", f"net.ipv6.conf.{dev}.disable_ipv6=1")
        sh("ip", "-n", ns.name, "link", "set", dev, "up")
    if not static_neighbours:
        return a, b
    # Permanent neighbours: no datagram of a test waits in (or is dropped from) the resolution queue.
    for ns, dev, peer_ns, peer_dev, peer4, peer6 in ((ns_a, a, ns_b, b, v4[1], v6[1]), (ns_b, b, ns_a, a, v4[0], v6[0])):
        mac = json.loads(subprocess.run(["ip", "-n", peer_ns.name, "-j", "link", "show", peer_dev], check=True,
                                        stdout=subprocess.PIPE).stdout)[0]["address"]
        for peer in (peer4, peer6) if ipv6 else (peer4,):
            sh("ip", "-n", ns.name, "neigh", "replace", peer, "lladdr", mac, "dev", dev, "nud", "permanent")
    return a, b


class Cluster:
    """Hosts simulated by network namespaces, each with one interface on a bridge in the root
    namespace: host i is 10.77.N.(i+1)/24 on its `eth0`, the root namespace (where a server runs)
    is 10.77.N.254. Everything is removed on exit."""

    def __init__(self, hosts):
        self.count = hosts
        self.tag = f"{os.getpid() % 100000}{next(_names)}"
        self.subnet = f"10.77.{(os.getpid() + next(_names)) % 250}"
        self.bridge = f"ntbr{self.tag}"[-15:]
        self.hosts = []

    def __enter__(self):
        try:
            sh("ip", "link", "add", self.bridge, "type", "bridge")
            sh("ip", "addr", "add", f"{self.server_address}/24", "dev", self.bridge)
            sh("ip", "link", "set", self.bridge, "up")
            for i in range(self.count):
                ns = NetNs().__enter__()
                self.hosts.append(ns)
                ns.address, ns.ifname, ns.root_end = f"{self.subnet}.{i + 1}", "eth0", f"ntv{self.tag}h{i}"[-15:]
                sh("ip", "link", "add", ns.root_end, "type", "veth", "peer", "name", "eth0", "netns", ns.name)
                sh("ip", "link", "set", ns.root_end, "master", self.bridge, "up")
                sh("ip", "-n", ns.name, "addr", "add", f"{ns.address}/24", "dev", "eth0")
                sh("ip", "-n", ns.name, "link", "set", "eth0", "up")
        except BaseException:
            self.__exit__()
            raise
        return self

    @property
    def server_address(self):
        return f"{self.subnet}.254"

    def __exit__(self, *exc):
        for ns in self.hosts:
            # Deleted here, not left to the namespace's end: a namespace's devices go in the
            # kernel's cleanup work after `ip netns delete` returns, so its veth's root end can
            # outlive the exit by a moment (a check for leftovers once saw two).
            if getattr(ns, "root_end", None):
                subprocess.run(["ip", "link", "delete", ns.root_end], stderr=subprocess.DEVNULL)
            ns.__exit__()
        subprocess.run(["ip", "link", "delete", self.bridge], stderr=subprocess.DEVNULL)


class Agent:
    """`neutracer record` running for the duration of a with-block; records parsed at the end."""

    def __init__(self, *args, interval_ms=200, mode="record", env=None, ns=None):
        self.args = list(args)
        self.ns = ns  # run the agent inside this namespace (its own loopback, its own routes)
        self.env = {**os.environ, **(env or {})}
        self.mode = mode
        self.interval_ms = interval_ms
        self.records = []
        self.text = ""  # the file as written

    def __enter__(self):
        self.out = tempfile.NamedTemporaryFile(prefix="nt-record-", suffix=".jsonl", delete=False)
        argv = [NEUTRACER, self.mode, "--interval", str(self.interval_ms), "-o", self.out.name] + self.args
        self.proc = subprocess.Popen(self.ns.enter_argv(argv) if self.ns else argv, stderr=subprocess.PIPE, text=True,
                                     env=self.env)
        # Loading and verifying the programs takes seconds under emulation (CI's kernel matrix).
        wait_for(lambda: self._lines() or self.proc.poll() is not None, timeout=30, what="the agent's start record")
        if self.proc.poll() is not None:
            raise RuntimeError(f"agent exited early: {self.proc.stderr.read()}")
        return self

    def _lines(self):
        records = []
        with open(self.out.name) as f:
            for number, line in enumerate(f, 1):
                if not line.endswith("\n") and self.proc.poll() is None:
                    break  # still being written
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as e:  # name the line: the agent must never write one
                    raise AssertionError(f"agent output line {number} is not JSON ({e}): {line!r}; agent exit "
                                         f"{self.proc.returncode}, stderr {getattr(self, 'stderr', '')!r}") from None
        return records

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        _, self.stderr = self.proc.communicate(timeout=20)
        if self.proc.returncode < 0:  # it handles SIGINT itself: a signal's death is a crash
            raise AssertionError(f"agent died of signal {-self.proc.returncode}: {self.stderr[-2000:]}")
        self.records = self._lines()
        with open(self.out.name) as f:
            self.text = f.read()
        os.unlink(self.out.name)
        return self

    def __exit__(self, *exc):
        self.stop()

    def summary(self):
        return next(r for r in self.records if r["type"] == "summary")

    def totals_by_pid(self, netns=None):
        """pid -> summed totals (over every netns, or one), from the summary."""
        totals = {}
        for p in self.summary()["processes"]:
            if netns is not None and p["netns"] != netns:
                continue
            t = totals.setdefault(p["pid"], {"tx_bytes": 0, "rx_bytes": 0, "comm": p["comm"]})
            t["tx_bytes"] += p["tx_bytes"]
            t["rx_bytes"] += p["rx_bytes"]
        return totals


def paced(ns, *args):
    """tests/helpers/paced.py in a namespace: the process and what it says first ({"port"} or {"pid"})."""
    proc = subprocess.Popen(ns.argv(["/usr/bin/python3", PACED, *args]), stdout=subprocess.PIPE, text=True)
    return proc, json.loads(proc.stdout.readline())


def start_receiver(proto, family, addr, nbytes, ns=None, conns=1):
    argv = [TRAFFIC, "serve", "--proto", proto, "--family", str(family), "--addr", addr, "--port", "0",
            "--bytes", str(nbytes), "--conns", str(conns)]
    proc = subprocess.Popen(ns.argv(argv) if ns else argv, stdout=subprocess.PIPE, text=True)
    ready = json.loads(proc.stdout.readline())
    return proc, ready["ready"], ready["pid"]


def finish_receiver(proc):
    out, _ = proc.communicate(timeout=30)
    if proc.returncode != 0:
        raise RuntimeError(f"receiver failed: {out}")
    return json.loads(out.strip().splitlines()[-1])


def sender_argv(proto, family, addr, port, nbytes, threads=1, extra=(), argv0=TRAFFIC):
    """nt-traffic send; argv0 names the binary (a renamed link gives the process another comm)."""
    return [argv0, "send", "--proto", proto, "--family", str(family), "--addr", addr, "--port", str(port),
            "--bytes", str(nbytes), "--threads", str(threads), *extra]


def run_sender(proto, family, addr, port, nbytes, ns=None, threads=1, extra=()):
    argv = sender_argv(proto, family, addr, port, nbytes, threads, extra)
    out = subprocess.run(ns.argv(argv) if ns else argv, check=True, stdout=subprocess.PIPE, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def transfer(proto, family, nbytes, send_ns=None, recv_ns=None, addr=None, threads=1, extra=()):
    """Moves nbytes from a sender to a receiver; returns (sender pid, receiver pid, sender report)."""
    addr = addr or ("127.0.0.1" if family == 4 else "::1")
    wildcard = "0.0.0.0" if family == 4 else "::"
    proc, port, recv_pid = start_receiver(proto, family, wildcard, nbytes, ns=recv_ns, conns=threads)
    sent = run_sender(proto, family, addr, port, nbytes, ns=send_ns, threads=threads, extra=extra)
    finish_receiver(proc)
    return sent["pid"], recv_pid, sent


def link_stats(ns):
    """ifname -> the kernel's statistics of every device in a namespace (ip -s -j link)."""
    out = subprocess.run(["ip", "-n", ns.name, "-s", "-j", "link", "show"], check=True, stdout=subprocess.PIPE).stdout
    stats = {}
    for link in json.loads(out):
        s64 = link["stats64"]
        stats[link["ifname"]] = {"ifindex": link["ifindex"], "tx_bytes": s64["tx"]["bytes"],
                                 "rx_bytes": s64["rx"]["bytes"], "tx_packets": s64["tx"]["packets"],
                                 "rx_packets": s64["rx"]["packets"]}
    return stats


def quiet_stats(ns, settle=0.5, timeout=15.0):
    """The namespace's device statistics once they have stopped moving for `settle` seconds."""
    deadline = time.monotonic() + timeout
    previous = link_stats(ns)
    while time.monotonic() < deadline:
        time.sleep(settle)
        current = link_stats(ns)
        if current == previous:
            return current
        previous = current
    raise TimeoutError(f"devices of {ns.name} never went quiet")


def held(argv, ns=None):
    """A process that exists now and runs argv (exec, same pid) when its stdin gets a line."""
    script = 'read go; exec "$@"'
    full = ["sh", "-c", script, "held"] + list(argv)
    return subprocess.Popen(ns.argv(full) if ns else full, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def release(proc, timeout=60):
    out, _ = proc.communicate("go\n", timeout=timeout)
    return json.loads(out.strip().splitlines()[-1]) if out.strip() else None
