#!/usr/bin/env python3
"""jobs.py -- what a 202 job costs against a plain request, at 1 connection.

    jobs.py REDIS_PORT GATEWAY_PORT [--requests N] [--prefix P]

Runs a tiny service (stdlib only, RESP over sockets) that announces
POST /bench/job with "async":true and answers every request at once, then, on
one keep-alive connection each, N sequential requests of:
  plain  GET /echo/x            (the echo example: a request and its reply)
  job    POST /bench/job + Prefer: respond-async   (the 202: the job record
         written to Redis, answered; the job then goes on in the background)
and prints one JSON line: median and p99 latency in ms of each, and the
ratio job/plain of the medians (issue 16's bound: <= 2). Latencies include
this client's own time, the same for both.
"""
import http.client
import json
import socket
import sys
import threading
import time
import uuid


def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


class Conn:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port))
        self.f = self.s.makefile("rb")

    def read(self):
        line = self.f.readline()
        t, rest = line[:1], line[1:-2]
        if t in (b"+", b"-", b":"):
            return rest
        if t == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            return data[:-2]
        if t == b"*":
            return [self.read() for _ in range(int(rest))]
        raise ConnectionError("bad RESP %r" % line)

    def command(self, *args):
        self.s.sendall(resp(*args))
        return self.read()


def service(redis_port, prefix, ready):
    inst = "benchjob-" + uuid.uuid4().hex[:8]
    ch = "%s:svc:%s" % (prefix, inst)
    sub, pub = Conn(redis_port), Conn(redis_port)
    sub.s.sendall(resp("SUBSCRIBE", ch))
    sub.read()
    reg = json.dumps({"v": 1, "type": "register", "service": "benchjob", "instance": inst,
                      "channel": ch, "ttl_ms": 300000,
                      "routes": [{"method": "POST", "path": "/bench/job", "async": True}]})
    pub.command("PUBLISH", prefix + ":register", reg)
    ready.set()
    while True:
        m = sub.read()
        if not isinstance(m, list) or len(m) != 3 or m[0] != b"message":
            continue
        req = json.loads(m[2])
        pub.command("PUBLISH", req["reply_to"],
                    json.dumps({"v": 1, "id": req["id"], "status": 200, "body": "done"}))


def run(port, method, path, headers, n):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    lat = []
    for _ in range(n):
        t0 = time.perf_counter()
        c.request(method, path, body=b"x" if method == "POST" else None, headers=headers)
        r = c.getresponse()
        r.read()
        lat.append((time.perf_counter() - t0) * 1000)
        if r.status not in (200, 202):
            raise SystemExit("jobs.py: %s %s answered %d" % (method, path, r.status))
    c.close()
    lat.sort()
    return lat[len(lat) // 2], lat[min(len(lat) - 1, int(len(lat) * 0.99))]


def main():
    args = sys.argv[1:]
    n, prefix = 2000, "portico"
    if "--requests" in args:
        i = args.index("--requests")
        n = int(args[i + 1])
        del args[i:i + 2]
    if "--prefix" in args:
        i = args.index("--prefix")
        prefix = args[i + 1]
        del args[i:i + 2]
    redis_port, gw_port = int(args[0]), int(args[1])
    ready = threading.Event()
    threading.Thread(target=service, args=(redis_port, prefix, ready), daemon=True).start()
    ready.wait(10)
    for _ in range(200):  # the route is in the table once a plain POST answers
        c = http.client.HTTPConnection("127.0.0.1", gw_port, timeout=10)
        c.request("POST", "/bench/job", body=b"x")
        st = c.getresponse().status
        c.close()
        if st == 200:
            break
        time.sleep(0.05)
    prefer = {"Prefer": "respond-async"}
    run(gw_port, "GET", "/echo/x", {}, n // 10)  # warm both paths
    run(gw_port, "POST", "/bench/job", prefer, n // 10)
    p50, p99 = run(gw_port, "GET", "/echo/x", {}, n)
    j50, j99 = run(gw_port, "POST", "/bench/job", prefer, n)
    print(json.dumps({"requests": n, "plain_p50_ms": round(p50, 3), "plain_p99_ms": round(p99, 3),
                      "job_202_p50_ms": round(j50, 3), "job_202_p99_ms": round(j99, 3),
                      "ratio_p50": round(j50 / p50, 2)}))


if __name__ == "__main__":
    main()
