#!/usr/bin/env python3
"""Connection limits: --max-connections and --max-connections-per-ip are
enforced (a connection over a cap is closed at once and counted), and a freed
slot is usable again; a body that trickles in slower than --body-min-rate gets
408 body_timeout (--body-timeout-ms) while other clients are served."""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HOST, Raw, Runner, Stack, TestFailure, assert_error, check,  # noqa: E402
                     eq, req_bytes, uniq, wait_until)

t = Runner()
ST = None


@t.case
def connection_cap():
    base = "/" + uniq("lim")
    ST.service(routes=[("GET", base)], handler=lambda req: {"status": 200, "body": "ok"})
    held = [ST.gw.raw() for _ in range(3)]
    try:
        for c in held:                       # each slot is really in use
            c.send(req_bytes("GET", base))
            eq(c.read_response().status, 200, "request on a held connection")
        before = ST.gw.metric("portico_connections_refused_total", reason="max_connections")
        extra = ST.gw.raw()
        try:
            extra.send(req_bytes("GET", base))
            extra.expect_eof(3)
            check(b"HTTP/1.1 200" not in extra.buf, "the connection over the cap was served")
        finally:
            extra.close()
        eq(ST.gw.metric("portico_connections_refused_total", reason="max_connections"),
           before + 1, "refused counter")
        held.pop().close()
        # the freed slot is usable once the gateway has seen the close
        def served():
            try:
                with ST.gw.raw(timeout=2) as c:
                    c.send(req_bytes("GET", base))
                    return c.read_response().status == 200
            except (TestFailure, OSError):
                return False            # still over the cap: closed at once
        wait_until(served, 5, msg="a new connection served after one was closed")
    finally:
        for c in held:
            c.close()
    time.sleep(0.1)


def own_stack(*args):
    """A case with a gateway of its own (other limits than the shared one)."""
    def wrap(fn):
        def run():
            st = Stack(gateway_args=list(args), name="limits")
            try:
                fn(st)
            finally:
                st.close()
        run.__name__ = fn.__name__
        return run
    return wrap


def raw_from(st, source):
    """A Raw connection from a given loopback source address."""
    c = Raw.__new__(Raw)
    c.sock = socket.create_connection((HOST, st.gw.port), timeout=10, source_address=(source, 0))
    c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    c.timeout, c.buf, c.eof = 10, b"", False
    return c


def per_ip_refused(st):
    return st.gw.metric("portico_connections_refused_total", reason="max_connections_per_ip")


@t.case
@own_stack("--max-connections-per-ip", "2")
def connection_cap_per_address(st):
    base = "/" + uniq("perip")
    st.service(routes=[("GET", base)], handler=lambda req: {"status": 200, "body": "ok"})
    held = [st.gw.raw() for _ in range(2)]
    try:
        for c in held:
            c.send(req_bytes("GET", base))
            eq(c.read_response().status, 200, "request on a held connection")
        eq(per_ip_refused(st), 0, "refused before the cap is reached")
        extra = st.gw.raw()
        try:
            extra.send(req_bytes("GET", base))
            extra.expect_eof(5)
            check(b"HTTP/1.1" not in extra.buf, "the connection over the cap was served")
        finally:
            extra.close()
        eq(per_ip_refused(st), 1, "per-address refusals counted")
        eq(st.gw.metric("portico_connections_refused_total", reason="max_connections"), 0,
           "not counted as over --max-connections")
        # Another client address is not held back by this one's connections.
        with raw_from(st, "127.0.0.2") as other:
            other.send(req_bytes("GET", base))
            eq(other.read_response().status, 200, "a connection from another address")
        # A slot of 127.0.0.1 frees once one of its connections is closed.
        held.pop().close()

        def served():
            try:
                with st.gw.raw(timeout=2) as c:
                    c.send(req_bytes("GET", base))
                    return c.read_response().status == 200
            except (TestFailure, OSError):
                return False            # still at the cap: closed at once
        wait_until(served, 10, msg="a new connection served after one was closed")
    finally:
        for c in held:
            c.close()
    # Every slot comes back: two at once again once all are closed.
    def two_served():
        conns = []
        try:
            for _ in range(2):
                conns.append(st.gw.raw(timeout=2))
            for c in conns:
                c.send(req_bytes("GET", base))
                if c.read_response().status != 200:
                    return False
            return True
        except (TestFailure, OSError):
            return False
        finally:
            for c in conns:
                c.close()
    wait_until(two_served, 10, msg="two connections served once all were closed")


