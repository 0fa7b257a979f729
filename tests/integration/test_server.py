"""Issue 14: agents stream to neutracer-server. Real agents in their own network namespaces, a real
server process (killed with SIGKILL, kept down past the agents' buffers), real traffic; the server's
HTTP API is compared with each agent's own JSON summary."""
import json
import os
import signal
import socket
import sqlite3
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
from ntlib import BUILD, Agent, NetNs, sh, transfer, wait_for  # noqa: E402

SERVER = os.path.join(BUILD, "src", "neutracer-server")
INGEST = os.path.join(BUILD, "tests", "helpers", "nt-ingest")
SCHED = os.path.join(BUILD, "tests", "helpers", "nt-sched")
TOKEN = "s3cret-token-for-tests"
COUNTERS = ["tx_bytes", "rx_bytes", "tx_calls", "rx_calls", "conns_opened", "conns_closed", "retransmits",
            "on_cpu_ns", "runq_ns", "off_voluntary_ns", "off_involuntary_ns", "voluntary_switches",
            "involuntary_switches", "io_read_bytes", "io_write_bytes", "io_read_ops", "io_write_ops",
            "syscalls", "syscall_errors", "syscall_ns", "minor_faults", "major_faults"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """neutracer-server on a fixed gRPC port (so that it can come back on it), HTTP on port 0."""

    def __init__(self, tmp, listen=None, token=TOKEN, extra=()):
        self.tmp = tmp
        self.db = os.path.join(tmp, "server.db")
        self.grpc_port = free_port()
        self.listen = listen or f"127.0.0.1:{self.grpc_port}"
        self.token = token
        self.extra = list(extra)
        self.proc = None

    def start(self):
        argv = [SERVER, "--listen", self.listen, "--http", "127.0.0.1:0", "--db", self.db, *self.extra]
        if self.token:
            token_file = os.path.join(self.tmp, "token")
            with open(token_file, "w") as f:
                f.write(self.token + "\n")
            argv += ["--token-file", token_file]
        self.proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
        line = self.proc.stderr.readline()
        if "listening" not in line:
            raise RuntimeError(f"server did not start: {line}{self.proc.stderr.read()}")
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        self.http = fields["http"]
        return self

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def get(self, path, token=None):
        request = urllib.request.Request(f"http://{self.http}{path}")
        token = self.token if token is None else token
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def status_of(self, path, token=None, method="GET"):
        request = urllib.request.Request(f"http://{self.http}{path}", method=method)
        if token:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as e:
            return e.code

    def metrics(self):
        request = urllib.request.Request(f"http://{self.http}/metrics")
        request.add_header("Authorization", f"Bearer {self.token}")
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.read().decode()

    def totals(self, host):
        """(pid, netns, start_ns) -> {counter: value}: the server's latest totals of each process."""
        answer = self.get(f"/api/v1/processes?host={host}&limit=1000&sort=tx_bytes")
        return {(p["pid"], p["netns"], p["start_ns"]): p["total"] for p in answer["processes"]}

    def host(self, machine_id):
        """The host's entry in /api/v1/hosts, None before its first batch."""
        return next((h for h in self.get("/api/v1/hosts")["hosts"] if h["machine_id"] == machine_id), None)


def agent_totals(agent):
    """(pid, netns, start_ns) -> {counter: value} from the agent's summary, processes that counted anything."""
    return {(p["pid"], p["netns"], p["start_time"]): {c: p[c] for c in COUNTERS}
            for p in agent.summary()["totals"] if any(p[c] for c in COUNTERS)}


def nonzero(totals):
    return {key: values for key, values in totals.items() if any(values.values())}


def token_file(tmp):
    path = os.path.join(tmp, "agent-token")
    with open(path, "w") as f:
        f.write(TOKEN + "\n")
    return path


class Hosts:
    """n namespaces, each a host of its own: a veth to the root namespace (10.231.i.1 here, .2 there)."""

    def __init__(self, n):
        self.namespaces = [NetNs() for _ in range(n)]

    def __enter__(self):
        for i, ns in enumerate(self.namespaces, 1):
            ns.__enter__()
            root_end, ns_end = f"ntsv{os.getpid() % 10000}r{i}", "eth0"
            sh("ip", "link", "add", root_end, "type", "veth", "peer", "name", ns_end, "netns", ns.name)
            sh("ip", "addr", "add", f"10.231.{i}.1/24", "dev", root_end)
            sh("ip", "link", "set", root_end, "up")
            sh("ip", "-n", ns.name, "addr", "add", f"10.231.{i}.2/24", "dev", ns_end)
            sh("ip", "-n", ns.name, "link", "set", ns_end, "up")
        return self

    def __exit__(self, *exc):
        for ns in self.namespaces:
            ns.__exit__()  # the veth goes with its namespace

    def agent(self, i, server, tmp, *extra):
        ns = self.namespaces[i]
        return Agent("--collect", "all", "--netns", f"/run/netns/{ns.name}", "--no-detect",
                     "--server", f"10.231.{i + 1}.1:{server.grpc_port}", "--token-file", token_file(tmp),
                     "--host-id", f"host-{i}", "--label", f"rack=r{i}", *extra, ns=ns, interval_ms=250)


def workload(ns, i):
    """Traffic over the namespace's loopback, a little CPU, a file written with fsync."""
    transfer("tcp", 4, 1_000_003 * (i + 1), send_ns=ns, recv_ns=ns)
    subprocess.run(ns.argv([SCHED, "spin", "0.2"]), check=True, stdout=subprocess.DEVNULL)


class Delivery(unittest.TestCase):
    def test_three_agents_totals_equal_their_summaries(self):
        with tempfile.TemporaryDirectory() as tmp, Hosts(3) as hosts, \
                Server(tmp, listen=f"0.0.0.0:{free_port()}") as server:
            server.grpc_port = int(server.listen.rsplit(":", 1)[1])
            agents = [hosts.agent(i, server, tmp) for i in range(3)]
            for agent in agents:
                agent.__enter__()
            try:
                for i, ns in enumerate(hosts.namespaces):
                    workload(ns, i)
                time.sleep(1)
            finally:
                for agent in agents:
                    agent.stop()
            for i, agent in enumerate(agents):
                summary = agent.summary()
                self.assertEqual(summary["server"]["batches_dropped"], 0, summary["server"])
                self.assertEqual(summary["server"]["acked"], summary["server"]["batches"], summary["server"])
                ours = agent_totals(agent)
                self.assertTrue(any(v["tx_bytes"] >= 1_000_003 * (i + 1) for v in ours.values()), ours)
                self.assertTrue(any(v["on_cpu_ns"] > 0 for v in ours.values()), ours)
                self.assertEqual(nonzero(server.totals(f"host-{i}")), ours)
                host = server.host(f"host-{i}")
                self.assertEqual(host["labels"], {"rack": f"r{i}"})
            # Unauthenticated HTTP is refused when a token is set.
            self.assertEqual(server.status_of("/api/v1/hosts"), 401)
            self.assertEqual(server.status_of("/api/v1/hosts", token="wrong"), 403)

    def test_server_killed_mid_stream_loses_and_doubles_nothing(self):
        with tempfile.TemporaryDirectory() as tmp, Hosts(1) as hosts:
            server = Server(tmp, listen=f"0.0.0.0:{free_port()}")
            server.grpc_port = int(server.listen.rsplit(":", 1)[1])
            server.start()
            try:
                with hosts.agent(0, server, tmp) as agent:
                    ns = hosts.namespaces[0]
                    transfer("tcp", 4, 2_000_000, send_ns=ns, recv_ns=ns)
                    wait_for(lambda: (server.host("host-0") or {}).get("batches_stored", 0) >= 2, what="batches stored")
                    server.kill()
                    transfer("tcp", 4, 3_000_000, send_ns=ns, recv_ns=ns)  # while the server is gone
                    time.sleep(1.5)
                    server.start()
                    transfer("tcp", 4, 1_000_000, send_ns=ns, recv_ns=ns)
                    time.sleep(1)
                summary = agent.summary()["server"]
                self.assertEqual(summary["batches_dropped"], 0, summary)
                self.assertEqual(summary["acked"], summary["batches"], summary)
                self.assertGreaterEqual(summary["connects"], 2, summary)
                self.assertEqual(nonzero(server.totals("host-0")), agent_totals(agent))
                host = server.host("host-0")
                self.assertEqual(host["batches_stored"], summary["batches"], host)  # each stored once
                self.assertEqual(host["missing_batches"], 0, host)
            finally:
                server.stop()
            with sqlite3.connect(server.db) as db:
                self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")

    def test_server_down_past_the_buffer_loss_equals_what_is_missing(self):
        with tempfile.TemporaryDirectory() as tmp, Hosts(1) as hosts:
            server = Server(tmp, listen=f"0.0.0.0:{free_port()}")
            server.grpc_port = int(server.listen.rsplit(":", 1)[1])
            try:
                # No server yet: a buffer of a few batches fills and gives way, the agent records on.
                with hosts.agent(0, server, tmp, "--server-buffer", "6KiB") as agent:
                    ns = hosts.namespaces[0]
                    for _ in range(6):
                        transfer("tcp", 4, 500_000, send_ns=ns, recv_ns=ns)
                        time.sleep(0.3)
                    server.start()
                    transfer("tcp", 4, 700_000, send_ns=ns, recv_ns=ns)
                    # The agent reconnects within its backoff (at most 5 s), then sends what it kept.
                    wait_for(lambda: server.host("host-0"), timeout=20, what="the agent back")
                    time.sleep(1)
                records = agent.records
                summary = agent.summary()
                self.assertTrue(any(r["type"] == "loss" for r in records))
                dropped = summary["loss"]["server_batches_dropped"]
                self.assertGreater(dropped, 0, summary["server"])
                self.assertEqual(dropped, summary["server"]["batches_dropped"])
                host = server.host("host-0")
                # What the agent says it lost is exactly what the server is missing.
                self.assertEqual(host["missing_batches"], dropped, host)
                self.assertEqual(host["batches_stored"], summary["server"]["batches"] - dropped, host)
                self.assertEqual(host["samples_stored"] + summary["loss"]["server_samples_dropped"],
                                 summary["server"]["samples"], host)
                # The drops the agent had reported when its last batch went out (later ones it could not).
                self.assertLessEqual(host["batches_dropped"], dropped, host)
                self.assertGreater(host["batches_dropped"], 0, host)
                # The batch after a drop carries every process: the totals heal.
                self.assertEqual(nonzero(server.totals("host-0")), agent_totals(agent))
            finally:
                server.stop()


def start_prometheus(tmp):
    """A real Prometheus with its remote-write receiver; (process, base URL)."""
    config = os.path.join(tmp, "prometheus.yml")
    with open(config, "w") as f:
        f.write("global:\n  scrape_interval: 15s\n")
    port = free_port()
    proc = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp}/tsdb",
                             f"--web.listen-address=127.0.0.1:{port}", "--web.enable-remote-write-receiver"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"

    def ready():
        try:
            with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False
    wait_for(ready, timeout=60, what="prometheus ready")
    return proc, base


