"""Issue 18: user functions (--probe) and the CUDA runtime (--collect cuda).

nt-probed calls the C library's getpid, a C++ method of the test's own library (libntprobe) and
passes a USDT probe, each a known number of times; nt-cuda calls the real CUDA runtime (the
toolkit's libcudart: without a GPU every call fails, which is still a real call path) and, for
what only a GPU makes succeed, stand-ins with the runtime's and NCCL's names."""
import os
import re
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
sys.path.insert(0, os.path.dirname(__file__))
from ntlib import BUILD, NEUTRACER, Agent, KilledAtExit, wait_for  # noqa: E402

HELPERS = os.path.join(BUILD, "tests", "helpers")
PROBED = os.path.join(HELPERS, "nt-probed")
CUDA = os.path.join(HELPERS, "nt-cuda")
STANDIN = os.path.join(HELPERS, "standin")


class Program(KilledAtExit):
    """A helper that prints a first line, then runs one command per line; killed on every path."""

    def __init__(self, argv, env=None):
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, **(env or {})})
        self.first = self.proc.stdout.readline().split()
        assert self.first and self.first[0] == "ready", self.first
        self.pid = self.proc.pid

    def send(self, line):
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().split()
        assert reply and reply[0] == "done", reply
        return reply[1:]


def last(agent, kind, pid, **match):
    found = [r for r in agent.records if r["type"] == kind and r["pid"] == pid
             and all(r.get(k) == v for k, v in match.items())]
    return found[-1] if found else None


def agent_said(agent, text, timeout=15):
    """Waits until the agent's stderr so far holds `text` (read without blocking; what is read here
    is not in agent.stderr at the end)."""
    fd = agent.proc.stderr.fileno()
    heard = b""

    def found():
        nonlocal heard
        try:
            heard += os.read(fd, 65536)
        except BlockingIOError:
            pass
        return text.encode() in heard
    os.set_blocking(fd, False)
    try:
        wait_for(found, what=f"the agent to say {text!r} (it said {heard[-500:]!r})", timeout=timeout)
    finally:
        os.set_blocking(fd, True)


def counted(agent, kind, pid, check, **match):
    """Waits until the newest record of the kind says what `check` wants (the agent reads each interval)."""
    def ready():
        agent.records = agent._lines()
        record = last(agent, kind, pid, **match)
        return record is not None and check(record)
    wait_for(ready, what=f"a {kind} record", timeout=15)


class UserFunctions(unittest.TestCase):
    def test_getpid_is_counted_exactly(self):
        with Program([PROBED]) as program:
            with Agent("-p", str(program.pid), "--probe", "libc:getpid") as agent:
                program.send("getpid 10000")
                counted(agent, "probe", program.pid, lambda r: r["returns"] == 10000, function="getpid")
            record = last(agent, "probe", program.pid, function="getpid")
        self.assertEqual((record["calls"], record["returns"], record["errors"]), (10000, 10000, 0))
        self.assertRegex(os.path.basename(record["library"]), r"^libc[.-]")
        self.assertEqual(sum(record["latency_log2_ns"]), 10000)

    def test_a_cpp_method_is_found_by_its_demangled_name(self):
        for name in ("ntprobe::Widget::spin(int)", "ntprobe::Widget::spin", "_ZN7ntprobe6Widget4spinEi"):
            with self.subTest(name=name), Program([PROBED]) as program:
                with Agent("-p", str(program.pid), "--probe", f"ntprobe:{name}=neg") as agent:
                    program.send("spin 101")
                    counted(agent, "probe", program.pid, lambda r: r["returns"] == 101,
                            function="ntprobe::Widget::spin(int)")
                record = last(agent, "probe", program.pid, function="ntprobe::Widget::spin(int)")
                self.assertTrue(record["library"].endswith("/libntprobe.so"), record["library"])
                # Odd turns return their negation: 50 errors, each its own code.
                self.assertEqual((record["calls"], record["errors"]), (101, 50))
                self.assertEqual(record["codes"], {str(-turn): 1 for turn in range(1, 101, 2)})

    def test_a_usdt_probe_counts_its_passes(self):
        with Program([PROBED]) as program:
            with Agent("-p", str(program.pid), "--probe", f"usdt:{PROBED}:ntprobe:tick") as agent:
                program.send("tick 7")
                counted(agent, "probe", program.pid, lambda r: r["calls"] == 7, function="ntprobe:tick")
            record = last(agent, "probe", program.pid, function="ntprobe:tick")
        self.assertTrue(record["usdt"])
        self.assertEqual(record["calls"], 7)

    def test_bad_probes_are_one_line(self):
        for spec, said in (("nosuchlib:f", "no library named 'nosuchlib'"),
                           ("libc:no_such_function_here", "defines no function named"),
                           ("libc:getpid=sometimes", "error rule"),
                           ("getpid", "LIB:SYMBOL"),
                           (f"usdt:{PROBED}:ntprobe:nothing", "no USDT probe")):
            with self.subTest(spec=spec):
                result = subprocess.run([NEUTRACER, "record", "--probe", spec, "--duration", "1"],
                                        capture_output=True, text=True, timeout=30)
                self.assertNotEqual(result.returncode, 0)
                self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
                self.assertIn(said, result.stderr)


