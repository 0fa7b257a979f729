"""A small real training job: 2-rank PyTorch DistributedDataParallel over gloo on loopback.

Runs for --seconds of training (after start-up), so that the tracer sees steady all-reduce
traffic between the two ranks; or, for benchmarks, exactly --steps steps after 10 warm-up steps,
each rank printing one JSON line with its pid and its median step time. Run with Debian's /usr/bin/python3 (python3-torch): alone, it
starts its ranks with mp.spawn; under torchrun, each copy is one rank (RANK, WORLD_SIZE,
MASTER_ADDR and MASTER_PORT come from the environment)."""
import argparse
import json
import os
import statistics
import socket
import sys
import time
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch.nn.parallel import DistributedDataParallel


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


WARMUP_STEPS = 10
# A collective that waits longer than this fails the rank instead of hanging it (gloo waits 30 min).
COLLECTIVE_TIMEOUT = timedelta(seconds=120)


def leave(code=0):
    """Ends a rank without Python's teardown. torch 1.13 can deadlock there (seen here about 1 run
    in 5): the DDP reducer, freed at interpreter exit, joins the gloo worker thread while that
    thread waits for the interpreter lock to free a tensor. Everything the rank had to say is
    flushed and its process group destroyed first."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def injected_delay(path, rank):
    """Seconds this rank sleeps before each step's backward pass while `path` says "RANK SECONDS":
    a straggler on cue, for tests and demos."""
    try:
        with open(path) as f:
            who, seconds = f.read().split()
        return float(seconds) if int(who) == rank else 0.0
    except (OSError, ValueError):
        return 0.0


def train(rank, world_size, port, seconds, fixed_steps=None, slow_file=None, report=False, threads=None,
          load_s=0.0):
    if threads:
        torch.set_num_threads(threads)
    if port is not None:
        os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world_size, timeout=COLLECTIVE_TIMEOUT)
    torch.manual_seed(rank)
    model = DistributedDataParallel(torch.nn.Sequential(
        torch.nn.Linear(512, 1024), torch.nn.ReLU(), torch.nn.Linear(1024, 10)))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

    def step():
        if load_s:
            time.sleep(load_s)  # waiting for the next batch of data, as a loader that keeps up would
        optimizer.zero_grad()
        loss = model(torch.randn(64, 512)).pow(2).mean()
        if slow_file:
            time.sleep(injected_delay(slow_file, rank))
        loss.backward()
        optimizer.step()

    if fixed_steps is not None:
        for _ in range(WARMUP_STEPS):
            step()
        durations = []
        for _ in range(fixed_steps):
            start = time.perf_counter()
            step()
            durations.append(time.perf_counter() - start)
        line = json.dumps({"rank": rank, "pid": os.getpid(), "steps": fixed_steps,
                           "median_step_ms": 1000 * statistics.median(durations)})
        os.write(1, (line + "\n").encode())  # one write: the ranks share stdout
        dist.destroy_process_group()
        leave()
    deadline, steps = time.monotonic() + seconds, 0
    reported_at, reported_steps = time.time(), 0
    while True:
        if report and time.time() - reported_at >= 1:  # the step as the script measures it, once a second
            now = time.time()
            line = json.dumps({"rank": rank, "ts": now, "step_s": (now - reported_at) / max(steps - reported_steps, 1)})
            os.write(1, (line + "\n").encode())
            reported_at, reported_steps = now, steps
        # Every rank takes the same number of steps: rank 0 decides when to stop.
        stop = torch.tensor([1 if time.monotonic() >= deadline else 0])
        dist.broadcast(stop, src=0)
        if stop.item():
            break
        step()
        steps += 1
    if rank == 0:
        print(f"ddp_demo: {steps} steps in {seconds:.0f} s on {world_size} ranks", flush=True)
    dist.destroy_process_group()
    leave()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--ranks", type=int, default=2)
    parser.add_argument("--steps", type=int, default=None, help="exactly this many timed steps (benchmarks)")
    parser.add_argument("--slow-file", default=None, help='while it holds "RANK SECONDS", that rank sleeps each step')
    parser.add_argument("--report", action="store_true", help="each rank prints its mean step time once a second")
    parser.add_argument("--threads", type=int, default=None, help="torch's intra-op threads per rank")
    parser.add_argument("--load-s", type=float, default=0.0, help="seconds each step waits for its data")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if "RANK" in os.environ:  # torchrun
        train(int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), None, args.seconds, args.steps, args.slow_file, args.report, args.threads, args.load_s)
    else:
        mp.spawn(train, args=(args.ranks, free_port(), args.seconds, args.steps, args.slow_file, args.report, args.threads, args.load_s), nprocs=args.ranks)
