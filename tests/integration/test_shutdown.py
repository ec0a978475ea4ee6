#!/usr/bin/env python3
"""SIGTERM (SPEC §5): stop accepting, finish in-flight requests (bounded by their
deadlines), exit 0 — without sanitizer reports. Idle keep-alive connections get
the drain grace (--drain-grace-ms): a request that arrives on one is served with
`connection: close`, never reset."""

import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HOST, Runner, Stack, TestFailure, assert_error, check, eq, fail,  # noqa: E402
                     req_bytes, wait_until)

t = Runner()


def new_conn_refused_or_unserved(port):
    """True if a new connection is refused or never served."""
    try:
        s = socket.create_connection((HOST, port), timeout=1)
    except OSError:
        return True
    try:
        s.sendall(req_bytes("GET", "/sd/x"))
        s.settimeout(1)
        d = s.recv(100)
        return d == b""
    except socket.timeout:
        return True
    except OSError:
        return True
    finally:
        s.close()


def stack_with(*args):
    def wrap(fn):
        def run():
            st = Stack(gateway_args=list(args), name="shutdown")
            try:
                fn(st)
            finally:
                st.close()      # raises if the gateway did not exit 0 cleanly
        run.__name__ = fn.__name__
        return run
    return wrap


with_stack = stack_with()
# A grace far longer than the test needs: a loaded machine cannot make the
# requests sent after the signal miss it. The drain still ends as soon as
# those connections are closed.
LONG_GRACE = ("--drain-grace-ms", "20000")


@t.case
@with_stack
def inflight_completes_after_sigterm(st):
    release = threading.Event()

    def h(req):
        release.wait(5)
        return {"status": 200, "body": "finished"}
    svc = st.service(routes=[("GET", "/sd/x")], handler=h, timeout_ms=8000)
    out = []
    th = threading.Thread(target=lambda: out.append(st.gw.http("GET", "/sd/x", timeout=15)))
    th.start()
    svc.wait_requests(1)
    st.gw.signal(signal.SIGTERM)
    time.sleep(0.3)
    check(st.gw.alive(), "gateway exited with a request in flight")
    check(new_conn_refused_or_unserved(st.gw.port), "new connection served after SIGTERM")
    release.set()
    th.join(10)
    check(out, "in-flight request did not complete")
    eq((out[0].status, out[0].body), (200, b"finished"), "in-flight response")
    rc = st.gw.wait_exit(15)
    eq(rc, 0, "exit code after SIGTERM")
    st.stop_gateway()


@t.case
@with_stack
def pipelined_inflight_requests_all_complete(st):
    # two pipelined requests, both forwarded before SIGTERM: both are
    # answered (SPEC 5: in-flight requests finish), the second closing
    release = threading.Event()

    def h(req):
        release.wait(5)
        return {"status": 200, "body": req["path"]}
    svc = st.service(routes=[("GET", "/sd/p/*")], handler=h, timeout_ms=8000)
    with st.gw.raw() as c:
        c.send(req_bytes("GET", "/sd/p/a") + req_bytes("GET", "/sd/p/b"))
        svc.wait_requests(2)
        st.gw.signal(signal.SIGTERM)
        time.sleep(0.3)
        release.set()
        a = c.read_response(timeout=10)
        b = c.read_response(timeout=10)
        eq((a.status, a.body), (200, b"/sd/p/a"), "first response")
        eq((b.status, b.body), (200, b"/sd/p/b"), "second response, in flight at the signal")
        eq((b.header("connection") or "").lower(), "close", "the last one closes")
        c.expect_eof(5)
    eq(st.gw.wait_exit(15), 0, "exit code after SIGTERM")
    st.stop_gateway()


@t.case
@with_stack
def idle_exits_promptly(st):
    t0 = time.monotonic()
    st.gw.signal(signal.SIGTERM)
    rc = st.gw.wait_exit(5)
    eq(rc, 0, "exit code")
    check(time.monotonic() - t0 < 3, "idle gateway took %.2fs to exit" % (time.monotonic() - t0))
    st.stop_gateway()


@t.case
@with_stack
def idle_keepalive_connection_does_not_block_exit(st):
    svc = st.service(routes=[("GET", "/sd/k")])
    c = st.gw.raw()
    try:
        c.send(req_bytes("GET", "/sd/k"))
        eq(c.read_response().status, 200, "request")
        t0 = time.monotonic()
        st.gw.signal(signal.SIGTERM)
        # After the grace the idle connection is closed cleanly: EOF, no reset.
        c.expect_eof(10)
        rc = st.gw.wait_exit(10)
        eq(rc, 0, "exit code with an idle keep-alive connection")
        check(time.monotonic() - t0 < 8, "exit took %.2fs" % (time.monotonic() - t0))
    finally:
        c.close()
    st.stop_gateway()


def wait_draining(st):
    def draining():
        try:
            return st.gw.admin_get("/health")[2].get("draining") is True
        except TestFailure:
            return False        # an admin connection that raced the signal
    wait_until(draining, 10, msg="/health to say draining")


