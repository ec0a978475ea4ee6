#!/usr/bin/env python3
"""Replies (SPEC §4-§5): deadline 504, late and duplicate replies dropped and counted,
unmatchable replies dropped (request ends 504), invalid replies 502 bad_reply and
counted, a client that leaves while its request is in flight."""

import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Runner, Stack, assert_error, check, eq, req_bytes, uniq,  # noqa: E402
                     wait_until)

t = Runner()
ST = None


def mk(handler, timeout_ms=None, routes=(("GET", "/x"),)):
    base = "/" + uniq("rp")
    svc = ST.service(routes=[(m, base + p) for m, p in routes], handler=handler,
                     timeout_ms=timeout_ms)
    return svc, base


def late():
    return ST.gw.metric("portico_late_replies_total")


def bad():
    return ST.gw.metric("portico_bad_replies_total")


@t.case
def deadline_504_per_route():
    svc, b = mk(lambda req: None, timeout_ms=300)
    t0 = time.monotonic()
    r = ST.gw.http("GET", b + "/x")
    el = time.monotonic() - t0
    assert_error(r, 504, "timeout")
    check(0.25 <= el <= 3.0, "504 after %.2fs (timeout_ms 300)" % el)
    rq = svc.last_request()
    left = rq["deadline_ms"] - svc.recv_times[-1] * 1000
    check(0 < left <= 400, "deadline_ms now%+dms for timeout_ms 300" % left)


@t.case
def timeout_clamped_to_60000_and_1():
    svc, b = mk(lambda req: {"status": 200}, timeout_ms=10 ** 9)
    eq(ST.gw.http("GET", b + "/x").status, 200, "status")
    left = svc.last_request()["deadline_ms"] - svc.recv_times[-1] * 1000
    check(55000 <= left <= 61000, "timeout_ms 1e9 gives deadline now%+dms, want ~60000" % left)


@t.case
def late_reply_dropped_and_counted():
    def h(req):
        time.sleep(0.8)
        return {"status": 200, "body": "too late"}
    svc, b = mk(h, timeout_ms=300)
    l0 = late()
    assert_error(ST.gw.http("GET", b + "/x"), 504, "timeout")
    wait_until(lambda: late() == l0 + 1, 5, msg="portico_late_replies_total +1")
    ST.gw.assert_alive()


@t.case
def duplicate_reply_dropped_and_counted():
    def h(req):
        svc_h[0].publish_reply(req, {"status": 200, "body": "first"})
        time.sleep(0.05)
        return {"status": 200, "body": "second"}
    svc_h = []
    svc, b = mk(h)
    svc_h.append(svc)
    l0 = late()
    r = ST.gw.http("GET", b + "/x")
    eq((r.status, r.body), (200, b"first"), "first reply wins")
    wait_until(lambda: late() == l0 + 1, 5, msg="duplicate counted in portico_late_replies_total")


@t.case
def unknown_id_reply_counted():
    l0 = late()
    c = ST.redis.client()
    try:
        n = c.publish(ST.gw.reply_channel, json.dumps(
            {"v": 1, "id": "00000000-0000-4000-8000-000000000000", "status": 200}))
    finally:
        c.close()
    eq(n, 1, "receivers of the gateway reply channel (exactly one subscription)")
    wait_until(lambda: late() == l0 + 1, 5, msg="unknown id counted late")


@t.case
def unmatchable_replies_end_in_504():
    for raw in [b"not json at all", json.dumps({"v": 1, "status": 200, "body": "no id"}).encode(),
                json.dumps({"v": 1, "id": 42, "status": 200}).encode(), b"\xff\xfe"]:
        svc, b = mk(lambda req, raw=raw: raw, timeout_ms=400)
        b0, l0 = bad(), late()
        t0 = time.monotonic()
        r = ST.gw.http("GET", b + "/x")
        assert_error(r, 504, "timeout")
        check(time.monotonic() - t0 >= 0.35, "504 before the deadline for reply %r" % raw)
        wait_until(lambda: (bad() - b0) + (late() - l0) == 1, 3,
                   msg="unmatchable reply %r counted once (bad or late)" % raw)
        svc.stop()


INVALID = [
    ("status 99", {"status": 99}),
    ("status 100", {"status": 100}),
    ("status 199", {"status": 199}),
    ("status 600", {"status": 600}),
    ("status string", {"status": "200"}),
    ("status float", {"status": 200.5}),
    ("no status", {"body": "x"}),
    ("CRLF in header value", {"status": 200, "headers": [["x-a", "a\r\nx-injected: 1"]]}),
    ("LF in header value", {"status": 200, "headers": [["x-a", "a\nb"]]}),
    ("bad header name", {"status": 200, "headers": [["bad name", "v"]]}),
    ("header not a pair", {"status": 200, "headers": [["x-a"]]}),
    ("headers not array", {"status": 200, "headers": {"x-a": "b"}}),
    ("header value number", {"status": 200, "headers": [["x-a", 5]]}),
    ("bad base64", {"status": 200, "body": "!!!", "body_encoding": "base64"}),
    ("unknown encoding", {"status": 200, "body": "x", "body_encoding": "rot13"}),
    ("body not string", {"status": 200, "body": 5}),
    ("version 2", {"v": 2, "status": 200}),
]


@t.case
def invalid_replies_502():
    for what, reply in INVALID:
        svc, b = mk(lambda req, reply=reply: reply, timeout_ms=3000)
        b0 = bad()
        t0 = time.monotonic()
        r = ST.gw.http("GET", b + "/x", {"X-Request-Id": "bad-" + what.replace(" ", "-")})
        assert_error(r, 502, "bad_reply", request_id="bad-" + what.replace(" ", "-"))
        check(time.monotonic() - t0 < 2.0, "%s: 502 must not wait for the deadline" % what)
        check(r.header("x-injected") is None, "%s: header injection" % what)
        wait_until(lambda: bad() == b0 + 1, 3, msg="%s counted in portico_bad_replies_total" % what)
        svc.stop()


@t.case
def client_gone_reply_counted_late():
    release = threading.Event()

    def h(req):
        release.wait(5)
        return {"status": 200, "body": "nobody listens"}
    svc, b = mk(h, timeout_ms=5000)
    l0 = late()
    c = ST.gw.raw()
    c.send(req_bytes("GET", b + "/x"))
    svc.wait_requests(1)
    c.close()
    time.sleep(0.2)
    release.set()
    wait_until(lambda: late() == l0 + 1, 5, msg="reply for a vanished client counted late")
    ST.gw.assert_alive()
    svc2, b2 = mk(lambda req: {"status": 200, "body": "fine"})
    eq(ST.gw.http("GET", b2 + "/x").body, b"fine", "gateway fine afterwards")


@t.case
def many_clients_gone_at_once():
    release = threading.Event()
    svc, b = mk(lambda req: (release.wait(5), {"status": 200})[1], timeout_ms=5000)
    l0 = late()
    conns = []
    for _ in range(20):
        c = ST.gw.raw()
        c.send(req_bytes("GET", b + "/x"))
        conns.append(c)
    svc.wait_requests(20)
    for c in conns:
        c.close()
    release.set()
    wait_until(lambda: late() == l0 + 20, 5, msg="20 late replies")
    ST.gw.assert_alive()


def setup():
    global ST
    ST = Stack(name="replies")
    return ST


if __name__ == "__main__":
    t.main(setup=setup, teardown=lambda st: st.close())
