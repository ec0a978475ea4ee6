#!/usr/bin/env python3
"""dashboard_cost.py -- what one dashboard refresh costs the gateway.

    dashboard_cost.py [GATEWAY_BIN] [REFRESHES]

Starts a private redis-server and the gateway (tests/integration/harness.py),
announces 1,000 routes of 500 instances in two shapes -- 100 services of 5
instances with 10 routes each (every route lists 5 instances in /routes), and
500 services of one instance with 2 routes each -- then makes REFRESHES
(default 300) refreshes as the page does (GET /health, /stats, /routes; one
keep-alive connection) and reads the gateway's CPU time (utime + stime from
/proc) before and after. Prints per shape: bytes of /routes and /stats, CPU
per refresh, and the share of one core at the page's rate (one refresh every
2 s)."""
import json
import os
import socket
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
from harness import PREFIX, RespClient, Stack, now_ms, wait_until  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK   # utime, stime


def register(port, services, inst_per_svc, routes_per_svc):
    c = RespClient(port)
    for s in range(services):
        svc = "svc-%03d" % s
        routes = [{"method": "GET", "path": "/%s/v1/{id}/items/%d" % (svc, k)}
                  for k in range(routes_per_svc)]
        for i in range(inst_per_svc):
            inst = "%s-%d" % (svc, i)
            c.publish("%s:register" % PREFIX, json.dumps({
                "v": 1, "type": "register", "service": svc, "instance": inst,
                "channel": "%s:svc:%s" % (PREFIX, inst), "ttl_ms": 300000,
                "ts_ms": now_ms(), "routes": routes}))
    c.close()


def get(sock, path):
    """One GET on a keep-alive connection; returns the body's length."""
    sock.sendall(("GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % path).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, rest = buf.split(b"\r\n\r\n", 1)
    n = int([ln.split(b":", 1)[1] for ln in head.split(b"\r\n")
             if ln.lower().startswith(b"content-length:")][0])
    while len(rest) < n:
        rest += sock.recv(1 << 20)
    return n


def measure(services, inst_per_svc, routes_per_svc, refreshes):
    st = Stack(name="dashcost")
    try:
        register(st.redis.port, services, inst_per_svc, routes_per_svc)
        wait_until(lambda: st.gw.admin_get("/health")[2]["instances"] == services * inst_per_svc,
                   60, 0.1, "instances")
        s = socket.create_connection(("127.0.0.1", st.gw.admin_port))
        sizes = {p: get(s, p) for p in ("/health", "/stats", "/routes")}
        c0, t0 = cpu_s(st.gw.pid), time.monotonic()
        for _ in range(refreshes):
            for p in ("/health", "/stats", "/routes"):
                get(s, p)
        c1, t1 = cpu_s(st.gw.pid), time.monotonic()
        s.close()
        per = (c1 - c0) / refreshes
        print("%d routes, %d instances (%d per route): /routes %d bytes, /stats %d bytes; "
              "%d refreshes in %.2f s wall, gateway CPU %.2f ms per refresh = %.3f%% of a core "
              "at one refresh per 2 s" % (
                  services * routes_per_svc, services * inst_per_svc, inst_per_svc,
                  sizes["/routes"], sizes["/stats"], refreshes, t1 - t0, per * 1000,
                  per / 2.0 * 100))
    finally:
        st.close()


def main():
    if len(sys.argv) > 1:
        os.environ["GATEWAY_BIN"] = os.path.abspath(sys.argv[1])
    os.environ.setdefault("GATEWAY_BIN", os.path.join(ROOT, "build", "src", "gateway", "portico"))
    refreshes = int(sys.argv[2]) if len(sys.argv) > 2 else 300
    measure(100, 5, 10, refreshes)
    measure(500, 1, 2, refreshes)


if __name__ == "__main__":
    main()
