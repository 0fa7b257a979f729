"""Issue 15: the dashboard, in a real browser. neutracer-server serves web/'s build at /; Debian's
Chromium opens it (headless, driven through web/e2e/driver.mjs by playwright-core) while real agents
in their own network namespaces, and nt-ingest's simulated ones, feed the server. Screenshots of every
page go to build/dashboard-screenshots/.

Environment: NT_DASHBOARD_SOAK_S, the live session of the scale test in seconds (180)."""
import json
import os
import re
import select
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
from ntlib import BUILD, TRAFFIC, finish_receiver, sender_argv, start_receiver, transfer, wait_for  # noqa: E402
from test_server import INGEST, TOKEN, Hosts, Server  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DRIVER = os.path.join(REPO, "web", "e2e", "driver.mjs")
CHROMIUM = "/usr/bin/chromium"
DIST = os.path.join(BUILD, "web", "dist")
SHOTS = os.path.join(BUILD, "dashboard-screenshots")
SOAK_S = float(os.environ.get("NT_DASHBOARD_SOAK_S", "180"))
POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
          "object-src 'none'; frame-ancestors 'none'; base-uri 'none'")
XSS = "<img src=x onerror=alert(1)>"
SQL = "'); DROP TABLE x;--"
XSS_HOST = "<svg onload=alert(2)>"


def require_dashboard():
    """A missing piece fails the test with its reason: nothing is skipped."""
    missing = [what for what, path in (("Chromium (Debian's chromium package)", CHROMIUM),
                                       ("the built dashboard (scripts/setup.sh)", os.path.join(DIST, "index.html")),
                                       ("web/node_modules (npm ci in web/)", os.path.join(REPO, "web", "node_modules")))
               if not os.path.exists(path)]
    if missing:
        raise RuntimeError("cannot test the dashboard without " + ", ".join(missing))


class Browser:
    """web/e2e/driver.mjs: one JSON request and one JSON answer a line."""

    def __init__(self):
        self.proc = subprocess.Popen(["node", DRIVER], cwd=os.path.join(REPO, "web"), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.version = self._answer(60)["version"]

    def _answer(self, timeout):
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready:
            raise TimeoutError(f"the browser driver did not answer in {timeout}s")
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the browser driver ended (exit {self.proc.wait(timeout=10)})")
        answer = json.loads(line)
        if "error" in answer:
            raise AssertionError(f"browser: {answer['error']}")
        return answer

    def call(self, op, timeout=60, **args):
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        return self._answer(timeout)

    def goto(self, url):
        return self.call("goto", url=url)

    def eval(self, expr):
        return self.call("eval", expr=expr)["value"]

    def wait(self, expr, timeout=10.0):
        return self.call("wait", timeout=timeout + 30, expr=expr, timeout_ms=int(timeout * 1000))

    def rounds(self):
        return self.eval("Number(document.querySelector('main').dataset.rounds || 0)")

    def open(self, url, rounds=1, timeout=15.0):
        """Goes to the page and waits until it has put `rounds` rounds of answers on screen."""
        self.goto(url)
        self.wait("(() => { const m = document.querySelector('main'); return m.dataset.view === location.hash && "
                  f"Number(m.dataset.viewRounds) >= {rounds}; }})()", timeout)

    def rows(self):
        """The table rows in view: [{key, cells: [text...]}], first table first."""
        return self.eval("""[...document.querySelectorAll('.vt')].map(t =>
            [...t.querySelectorAll('.vt-viewport .vt-row:not([hidden])')].map(r =>
                ({key: r.dataset.key, cells: [...r.children].map(c => c.textContent)})))""")

    def shot(self, name):
        os.makedirs(SHOTS, exist_ok=True)
        path = os.path.join(SHOTS, f"{name}.png")
        self.call("screenshot", path=path)
        return path

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"op": "close"}) + "\n")
                self.proc.stdin.close()
                self.proc.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()


def has_text(text):
    """A JS expression: some element of the page holds exactly this text."""
    return f"[...document.querySelectorAll('main *')].some(e => e.childElementCount === 0 && e.textContent === {json.dumps(text)})"


def fetch(url, token=None):
    """(status, headers, body) of a GET."""
    request = urllib.request.Request(url)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


