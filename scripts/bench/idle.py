#!/usr/bin/env python3
"""idle.py -- open N keep-alive connections, make one request on each, hold them.

    idle.py HOST PORT PATH N HOLD_SECONDS

Prints "held N" once every connection has had its answer, then keeps the
sockets open (idle) for HOLD_SECONDS, or until stdin reaches EOF.
"""
import resource
import select
import selectors
import socket
import sys
import time


def main():
    host, port, path, n, hold = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, n + 1000)), hard))
    req = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    socks = []
    t0 = time.monotonic()
    batch = 500
    for start in range(0, n, batch):
        group = []
        for _ in range(min(batch, n - start)):
            s = socket.create_connection((host, port))
            s.sendall(req)
            group.append(s)
        pending = {s: b"" for s in group}
        sel = selectors.DefaultSelector()
        for s in group:
            sel.register(s, selectors.EVENT_READ)
        while pending:
            if time.monotonic() - t0 > 120:
                print("idle.py: timed out", file=sys.stderr)
                return 1
            for key, _ in sel.select(5):
                s = key.fileobj
                d = s.recv(65536)
                if not d:
                    print("idle.py: connection closed", file=sys.stderr)
                    return 1
                buf = pending[s] + d
                end = buf.find(b"\r\n\r\n")
                if end >= 0:
                    clen = 0
                    for line in buf[:end].split(b"\r\n")[1:]:
                        k, _, v = line.partition(b":")
                        if k.strip().lower() == b"content-length":
                            clen = int(v)
                    if len(buf) >= end + 4 + clen:
                        del pending[s]
                        sel.unregister(s)
                        continue
                pending[s] = buf
        sel.close()
        socks.extend(group)
    print(f"held {len(socks)}", flush=True)
    deadline = time.monotonic() + hold
    while time.monotonic() < deadline:
        r, _, _ = select.select([sys.stdin], [], [], 0.5)
        if r and not sys.stdin.read(1):
            break
    for s in socks:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
