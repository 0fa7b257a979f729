"""Issue 13: the block I/O collector. O_DIRECT reads and writes of known sizes, to a file on a
filesystem on a loop device the test makes and to a loop device itself: per-process requests and
bytes are exactly what was issued, and a disk's totals are the deltas of its /sys/block stat.
Buffered writes flushed by writeback are a kernel thread's. Every loop device, mount and helper is
removed on every path."""
import json
import os
import signal
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "helpers"))
from ntlib import Agent, wait_for  # noqa: E402
from test_timeline import Tracks  # noqa: E402

KIB = 1024
TEST_SECONDS = 120  # each test's limit

# Runs a plan of reads and writes (O_DIRECT, from a page-aligned mmap buffer, unless the plan says
# buffered), discards and syncs on a line on stdin, then exits. Everything it needs is imported and
# opened before it says it is ready, so that nothing else of its own reaches a disk while it is traced.
ISSUER = r"""
import ctypes, fcntl, json, mmap, os, struct, sys
plan = json.loads(sys.argv[1])
flags = os.O_RDWR | (os.O_DIRECT if plan["direct"] else 0)
fds = {path: os.open(path, flags | os.O_CREAT, 0o644) for path in plan["paths"]}
buf = mmap.mmap(-1, plan["buffer"])
buf.write(b"\x5a" * plan["buffer"])
libc = ctypes.CDLL(None, use_errno=True)
print(json.dumps({"pid": os.getpid()}), flush=True)
sys.stdin.readline()
for step in plan["steps"]:
    op, path = step[0], step[1]
    fd = fds[path]
    if op in ("write", "read"):
        offset, size = step[2], step[3]
        view = memoryview(buf)[:size]
        done = os.pwritev(fd, [view], offset) if op == "write" else os.preadv(fd, [view], offset)
        assert done == size, (step, done)
    elif op == "discard":  # BLKDISCARD
        fcntl.ioctl(fd, 0x1277, struct.pack("QQ", step[2], step[3]))
    elif op == "fsync":
        os.fsync(fd)
    elif op == "syncfs":
        assert libc.syncfs(fd) == 0
print(json.dumps({"done": True}), flush=True)
"""


def sh(*argv):
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout.strip()


def disk_stat(name):
    """/sys/block/NAME/stat as the kernel counts: I/Os and bytes per kind (read, write, discard),
    flush I/Os."""
    with open(f"/sys/block/{name}/stat") as f:
        v = [int(x) for x in f.read().split()]
    return {"read": {"ops": v[0], "bytes": v[2] * 512}, "write": {"ops": v[4], "bytes": v[6] * 512},
            "discard": {"ops": v[11], "bytes": v[13] * 512}, "flush": {"ops": v[15], "bytes": 0}}


def last_record(agent, **match):
    found = [r for r in agent.records if all(r.get(k) == v for k, v in match.items())]
    return found[-1] if found else None


def totals(record):
    return {kind: record[kind] for kind in ("read", "write", "flush", "discard")}