class Dashboard(unittest.TestCase):
    """Two real agents (each a host in its network namespace) and a server that wants a token."""

    @classmethod
    def setUpClass(cls):
        require_dashboard()
        cls.tmp = tempfile.TemporaryDirectory()
        cls.hosts = Hosts(2).__enter__()
        cls.agents, cls.browser, cls.server = [], None, None
        try:
            cls.server = Server(cls.tmp.name)
            cls.server.listen = f"0.0.0.0:{cls.server.grpc_port}"  # the agents' namespaces reach it over veths
            cls.server.start()
            for i in range(2):
                cls.agents.append(cls.hosts.agent(i, cls.server, cls.tmp.name).__enter__())
            for i, ns in enumerate(cls.hosts.namespaces):
                transfer("tcp", 4, 3_000_017 * (i + 1), send_ns=ns, recv_ns=ns)
            cls.browser = Browser()
            cls.base = f"http://{cls.server.http}/"
            # A browser cannot send the token with a navigation: the page asks for it once.
            cls.browser.goto(cls.base + "#/top")
            cls.browser.wait("!document.querySelector('.token-bar').hidden")
            cls.browser.call("fill", selector=".token-bar input", text=TOKEN)
            cls.browser.call("press", key="Enter")
            cls.browser.wait("Number(document.querySelector('main').dataset.rounds || 0) > 0")
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.browser:
            cls.browser.close()
        for agent in cls.agents:
            agent.stop()
        if cls.server:
            cls.server.stop()
        cls.hosts.__exit__()
        cls.tmp.cleanup()

    def api(self, path):
        return self.server.get(path)

    def ours(self):
        """The API's nt-traffic processes (the test's own transfers), by id."""
        answer = self.api("/api/v1/processes?limit=1000&sort=tx_bytes")
        return {p["id"]: p for p in answer["processes"] if p["comm"] == "nt-traffic"}

    def test_a_files_are_served_with_the_policy_and_data_wants_the_token(self):
        status, headers, body = fetch(self.base)
        self.assertEqual(status, 200)
        self.assertEqual(headers["Content-Type"], "text/html; charset=utf-8")
        self.assertEqual(headers["Content-Security-Policy"], POLICY)
        self.assertEqual(headers["X-Content-Type-Options"], "nosniff")
        html = body.decode()
        # Every script is a file: none inline, no inline event handlers or styles.
        scripts = re.findall(r"<script\b[^>]*>", html)
        self.assertTrue(scripts and all("src=" in s for s in scripts), scripts)
        self.assertNotRegex(html, r"<script\b[^>]*>\s*[^<\s]")
        self.assertNotRegex(html, r"<style\b|\son[a-z]+=|\sstyle=")
        for asset in re.findall(r'(?:src|href)="\./(assets/[^"]+)"', html):
            status, headers, _ = fetch(self.base + asset)
            self.assertEqual(status, 200, asset)
            self.assertRegex(headers["Content-Type"], r"^text/(javascript|css)", asset)
            self.assertEqual(headers["Content-Security-Policy"], POLICY)
            self.assertIn("immutable", headers["Cache-Control"])
        # The data and the server's state want the token; files holding no data do not.
        self.assertEqual(fetch(self.base + "api/v1/hosts")[0], 401)
        self.assertEqual(fetch(self.base + "metrics")[0], 401)
        self.assertEqual(fetch(self.base + "api/v1/hosts", TOKEN)[1]["Content-Security-Policy"], POLICY)
        for path in ("..%2f..%2fetc%2fpasswd", "assets/..%2f..%2findex.html", ".hidden", "nothing.js", "assets/"):
            self.assertEqual(fetch(self.base + path)[0], 404, path)

    def test_b_top_table_and_charts_show_the_apis_values(self):
        ours = wait_for(lambda: len(self.ours()) >= 4 and self.ours(), timeout=20, what="both hosts' transfers")
        self.browser.open(self.base + "#/top?name=nt-traffic")
        want = {str(i) for i in ours}
        self.browser.wait(f"(() => {{ const keys = new Set([...document.querySelectorAll('.vt-row[data-key]:not([hidden])')]"
                          f".map(r => r.dataset.key)); return {json.dumps(sorted(want))}.every(k => keys.has(k)); }})()")
        ours = self.ours()  # as the page's latest round saw them: the transfers ended before it opened
        shown = {row["key"]: row["cells"] for row in self.browser.rows()[0]}
        for pid, p in ours.items():
            cells = shown[str(pid)]
            self.assertEqual(cells[0:3], [p["comm"], str(p["pid"]), p["host"]], cells)
            self.assertEqual(cells[-2:], [f"{p['total']['tx_bytes']:,}", f"{p['total']['rx_bytes']:,}"], cells)
        self.assertTrue(any(p["total"]["tx_bytes"] >= 3_000_017 for p in ours.values()), ours)
        self.assertEqual(set(shown), {str(i) for i in ours}, "the name filter shows only nt-traffic")
        # The chart of the top processes drew their series.
        points = self.browser.eval("[...document.querySelectorAll('.chart')].map(c => Number(c.dataset.points || 0))")
        self.assertGreater(points[0], 0, points)
        self.assertGreater(self.browser.eval("document.querySelectorAll('.uplot canvas').length"), 1)

    def test_c_new_traffic_is_on_the_open_page_within_2s(self):
        self.browser.open(self.base + "#/top?range=5m&name=ntdash-live")
        self.browser.wait(has_text("no process moved in this range"))
        renamed = os.path.join(self.tmp.name, "ntdash-live")
        os.symlink(os.path.abspath(TRAFFIC), renamed)  # comm is the name it is run by
        ns = self.hosts.namespaces[1]
        receiver, port, _ = start_receiver("tcp", 4, "0.0.0.0", 2_000_000, ns=ns)
        started = time.monotonic()
        sender = subprocess.Popen(ns.argv(sender_argv("tcp", 4, "127.0.0.1", port, 2_000_000, argv0=renamed)),
                                  stdout=subprocess.DEVNULL)
        self.browser.wait(has_text("ntdash-live"), timeout=10)
        elapsed = time.monotonic() - started
        sender.wait(timeout=30)
        finish_receiver(receiver)
        print(f"new traffic on the page after {elapsed:.2f} s", file=sys.stderr)
        self.assertLess(elapsed, 2.0)

    def test_d_hostile_names_are_shown_as_text_and_nothing_runs(self):
        out = subprocess.run([INGEST, "comms", "--server", f"127.0.0.1:{self.server.grpc_port}", "--token", TOKEN,
                              "--host", XSS_HOST, "--comm", XSS, "--comm", SQL, "--batches", "3", "--interval-ms",
                              "300"], stdout=subprocess.PIPE, text=True, timeout=60, check=True).stdout
        self.assertEqual(json.loads(out), {"batches": 3, "acked": 3})
        host = urllib.parse.quote(XSS_HOST, safe="")
        hostile = {p["comm"]: p for p in self.api(f"/api/v1/processes?host={host}&limit=10")["processes"]}
        self.assertEqual(set(hostile), {XSS, SQL})
        xss, sql = hostile[XSS]["id"], hostile[SQL]["id"]
        pages = {
            f"#/top?host={host}": [XSS, SQL, XSS_HOST],
            f"#/process/{xss}": [XSS, f"{XSS} --flag {XSS}", XSS_HOST],
            f"#/process/{sql}": [SQL, f"{SQL} --flag {SQL}", XSS_HOST],
            f"#/connections?host={host}": [XSS, SQL],
            f"#/anomalies?host={host}": [XSS, SQL],
            "#/hosts": [XSS_HOST],
            "#/losses": [XSS_HOST],
        }
        for page, texts in pages.items():
            self.browser.open(self.base + page)
            for text in texts:
                self.browser.wait(has_text(text), timeout=10)
            # Nothing of it became markup: no image, no SVG, no script in the page's content.
            self.assertEqual(self.browser.eval("document.querySelectorAll('main img, main svg, main script').length"), 0)
            self.browser.shot("hostile-" + page.split("?")[0].strip("#/").replace("/", "-"))
        events = self.browser.call("events")
        self.assertEqual(events["dialogs"], [])
        self.assertEqual(events["violations"], [], "nothing the page does needs more than its policy")
        # The only complaints: the browser's about the API's 401s before the token was given.
        self.assertEqual([e for e in events["errors"] if "status of 401" not in e], [])
        # The policy itself refuses inline script: one added to the page does not run.
        ran = self.browser.eval("""(() => { const s = document.createElement('script');
            s.textContent = 'window.__inlineRan = true'; document.head.append(s); return window.__inlineRan === true; })()""")
        self.assertFalse(ran)
        violations = self.browser.call("events")["violations"]
        self.assertTrue(any(v.startswith("script-src") for v in violations), violations)

    def test_e_screenshots_of_every_page(self):
        ours = self.ours()
        busiest = max(ours.values(), key=lambda p: p["total"]["tx_bytes"])
        pages = {
            "hosts": "#/hosts",
            "top": "#/top",
            "top-sorted-by-cpu": "#/top?sort=on_cpu_ns&range=5m",
            "process": f"#/process/{busiest['id']}",
            "matrix-hosts": "#/matrix",
            "matrix-processes": "#/matrix?level=process",
            "connections": "#/connections",
            "losses": "#/losses",
            "anomalies": "#/anomalies",
            "fixed-range": f"#/top?from={int(time.time()) - 600}&to={int(time.time())}",
        }
        for name, page in pages.items():
            self.browser.open(self.base + page, rounds=1 if "from=" in page else 2)
            path = self.browser.shot(name)
            self.assertGreater(os.path.getsize(path), 10_000, path)
        self.assertEqual(self.browser.call("events")["dialogs"], [])