def prometheus_values(base, metric, host):
    """(pid, start_ns) -> the newest value of metric for the host's processes."""
    query = urllib.parse.urlencode({"query": f'{metric}{{host="{host}"}}'})
    with urllib.request.urlopen(f"{base}/api/v1/query?{query}", timeout=10) as response:
        result = json.loads(response.read())["data"]["result"]
    return {(int(r["metric"]["pid"]), int(r["metric"]["start_ns"])): float(r["value"][1]) for r in result}


class Forwarding(unittest.TestCase):
    def test_prometheus_gets_the_values_the_api_serves(self):
        with tempfile.TemporaryDirectory() as tmp:
            prometheus, base = start_prometheus(tmp)
            try:
                with Server(tmp, token=None, extra=["--remote-write", f"{base}/api/v1/write"]) as server:
                    with NetNs() as ns:
                        with Agent("--collect", "net,cpu", "--netns", f"/run/netns/{ns.name}", "--no-detect",
                                   "--server", f"127.0.0.1:{server.grpc_port}", "--host-id", "fwd-host"):
                            transfer("tcp", 4, 2_345_678, send_ns=ns, recv_ns=ns)
                            time.sleep(1)
                    ours = nonzero(server.totals("fwd-host"))
                    self.assertTrue(any(v["tx_bytes"] == 2_345_678 for v in ours.values()), ours)
                    for counter in ("tx_bytes", "rx_bytes", "on_cpu_ns", "voluntary_switches"):
                        expected = {(pid, start): float(v[counter]) for (pid, _, start), v in ours.items()}
                        wait_for(lambda: all(prometheus_values(base, f"neutracer_process_{counter}_total",
                                                               "fwd-host").get(k) == v for k, v in expected.items()),
                                 timeout=30, what=f"prometheus has {counter}")
                    self.assertRegex(server.metrics(), r'neutracer_server_remote_write_samples_total{outcome="sent"} [1-9]')
                    self.assertRegex(server.metrics(), r'neutracer_server_remote_write_samples_total{outcome="dropped"} 0')
            finally:
                prometheus.terminate()
                prometheus.wait(timeout=30)


