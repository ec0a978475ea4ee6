#!/usr/bin/env python3
"""Streamed replies (SPEC §12, protocol.md 4.3): chunked output as messages arrive
(each chunk read before the next message is sent), HTTP/1.0 close-delimited,
pipelined responses held behind a stream, cancel published when the client goes
away, and every bad input with its counter: unknown ids, seq that repeats or
jumps, a continuation before the first message, an invalid continuation, a
stream that never ends (idle timeout), a client slower than the stream (too_slow,
RSS bounded), HEAD (no body)."""

import json
import os
import re
import socket
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Gateway, Raw, Runner, Stack, check, eq, fail, req_bytes,  # noqa: E402
                     uniq, wait_until)

t = Runner()
ST = None


class Streamed:
    """Reads one response from a Raw connection piece by piece: the head, then
    chunks (chunked) or bytes up to the close (HTTP/1.0)."""

    def __init__(self, raw):
        self.raw = raw

    def _more(self, what):
        try:
            if not self.raw._fill(20):
                return False
        except socket.timeout:
            fail("timed out waiting for %s; have %r" % (what, self.raw.buf[:200]))
        return True

    def head(self):
        while b"\r\n\r\n" not in self.raw.buf:
            if not self._more("a response head"):
                fail("closed before a response head: %r" % (self.raw.buf[:200],))
        i = self.raw.buf.index(b"\r\n\r\n")
        head, self.raw.buf = self.raw.buf[:i], self.raw.buf[i + 4:]
        lines = head.split(b"\r\n")
        m = re.match(rb"^HTTP/1\.1 (\d{3}) ", lines[0])
        check(m is not None, "bad status line %r" % (lines[0],))
        hdrs = {}
        for ln in lines[1:]:
            k, v = ln.split(b":", 1)
            hdrs.setdefault(k.decode().lower(), []).append(v.strip().decode())
        return int(m.group(1)), hdrs

    def chunk(self):
        """The next chunk's data; b"" for the last chunk; None at a close (truncated)."""
        while b"\r\n" not in self.raw.buf:
            if not self._more("a chunk size line"):
                check(self.raw.buf == b"", "partial chunk line at close: %r" % self.raw.buf)
                return None
        i = self.raw.buf.index(b"\r\n")
        size = int(self.raw.buf[:i], 16)
        while len(self.raw.buf) < i + 2 + size + 2:
            if not self._more("a chunk of %d bytes" % size):
                fail("closed inside a chunk")
        data = self.raw.buf[i + 2:i + 2 + size]
        eq(self.raw.buf[i + 2 + size:i + 4 + size], b"\r\n", "chunk end")
        self.raw.buf = self.raw.buf[i + 4 + size:]
        return data

    def until_close(self):
        while self._more("the close"):
            pass
        data, self.raw.buf = self.raw.buf, b""
        return data


def streams(result):
    return ST.gw.metric("portico_streams_total", result=result)


def dropped():
    return ST.gw.metric("portico_stream_messages_dropped_total")


def mk(routes=(("GET", "/s"),)):
    """A service that answers nothing by itself: the case sends the messages."""
    base = "/" + uniq("st")
    svc = ST.service(routes=[(m, base + p) for m, p in routes], handler=lambda req: None)
    return svc, base


def requests_of(svc):
    with svc._lock:
        return [r for r in svc.requests if not r.get("cancel")]


def cancels_of(svc, rid):
    with svc._lock:
        return [r for r in svc.requests if r.get("cancel") is True and r.get("id") == rid]


def first(svc, req, body="", ctype="text/event-stream", more=True):
    svc.publish_reply(req, {"status": 200, "headers": [["content-type", ctype]], "body": body,
                            "more": more})


def nxt(svc, req, seq, body="", more=True):
    svc.publish_reply(req, {"seq": seq, "body": body, "more": more})