def trickle_until_answer(c, limit_s):
    """Sends one body byte every 100 ms until the gateway answers or closes;
    returns whether it answered within limit_s."""
    t_end = time.monotonic() + limit_s
    while time.monotonic() < t_end:
        try:
            c.send(b"x")
        except OSError:
            return True                 # closed after answering: read it below
        c.sock.settimeout(0.1)
        try:
            d = c.sock.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            return True
        c.buf += d
        return True
    return False


@t.case
@own_stack("--header-timeout-ms", "20000", "--body-timeout-ms", "1000", "--body-min-rate", "1000")
def trickling_body_gets_408_while_others_are_served(st):
    """A body that keeps coming, but slower than --body-min-rate: 408
    body_timeout (with the client's request id) and close, long before the
    header timeout (which every byte restarts) could end it; meanwhile another
    client is served, and nothing of the slow request is forwarded."""
    base = "/" + uniq("slowbody")
    svc = st.service(routes=[("POST", base), ("GET", base)],
                     handler=lambda req: {"status": 200, "body": "ok"})
    before = st.gw.metric("portico_client_timeouts_total", error="body_timeout")
    with st.gw.raw(timeout=20) as c:
        c.send(req_bytes("POST", base, [("Content-Length", "100000"),
                                        ("X-Request-Id", "client-trickle")]) + b"ab")
        served = []
        th = threading.Thread(target=lambda: served.append(st.gw.http("GET", base).status))
        th.start()
        answered = trickle_until_answer(c, 15)
        th.join(10)
        eq(served, [200], "another client served while the body trickles")
        check(answered, "no answer within 15 s to a body trickling at 10 bytes/s "
                        "(--body-timeout-ms 1000, --body-min-rate 1000)")
        r = c.read_response(timeout=5)
        assert_error(r, 408, "body_timeout", request_id="client-trickle")
        eq((r.header("connection") or "").lower(), "close", "connection header")
        c.expect_eof(5)
    eq(svc.n_requests(), 1, "only the other client's request forwarded")
    eq(st.gw.metric("portico_client_timeouts_total", error="body_timeout"), before + 1,
       "body timeouts counted")
    eq(st.gw.metric("portico_http_requests_total", code="408"), 1, "408 counted")


@t.case
@own_stack("--header-timeout-ms", "20000", "--body-timeout-ms", "1000", "--body-min-rate", "1000")
def body_faster_than_min_rate_outlives_body_timeout(st):
    """A body that takes longer than --body-timeout-ms in all but arrives
    faster than --body-min-rate is received: each 2000 bytes add 2 s."""
    base = "/" + uniq("okbody")
    st.service(routes=[("POST", base)],
               handler=lambda req: {"status": 200, "body": str(len(req["_body"]))})
    with st.gw.raw(timeout=20) as c:
        c.send(req_bytes("POST", base, [("Content-Length", "8000")]) + b"a" * 2000)
        for _ in range(3):
            time.sleep(0.5)             # 1.5 s in all: past the 1 s body timeout
            c.send(b"a" * 2000)
        r = c.read_response(timeout=10)
        eq((r.status, r.body), (200, b"8000"), "slow but steady body")
        eq(r.header("connection"), None, "connection kept")
    eq(st.gw.metric("portico_client_timeouts_total", error="body_timeout"), 0,
       "no body timeout counted")


@t.case
@own_stack("--header-timeout-ms", "20000", "--body-timeout-ms", "1000", "--body-min-rate", "0")
def fixed_body_timeout_without_min_rate(st):
    """--body-min-rate 0: the body time is fixed; a chunked body still
    arriving steadily after it gets 408 body_timeout."""
    base = "/" + uniq("fixed")
    svc = st.service(routes=[("POST", base)])
    with st.gw.raw(timeout=20) as c:
        c.send(req_bytes("POST", base, [("Transfer-Encoding", "chunked")]))
        answered = False
        t_end = time.monotonic() + 15
        while not answered and time.monotonic() < t_end:
            try:
                c.send(b"3e8\r\n" + b"b" * 1000 + b"\r\n")
            except OSError:
                answered = True
                break
            c.sock.settimeout(0.2)
            try:
                d = c.sock.recv(65536)
                c.buf += d
                answered = True
            except socket.timeout:
                pass
            except OSError:
                answered = True
        check(answered, "no answer within 15 s (fixed body timeout 1 s)")
        r = c.read_response(timeout=5)
        assert_error(r, 408, "body_timeout")
        c.expect_eof(5)
    eq(svc.n_requests(), 0, "nothing forwarded")


def setup():
    global ST
    ST = Stack(gateway_args=["--max-connections", "3"], name="limits")
    return ST


if __name__ == "__main__":
    t.main(setup=setup, teardown=lambda st: st.close())
