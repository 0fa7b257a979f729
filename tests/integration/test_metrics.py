"""Issue 5, acceptance 3-5: /metrics is valid, a real Prometheus server sees exactly what the
agent reports, and the cardinality cap keeps counters monotonic and sums exact."""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
from ntlib import (TRAFFIC, Agent, NetNs, finish_receiver, held, sender_argv, start_receiver,  # noqa: E402
                   transfer, wait_for)
import promtext  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def metrics_url(agent):
    start = wait_for(lambda: next((r for r in agent._lines() if r["type"] == "start"), None), what="start")
    return start["metrics"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Metrics(unittest.TestCase):
    def test_promtool_accepts_metrics_and_rules(self):
        with NetNs() as ns:
            with Agent("--metrics", "127.0.0.1:0") as agent:
                transfer("tcp", 4, 100_000, send_ns=ns, recv_ns=ns, extra=("--hold-ms", "300"))
                time.sleep(0.5)
                text = promtext.scrape(metrics_url(agent))
        check = subprocess.run(["promtool", "check", "metrics"], input=text, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT)
        self.assertEqual(check.returncode, 0, check.stdout)
        rules = subprocess.run(["promtool", "check", "rules", os.path.join(REPO, "docs", "prometheus", "alerts.yml")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.assertEqual(rules.returncode, 0, rules.stdout)
        # Every metric the dashboard and the alerts use is one the agent exports.
        exported = {name for name, _ in promtext.parse(text)}
        docs = open(os.path.join(REPO, "docs", "grafana", "neutracer.json")).read()
        docs += open(os.path.join(REPO, "docs", "prometheus", "alerts.yml")).read()
        used = set(__import__("re").findall(r"neutracer_[a-z_]+", docs))
        self.assertEqual(used - exported, set())

    def test_prometheus_server_sees_the_agent_values(self):
        nbytes = 3_000_017
        with NetNs() as ns, tempfile.TemporaryDirectory() as tmp:
            with Agent("--metrics", "127.0.0.1:0") as agent:
                target = urllib.parse.urlparse(metrics_url(agent)).netloc
                config = os.path.join(tmp, "prometheus.yml")
                with open(config, "w") as f:
                    # honor_labels: the agent's `job` label (a training job) is kept as is.
                    f.write("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: neutracer\n"
                            f"    honor_labels: true\n    static_configs:\n      - targets: ['{target}']\n")
                port = free_port()
                lingering = []
                server = subprocess.Popen(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp}/data",
                                           f"--web.listen-address=127.0.0.1:{port}"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                try:
                    api = f"http://127.0.0.1:{port}/api/v1/query?query="
                    # Both ends linger, so that they are alive when the agent ranks them for series
                    # of their own (a process that comes and goes between two reads counts in "other").
                    linger = ["--linger-ms", "60000"]
                    serve = subprocess.Popen(ns.argv([TRAFFIC, "serve", "--proto", "tcp", "--family", "4", "--addr",
                                                      "127.0.0.1", "--port", "0", "--bytes", str(nbytes), *linger]),
                                             stdout=subprocess.PIPE, text=True)
                    lingering.append(serve)
                    ready = json.loads(serve.stdout.readline())
                    send = subprocess.Popen(ns.argv(sender_argv("tcp", 4, "127.0.0.1", ready["ready"], nbytes) + linger),
                                            stdout=subprocess.PIPE, text=True)
                    lingering.append(send)
                    sender, receiver = json.loads(send.stdout.readline())["pid"], ready["pid"]
                    self.assertEqual(json.loads(serve.stdout.readline())["received"], nbytes)

                    def prometheus_values():
                        query = urllib.parse.quote(f'neutracer_process_sent_bytes_total{{pid="{sender}"}} or '
                                                   f'neutracer_process_received_bytes_total{{pid="{receiver}"}}')
                        try:
                            result = json.load(urllib.request.urlopen(api + query, timeout=5))["data"]["result"]
                        except OSError:
                            return None
                        values = {(r["metric"]["__name__"], int(r["metric"]["pid"])): float(r["value"][1])
                                  for r in result}
                        return values if len(values) == 2 else None

                    wait_for(prometheus_values, timeout=60, what="Prometheus to scrape the agent")
                    time.sleep(2.5)  # two more scrapes after the traffic stopped
                    seen = prometheus_values()
                finally:
                    for proc in [server] + lingering:
                        proc.terminate()
                        proc.wait(timeout=30)
            final = {p["pid"]: p for p in agent.summary()["processes"] if p["netns"] == ns.inode}
            self.assertEqual(seen[("neutracer_process_sent_bytes_total", sender)], final[sender]["tx_bytes"])
            self.assertEqual(seen[("neutracer_process_received_bytes_total", receiver)], final[receiver]["rx_bytes"])
            self.assertEqual(final[sender]["tx_bytes"], nbytes)

    def test_cap_with_5000_short_lived_processes(self):
        procs, message, cap = 5000, 1000, 20
        with NetNs() as ns:
            receiver, port, _ = start_receiver("udp", 4, "127.0.0.1", procs * message, ns=ns)
            burst = held([TRAFFIC, "burst", "--family", "4", "--addr", "127.0.0.1", "--port", str(port),
                          "--bytes", str(message), "--procs", str(procs)], ns=ns)
            with Agent("-p", str(burst.pid), "--children", "--metrics", "127.0.0.1:0", "--metrics-top", str(cap),
                       interval_ms=100) as agent:
                url = metrics_url(agent)
                scrapes = []
                burst.stdin.write("go\n")
                burst.stdin.flush()
                while burst.poll() is None:
                    scrapes.append(promtext.parse(promtext.scrape(url)))
                    time.sleep(0.05)
                report = json.loads(burst.stdout.read().strip().splitlines()[-1])
                finish_receiver(receiver)
                time.sleep(0.5)  # the children's final reads and retirement
                scrapes.append(promtext.parse(promtext.scrape(url)))
            self.assertEqual(report["failed"], 0)
            self.assertGreater(len(scrapes), 10)
            name = "neutracer_process_sent_bytes_total"
            previous = {}
            for samples in scrapes:
                series = promtext.family(samples, name)
                self.assertLessEqual(len(series), cap + 1)
                for labels, value in series.items():
                    self.assertGreaterEqual(value, previous.get(labels, 0), labels)
                    previous[labels] = value
            final = promtext.family(scrapes[-1], name)
            self.assertEqual(sum(final.values()), procs * message)
            self.assertEqual(sum(p["tx_bytes"] for p in agent.summary()["processes"]), procs * message)


if __name__ == "__main__":
    unittest.main()
