#!/usr/bin/env python3
"""Claim-checked reply bodies stream (protocol.md 4.1): the response's head
goes out with the first slice, each GETRANGE slice is sent as it arrives and
the next one is asked for only while the client's output is nearly empty, so
the gateway holds a few KiB per response, not the body. 1 MiB and 20 MiB
bodies echoed byte for byte (and pipelined); 20 clients that do not read
leave the gateway's peak RSS nearly flat and Redis is read no further; a
client that leaves mid-body, a key that turns out short or long after the
head, and Redis going away mid-body end the response cut short (the
connection closed) with no key left; a key short from the start is still a
502."""

import hashlib
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HOST, PREFIX, Runner, Stack, assert_error, check,  # noqa: E402
                     concurrent_peak_kb, eq, hwm_kb, reset_hwm, sanitized, uniq, wait_until)
from harness import body_keys as stack_body_keys  # noqa: E402

t = Runner()
ST = None
MIB = 1 << 20


def body_keys(st=None):
    """Every body key left (SCAN, not KEYS)."""
    return stack_body_keys(st or ST)


def getrange_calls(st=None):
    c = (st or ST).redis.client()
    try:
        text = c.command("INFO", "commandstats")
    finally:
        c.close()
    text = text.decode() if isinstance(text, bytes) else text
    for ln in text.splitlines():
        if ln.startswith("cmdstat_getrange:"):
            return int(ln.split("calls=")[1].split(",")[0])
    return 0


def settled(fn, st=None, polls=4, interval=0.25, timeout=30):
    """fn()'s value once it stops changing for `polls` polls in a row."""
    end = time.monotonic() + timeout
    last, same = fn(), 0
    while time.monotonic() < end:
        time.sleep(interval)
        v = fn()
        same = same + 1 if v == last else 0
        last = v
        if same >= polls:
            return v
    return last


def mk(handler, routes=(("GET", "/x"),), st=None, **kw):
    base = "/" + uniq("cs")
    (st or ST).service(routes=[(m, base + p) for m, p in routes], handler=handler,
                       claim_check=True, timeout_ms=60000, **kw)
    return base


