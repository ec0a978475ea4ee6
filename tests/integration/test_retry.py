#!/usr/bin/env python3
"""Per-route retry ("retry":true in the announcement): a timed-out try of an
idempotent method (GET, HEAD, OPTIONS, PUT, DELETE) is sent once more, to
another instance, after half the deadline, within a budget of 20 % of such
requests; other methods and routes without the flag are never retried, and
the client gets exactly one response whichever reply comes first."""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Runner, Service, Stack, assert_error, check, eq, req_bytes,  # noqa: E402
                     uniq, wait_until)

t = Runner()
ST = None
TIMEOUT_MS = 1000      # per-try timeout: 500 ms


class RetryService(Service):
    """Announces "retry":true on the routes listed in retry_paths."""

    def __init__(self, *a, retry_paths=(), **kw):
        self.retry_paths = set(retry_paths)
        super().__init__(*a, **kw)

    def register_msg(self):
        m = super().register_msg()
        for r in m["routes"]:
            if (r["method"], r["path"]) in self.retry_paths:
                r["retry"] = True
        return m


class Mode:
    """'ok': answer at once; 'hang': never; 'slow': after 800 ms (after the retry)."""

    def __init__(self, mode="ok"):
        self.mode = mode
        self.svc = None

    def __call__(self, req):
        if self.mode == "hang":
            return None
        if self.mode == "slow":
            time.sleep(0.8)
        return {"status": 200, "body": self.svc.instance}


def pair(routes, retry_paths):
    name = uniq("rt")
    out = []
    for _ in range(2):
        h = Mode()
        s = RetryService(ST.redis.port, name, routes=routes, handler=h, timeout_ms=TIMEOUT_MS,
                         retry_paths=retry_paths)
        h.svc = s
        ST.services.append(s)
        s.start()
        for m, p in routes:
            ST.gw.wait_route(m, p, s.instance)
        out.append((s, h))
    return out


def ids(svc):
    with svc._lock:
        return set(r["id"] for r in svc.requests)


def m(name):
    return ST.gw.metric(name)


@t.case
def flag_in_routes():
    p = "/" + uniq("fl")
    (a, _), _ = pair([("GET", p), ("POST", p)], {("GET", p)})
    got = {(r["method"], r["pattern"]): r["retry"] for r in ST.gw.routes() if r["pattern"] == p}
    eq(got, {("GET", p): True, ("POST", p): False}, "retry in /routes")


@t.case
def get_retried_post_not():
    p = "/" + uniq("gp")
    (good, gh), (bad, bh) = pair([("GET", p), ("POST", p)], {("GET", p), ("POST", p)})
    for _ in range(10):     # both healthy: earns retry budget (2 retries)
        eq(ST.gw.http("GET", p).status, 200, "warm-up")
    bh.mode = "hang"
    r0, x0 = m("portico_upstream_retries_total"), m("portico_upstream_retry_budget_exhausted_total")
    # POST: never retried, whichever instance it reaches (stop at the first
    # timeout: more would eject the hung instance)
    seen_bad = 0
    for _ in range(6):
        if seen_bad:
            break
        before = ids(bad)
        r = ST.gw.http("POST", p, body=b"x")
        if ids(bad) - before:
            assert_error(r, 504, "timeout")
            check(not (ids(bad) & ids(good)), "a POST reached both instances")
            seen_bad += 1
        else:
            eq((r.status, r.body), (200, good.instance.encode()), "POST to the healthy one")
    check(seen_bad >= 1, "no POST reached the hung instance")
    eq(m("portico_upstream_retries_total"), r0, "POST retried")
    eq(m("portico_upstream_retry_budget_exhausted_total"), x0, "POST counted against the budget")
    # GET: a try to the hung instance goes again to the healthy one, within the deadline
    retried = 0
    for _ in range(6):
        before = ids(bad)
        r = ST.gw.http("GET", p)
        eq((r.status, r.body), (200, good.instance.encode()), "GET answered by the healthy one")
        new = ids(bad) - before
        if new:
            check(new <= ids(good), "the retry went to the healthy instance with the same id")
            retried += 1
            if retried == 2:
                break
    eq(retried, 2, "GETs that hit the hung instance and were retried")
    eq(m("portico_upstream_retries_total"), r0 + 2, "retries counted")
    eq(bad.duplicates(), {}, "duplicates at the hung instance")
    eq(good.duplicates(), {}, "duplicates at the healthy instance")


@t.case
def route_without_flag_not_retried():
    p = "/" + uniq("nf")
    (good, _), (bad, bh) = pair([("GET", p)], set())
    for _ in range(10):
        eq(ST.gw.http("GET", p).status, 200, "warm-up")
    bh.mode = "hang"
    r0 = m("portico_upstream_retries_total")
    codes = [ST.gw.http("GET", p).status for _ in range(4)]
    eq(sorted(codes), [200, 200, 504, 504], "no retry without the flag")
    eq(m("portico_upstream_retries_total"), r0, "retries")


@t.case
def budget_respected():
    """From an empty budget (a fresh gateway): at most 1 retry per 5 requests."""
    ST.stop_gateway()
    ST.start_gateway(["--outlier-timeouts", "0"])
    p = "/" + uniq("bd")
    (good, _), (bad, bh) = pair([("GET", p)], {("GET", p)})
    bh.mode = "hang"
    n = 20
    codes = [ST.gw.http("GET", p).status for _ in range(n)]
    retries = m("portico_upstream_retries_total")
    exhausted = m("portico_upstream_retry_budget_exhausted_total")
    both = ids(bad) & ids(good)
    check(1 <= retries <= n // 5, "retries %r for %d requests" % (retries, n))
    eq(len(both), retries, "requests sent to both instances")
    eq(codes.count(504), bad.n_requests() - retries, "504s: the hung instance's unretried tries")
    eq(exhausted, codes.count(504), "retries refused by the budget")
    eq(codes.count(200) + codes.count(504), n, "codes %r" % codes)


@t.case
def late_first_reply_answers_once():
    """The first try's reply comes after the retry went out: one response, the
    other reply dropped as late, nothing more on the connection."""
    p = "/" + uniq("lt")
    (a, ah), (b, bh) = pair([("GET", p)], {("GET", p)})
    for _ in range(10):
        eq(ST.gw.http("GET", p).status, 200, "warm-up")
    ah.mode = bh.mode = "slow"      # both answer after the per-try timeout
    late0 = m("portico_late_replies_total")
    r0 = m("portico_upstream_retries_total")
    with ST.gw.raw() as c:
        c.send(req_bytes("GET", p))
        resp = c.read_response()
        eq(resp.status, 200, "one response")
        check(resp.body in (a.instance.encode(), b.instance.encode()), "body %r" % resp.body)
        eq(m("portico_upstream_retries_total"), r0 + 1, "the request was retried")
        wait_until(lambda: m("portico_late_replies_total") == late0 + 1, 10,
                   msg="the second reply to be dropped as late")
        c.expect_quiet(0.3)
        c.send(req_bytes("GET", p))
        eq(c.read_response().status, 200, "the connection goes on")


def setup():
    global ST
    ST = Stack(name="retry")
    return ST


if __name__ == "__main__":
    t.main(setup=setup, teardown=lambda st: st.close())