class Tls(unittest.TestCase):
    def test_agent_and_api_over_tls(self):
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                            "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=neutracer-test",
                            "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, timeout=60)
            with Server(tmp, extra=["--tls-cert", cert, "--tls-key", key]) as server:
                with NetNs() as ns:
                    with Agent("--collect", "net", "--netns", f"/run/netns/{ns.name}", "--no-detect",
                               "--server", f"127.0.0.1:{server.grpc_port}", "--host-id", "tls-host",
                               "--token-file", token_file(tmp), "--tls-ca", cert) as agent:
                        transfer("tcp", 4, 1_234_567, send_ns=ns, recv_ns=ns)
                        time.sleep(1)
                context = ssl.create_default_context(cafile=cert)
                request = urllib.request.Request(f"https://{server.http}/api/v1/processes?host=tls-host&limit=1000")
                request.add_header("Authorization", f"Bearer {TOKEN}")
                with urllib.request.urlopen(request, timeout=10, context=context) as response:
                    answer = json.loads(response.read())
                served = {(p["pid"], p["netns"], p["start_ns"]): p["total"] for p in answer["processes"]}
                self.assertEqual(nonzero(served), agent_totals(agent))
                self.assertEqual(agent.summary()["server"]["batches_dropped"], 0)
                # Plaintext to the TLS port gets nothing.
                with self.assertRaises(Exception):
                    server.get("/api/v1/hosts")