def barrier(svc):
    """Everything the gateway published to svc before this returns has arrived:
    a request sent now through the same gateway to the same instance arrives
    after it (one PUBLISH connection, messages in order)."""
    n = len(requests_of(svc))
    c = ST.gw.raw()
    c.send(req_bytes("GET", svc._barrier_base + "/b"))
    wait_until(lambda: len(requests_of(svc)) > n, 10, msg="barrier request")
    svc.publish_reply(requests_of(svc)[-1], {"status": 204})
    eq(c.read_response().status, 204, "barrier answered")
    c.close()


def mkb():
    """mk() with a second route used as a barrier."""
    base = "/" + uniq("st")
    svc = ST.service(routes=[("GET", base + "/s"), ("HEAD", base + "/h"), ("GET", base + "/b")],
                     handler=lambda req: None)
    svc._barrier_base = base
    return svc, base


def start(svc, base, version="HTTP/1.1", path="/s", method="GET", extra=()):
    c = ST.gw.raw()
    n = len(requests_of(svc))
    c.send(req_bytes(method, base + path, headers=extra, version=version))
    wait_until(lambda: len(requests_of(svc)) > n, 10, msg="the request at the service")
    return c, requests_of(svc)[-1]


@t.case
def chunks_arrive_one_by_one():
    svc, b = mkb()
    c0 = streams("completed")
    c, req = start(svc, b)
    s = Streamed(c)
    first(svc, req, "data: 0\n\n")
    status, hdrs = s.head()
    eq(status, 200, "status")
    eq(hdrs.get("transfer-encoding"), ["chunked"], "transfer-encoding")
    check("content-length" not in hdrs, "no content-length: %r" % hdrs)
    eq(hdrs.get("content-type"), ["text/event-stream"], "content-type")
    check(hdrs.get("x-request-id"), "x-request-id")
    eq(s.chunk(), b"data: 0\n\n", "first chunk (before the second message is sent)")
    for i in range(1, 4):
        nxt(svc, req, i, "data: %d\n\n" % i)
        eq(s.chunk(), ("data: %d\n\n" % i).encode(), "chunk %d" % i)
    nxt(svc, req, 4, "", more=False)  # an empty last message: just the end
    eq(s.chunk(), b"", "last chunk")
    wait_until(lambda: streams("completed") == c0 + 1, 5, msg="completed counted")
    # the connection goes on: the next request on it is answered
    c.send(req_bytes("GET", b + "/b"))
    wait_until(lambda: len(requests_of(svc)) >= 2, 10, msg="second request")
    svc.publish_reply(requests_of(svc)[-1], {"status": 200, "body": "after"})
    eq(c.read_response().body, b"after", "keep-alive after the stream")
    c.close()
    eq(cancels_of(svc, req["id"]), [], "no cancel for a completed stream")


@t.case
def http10_close_delimited():
    svc, b = mkb()
    c, req = start(svc, b, version="HTTP/1.0")
    s = Streamed(c)
    first(svc, req, "one,", ctype="text/plain")
    status, hdrs = s.head()
    eq(status, 200, "status")
    check("transfer-encoding" not in hdrs and "content-length" not in hdrs,
          "close-delimited: %r" % hdrs)
    eq(hdrs.get("connection"), ["close"], "connection: close")
    while len(c.buf) < 4:
        check(c._fill(20), "closed before the first bytes")
    eq(c.buf, b"one,", "first bytes before the next message")
    nxt(svc, req, 1, "two,")
    nxt(svc, req, 2, "three", more=False)
    eq(s.until_close(), b"one,two,three", "body up to the close")
    c.close()


@t.case
def http10_keep_alive_nothing_read_after_close():
    """An HTTP/1.0 keep-alive client's streamed reply is close-delimited: its
    head says close, so a request the client sends after it is neither read
    nor forwarded (RFC 9112 9.6), and the body still ends with the close."""
    svc, b = mkb()
    c, req = start(svc, b, version="HTTP/1.0", extra=[("Connection", "keep-alive")])
    s = Streamed(c)
    first(svc, req, "one,", ctype="text/plain")
    status, hdrs = s.head()
    eq(hdrs.get("connection"), ["close"], "connection: close")
    n = len(requests_of(svc))
    c.send(req_bytes("GET", b + "/b", version="HTTP/1.0"))
    time.sleep(0.5)
    eq(len(requests_of(svc)), n, "the request after the close was not forwarded")
    nxt(svc, req, 1, "two", more=False)
    eq(s.until_close(), b"one,two", "the body up to the close, nothing after it")
    c.close()


