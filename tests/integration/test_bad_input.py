"""Acceptance 6 of the foundation issue: bad input gives one clear stderr line and a non-zero exit."""
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
from ntlib import NEUTRACER  # noqa: E402


def dead_pid():
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid  # reaped: nothing runs under it (pid reuse within this test is not a concern)


class BadInput(unittest.TestCase):
    def assert_one_line_failure(self, argv, expect, **kwargs):
        run = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30, **kwargs)
        self.assertNotEqual(run.returncode, 0, run.stderr)
        self.assertLess(run.returncode, 128, "killed by a signal: a crash")
        lines = run.stderr.splitlines()
        self.assertEqual(len(lines), 1, run.stderr)
        self.assertTrue(lines[0].startswith("neutracer: "), lines[0])
        self.assertIn(expect, lines[0])

    def test_unknown_flag(self):
        self.assert_one_line_failure([NEUTRACER, "record", "--frobnicate"], "frobnicate")

    def test_no_subcommand(self):
        self.assert_one_line_failure([NEUTRACER], "subcommand")

    def test_bad_numbers(self):
        for argv in (["--interval", "abc"], ["--interval", "0"], ["--duration", "-1"], ["-p", "x"],
                     ["--max-flows", "1"], ["--flow-idle", "0"]):
            with self.subTest(argv=argv):
                self.assert_one_line_failure([NEUTRACER, "record", *argv], argv[0])

    def test_pid_that_does_not_exist(self):
        pid = dead_pid()
        self.assert_one_line_failure([NEUTRACER, "record", "-p", str(pid)], f"no process with pid {pid}")

    def test_unwritable_output(self):
        self.assert_one_line_failure([NEUTRACER, "record", "-o", "/nonexistent/dir/out.jsonl"], "cannot write")

    def test_bad_replay_files(self):
        start = '{"type":"start","v":1,"ts":1,"mode":"record","interval_ms":250,"detect":{"warmup_intervals":2}}'
        cases = {
            "not JSON": ([start, "{oops"], "not a JSON object"),
            "no start": (['{"type":"loss","ts":2}'], "no start record"),
            "no detection": (['{"type":"start","v":1,"ts":1}'], "without anomaly detection"),
            "pid of text": ([start, '{"type":"flow","ts":1,"pid":"abc","proto":"tcp"}', '{"type":"loss","ts":2}'],
                            ":2: a field of the wrong type"),
            "detect not an object": (['{"type":"start","detect":5}'], ":1: a field of the wrong type"),
            "ts of text": ([start, '{"type":"loss","ts":"later"}'], ":2: a field of the wrong type"),
        }
        with tempfile.TemporaryDirectory() as folder:
            for name, (lines, expect) in cases.items():
                with self.subTest(name):
                    path = os.path.join(folder, "recording.jsonl")
                    with open(path, "w") as f:
                        f.write("\n".join(lines) + "\n")
                    self.assert_one_line_failure([NEUTRACER, "replay", path], expect)
            self.assert_one_line_failure([NEUTRACER, "replay", os.path.join(folder, "absent.jsonl")], "cannot read")

    def test_bad_filters(self):
        cases = [(["--cgroup", "/nonexistent-cgroup"], "cannot open cgroup"),
                 (["--cgroup", "/tmp"], "not a cgroup v2 directory"),
                 (["--netns", "/nonexistent/ns"], "cannot open network namespace"),
                 (["--netns", "/etc/hostname"], "not a namespace file"),
                 (["--netns", "0"], "not a network namespace id"),
                 (["-c", "a-name-longer-than-15"], "at most 15 bytes")]
        for mode in ("record", "trace"):
            for argv, expect in cases:
                with self.subTest(mode=mode, argv=argv):
                    self.assert_one_line_failure([NEUTRACER, mode, *argv], expect)

    def test_bad_metrics_and_view_options(self):
        self.assert_one_line_failure([NEUTRACER, "record", "--metrics", "localhost:http"], "--metrics")
        self.assert_one_line_failure([NEUTRACER, "serve"], "--metrics")
        self.assert_one_line_failure([NEUTRACER, "top", "--batch", "--sort", "colour"], "--sort")
        # Without a terminal, the interactive view says so instead of drawing into a pipe.
        self.assert_one_line_failure([NEUTRACER, "top"], "--batch", stdin=subprocess.DEVNULL)

    def test_bad_ring_size(self):
        self.assert_one_line_failure([NEUTRACER, "trace", "--ringbuf-kb", "1"], "--ringbuf-kb")

    def test_command_not_found(self):
        self.assert_one_line_failure([NEUTRACER, "record", "--", "/nonexistent/command"], "cannot run the command")

    def test_not_root(self):
        self.assert_one_line_failure(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", NEUTRACER, "record", "--duration", "1"],
            "must run as root")

    def test_no_btf(self):
        # A private mount namespace where the kernel's BTF directory is empty.
        script = f'mount -t tmpfs none /sys/kernel/btf && exec {NEUTRACER} record --duration 1'
        self.assert_one_line_failure(["unshare", "-m", "sh", "-c", script], "kernel BTF not found")

    def test_missing_kernel_feature(self):
        # No cgroup2 mount: socket owner stamping cannot attach, and the agent says so.
        script = ('for m in $(findmnt -rn -t cgroup2 -o TARGET); do umount "$m"; done && '
                  f'exec {NEUTRACER} record --duration 1')
        self.assert_one_line_failure(["unshare", "-m", "--propagation", "private", "sh", "-c", script], "cgroup v2")


if __name__ == "__main__":
    unittest.main()
