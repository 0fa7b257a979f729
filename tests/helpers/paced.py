"""Steady traffic with faults on cue, for the anomaly tests.

  paced.py serve                      TCP sink: prints {"port": P}, reads every connection until killed
  paced.py send --addr A --port P --rate BYTES_PER_S --seconds S
                [--burst-at T --burst-factor F --burst-seconds D]   the rate times F from T for D s
                [--storm-at T --storm-rate N --storm-seconds D]     N connections opened (and closed) per s
                [--opens-per-s N]                                   a few connections opened per s all along
Send prints {"pid": ...} at the start and {"fault": NAME, "at": UNIX_TIME} when a fault begins.
Data goes out every 50 ms on one connection, so a rate is steady at any interval of 100 ms or more."""
import argparse
import json
import os
import socket
import threading
import time

TICK = 0.05


def serve():
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", 0))
    server.listen(1024)
    print(json.dumps({"port": server.getsockname()[1]}), flush=True)

    def drain(conn):
        with conn:
            while conn.recv(1 << 16):
                pass

    while True:
        conn, _ = server.accept()
        threading.Thread(target=drain, args=(conn,), daemon=True).start()


def say(**fields):
    print(json.dumps(fields), flush=True)


def send(args):
    say(pid=os.getpid())
    data = socket.create_connection((args.addr, args.port))
    start = time.monotonic()
    next_tick, next_open, said = start, start, set()
    while (now := time.monotonic()) < start + args.seconds:
        elapsed = now - start
        rate = args.rate
        if args.burst_at is not None and args.burst_at <= elapsed < args.burst_at + args.burst_seconds:
            rate *= args.burst_factor
            if "burst" not in said:
                said.add("burst")
                say(fault="burst", at=time.time())
        opens = args.opens_per_s
        if args.storm_at is not None and args.storm_at <= elapsed < args.storm_at + args.storm_seconds:
            opens = args.storm_rate
            if "storm" not in said:
                said.add("storm")
                say(fault="storm", at=time.time())
        if now >= next_tick:
            data.sendall(b"d" * int(rate * TICK))
            next_tick += TICK
        while opens and now >= next_open:
            socket.create_connection((args.addr, args.port)).close()
            next_open += 1.0 / opens
        if not opens:
            next_open = now
        time.sleep(max(0.0, min(next_tick, next_open if opens else next_tick) - time.monotonic()))
    data.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["serve", "send"])
    parser.add_argument("--addr", default="127.0.0.1")
    parser.add_argument("--port", type=int)
    parser.add_argument("--rate", type=float, default=200_000)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--burst-at", type=float)
    parser.add_argument("--burst-factor", type=float, default=50)
    parser.add_argument("--burst-seconds", type=float, default=2)
    parser.add_argument("--storm-at", type=float)
    parser.add_argument("--storm-rate", type=float, default=300)
    parser.add_argument("--storm-seconds", type=float, default=2)
    parser.add_argument("--opens-per-s", type=float, default=0)
    args = parser.parse_args()
    serve() if args.mode == "serve" else send(args)


if __name__ == "__main__":
    main()