@t.case
def pipelined_behind_a_stream_in_order():
    svc, b = mkb()
    h0 = ST.gw.metric("portico_http_requests_total", code="200")
    c = ST.gw.raw()
    n = len(requests_of(svc))
    c.send(req_bytes("GET", b + "/s") + req_bytes("GET", b + "/b"))
    wait_until(lambda: len(requests_of(svc)) >= n + 2, 10, msg="both requests at the service")
    rs = {r["path"]: r for r in requests_of(svc)[n:]}
    sreq, breq = rs[b + "/s"], rs[b + "/b"]
    s = Streamed(c)
    first(svc, sreq, "a")
    eq(s.head()[0], 200, "stream status")
    eq(s.chunk(), b"a", "first chunk")
    svc.publish_reply(breq, {"status": 200, "body": "second"})
    # the gateway has made the second response (counted when made)...
    wait_until(lambda: ST.gw.metric("portico_http_requests_total", code="200") >= h0 + 2, 10,
               msg="second response made")
    nxt(svc, sreq, 1, "b")
    eq(s.chunk(), b"b", "the stream goes on first")
    nxt(svc, sreq, 2, "c", more=False)
    eq(s.chunk(), b"c", "last data")
    eq(s.chunk(), b"", "last chunk")
    r = c.read_response()
    eq((r.status, r.body), (200, b"second"), "the pipelined response after the stream")
    c.close()


@t.case
def cancel_when_the_client_leaves():
    svc, b = mkb()
    g0, d0 = streams("client_gone"), dropped()
    c, req = start(svc, b)
    s = Streamed(c)
    first(svc, req, "x")
    s.head()
    eq(s.chunk(), b"x", "first chunk")
    c.close()
    wait_until(lambda: cancels_of(svc, req["id"]), 10, msg="cancel at the service")
    eq(cancels_of(svc, req["id"])[0], {"v": 1, "id": req["id"], "cancel": True, "_body": b""},
       "cancel message")
    eq(streams("client_gone"), g0 + 1, "client_gone counted")
    # a "more":true message after that: dropped, counted, no second cancel
    nxt(svc, req, 1, "y")
    wait_until(lambda: dropped() == d0 + 1, 10, msg="dropped counted")
    barrier(svc)
    eq(len(cancels_of(svc, req["id"])), 1, "cancel published once")


@t.case
def first_message_after_the_client_left():
    svc, b = mkb()
    g0, d0 = streams("client_gone"), dropped()
    c, req = start(svc, b)
    c.close()
    # the gateway forgets the request when it sees the close (nothing else is
    # in flight now: the gauge, read live by /metrics, drops to 0)
    wait_until(lambda: _inflight() == 0, 10, msg="request out of flight")
    first(svc, req, "late")
    nxt(svc, req, 1, "later")
    wait_until(lambda: dropped() == d0 + 2, 10, msg="both messages dropped")
    wait_until(lambda: cancels_of(svc, req["id"]), 10, msg="cancel at the service")
    eq(streams("client_gone"), g0 + 1, "client_gone counted")
    barrier(svc)
    eq(len(cancels_of(svc, req["id"])), 1, "cancel published once")


def _inflight():
    return ST.gw.metric("portico_inflight_requests")


def aborted(svc, b, result, send_bad):
    """Starts a stream, sends one good chunk, then send_bad(req): the client sees a
    chunked body cut short (close without the last chunk), the result counted,
    and the service a cancel."""
    n0 = streams(result)
    c, req = start(svc, b)
    s = Streamed(c)
    first(svc, req, "ok")
    s.head()
    eq(s.chunk(), b"ok", "first chunk")
    nxt(svc, req, 1, "ok1")
    eq(s.chunk(), b"ok1", "second chunk")
    send_bad(req)
    eq(s.chunk(), None, "truncated: closed without the last chunk")
    wait_until(lambda: streams(result) == n0 + 1, 10, msg="%s counted" % result)
    wait_until(lambda: cancels_of(svc, req["id"]), 10, msg="cancel at the service")
    c.close()
    return req


