"""Issue 17: the heap collector (--heap). nt-leaker leaks 1,000 blocks of 4 KiB from one function and
frees everything else it allocates (malloc, calloc, realloc, posix_memalign, aligned_alloc, malloc's
own mmap, an anonymous mmap): the report names that call stack with 1,000 blocks and 4,096,000
bytes and no other, the call counts are the program's, and its page faults are /proc's. With
sampling, the report says what it sampled and the leak is found at that rate."""
import os
import re
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
from ntlib import BUILD, Agent, KilledAtExit, wait_for  # noqa: E402

LEAKER = os.path.join(BUILD, "tests", "helpers", "nt-leaker")
LEAK, BLOCK, CHURN = 1000, 4096, 1000
CALLS_PER_CHURN = 8  # allocations per round: nt_leaker.cpp's churn()


def proc_faults(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[7]), int(fields[9])


# A program that allocates (Python), then becomes nt-leaker by exec when it reads a line.
EXEC_INTO = ("import os, sys\nsys.stdin.readline()\nheld = [bytearray(1 << 20) for _ in range(4)]\n"
             "os.execv(sys.argv[1], sys.argv[1:])")


class Leaker(KilledAtExit):
    """nt-leaker, waiting to start; `run()` lets it leak and churn; leaving the with-block ends it.
    With `after_exec`, it starts as Python, which execs nt-leaker at `become()`."""

    def __init__(self, after_exec=False):
        argv = [LEAKER, "--leak", str(LEAK), "--block", str(BLOCK), "--churn", str(CHURN)]
        if after_exec:
            argv = ["/usr/bin/python3", "-c", EXEC_INTO] + argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        if not after_exec:
            assert self.proc.stdout.readline().strip() == "ready"
        self.pid = self.proc.pid

    def become(self):
        """Python allocates (the line, exec's arguments), then execs nt-leaker."""
        self.proc.stdin.write("exec\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ready"

    def run(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline().split()
        assert line and line[0] == "done", line

    def end(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=10)


def heap_records(records, pid):
    return [r for r in records if r["type"] == "heap" and r["pid"] == pid]


class Heap(unittest.TestCase):
    def test_a_leak_is_named_by_its_call_stack(self):
        with Leaker() as leaker:
            with Agent("--collect", "memory", "--heap", "--heap-min-age", "1", "-p", str(leaker.pid)) as agent:
                leaker.run()

                def reported():
                    found = [r for r in heap_records(agent._lines(), leaker.pid) if r["stacks"]]
                    return found[-1] if found else None
                wait_for(reported, timeout=10, what="a heap record with the leak")
                time.sleep(0.6)  # idle: the fault counts settle
                faults = proc_faults(leaker.pid)
                time.sleep(0.6)
                report = reported()
                leaker.end()
                wait_for(lambda: any(r["exited"] for r in heap_records(agent._lines(), leaker.pid)), timeout=5,
                         what="the heap record of its exit")
        print(f"heap report: {report}", file=sys.stderr)
        self.assertEqual(report["sample_every"], 1)
        self.assertEqual(report["allocations"], LEAK + CALLS_PER_CHURN * CHURN)
        self.assertEqual(report["sampled"], report["allocations"])
        self.assertEqual(report["frees"], CALLS_PER_CHURN * CHURN)  # realloc's old block is one of them
        self.assertEqual((report["outstanding_blocks"], report["outstanding_bytes"]), (LEAK, LEAK * BLOCK))
        self.assertEqual(len(report["stacks"]), 1, "a stack other than the leak's is above the threshold")
        stack = report["stacks"][0]
        self.assertEqual((stack["blocks"], stack["bytes"]), (LEAK, LEAK * BLOCK))
        self.assertGreaterEqual(stack["oldest_age_s"], 1.0)
        symbols = [f["symbol"] for f in stack["frames"]]
        self.assertRegex(symbols[0], r"leak_blocks\(long, unsigned long\)\+0x[0-9a-f]+$")
        self.assertTrue(symbols[1].startswith("main+"), symbols)
        self.assertTrue(stack["frames"][0]["module"].endswith("/nt-leaker"))
        self.assertRegex(stack["frames"][0]["source"], r"nt_leaker\.cpp:\d+$")
        line = int(stack["frames"][0]["source"].rsplit(":", 1)[1])
        with open(os.path.join(os.path.dirname(__file__), "..", "helpers", "nt_leaker.cpp")) as f:
            self.assertIn("malloc(size)", f.readlines()[line - 1])  # the very line that leaks
        memory = [r for r in agent.records if r["type"] == "memory" and r["pid"] == leaker.pid and not r["exited"]]
        self.assertEqual((memory[-1]["minflt"], memory[-1]["majflt"]), faults)
        self.assertEqual(agent.summary()["loss"]["heap_stack_lost"], 0)

    def test_sampling_says_what_it_sampled(self):
        every = 10
        with Leaker() as leaker:
            with Agent("--heap", "--heap-sample", str(every), "--heap-min-age", "0.5", "-p", str(leaker.pid)) as agent:
                leaker.run()

                def reported():
                    found = [r for r in heap_records(agent._lines(), leaker.pid) if r["stacks"]]
                    return found[-1] if found else None
                wait_for(reported, timeout=10, what="a heap record with the leak")
                time.sleep(0.5)
                report = reported()
            leaker.end()
        print(f"heap report: {report}", file=sys.stderr)
        self.assertEqual(report["sample_every"], every)
        self.assertEqual(report["allocations"], LEAK + CALLS_PER_CHURN * CHURN)
        # Every Nth call on each CPU: off by at most one per CPU from a tenth.
        cpus = os.cpu_count()
        self.assertLessEqual(abs(report["sampled"] - report["allocations"] / every), cpus + 1)
        leaked = [s for s in report["stacks"] if any("leak_blocks" in f["symbol"] for f in s["frames"])]
        self.assertEqual(len(leaked), 1, report["stacks"])
        self.assertLessEqual(abs(leaked[0]["blocks"] - LEAK / every), cpus + 1)
        self.assertEqual(leaked[0]["bytes"], leaked[0]["blocks"] * BLOCK)
        self.assertEqual(len(report["stacks"]), 1, report["stacks"])

    def test_blocks_of_the_program_before_an_exec_are_gone(self):
        with Leaker(after_exec=True) as leaker:
            with Agent("--heap", "--heap-min-age", "0.5", "-p", str(leaker.pid)) as agent:
                time.sleep(0.5)
                leaker.become()
                leaker.run()

                def reported():
                    found = [r for r in heap_records(agent._lines(), leaker.pid) if r["stacks"]]
                    return found[-1] if found else None
                wait_for(reported, timeout=10, what="a heap record with the leak")
                time.sleep(1.2)  # a pass after Python's blocks, had they stayed, were old enough
                report = reported()
            leaker.end()
        print(f"heap report after exec: {report}", file=sys.stderr)
        self.assertEqual(report["comm"], "nt-leaker")
        self.assertGreaterEqual(report["allocations"], LEAK + CALLS_PER_CHURN * CHURN + 4, "Python's were seen")
        self.assertEqual((report["outstanding_blocks"], report["outstanding_bytes"]), (LEAK, LEAK * BLOCK))
        self.assertEqual(len(report["stacks"]), 1, report["stacks"])
        self.assertIn("leak_blocks", report["stacks"][0]["frames"][0]["symbol"])

    def test_a_bad_allocator_file_is_one_line(self):
        result = subprocess.run([os.path.join(BUILD, "src", "neutracer"), "record", "--heap", "--heap-lib", "/etc/hostname",
                                 "--duration", "1"], capture_output=True, text=True, timeout=30)
        self.assertNotEqual(result.returncode, 0)
        self.assertEqual(len(result.stderr.strip().splitlines()), 1, result.stderr)
        self.assertRegex(result.stderr, re.compile("not an ELF file"))


if __name__ == "__main__":
    unittest.main()
