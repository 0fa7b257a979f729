"""A workload with a known shape for the timeline test: the main thread sleeps in short steps,
then spins; a second thread spins, sleeps, spins. At the end, one JSON line: each thread's tid and
what the kernel says it ran (/proc/thread-self/schedstat), and the monotonic time around the work."""
import json
import threading
import time


def spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass


def on_cpu_ns():
    with open("/proc/thread-self/schedstat") as f:
        return int(f.read().split()[0])


threads = {}


def worker():
    spin(0.3)
    time.sleep(0.3)
    spin(0.3)
    threads[threading.get_native_id()] = on_cpu_ns()


start_ns = time.monotonic_ns()
second = threading.Thread(target=worker, name="pattern-worker")
second.start()
for _ in range(20):
    time.sleep(0.01)
spin(0.3)
second.join()
threads[threading.get_native_id()] = on_cpu_ns()
print(json.dumps({"start_ns": start_ns, "end_ns": time.monotonic_ns(), "on_cpu_ns": threads}), flush=True)