class Scale(unittest.TestCase):
    """1,000 simulated processes and 10,000 flows on two hosts (nt-ingest fleet, a batch a second)."""

    def test_first_load_and_a_live_session_whose_heap_does_not_grow(self):
        require_dashboard()
        warm_s, settle_s = 30, 60
        with tempfile.TemporaryDirectory() as tmp, Server(tmp, token=None) as server:
            fleet = subprocess.Popen([INGEST, "fleet", "--server", f"127.0.0.1:{server.grpc_port}", "--agents", "2",
                                      "--processes", "1000", "--flows", "10000", "--interval-ms", "1000", "--seconds",
                                      str(warm_s + settle_s + SOAK_S + 60)], stdout=subprocess.DEVNULL)
            browser = None
            try:
                # Half a minute of history first: the page's first load reads a store with some in it.
                wait_for(lambda: all((server.host(f"fleet-{a}") or {}).get("batches_stored", 0) >= warm_s
                                     for a in range(2)), timeout=warm_s * 3, what="the fleet's history")
                with sqlite3.connect(f"file:{server.db}?mode=ro", uri=True) as db:
                    self.assertEqual(db.execute("SELECT count(*) FROM flows").fetchone()[0], 10_000)
                    self.assertEqual(db.execute("SELECT count(*) FROM processes").fetchone()[0], 1_000)
                timings = {}
                for path in ("processes?limit=1000&sort=tx_bytes", "flows?limit=1000", "matrix?level=process&limit=1000"):
                    started = time.monotonic()
                    answer = server.get(f"/api/v1/{path}")
                    timings[path] = time.monotonic() - started
                    rows = answer.get("processes", answer.get("flows", answer.get("edges")))
                    self.assertEqual(len(rows), 1000, path)
                print("API answer times: " + ", ".join(f"{p} {t * 1000:.0f} ms" for p, t in timings.items()),
                      file=sys.stderr)

                browser = Browser()
                base = f"http://{server.http}/"
                browser.goto(base + "#/top")
                first = float(browser.wait("document.documentElement.dataset.firstDataMs", timeout=30)["value"])
                print(f"first load (navigation to the top page's data on screen): {first:.0f} ms", file=sys.stderr)
                rows = browser.rows()
                self.assertEqual(browser.eval("document.querySelectorAll('.vt-caption')[0].textContent"),
                                 "1,000 rows (of the top 1000 in the range)")
                self.assertLessEqual(len(rows[0]), 14, "only the rows in view are in the page")
                browser.shot("scale-top")
                self.assertLess(first, 1000)

                # The live session, on a range the first minute fills: from then on the page holds
                # as much as it will.
                browser.goto(base + "#/top?range=1m")
                time.sleep(settle_s)
                baseline = browser.call("heap")
                start_rounds = browser.rounds()
                samples = [baseline["used"]]
                started = time.monotonic()
                while time.monotonic() - started < SOAK_S:
                    time.sleep(min(30, SOAK_S - (time.monotonic() - started)))
                    samples.append(browser.call("heap")["used"])
                end = browser.call("heap")
                rounds = browser.rounds() - start_rounds
                mib = [f"{s / 2**20:.2f}" for s in samples]
                print(f"JS heap after GC over {SOAK_S:.0f} s (MiB, every 30 s): {' '.join(mib)}; DOM nodes "
                      f"{baseline['nodes']:.0f} -> {end['nodes']:.0f}, listeners {baseline['listeners']:.0f} -> "
                      f"{end['listeners']:.0f}; {rounds} rounds, {SOAK_S / max(rounds, 1):.2f} s each", file=sys.stderr)
                browser.shot("scale-top-live")
                browser.open(base + "#/matrix?level=process&range=1m", timeout=30)
                browser.shot("scale-matrix-processes")
                # Growth within noise: a leak of one answer a round would be megabytes by now. One
                # reading can catch a collection half done (3.1 then 3.8 MiB seconds apart, once):
                # the lower of the last two is the heap, and a leak raises both.
                self.assertLess(min(samples[-1], end["used"]), baseline["used"] * 1.05 + 512 * 1024,
                                mib + [f"{end['used'] / 2**20:.2f}"])
                self.assertLess(statistics.median(samples[len(samples) // 2:]), baseline["used"] * 1.05 + 512 * 1024, mib)
                self.assertLessEqual(end["nodes"], baseline["nodes"] * 1.05 + 100)
                self.assertLessEqual(end["listeners"], baseline["listeners"] + 20)
                self.assertGreater(rounds, SOAK_S / 3, "the page kept asking")
                self.assertEqual(browser.call("events")["errors"], [])
            finally:
                if browser:
                    browser.close()
                fleet.kill()
                fleet.wait()


if __name__ == "__main__":
    unittest.main()
