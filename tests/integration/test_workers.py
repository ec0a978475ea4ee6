#!/usr/bin/env python3
"""--workers N (SPEC §1, §7): N single-threaded worker processes share the
public port (SO_REUSEPORT), each with its own gateway id and reply channel;
connections are spread over them, every request is handled exactly once, a
worker that dies is replaced, and SIGTERM ends them all with exit code 0."""
import http.client as httpclient
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Runner, Stack, check, eq, http, uniq, wait_until  # noqa: E402

t = Runner()
ST = None


def workers():
    with open("/proc/%d/task/%d/children" % (ST.gw.pid, ST.gw.pid)) as f:
        return [int(p) for p in f.read().split()]


def spread(base, n=40):
    """n requests on n connections; the set of reply channels that served them."""
    svc = ST.services[-1]
    before = len(svc.requests)
    for i in range(n):
        eq(ST.gw.http("GET", "%s/%d" % (base, i)).status, 200, "request %d" % i)
    reqs = svc.requests[before:]
    eq(len(reqs), n, "requests reaching the service")
    check(not svc.duplicates(), "a request was handled twice")
    return {r["reply_to"] for r in reqs}


@t.case
def two_workers_share_the_port():
    eq(len(workers()), 2, "worker processes")
    check("workers=2" in ST.gw.ready_line, "ready line names the workers: %r" % ST.gw.ready_line)
    base = "/" + uniq("w")
    ST.service(routes=[("GET", base + "/{i}")],
               handler=lambda req: {"status": 200, "body": req["params"]["i"]})
    wait_until(lambda: len(spread(base, 4)) >= 1, 5, msg="route served")
    channels = spread(base)
    eq(len(channels), 2, "reply channels (one per worker) serving 40 connections")


def c200(m):
    return m.get(("portico_http_requests_total", frozenset({("code", "200")})), 0)


@t.case
def metrics_count_every_worker():
    base = "/" + uniq("m")
    ST.service(routes=[("GET", base + "/{i}")],
               handler=lambda req: {"status": 200, "body": "ok"})
    wait_until(lambda: len(spread(base, 2)) >= 1, 5, msg="route served")
    time.sleep(1.2)                      # every worker's gauges published at rest
    m0 = ST.gw.metrics()
    eq(m0[("portico_workers", frozenset())], 2, "portico_workers")
    eq(m0[("portico_connections", frozenset())], 0, "connections at rest, all workers")
    eq(m0[("portico_inflight_requests", frozenset())], 0, "in flight at rest, all workers")
    eq(len(spread(base, 40)), 2, "both workers served the 40 connections")
    m1 = ST.gw.metrics()
    eq(c200(m1) - c200(m0), 40, "responses counted over both workers")
    count = ("portico_request_duration_seconds_count", frozenset())
    eq(m1[count] - m0[count], 40, "durations counted over both workers")
    inf = ("portico_request_duration_seconds_bucket", frozenset({("le", "+Inf")}))
    eq(m1[inf], m1[count], "+Inf bucket == _count")
    # the gauges of other workers: open connections held on both, then seen
    held = [ST.gw.raw() for _ in range(10)]
    try:
        wait_until(lambda: ST.gw.metrics()[("portico_connections", frozenset())] >= 10, 5,
                   msg="10 held connections in portico_connections (all workers)")
        health = ST.gw.admin_get("/health")[2]
        eq(health.get("workers"), 2, "/health workers")
        check(health.get("connections", 0) >= 10, "/health connections, all workers: %r" % health)
    finally:
        for s in held:
            s.close()


def admin_answers(port):
    try:
        return http(port, "GET", "/health", timeout=2, check_frame=False).status in (200, 503)
    except (OSError, httpclient.HTTPException):
        return False


@t.case
def dead_worker_is_replaced():
    old = workers()
    admin_port = ST.gw.admin_port
    before = c200(ST.gw.metrics())
    check(before >= 40, "responses counted before the kill: %r" % before)
    os.kill(old[0], signal.SIGKILL)
    wait_until(lambda: len(workers()) == 2 and old[0] not in workers(), 10,
               msg="a new worker in place of the killed one")
    # The new worker is forked before it listens: wait until it serves the
    # admin port the killed one had (a fork is not a ready worker).
    wait_until(lambda: admin_answers(admin_port), 10,
               msg="the new worker 0 listening on the admin port")
    base = "/" + uniq("r")
    ST.service(routes=[("GET", base + "/{i}")],
               handler=lambda req: {"status": 200, "body": "ok"})
    wait_until(lambda: len(spread(base, 2)) >= 1, 5, msg="route served after the restart")
    eq(len(spread(base)), 2, "both workers serve again")
    eq(ST.gw.admin_port, admin_port, "admin port")
    eq(ST.gw.admin_get("/health")[0], 200, "admin listener answers on the same port")
    check(c200(ST.gw.metrics()) >= before + 40,
          "counters go on from where the killed worker left them")


def setup():
    global ST
    ST = Stack(gateway_args=["--workers", "2"], name="workers")
    return ST


if __name__ == "__main__":
    t.main(setup=setup, teardown=lambda st: st.close())