class CudaRuntime(unittest.TestCase):
    def test_every_call_is_counted_by_api_and_code(self):
        """Acceptance 1: 100 cudaMalloc, 60 cudaFree, 10 cudaMemcpy, 5 cudaLaunchKernel, exactly."""
        with Program([CUDA, "100", "60", "10", "5"]) as program:
            with Agent("-p", str(program.pid), "--collect", "cuda") as agent:
                codes = program.send("go")
                counted(agent, "cuda", program.pid, lambda r: r["apis"].get("cudaDeviceSynchronize", {}).get("returns") == 1)
            record = last(agent, "cuda", program.pid)
        self.assertIn("libcudart.so", os.path.basename(record["libraries"][0]))
        for api, calls, code in (("cudaMalloc", 100, codes[0]), ("cudaFree", 60, codes[1]),
                                 ("cudaMemcpy", 10, codes[2]), ("cudaLaunchKernel", 5, codes[3])):
            entry = record["apis"][api]
            self.assertEqual((entry["calls"], entry["returns"]), (calls, calls), api)
            failed = {code: calls} if code != "0" else {}
            self.assertEqual(entry["codes"], failed, api)
            self.assertEqual(entry["errors"], calls if failed else 0, api)
        (kernel,) = record["kernels"]
        self.assertEqual((kernel["name"], kernel["launches"]), ("nt_vector_add", 5))
        self.assertEqual((kernel["grid"], kernel["block"]), ([64, 2, 1], [256, 1, 1]))

    def test_a_runtime_loaded_after_the_agent_started_is_found(self):
        """A framework maps libcudart at its first CUDA call, after the agent has looked at it: the
        agent looks again once the process's mappings grew, and counts every call from then on."""
        with Program([CUDA, "100", "60", "10", "5"], env={"NT_OPEN_LATE": "1"}) as program:
            self.assertEqual(program.first, ["ready", "late"])
            with Agent("-p", str(program.pid), "--collect", "cuda") as agent:
                time.sleep(1.5)  # a periodic look that finds nothing new (the process's size unchanged)
                (library,) = program.send("open")
                agent_said(agent, f"functions of {os.path.realpath(library)}")
                program.send("go")
                counted(agent, "cuda", program.pid, lambda r: r["apis"].get("cudaDeviceSynchronize", {}).get("returns") == 1)
            record = last(agent, "cuda", program.pid)
        self.assertEqual(record["apis"]["cudaMalloc"]["calls"], 100)
        self.assertEqual(record["apis"]["cudaLaunchKernel"]["calls"], 5)

    def test_calls_are_slices_on_the_timeline(self):
        from test_timeline import Tracks  # noqa: E402 (its structure checks)
        with tempfile.TemporaryDirectory(prefix="nt-probes-") as scratch, Program([CUDA, "100", "60", "10", "5"]) as program:
            path = os.path.join(scratch, "trace.json")
            with Agent("-p", str(program.pid), "--collect", "cuda", "--timeline", path) as agent:
                program.send("go")
                counted(agent, "cuda", program.pid, lambda r: r["apis"].get("cudaDeviceSynchronize", {}).get("returns") == 1)
            tracks = Tracks(self, path)
        names = [name for (pid, tid), slices in tracks.slices.items() if pid == program.pid
                 for (ts, dur, cat, name) in slices if cat == "cuda"]
        self.assertEqual(names.count("cudaMalloc"), 100)
        self.assertEqual(names.count("cudaFree"), 60)
        self.assertEqual(names.count("cudaMemcpy host_to_device 1024 B"), 10)
        self.assertEqual(names.count("cudaLaunchKernel nt_vector_add"), 5)
        self.assertEqual(tracks.dropped, 0)

    def test_device_memory_copies_and_collectives(self):
        env = {"NT_CUDART": os.path.join(STANDIN, "libcudart.so"), "NT_NCCL": os.path.join(STANDIN, "libnccl.so"),
               "MASTER_ADDR": "10.9.8.7", "MASTER_PORT": "29999", "RANK": "1", "WORLD_SIZE": "2"}
        with Program([CUDA, "100", "60", "10", "5"], env=env) as program:
            with Agent("-p", str(program.pid), "--collect", "cuda", "--heap-min-age", "1") as agent:
                self.assertEqual(program.send("go"), ["0", "0", "0", "0"])
                time.sleep(1.5)  # the 40 blocks left grow older than --heap-min-age
                counted(agent, "cuda", program.pid, lambda r: r["device_memory"]["old_allocations"])
            record = last(agent, "cuda", program.pid)
        memory = record["device_memory"]
        # Block i has 4096 * (i + 1) bytes; the first 60 are freed.
        self.assertEqual((memory["allocations"], memory["frees"], memory["unknown_frees"]), (100, 60, 0))
        self.assertEqual((memory["live_blocks"], memory["live_bytes"]), (40, 4096 * sum(range(61, 101))))
        self.assertEqual(memory["high_water_bytes"], 4096 * sum(range(1, 101)))
        (stack,) = memory["old_allocations"]
        self.assertEqual((stack["blocks"], stack["bytes"]), (40, 4096 * sum(range(61, 101))))
        self.assertEqual(stack["frames"][0]["symbol"].split("+")[0], "make_calls")
        copies = {(c["kind"], c["async"]): c for c in record["copies"]}
        self.assertEqual((copies[("host_to_device", False)]["calls"], copies[("host_to_device", False)]["bytes"]),
                         (10, 10 * 1024))
        self.assertEqual((copies[("device_to_host", True)]["calls"], copies[("device_to_host", True)]["bytes"]),
                         (10, 10 * 512))
        self.assertGreaterEqual(record["apis"]["cudaDeviceSynchronize"]["time_ns"], 20e6)
        nccl = record["nccl"]
        self.assertEqual((nccl["ncclAllReduce"]["calls"], nccl["ncclAllReduce"]["bytes"]), (8, 8 * 1024 * 4))
        self.assertEqual((nccl["ncclBroadcast"]["calls"], nccl["ncclBroadcast"]["bytes"]), (2, 2 * 100 * 8))
        self.assertGreaterEqual(nccl["ncclAllReduce"]["time_ns"], 8e6)
        self.assertEqual((record["job"], record["rank"]), ("10.9.8.7:29999", 1))
        # Joined to the job view: the rank's collectives in its job's record.
        job = [r for r in agent.records if r["type"] == "job" and r["job"] == "10.9.8.7:29999"][-1]
        (rank,) = job["ranks"]
        self.assertEqual((rank["rank"], rank["pid"]), (1, program.pid))
        self.assertEqual((rank["nccl"]["ncclAllReduce"]["calls"], rank["nccl"]["ncclAllReduce"]["bytes"]), (8, 32768))


if __name__ == "__main__":
    unittest.main()