class BlockIo(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # A guest kernel (scripts/vmtest.sh) has loop as a module and no static /dev/loop-control.
        if not os.path.exists("/dev/loop-control"):
            sh("modprobe", "loop")

    def setUp(self):
        def expire(signum, frame):
            raise TimeoutError(f"test ran past {TEST_SECONDS} s")
        signal.signal(signal.SIGALRM, expire)
        signal.alarm(TEST_SECONDS)
        self.addCleanup(signal.alarm, 0)
        self.dir = tempfile.mkdtemp(prefix="nt-io-")
        self.addCleanup(os.rmdir, self.dir)

    def loop_device(self, size_mib=64):
        """A loop device over a file of the test's own; detached (and the file removed) at the end."""
        backing = os.path.join(self.dir, "backing.img")
        with open(backing, "wb") as f:
            f.truncate(size_mib << 20)
        self.addCleanup(os.unlink, backing)
        device = sh("losetup", "-f", "--show", backing)
        self.addCleanup(subprocess.run, ["losetup", "-d", device], stderr=subprocess.DEVNULL)
        return device

    def filesystem(self, device):
        """ext4 on the device, every table written now (no lazy init writing behind the test), mounted."""
        sh("mkfs.ext4", "-q", "-F", "-E", "lazy_itable_init=0,lazy_journal_init=0", device)
        mountpoint = os.path.join(self.dir, "mnt")
        os.mkdir(mountpoint)
        self.addCleanup(os.rmdir, mountpoint)
        sh("mount", device, mountpoint)
        self.addCleanup(subprocess.run, ["umount", mountpoint], stderr=subprocess.DEVNULL)
        return mountpoint

    def issuer(self, paths, steps, direct=True):
        """The issuer, ready: its process and pid. It runs `steps` on go()."""
        plan = {"paths": paths, "steps": steps, "direct": direct,
                "buffer": max([s[3] for s in steps if s[0] in ("read", "write")] + [4096])}
        proc = subprocess.Popen(["/usr/bin/python3", "-c", ISSUER, json.dumps(plan)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        self.addCleanup(lambda: proc.poll() is not None or (proc.kill(), proc.wait()))
        return proc, json.loads(proc.stdout.readline())["pid"]

    @staticmethod
    def go(proc):
        out, _ = proc.communicate("go\n", timeout=60)
        if proc.returncode != 0 or '"done"' not in out:
            raise AssertionError(f"issuer failed ({proc.returncode}): {out}")

    def direct_io_on_a_filesystem(self, env=None, extra=()):
        """64 x 4 KiB O_DIRECT writes then 32 x 16 KiB O_DIRECT reads of a file on ext4 on a loop
        device, by a process traced with -p: its requests and bytes, exactly."""
        mountpoint = self.filesystem(self.loop_device())
        path = os.path.join(mountpoint, "data")
        with open(path, "wb") as f:  # allocated and on disk first: the O_DIRECT writes overwrite
            f.write(b"\0" * (1 << 20))
            os.fsync(f.fileno())
        self.addCleanup(os.unlink, path)
        steps = [("write", path, i * 4 * KIB, 4 * KIB) for i in range(64)]
        steps += [("read", path, i * 16 * KIB, 16 * KIB) for i in range(32)]
        proc, pid = self.issuer([path], steps)
        with Agent("--collect", "io", "-p", str(pid), *extra, env=env) as agent:
            self.go(proc)
            # Its counters go once they have stayed put after its exit: its last record says so.
            wait_for(lambda: any(r["type"] == "io" and r["pid"] == pid and r["exited"] for r in agent._lines()),
                     timeout=15, what="the issuer's exited io record")
        io = last_record(agent, type="io", pid=pid)
        self.assertEqual(totals(io), {"read": {"ops": 32, "bytes": 32 * 16 * KIB},
                                      "write": {"ops": 64, "bytes": 64 * 4 * KIB},
                                      "flush": {"ops": 0, "bytes": 0}, "discard": {"ops": 0, "bytes": 0}}, io)
        self.assertEqual(io["comm"], "python3")
        self.assertFalse(io["kernel_thread"])
        self.assertTrue(io["exited"])
        self.assertGreater(io["device_ms"], 0)
        self.assertEqual({r["pid"] for r in agent.records if r["type"] == "io"}, {pid})  # the filter holds
        loss = agent.summary()["loss"]
        self.assertEqual((loss["io_request_map_full"], loss["io_counter_map_full"], loss["map_read_failed"]),
                         (0, 0, 0))
        return agent

    def test_each_request_on_the_timeline(self):
        """--timeline: each of the issuer's 96 requests is a slice on its process, named by its
        kind and disk, from its stamp to its completion (docs/timeline.md)."""
        with tempfile.TemporaryDirectory(prefix="nt-timeline-") as out:
            path = os.path.join(out, "trace.json")
            agent = self.direct_io_on_a_filesystem(extra=("--timeline", path))
            pid = next(r["pid"] for r in agent.records if r["type"] == "io")
            tracks = Tracks(self, path)
        requests = [(name, dur, track) for track, slices in tracks.slices.items() if track[0] == pid
                    for _, dur, cat, name in slices if cat == "io"]
        kinds = sorted({name.split()[0] for name, _, _ in requests})
        self.assertEqual(kinds, ["read", "write"], requests[:5])
        self.assertEqual(sum(name.startswith("read ") for name, _, _ in requests), 32)
        self.assertEqual(sum(name.startswith("write ") for name, _, _ in requests), 64)
        self.assertEqual({tracks.thread_names[track] for _, _, track in requests}, {"python3 io"})
        self.assertEqual(agent.summary()["loss"]["timeline_ringbuf_full"], 0)

    def test_direct_io_on_a_filesystem_is_the_process_s_exactly(self):
        agent = self.direct_io_on_a_filesystem()
        self.assertIn(agent.summary()["features"]["io.requests"]["via"], ("io_start", "insert"))

    def test_stamped_at_insert_where_the_kernel_has_no_block_io_start(self):
        agent = self.direct_io_on_a_filesystem(env={"NEUTRACER_REFUSE": "io.requests/io_start"})
        self.assertEqual(agent.summary()["features"]["io.requests"]["via"], "insert")

    def test_disk_totals_are_its_sys_block_stat(self):
        """Raw O_DIRECT writes and reads, a discard and an fsync (a flush) on a loop device nothing
        else uses: the disk's totals over the agent's run are the deltas of its /sys/block stat."""
        device = self.loop_device()
        name = os.path.basename(device)
        steps = [("write", device, i * 64 * KIB, 64 * KIB) for i in range(16)]
        steps += [("read", device, i * 128 * KIB, 128 * KIB) for i in range(8)]
        steps += [("discard", device, 4 << 20, 1 << 20), ("fsync", device)]
        proc, pid = self.issuer([device], steps)
        before = disk_stat(name)
        with Agent("--collect", "io", "-p", str(pid)) as agent:
            self.go(proc)
        after = disk_stat(name)
        delta = {kind: {k: after[kind][k] - before[kind][k] for k in ("ops", "bytes")} for kind in after}
        self.assertEqual(delta["read"], {"ops": 8, "bytes": 1 << 20})  # the test's own, and nothing else
        self.assertGreaterEqual(delta["discard"]["ops"], 1)
        with open(f"/sys/block/{name}/dev") as f:
            major, minor = (int(x) for x in f.read().split(":"))
        disk = last_record(agent, type="disk", device=name)
        self.assertIsNotNone(disk, "no disk record for " + name)
        self.assertEqual((disk["major"], disk["minor"]), (major, minor))
        self.assertEqual(totals(disk), delta)
        if agent.summary()["features"]["io.requests"]["via"] == "io_start":
            self.assertEqual(disk["unattributed"], {"ops": 0, "bytes": 0})
        else:  # fsync's empty write is never inserted nor issued: only block_io_start sees it made
            self.assertEqual(disk["unattributed"], {"ops": 1, "bytes": 0})
        self.assertEqual(sum(sum(r["device_hist"]) for r in agent.records
                             if r["type"] == "disk" and r["device"] == name),
                         sum(d["ops"] for d in delta.values()) - 1)  # all but fsync's own request: never issued
        # Everything but the flush (made by the block layer, issued by kblockd) is the issuer's own.
        io = last_record(agent, type="io", pid=pid)
        self.assertEqual((io["read"], io["discard"]), (delta["read"], delta["discard"]))
        self.assertEqual(io["write"]["bytes"], 1 << 20)
        self.assertEqual(io["write"]["ops"] + disk["unattributed"]["ops"], delta["write"]["ops"])

    def test_writeback_is_a_kernel_thread_s(self):
        """Buffered writes flushed by fsync are written by the process that calls it; those flushed by
        syncfs are written by the flusher, a kernel thread, and counted under it, not dropped."""
        mountpoint = self.filesystem(self.loop_device())
        own, flushed = os.path.join(mountpoint, "own"), os.path.join(mountpoint, "flushed")
        for path in (own, flushed):
            self.addCleanup(lambda p=path: os.path.exists(p) and os.unlink(p))
        steps = [("write", own, i * 64 * KIB, 64 * KIB) for i in range(4)] + [("fsync", own)]
        steps += [("write", flushed, i * 64 * KIB, 64 * KIB) for i in range(8)] + [("syncfs", flushed)]
        proc, pid = self.issuer([own, flushed], steps, direct=False)
        with Agent("--collect", "io") as agent:
            self.go(proc)
        io = last_record(agent, type="io", pid=pid)
        self.assertFalse(io["kernel_thread"])
        self.assertGreaterEqual(io["write"]["bytes"], 256 * KIB)  # its fsync wrote its own data
        self.assertLess(io["write"]["bytes"], (256 + 512) * KIB)  # the flusher wrote the rest
        flushers = [r for r in agent.records if r["type"] == "io" and r["kernel_thread"]]
        self.assertTrue(flushers, "no kernel thread's io record")
        self.assertTrue(all(r["comm"] for r in flushers), flushers)
        written = {(r["pid"], r["start_time"]): r["write"]["bytes"] for r in flushers}  # the last is the total
        self.assertGreaterEqual(max(written.values()), 512 * KIB, flushers[-5:])


if __name__ == "__main__":
    unittest.main()
