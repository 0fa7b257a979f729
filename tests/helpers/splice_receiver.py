"""Accepts one TCP connection and drains it with splice(2) into a pipe: the bytes never pass
through recvmsg, so socket-layer hooks cannot see them. Prints {"ready":port,"pid":..} first and
{"pid":..,"received":N} at the end."""
import json
import os
import socket

with socket.socket() as server:
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    print(json.dumps({"ready": server.getsockname()[1], "pid": os.getpid()}), flush=True)
    conn, _ = server.accept()
    read_end, write_end = os.pipe()
    received = 0
    while True:
        n = os.splice(conn.fileno(), write_end, 1 << 16)
        if n == 0:
            break
        received += n
        while n:
            n -= len(os.read(read_end, n))
    conn.close()
    print(json.dumps({"pid": os.getpid(), "received": received}), flush=True)