@t.case
def seq_repeated_aborts():
    svc, b = mkb()
    aborted(svc, b, "bad_seq", lambda req: nxt(svc, req, 1, "again"))


@t.case
def seq_jump_aborts():
    svc, b = mkb()
    aborted(svc, b, "bad_seq", lambda req: nxt(svc, req, 3, "gap"))


@t.case
def plain_reply_in_a_stream_aborts():
    svc, b = mkb()
    aborted(svc, b, "bad_seq", lambda req: svc.publish_reply(req, {"status": 200, "body": "x"}))


@t.case
def invalid_continuation_aborts():
    svc, b = mkb()
    aborted(svc, b, "bad_message",
            lambda req: svc.publish_reply(req, {"seq": 2, "status": 200, "more": True}))


@t.case
def continuation_before_first_is_502():
    svc, b = mkb()
    n0, bad0 = streams("bad_seq"), ST.gw.metric("portico_bad_replies_total")
    c, req = start(svc, b)
    nxt(svc, req, 1, "no first")
    r = c.read_response()
    eq(r.status, 502, "status")
    eq(r.json()["error"], "bad_reply", "error")
    eq(streams("bad_seq"), n0 + 1, "bad_seq counted")
    eq(ST.gw.metric("portico_bad_replies_total"), bad0 + 1, "bad reply counted")
    wait_until(lambda: cancels_of(svc, req["id"]), 10, msg="cancel at the service")
    c.close()


@t.case
def unknown_id_dropped_and_counted():
    d0 = dropped()
    rc = ST.redis.client()
    rc.publish(ST.gw.reply_channel, json.dumps(
        {"v": 1, "id": str(uuid.uuid4()), "seq": 1, "body": "x", "more": True}))
    rc.publish(ST.gw.reply_channel, json.dumps(
        {"v": 1, "id": str(uuid.uuid4()), "status": 200, "more": True}))
    rc.close()
    wait_until(lambda: dropped() == d0 + 2, 10, msg="two dropped")
    ST.gw.assert_alive()


@t.case
def head_gets_no_body_and_a_cancel():
    svc, b = mkb()
    n0 = streams("no_body")
    c, req = start(svc, b, method="HEAD", path="/h")
    first(svc, req, "ignored")
    status, hdrs = Streamed(c).head()
    eq(status, 200, "status")
    # the head a GET gets: no length, chunked (RFC 9110 9.3.2), and no body
    eq(hdrs.get("transfer-encoding"), ["chunked"], "HEAD: transfer-encoding as for GET")
    check("content-length" not in hdrs, "HEAD: no content-length: %r" % (hdrs,))
    eq(streams("no_body"), n0 + 1, "no_body counted")
    wait_until(lambda: cancels_of(svc, req["id"]), 10, msg="cancel at the service")
    # the connection goes on: nothing of a body was sent
    c.send(req_bytes("GET", b + "/b"))
    wait_until(lambda: len(requests_of(svc)) > 1, 10, msg="next request on the connection")
    svc.publish_reply(requests_of(svc)[-1], {"status": 204})
    eq(c.read_response().status, 204, "next response on the same connection")
    c.close()


@t.case
def message_over_the_bound_reaches_a_client_that_reads():
    """The 1 MiB bound is on what a client has not taken: one message larger
    than it goes whole to a client that reads (first message or not)."""
    svc, b = mkb()
    n0 = streams("too_slow")
    big = "q" * (1536 * 1024)
    for big_first in (True, False):
        c, req = start(svc, b)
        s = Streamed(c)
        if big_first:
            first(svc, req, big)
        else:
            first(svc, req, "a")
            s.head()
            eq(s.chunk(), b"a", "first chunk")
            nxt(svc, req, 1, big)
        if big_first:
            eq(s.head()[0], 200, "status")
        eq(s.chunk(), big.encode(), "the large message as one chunk")
        nxt(svc, req, 2 if not big_first else 1, "end", more=False)
        eq(s.chunk(), b"end", "the last message")
        eq(s.chunk(), b"", "the last chunk")
        c.close()
    eq(streams("too_slow"), n0, "nothing aborted too_slow")