class BadInput(unittest.TestCase):
    def test_hostile_clients_are_refused_and_counted(self):
        with tempfile.TemporaryDirectory() as tmp, Server(tmp) as server:
            address = f"127.0.0.1:{server.grpc_port}"
            # No token, wrong token: the stream is refused before any batch is read.
            out = subprocess.run([INGEST, "hostile", "--server", address], stdout=subprocess.PIPE, text=True,
                                 timeout=120, check=True).stdout
            self.assertTrue(all(json.loads(line)["status"] == 16 for line in out.splitlines()), out)  # UNAUTHENTICATED
            out = subprocess.run([INGEST, "hostile", "--server", address, "--token", "nope"], stdout=subprocess.PIPE,
                                 text=True, timeout=120, check=True).stdout
            self.assertTrue(all(json.loads(line)["status"] == 7 for line in out.splitlines()), out)  # PERMISSION_DENIED
            out = subprocess.run([INGEST, "hostile", "--server", address, "--token", TOKEN], stdout=subprocess.PIPE,
                                 text=True, timeout=120, check=True).stdout
            cases = {c["case"]: c for c in map(json.loads, out.splitlines())}
            for name, case in cases.items():
                if name == "sql_in_strings":
                    self.assertEqual(case["outcome"], "STORED", case)
                elif name == "oversize":
                    self.assertEqual(case["status"], 8, case)  # RESOURCE_EXHAUSTED
                else:
                    self.assertEqual(case["outcome"], "REJECTED", case)
            # Garbage on both ports.
            for port in (server.grpc_port, int(server.http.rsplit(":", 1)[1])):
                with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                    s.sendall(os.urandom(4096) + b"\r\n\r\n")
                    s.settimeout(5)
                    try:
                        s.recv(4096)
                    except (socket.timeout, ConnectionResetError):
                        pass
            self.assertEqual(server.status_of("/api/v1/processes?limit=100000", token=TOKEN), 400)
            self.assertEqual(server.status_of("/api/v1/processes?from=nan", token=TOKEN), 400)
            self.assertEqual(server.status_of("/api/v1/nothing", token=TOKEN), 404)
            self.assertEqual(server.status_of("/api/v1/hosts", token=TOKEN, method="POST"), 405)
            self.assertIsNone(server.proc.poll())  # alive
            metrics = server.metrics()
            for reason in ("unauthenticated", "wrong_token", "invalid_batch", "bad_query", "malformed_request",
                           "garbage_connection", "aborted_stream"):
                self.assertRegex(metrics, rf'neutracer_server_rejected_total{{reason="{reason}"}} [1-9]')
            stored = server.host("hostile'); DROP TABLE hosts;--")
            self.assertEqual(stored["batches_stored"], 1)
            server.stop()
            with sqlite3.connect(server.db) as db:
                self.assertEqual(db.execute("PRAGMA integrity_check").fetchone()[0], "ok")
                self.assertGreaterEqual(db.execute("SELECT count(*) FROM hosts").fetchone()[0], 1)

    def test_refuses_to_listen_beyond_loopback_without_a_token(self):
        with tempfile.TemporaryDirectory() as tmp:
            result = subprocess.run([SERVER, "--listen", "0.0.0.0:0", "--db", os.path.join(tmp, "x.db")],
                                    stderr=subprocess.PIPE, text=True, timeout=30)
            self.assertNotEqual(result.returncode, 0)
            self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
            self.assertIn("token", result.stderr)


if __name__ == "__main__":
    unittest.main()
