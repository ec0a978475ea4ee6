#!/usr/bin/env python3
"""stream.py -- streamed replies through the gateway (bench.sh --streams).

    stream.py rate HOST PORT N        one stream of N small messages
                                      (GET /echo/x?stream=N): prints JSON with
                                      the messages received, seconds, rate
    stream.py hold HOST PORT N SECS   N streams open at once, a message a
                                      second each (?stream=...&every_ms=1000):
                                      prints "held N" once every stream has
                                      sent its first chunk, reads them for
                                      SECS (or until stdin reaches EOF), then
                                      prints JSON with the chunks read
"""
import json
import resource
import selectors
import socket
import sys
import time


def request(host, port, path):
    s = socket.create_connection((host, port))
    s.sendall(("GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % path).encode())
    return s


def rate(host, port, n):
    t0 = time.monotonic()
    s = request(host, port, "/echo/x?stream=%d" % n)
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += s.recv(65536)
    buf = buf.split(b"\r\n\r\n", 1)[1]
    chunks = 0
    while True:
        while b"\r\n" not in buf:
            d = s.recv(262144)
            if not d:
                raise SystemExit("stream.py: closed after %d chunks" % chunks)
            buf += d
        line, rest = buf.split(b"\r\n", 1)
        size = int(line, 16)
        while len(rest) < size + 2:
            d = s.recv(262144)
            if not d:
                raise SystemExit("stream.py: closed inside a chunk")
            rest += d
        buf = rest[size + 2:]
        if size == 0:
            break
        chunks += 1
    secs = time.monotonic() - t0
    s.close()
    print(json.dumps({"messages": chunks, "seconds": round(secs, 4),
                      "rate": round(chunks / secs, 1)}))


def hold(host, port, n, secs):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(soft, n + 1000)), hard))
    sel = selectors.DefaultSelector()
    socks = []
    for _ in range(n):
        s = request(host, port, "/echo/x?stream=1000000&every_ms=1000")
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        socks.append(s)
    started, got = set(), 0
    t_end = time.monotonic() + 120
    while len(started) < n and time.monotonic() < t_end:
        for key, _ in sel.select(1):
            d = key.fileobj.recv(65536)
            if d:
                started.add(key.fileobj)
                got += 1
    print("held %d" % len(started), flush=True)
    sel.register(sys.stdin, selectors.EVENT_READ)
    t_end = time.monotonic() + secs
    while time.monotonic() < t_end:
        for key, _ in sel.select(1):
            if key.fileobj is sys.stdin:
                if not sys.stdin.readline():
                    t_end = 0
                continue
            if key.fileobj.recv(65536):
                got += 1
    for s in socks:
        s.close()
    print(json.dumps({"streams": len(started), "reads": got}), flush=True)


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "rate":
        rate(host, port, int(sys.argv[4]))
    else:
        hold(host, port, int(sys.argv[4]), float(sys.argv[5]))


if __name__ == "__main__":
    main()
