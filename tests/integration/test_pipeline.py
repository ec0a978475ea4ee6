#!/usr/bin/env python3
"""HTTP/1.1 pipelining (SPEC §5): responses in request order on one connection even
when replies arrive out of order; errors and timeouts keep their place."""

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Runner, Stack, assert_error, check, eq, req_bytes, uniq  # noqa: E402

t = Runner()
ST = None


def mk(routes, handler, **kw):
    base = "/" + uniq("p")
    return ST.service(routes=[(m, base + p) for m, p in routes], handler=handler, **kw), base


@t.case
def reverse_order_replies():
    order = []
    lock = threading.Lock()
    arrived = threading.Event()
    n = 4

    def h(req):
        k = int(req["params"]["k"])
        if len(svc_h[0].requests) >= n:
            arrived.set()
        arrived.wait(2)                     # all requests in flight before any reply
        time.sleep((n - k) * 0.1)           # the last request replies first
        with lock:
            order.append(k)
        return {"status": 200, "headers": [["content-type", "text/plain"]], "body": "reply-%d" % k}
    svc_h = []
    svc, b = mk([("GET", "/k/{k}")], h)
    svc_h.append(svc)
    with ST.gw.raw() as c:
        c.send(b"".join(req_bytes("GET", "%s/k/%d" % (b, k)) for k in range(n)))
        for k in range(n):
            r = c.read_response()
            eq((r.status, r.body), (200, b"reply-%d" % k), "response #%d" % k)
        c.expect_quiet(0.2)
    eq(order, list(range(n))[::-1], "replies were published in reverse order")
    eq(svc.duplicates(), {}, "duplicates")


@t.case
def mixed_pipeline():
    def h(req):
        if req["method"] == "POST":
            return {"status": 201, "body": req["_body"]}
        if req["params"]["x"] == "slow":
            time.sleep(0.3)
        return {"status": 200, "body": "g-" + req["params"]["x"]}
    svc, b = mk([("GET", "/m/{x}"), ("POST", "/m/{x}")], h)
    data = (req_bytes("GET", b + "/m/slow") +
            req_bytes("POST", b + "/m/p", body=b"posted body") +
            req_bytes("GET", "/nowhere/at/all") +
            req_bytes("HEAD", b + "/m/h") +
            req_bytes("GET", b + "/m/last"))
    with ST.gw.raw() as c:
        c.send(data)
        r = c.read_response()
        eq((r.status, r.body), (200, b"g-slow"), "1st")
        r = c.read_response()
        eq((r.status, r.body), (201, b"posted body"), "2nd")
        assert_error(c.read_response(), 404, "not_found")
        r = c.read_response(head=True)
        eq(r.status, 200, "4th (HEAD)")
        r = c.read_response()
        eq((r.status, r.body), (200, b"g-last"), "5th")
        c.expect_quiet(0.2)


@t.case
def timeout_keeps_its_place():
    def h(req):
        if req["params"]["x"] == "never":
            return None
        return {"status": 200, "body": req["params"]["x"]}
    svc, b = mk([("GET", "/t/{x}")], h, timeout_ms=400)
    with ST.gw.raw() as c:
        c.send(req_bytes("GET", b + "/t/a") + req_bytes("GET", b + "/t/never") +
               req_bytes("GET", b + "/t/c"))
        eq(c.read_response().body, b"a", "1st")
        assert_error(c.read_response(), 504, "timeout")
        eq(c.read_response().body, b"c", "3rd")


@t.case
def pipeline_ending_with_close():
    svc, b = mk([("GET", "/c/{x}")], lambda req: {"status": 200, "body": req["params"]["x"]})
    with ST.gw.raw() as c:
        c.send(req_bytes("GET", b + "/c/1") + req_bytes("GET", b + "/c/2") +
               req_bytes("GET", b + "/c/3", [("Connection", "close")]))
        for x in (b"1", b"2", b"3"):
            eq(c.read_response().body, x, "response %s" % x)
        c.expect_eof(3)
    eq(svc.n_requests(), 3, "requests")


@t.case
def nothing_after_a_bad_path():
    """A 400 for a bad path closes the connection (SPEC §5, "400, then close"):
    requests pipelined behind it are neither answered nor forwarded, the
    400 is whole, and the close comes after it (lingering), not at the idle
    timeout. Also with good requests ahead of it, whose answers come first."""
    svc, b = mk([("GET", "/g/{x}")], lambda req: {"status": 200, "body": req["params"]["x"]})
    for bad in ("/a/%2e%2e/b", "/a/./b", b + "/g/%zz"):
        n0 = svc.n_requests()
        with ST.gw.raw() as c:
            c.send(req_bytes("GET", b + "/g/1") + req_bytes("GET", bad) +
                   req_bytes("GET", b + "/g/2") + req_bytes("GET", "/nope"))
            eq(c.read_response().body, b"1", "the response ahead of the 400 (%s)" % bad)
            r = c.read_response()
            assert_error(r, 400, "bad_request")
            eq(r.header("connection"), "close", "400 says close (%s)" % bad)
            c.expect_eof(3)
        eq(svc.n_requests() - n0, 1, "nothing behind the 400 was forwarded (%s)" % bad)


@t.case
def many_pipelined_split_writes():
    svc, b = mk([("GET", "/s/{x}")], lambda req: {"status": 200, "body": req["params"]["x"]})
    data = b"".join(req_bytes("GET", "%s/s/%d" % (b, i)) for i in range(20))
    with ST.gw.raw() as c:
        for i in range(0, len(data), 7):     # odd-sized pieces split lines and requests
            c.send(data[i:i + 7])
        for i in range(20):
            eq(c.read_response().body, str(i).encode(), "response %d" % i)
    eq(svc.n_requests(), 20, "requests")
    check(not svc.duplicates(), "duplicates")


@t.case
def slow_reader_backpressure():
    """A client that pipelines many requests and reads nothing does not make the
    gateway read (and forward) them all: above a bounded amount of pending output
    it stops reading that client. Once the client reads, every response arrives,
    in order."""
    n, size = 1500, 16384
    body = "x" * size
    svc, b = mk([("GET", "/bp/{i}")], lambda req: {"status": 200, "body": body})
    data = b"".join(req_bytes("GET", "%s/bp/%d" % (b, i)) for i in range(n))
    with ST.gw.raw(timeout=30) as c:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sender = threading.Thread(target=c.send, args=(data,), daemon=True)
        sender.start()
        time.sleep(1.5)
        stalled = svc.n_requests()
        check(0 < stalled < n // 2,
              "with an unread output the gateway forwarded %d of %d requests" % (stalled, n))
        for i in range(n):
            r = c.read_response()
            if r.status != 200 or len(r.body) != size:
                eq((r.status, len(r.body)), (200, size), "response %d" % i)
        sender.join(5)
    eq(svc.n_requests(), n, "requests forwarded in the end")
    check(not svc.duplicates(), "duplicates")


def setup():
    global ST
    ST = Stack(name="pipeline")
    return ST


if __name__ == "__main__":
    t.main(setup=setup, teardown=lambda st: st.close())
