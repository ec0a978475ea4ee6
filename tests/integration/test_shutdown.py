#!/usr/bin/env python3
"""SIGTERM (SPEC §5): stop accepting, finish in-flight requests (bounded by their
deadlines), exit 0 — without sanitizer reports."""

import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import HOST, Runner, Stack, assert_error, check, eq, fail, req_bytes  # noqa: E402

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


def with_stack(fn):
    def run():
        st = Stack(name="shutdown")
        try:
            fn(st)
        finally:
            st.close()      # raises if the gateway did not exit 0 cleanly
    run.__name__ = fn.__name__
    return run


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
        rc = st.gw.wait_exit(5)
        eq(rc, 0, "exit code with an idle keep-alive connection")
        check(time.monotonic() - t0 < 3, "exit took %.2fs" % (time.monotonic() - t0))
    finally:
        c.close()
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