def slow_socket(st=None):
    """A client connection with a tiny receive buffer that reads nothing yet."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(60)
    s.connect((HOST, (st or ST).gw.port))
    return s


def read_all(s, limit=None):
    """(head bytes, body bytes) read until EOF, or until the body has limit bytes."""
    buf = b""
    while True:
        if limit is not None and b"\r\n\r\n" in buf:
            if len(buf) - buf.index(b"\r\n\r\n") - 4 >= limit:
                break
        try:
            d = s.recv(1 << 16)
        except ConnectionResetError:
            d = b""
        if not d:
            break
        buf += d
    check(b"\r\n\r\n" in buf, "a response head: %r" % buf[:200])
    i = buf.index(b"\r\n\r\n")
    return buf[:i + 4], buf[i + 4:]


def head_field(head, name):
    for ln in head.split(b"\r\n")[1:]:
        if b":" in ln:
            k, v = ln.split(b":", 1)
            if k.strip().lower() == name:
                return v.strip().decode()
    return None


def echo(req):
    return {"status": 200, "headers": [["content-type", "application/octet-stream"]],
            "body": req["_body"]}


@t.case
def echo_exact_bytes():
    b = mk(echo, routes=(("POST", "/x"),))
    f0 = ST.gw.metric("portico_claim_checks_total", direction="reply", result="fetched")
    for n in (MIB, 20 * MIB):
        body = os.urandom(n)
        r = ST.gw.http("POST", b + "/x", body=body, timeout=120)
        eq(r.status, 200, "%d bytes: status" % n)
        eq(r.header("content-length"), str(n), "%d bytes: content-length" % n)
        eq(r.header("content-type"), "application/octet-stream", "%d bytes: header" % n)
        check(r.body == body, "%d bytes echoed exactly (got %d)" % (n, len(r.body)))
    eq(ST.gw.metric("portico_claim_checks_total", direction="reply", result="fetched"), f0 + 2,
       "fetched counted")
    # pipelined: the second streams behind the first, each whole, in order
    bodies = [os.urandom(3 * MIB + 7), os.urandom(2 * MIB + 1)]
    with ST.gw.raw(timeout=60) as c:
        c.send(b"".join(b"POST " + (b + "/x").encode() + b" HTTP/1.1\r\nHost: t\r\n"
                        b"Content-Length: " + str(len(x)).encode() + b"\r\n\r\n" + x
                        for x in bodies))
        for i, x in enumerate(bodies):
            r = c.read_response()
            eq(r.status, 200, "pipelined %d" % i)
            check(r.body == x, "pipelined %d echoed exactly" % i)
    wait_until(lambda: body_keys() == [], 10, msg="no body key left")


def fresh_stack(name):
    """A gateway of its own (its RSS not raised by earlier cases), warmed by
    one small reply by reference."""
    st = Stack(gateway_args=["--max-reply-bytes", str(48 << 20)], name=name)
    b = mk(lambda req: {"status": 200, "body": b"w" * 100000}, st=st)
    eq(st.gw.http("GET", b + "/x").status, 200, "warm")
    return st


@t.case
def lone_transfers_move_large_slices():
    """A reply read alone takes large slices (few round trips to Redis);
    many at once share the budget (claim.h) and each arrives whole (what
    they hold together is integ-body_rss's)."""
    b = mk(lambda req: {"status": 200, "body": b"s" * (4 * MIB)})
    g0 = getrange_calls()
    r = ST.gw.http("GET", b + "/x", timeout=60)
    eq(r.body, b"s" * (4 * MIB), "the whole body")
    n = getrange_calls() - g0
    check(n <= 17, "a lone 4 MiB reply in %d GETRANGEs (256 KiB slices: 16; 16 KiB: 256)" % n)
    out = []

    def get():
        out.append(ST.gw.http("GET", b + "/x", timeout=120).body == b"s" * (4 * MIB))

    ts = [threading.Thread(target=get) for _ in range(16)]
    for th in ts:
        th.start()
    for th in ts:
        th.join()
    eq(out, [True] * 16, "16 at once, each whole")
    wait_until(lambda: body_keys() == [], 10, msg="no body key left")


@t.case
def concurrent_replies_hold_little():
    body = os.urandom(MIB)
    want = hashlib.sha256(body).hexdigest()
    n = 20
    gate = threading.Barrier(n)

    def h(req):
        try:
            gate.wait(30)  # all replies at once
        except threading.BrokenBarrierError:
            pass
        return {"status": 200, "body": body}

    st = fresh_stack("claim-stream-rss")
    try:
        b = mk(h, st=st)
        pid = st.gw.pid
        res = {}

        def go(i):
            res[i] = st.gw.http("GET", b + "/x", timeout=120)

        grown_kb, _ = concurrent_peak_kb(pid, go, n, 120)
        for i in range(n):
            eq(res[i].status, 200, "reply %d" % i)
            eq(hashlib.sha256(res[i].body).hexdigest(), want, "reply %d bytes" % i)
        print("peak RSS growth for %d concurrent 1 MiB replies: %d KiB" % (n, grown_kb))
        check(sanitized(pid) or grown_kb < 2 * 1024, "peak RSS grew by %d KiB for %d concurrent 1 MiB replies"
              % (grown_kb, n))
        wait_until(lambda: body_keys(st) == [], 10, msg="no body key left")
    finally:
        st.close()


@t.case
def readers_that_do_not_read_stop_the_reading():
    size = 12 * MIB
    body = os.urandom(size)
    want = hashlib.sha256(body).hexdigest()
    n = 2
    st = fresh_stack("claim-stream-slow")
    socks = []
    try:
        b = mk(lambda req: {"status": 200, "body": body}, st=st)
        pid = st.gw.pid
        g0 = getrange_calls(st)
        reset_hwm(pid)
        base_kb = hwm_kb(pid)
        for _ in range(n):
            s = slow_socket(st)
            s.sendall(b"GET " + (b + "/x").encode() + b" HTTP/1.1\r\nHost: t\r\n\r\n")
            socks.append(s)
        wait_until(lambda: getrange_calls(st) - g0 >= n, 60, msg="every response started")
        stalled = settled(lambda: getrange_calls(st)) - g0
        grown_kb = hwm_kb(pid) - base_kb
        print("stalled: %d slices read, peak RSS growth %d KiB" % (stalled, grown_kb))
        check(sanitized(pid) or grown_kb < 8 * 1024, "peak RSS grew by %d KiB for %d stalled %d-byte replies"
              % (grown_kb, n, size))
        for i, s in enumerate(socks):
            head, got = read_all(s, size)
            check(head.startswith(b"HTTP/1.1 200 "), "response %d: %r" % (i, head[:40]))
            eq(head_field(head, b"content-length"), str(size), "response %d length" % i)
            eq(hashlib.sha256(got[:size]).hexdigest(), want, "response %d bytes" % i)
        total = getrange_calls(st) - g0
        check(total > stalled, "Redis read further only once the clients read (%d then %d "
              "slices)" % (stalled, total))
        wait_until(lambda: body_keys(st) == [], 10, msg="no body key left")
    finally:
        for s in socks:
            s.close()
        st.close()


@t.case
def client_leaving_mid_body_leaves_no_key():
    b = mk(lambda req: {"status": 200, "body": b"z" * (20 * MIB)})
    g0 = getrange_calls()
    s = slow_socket()
    s.sendall(b"GET " + (b + "/x").encode() + b" HTTP/1.1\r\nHost: t\r\n\r\n")
    head, got = read_all(s, 100000)
    check(head.startswith(b"HTTP/1.1 200 "), "head: %r" % head[:40])
    eq(head_field(head, b"content-length"), str(20 * MIB), "content-length announced")
    settled(getrange_calls)
    check(len(body_keys()) == 1, "the key is kept while the client is there")
    s.close()
    wait_until(lambda: body_keys() == [], 10, msg="the key deleted once the client left")
    check(getrange_calls() - g0 < 20 * MIB // (16 * 1024), "not all of it was read")
    eq(ST.gw.http("GET", b + "/x", timeout=60).status, 200, "served again")


@t.case
def key_wrong_after_the_head_cuts_the_response():
    n = 1500000  # half of it larger than a lone transfer's first slice (GW_CLAIM_SHARE_MAX)

    def stored(size):
        def h(req):
            k = "%s:body:%s:rep" % (PREFIX, req["id"])
            svc_cmd[0]("SET", k, b"q" * size, "PX", 60000)
            return {"status": 200, "body_ref": k, "body_len": n}
        return h

    svc_cmd = [None]
    for size, what in ((n // 2, "short"), (n + 1, "long")):
        base = "/" + uniq("cs")
        svc = ST.service(routes=[("GET", base)], handler=stored(size), claim_check=True)
        svc_cmd[0] = svc.redis_command
        m0 = ST.gw.metric("portico_claim_checks_total", direction="reply", result="missing")
        with ST.gw.raw(timeout=60) as c:
            c.send(b"GET " + base.encode() + b" HTTP/1.1\r\nHost: t\r\n\r\n")
            head, got = read_all(c.sock)
        check(head.startswith(b"HTTP/1.1 200 "), "%s: head sent: %r" % (what, head[:40]))
        eq(head_field(head, b"content-length"), str(n), "%s: announced length" % what)
        check(len(got) < n, "%s: the response is cut short (%d of %d)" % (what, len(got), n))
        check(got == b"q" * len(got), "%s: what was sent is the key's" % what)
        eq(ST.gw.metric("portico_claim_checks_total", direction="reply", result="missing"),
           m0 + 1, "%s: counted missing" % what)
    # short from the start (the first slice): nothing sent yet, a 502
    for size in (10, 0):
        base = "/" + uniq("cs")
        svc = ST.service(routes=[("GET", base)], handler=stored(size), claim_check=True)
        svc_cmd[0] = svc.redis_command
        assert_error(ST.gw.http("GET", base), 502, "bad_reply")
    wait_until(lambda: body_keys() == [], 10, msg="no body key left")


@t.case
def redis_gone_mid_body_cuts_the_response():
    st = Stack(gateway_args=["--max-reply-bytes", str(48 << 20)], name="claim-stream-down")
    try:
        b = mk(lambda req: {"status": 200, "body": b"r" * (20 * MIB)}, st=st)
        s = slow_socket(st)
        s.sendall(b"GET " + (b + "/x").encode() + b" HTTP/1.1\r\nHost: t\r\n\r\n")
        wait_until(lambda: getrange_calls(st) >= 2, 30, msg="the body streams")
        st.redis.stop(kill=True)
        head, got = read_all(s)
        s.close()
        check(head.startswith(b"HTTP/1.1 200 "), "head: %r" % head[:40])
        check(len(got) < 20 * MIB, "cut short: %d bytes" % len(got))
        check(got == b"r" * len(got), "what was sent is the body's")
        st.redis.start()
        st.gw.wait_healthy(timeout=30)
    finally:
        st.close()


def req_keys(st):
    return [k for k in body_keys(st) if (k.decode() if isinstance(k, bytes) else k).endswith(":req")]


@t.case
def concurrent_echoes_hold_little():
    # 20 POSTs of 1 MiB echoed: the request bodies go into their keys as they
    # arrive (SET, then APPENDs), the replies stream back
    n = 20
    bodies = [os.urandom(MIB) for _ in range(n)]
    st = fresh_stack("claim-stream-echo")
    try:
        svc_b = mk(echo, routes=(("POST", "/x"),), st=st)
        pid = st.gw.pid
        res = {}

        def go(i):
            res[i] = st.gw.http("POST", svc_b + "/x", body=bodies[i], timeout=120)

        grown_kb, _ = concurrent_peak_kb(pid, go, n, 120)
        for i in range(n):
            eq(res[i].status, 200, "echo %d" % i)
            check(res[i].body == bodies[i], "echo %d exact" % i)
        print("peak RSS growth for %d concurrent 1 MiB echoes: %d KiB" % (n, grown_kb))
        check(sanitized(pid) or grown_kb < 8 * 1024,
              "peak RSS grew by %d KiB for %d concurrent 1 MiB echoes" % (grown_kb, n))
        wait_until(lambda: body_keys(st) == [], 10, msg="no body key left")
    finally:
        st.close()


def send_part(st, path, total, part, extra=b""):
    """A POST announcing total bytes, part of them sent; the socket."""
    s = socket.create_connection((HOST, st.gw.port), timeout=60)
    s.sendall(b"POST " + path.encode() + b" HTTP/1.1\r\nHost: t\r\nContent-Length: "
              + str(total).encode() + b"\r\n" + extra + b"\r\n" + b"p" * part)
    return s


@t.case
def request_body_stored_as_it_arrives():
    svc_b = mk(echo, routes=(("POST", "/x"),))
    svc = ST.services[-1]
    s = send_part(ST, svc_b + "/x", 4 * MIB, MIB)
    try:
        # the key exists (and grows) while most of the body is still to come
        wait_until(lambda: len(req_keys(ST)) == 1, 10, msg="the body's key, before its end")
        c = ST.redis.client()
        k = req_keys(ST)[0]
        wait_until(lambda: c.command("STRLEN", k) == MIB, 10, msg="what was sent is stored")
        ttl = c.command("PTTL", k)
        c.close()
        check(0 < ttl <= 65000, "the key has a TTL (%d)" % ttl)
        eq(svc.n_requests(), 0, "nothing published before the body's end")
        s.sendall(b"q" * (3 * MIB))
        head, got = read_all(s, 4 * MIB)
        check(head.startswith(b"HTTP/1.1 200 "), "head: %r" % head[:40])
        check(got[:4 * MIB] == b"p" * MIB + b"q" * (3 * MIB), "echoed exactly")
        rq = svc.last_request()
        eq(rq["body_len"], 4 * MIB, "body_len")
        eq(rq["body_ref"], "%s:body:%s:req" % (PREFIX, rq["id"]), "body_ref")
        # the connection serves the next request
        s.sendall(b"POST " + (svc_b + "/x").encode() + b" HTTP/1.1\r\nHost: t\r\n"
                  b"Content-Length: 5\r\n\r\nhello")
        head, got = read_all(s, 5)
        check(head.startswith(b"HTTP/1.1 200 ") and got[:5] == b"hello", "next request")
    finally:
        s.close()
    # Expect: 100-continue: the interim response, then the body
    s = socket.create_connection((HOST, ST.gw.port), timeout=60)
    try:
        s.sendall(b"POST " + (svc_b + "/x").encode() + b" HTTP/1.1\r\nHost: t\r\n"
                  b"Content-Length: 200000\r\nExpect: 100-continue\r\n\r\n")
        got = b""
        while b"\r\n\r\n" not in got:
            d = s.recv(4096)
            check(d != b"", "100 Continue before close")
            got += d
        check(got.startswith(b"HTTP/1.1 100 Continue\r\n\r\n"), "interim: %r" % got[:40])
        s.sendall(b"e" * 200000)
        head, body = read_all(s, 200000)
        check(head.startswith(b"HTTP/1.1 200 ") and body[:200000] == b"e" * 200000,
              "echoed after 100 Continue")
    finally:
        s.close()
    wait_until(lambda: body_keys() == [], 10, msg="no body key left")


@t.case
def client_leaving_mid_request_body_leaves_no_key():
    svc_b = mk(echo, routes=(("POST", "/x"),))
    svc = ST.services[-1]
    s = send_part(ST, svc_b + "/x", 4 * MIB, MIB)
    wait_until(lambda: len(req_keys(ST)) == 1, 10, msg="the body's key")
    s.close()
    wait_until(lambda: body_keys() == [], 10, msg="the key deleted once the client left")
    eq(svc.n_requests(), 0, "nothing published")


@t.case
def deadline_mid_request_body():
    base = "/" + uniq("cs")
    svc = ST.service(routes=[("POST", base)], handler=echo, claim_check=True, timeout_ms=500)
    s = send_part(ST, base, 4 * MIB, MIB)
    try:
        head, got = read_all(s)
    finally:
        s.close()
    check(head.startswith(b"HTTP/1.1 504 "), "504 while the body was still coming: %r"
          % head[:40])
    wait_until(lambda: body_keys() == [], 10, msg="the key deleted")
    eq(svc.n_requests(), 0, "nothing published")


@t.case
def body_over_the_limit_is_413_without_a_key():
    svc_b = mk(echo, routes=(("POST", "/x"),))
    s = send_part(ST, svc_b + "/x", (32 << 20) + 1, 1000)
    try:
        head, got = read_all(s)
    finally:
        s.close()
    check(head.startswith(b"HTTP/1.1 413 "), "413: %r" % head[:40])
    eq(body_keys(), [], "no key")


@t.case
def redis_gone_mid_request_body():
    st = Stack(gateway_args=["--max-body-bytes", str(32 << 20)], name="claim-stream-down2")
    try:
        base = "/" + uniq("cs")
        svc = st.service(routes=[("POST", base)], handler=echo, claim_check=True,
                         timeout_ms=30000)
        s = send_part(st, base, 4 * MIB, MIB)
        wait_until(lambda: len(req_keys(st)) == 1, 10, msg="the body's key")
        st.redis.stop(kill=True)
        try:
            head, got = read_all(s)
        finally:
            s.close()
        check(head.startswith(b"HTTP/1.1 503 "), "503: %r" % head[:40])
        check(b"bus_unavailable" in got, "bus_unavailable: %r" % got[:200])
        eq(svc.n_requests(), 0, "nothing published")
    finally:
        st.close()


def setup():
    global ST
    ST = Stack(gateway_args=["--max-body-bytes", str(32 << 20), "--max-reply-bytes",
                             str(48 << 20)], name="claim-stream")
    return ST


if __name__ == "__main__":
    t.main(setup=setup, teardown=lambda st: st.close())
