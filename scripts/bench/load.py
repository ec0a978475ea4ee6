#!/usr/bin/env python3
"""load.py -- a fixed-count HTTP/1.1 keep-alive load (for callgrind runs).

    load.py HOST PORT PATH COUNT [CONNS] [BODY_BYTES]

Sends COUNT requests over CONNS keep-alive connections (one outstanding
request per connection), GET when BODY_BYTES is 0, else POST with a body of
that size. Exits non-zero if any answer is not 200. Prints the count and the
wall time. Bounded: gives up after 300 s.
"""
import selectors
import socket
import sys
import time


def main():
    host, port, path, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    conns = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    body_len = int(sys.argv[6]) if len(sys.argv) > 6 else 0
    if body_len:
        body = (b"x" * 63 + b"\n") * (body_len // 64) + b"y" * (body_len % 64)
        req = (f"POST {path} HTTP/1.1\r\nHost: bench\r\nContent-Type: text/plain\r\n"
               f"Content-Length: {len(body)}\r\n\r\n").encode() + body
    else:
        req = f"GET {path} HTTP/1.1\r\nHost: bench\r\nAccept: */*\r\n\r\n".encode()
    sel = selectors.DefaultSelector()
    state = {}
    sent = done = bad = 0
    t0 = time.monotonic()
    for _ in range(min(conns, count)):
        s = socket.create_connection((host, port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(req)
        sent += 1
        state[s] = bytearray()
        sel.register(s, selectors.EVENT_READ)
    while done < count:
        if time.monotonic() - t0 > 300:
            print("load.py: timed out", file=sys.stderr)
            return 1
        for key, _ in sel.select(timeout=5):
            s = key.fileobj
            data = s.recv(1 << 16)
            if not data:
                print("load.py: connection closed", file=sys.stderr)
                return 1
            buf = state[s]
            buf += data
            while True:
                end = buf.find(b"\r\n\r\n")
                if end < 0:
                    break
                head = bytes(buf[:end]).decode("latin-1")
                clen = 0
                for line in head.split("\r\n")[1:]:
                    k, _, v = line.partition(":")
                    if k.strip().lower() == "content-length":
                        clen = int(v)
                if len(buf) < end + 4 + clen:
                    break
                if not head.startswith("HTTP/1.1 200"):
                    bad += 1
                del buf[:end + 4 + clen]
                done += 1
                if sent < count:
                    s.sendall(req)
                    sent += 1
    dt = time.monotonic() - t0
    print(f"load.py: {done} requests, {bad} not 200, {dt:.2f} s")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
