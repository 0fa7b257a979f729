"""Many concurrent flows for bench/run.py: N connected UDP sockets, each sending one 64-byte datagram
a second to a sink in this process, which reads with recvfrom as servers do: N flows on the senders'
side and N peers on the sink's.

Prints {"sockets": N} once every socket is open, then {"datagrams": D} after --seconds.
Usage: /usr/bin/python3 bench/flows.py --flows N --seconds S"""
import argparse
import json
import resource
import socket
import threading
import time


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--flows", type=int, default=10000)
    parser.add_argument("--seconds", type=float, default=15)
    args = parser.parse_args()
    need = args.flows + 64
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, need))
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    sockets = []
    for _ in range(args.flows):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.connect(sink.getsockname())
        sockets.append(s)
    stop = threading.Event()

    def drain():
        sink.settimeout(0.2)
        while not stop.is_set():
            try:
                sink.recvfrom(2048)
            except socket.timeout:
                pass

    reader = threading.Thread(target=drain)
    reader.start()
    print(json.dumps({"sockets": len(sockets)}), flush=True)
    payload, sent, deadline = b"f" * 64, 0, time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        second = time.monotonic()
        for s in sockets:
            s.send(payload)
            sent += 1
        time.sleep(max(0.0, 1.0 - (time.monotonic() - second)))
    stop.set()
    reader.join()
    print(json.dumps({"datagrams": sent}), flush=True)


if __name__ == "__main__":
    main()