class Blocker:
    """One request held in flight on its own connection (as under steady
    traffic): the drain cannot end before it is released."""

    def __init__(self, st, path):
        self.release = threading.Event()
        self.svc = st.service(routes=[("GET", path)], handler=self._h, timeout_ms=30000)
        self.conn = st.gw.raw(timeout=30)
        self.conn.send(req_bytes("GET", path))
        self.svc.wait_requests(1)

    def _h(self, req):
        self.release.wait(30)
        return {"status": 200, "body": "released"}

    def finish(self):
        self.release.set()
        r = self.conn.read_response()
        eq((r.status, r.body), (200, b"released"), "the held request")
        eq(r.header("connection"), "close", "connection header of the held request")
        self.conn.close()


@t.case
@stack_with(*LONG_GRACE)
def requests_on_idle_keepalive_connections_after_sigterm_are_served(st):
    """Keep-alive connections idle when SIGTERM arrives: a request sent on each
    afterwards (and one sent just before the signal) gets a full response with
    connection: close; none is reset; the gateway then exits 0."""
    seen = []

    def h(req):
        seen.append((req["method"], req["path"]))
        return {"status": 200, "body": "done " + req["method"]}
    st.service(routes=[("GET", "/sd/ka"), ("POST", "/sd/ka")], handler=h)
    conns = [st.gw.raw() for _ in range(4)]
    just_before = st.gw.raw()
    held = Blocker(st, "/sd/held")
    try:
        for c in conns + [just_before]:
            c.send(req_bytes("GET", "/sd/ka"))
            r = c.read_response()
            eq(r.status, 200, "request before the signal")
            eq(r.header("connection"), None, "keep-alive before the signal")
        just_before.send(req_bytes("POST", "/sd/ka", body=b"sent-before"))
        st.gw.signal(signal.SIGTERM)
        wait_draining(st)
        for i, c in enumerate(conns):
            if i % 2:
                c.send(req_bytes("POST", "/sd/ka", body=b"after %d" % i))
            else:
                c.send(req_bytes("GET", "/sd/ka"))
        r = just_before.read_response()
        eq((r.status, r.body), (200, b"done POST"), "the request sent just before the signal")
        if r.header("connection") != "close":
            # Answered before the signal was handled: the connection is idle
            # in the drain now, so it is served once more.
            just_before.send(req_bytes("GET", "/sd/ka"))
            r = just_before.read_response()
            eq((r.status, r.body), (200, b"done GET"), "request after the signal")
            eq(r.header("connection"), "close", "connection header after SIGTERM")
        just_before.expect_eof(10)
        for i, c in enumerate(conns):
            r = c.read_response()
            eq(r.status, 200, "response on connection %d after SIGTERM" % i)
            eq(r.header("connection"), "close", "connection header on %d after SIGTERM" % i)
            eq(r.body, b"done POST" if i % 2 else b"done GET", "body on connection %d" % i)
            c.expect_eof(10)
        eq(sum(1 for m, _ in seen if m == "POST"), 3, "POSTs the service saw")
        held.finish()
    finally:
        held.release.set()
        for c in conns + [just_before]:
            c.close()
    rc = st.gw.wait_exit(15)
    eq(rc, 0, "exit code after the drain")
    st.stop_gateway()


@t.case
@stack_with(*LONG_GRACE)
def never_used_connection_gets_the_grace_too(st):
    """A connection accepted but silent when SIGTERM arrives is served too if
    its first request comes within the grace."""
    st.service(routes=[("GET", "/sd/new")])
    c = st.gw.raw()
    held = Blocker(st, "/sd/held")
    try:
        eq(st.gw.http("GET", "/sd/new").status, 200, "gateway serving")  # c is accepted by now
        st.gw.signal(signal.SIGTERM)
        wait_draining(st)
        c.send(req_bytes("GET", "/sd/new"))
        r = c.read_response()
        eq(r.status, 200, "first request after SIGTERM")
        eq(r.header("connection"), "close", "connection header")
        c.expect_eof(10)
        held.finish()
    finally:
        held.release.set()
        c.close()
    eq(st.gw.wait_exit(15), 0, "exit code")
    st.stop_gateway()


@t.case
@with_stack
def inflight_bounded_by_deadline(st):
    svc = st.service(routes=[("GET", "/sd/never")], handler=lambda req: None, timeout_ms=800)
    out = []
    th = threading.Thread(target=lambda: out.append(st.gw.http("GET", "/sd/never", timeout=15)))
    th.start()
    svc.wait_requests(1)
    t0 = time.monotonic()
    st.gw.signal(signal.SIGTERM)
    th.join(10)
    check(out, "request never answered")
    assert_error(out[0], 504, "timeout")
    rc = st.gw.wait_exit(10)
    el = time.monotonic() - t0
    eq(rc, 0, "exit code")
    check(el < 5, "exit %.2fs after SIGTERM with an 800 ms deadline" % el)
    st.stop_gateway()


if __name__ == "__main__":
    t.main()