@t.case
def idle_timeout_aborts():
    gw = Gateway(ST.tmpdir, ST.redis.url, ["--stream-idle-timeout-ms", "300"], name="gw-idle")
    gw.start()
    try:
        base = "/" + uniq("idle")
        svc = ST.service(routes=[("GET", base + "/s")], handler=lambda req: None,
                         wait_route=False)
        gw.wait_route("GET", base + "/s", svc.instance)
        n0 = gw.metric("portico_streams_total", result="idle_timeout")
        c = gw.raw()
        c.send(req_bytes("GET", base + "/s"))
        wait_until(lambda: requests_of(svc), 10, msg="request")
        req = requests_of(svc)[0]
        s = Streamed(c)
        first(svc, req, "tick")
        s.head()
        eq(s.chunk(), b"tick", "first chunk")
        eq(s.chunk(), None, "closed without the last chunk after the idle timeout")
        eq(gw.metric("portico_streams_total", result="idle_timeout"), n0 + 1, "counted")
        wait_until(lambda: cancels_of(svc, req["id"]), 10, msg="cancel at the service")
        c.close()
    finally:
        gw.stop()


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@t.case
def slow_client_aborted_too_slow():
    svc, b = mkb()
    n0 = streams("too_slow")
    c = Raw(ST.gw.port)
    c.close()
    c.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    c.sock.settimeout(20)
    c.sock.connect(("127.0.0.1", ST.gw.port))
    n = len(requests_of(svc))
    c.send(req_bytes("GET", b + "/s"))
    wait_until(lambda: len(requests_of(svc)) > n, 10, msg="request")
    req = requests_of(svc)[-1]
    first(svc, req, "start")
    piece = "z" * 65536
    rss0 = rss_kib(ST.gw.pid)
    seq = 1
    while streams("too_slow") == n0:  # the client never reads
        check(seq < 2000, "no too_slow abort after %d MiB" % (seq // 16))
        for _ in range(8):
            nxt(svc, req, seq, piece)
            seq += 1
        time.sleep(0.01)
    wait_until(lambda: cancels_of(svc, req["id"]), 10, msg="cancel at the service")
    grew = rss_kib(ST.gw.pid) - rss0
    check(grew < 64 * 1024, "gateway RSS grew by %d KiB for one slow client" % grew)
    # what the client gets is a prefix of the stream, cut short (the held
    # output is dropped with the connection)
    s = Streamed(c)
    status, _ = s.head()
    eq(status, 200, "status")
    got = s.until_close()
    whole = b"5\r\nstart\r\n" + b"".join(b"10000\r\n" + piece.encode() + b"\r\n"
                                          for _ in range(seq - 1))
    check(len(got) < len(whole), "the stream is cut short (%d of %d bytes)" % (len(got), len(whole)))
    check(got == whole[:len(got)], "what arrived is the stream's beginning")
    c.close()
    ST.gw.assert_alive()


@t.case
def redis_lost_aborts_bus_down():
    """Last: Redis goes away mid-stream (and comes back for the teardown)."""
    svc, b = mkb()
    n0 = streams("bus_down")
    c, req = start(svc, b)
    s = Streamed(c)
    first(svc, req, "x")
    s.head()
    eq(s.chunk(), b"x", "first chunk")
    ST.redis.stop()
    eq(s.chunk(), None, "closed without the last chunk")
    c.close()
    ST.redis.start()
    ST.gw.wait_healthy()
    eq(streams("bus_down"), n0 + 1, "bus_down counted")


def setup():
    global ST
    ST = Stack(name="stream")
    return ST


if __name__ == "__main__":
    t.main(setup=setup, teardown=lambda st: st.close())
