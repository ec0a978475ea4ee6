#!/usr/bin/env python3
"""Streamed replies from the SDK (portico_stream_begin/write/end) through the real
gateway: examples/echo with ?stream=N writes N lines from a timer after its handler
returned, each one chunk; many lines at full speed arrive complete and in order;
HTTP/1.0 gets them close-delimited; a stream outlives the request deadline; when
the client goes away the gateway's cancel reaches the SDK, which runs the
handler's cancel callback (the service stops). The Python example's SSE clock
(no SDK) streams and is cancelled too (a raw subscriber on its channel sees the
cancel)."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sdkutil import Procs, Stack, echo, eq, python_hello, procs_teardown  # noqa: E402
from harness import PREFIX, Runner, check, req_bytes, wait_until  # noqa: E402
from test_stream import Streamed  # noqa: E402

t = Runner()
ctx = {}


def setup():
    st = Stack(gateway_args=["--timeout-ms", "1500"], name="sdk-stream")
    ctx["procs"] = Procs()
    ctx["echo"] = ctx["procs"].add(echo(st))
    st.gw.wait_route("*", "/echo/*", ctx["echo"].instance)
    return st


teardown = procs_teardown(ctx)


def streams(st, result):
    return st.gw.metric("portico_streams_total", result=result)


@t.case
def lines_one_chunk_each(st):
    c0 = streams(st, "completed")
    c = st.gw.raw()
    c.send(req_bytes("GET", "/echo/x?stream=5&every_ms=10"))
    s = Streamed(c)
    status, hdrs = s.head()
    eq(status, 200, "status")
    eq(hdrs.get("transfer-encoding"), ["chunked"], "chunked")
    eq(hdrs.get("content-type"), ["text/plain"], "content-type")
    got = []
    while True:
        ch = s.chunk()
        check(ch is not None, "stream cut short after %r" % got)
        if ch == b"":
            break
        got.append(ch)
    eq(got, [b"%d\n" % i for i in range(1, 6)], "one chunk per write")
    wait_until(lambda: streams(st, "completed") == c0 + 1, 10, msg="completed counted")
    # the connection is kept: an ordinary request on it is answered
    c.send(req_bytes("GET", "/echo/after"))
    eq(c.read_response().status, 200, "keep-alive after the stream")
    c.close()


@t.case
def many_lines_complete_and_in_order(st):
    r = st.gw.http("GET", "/echo/x?stream=20000", check_frame=False, timeout=60)
    eq(r.status, 200, "status")
    lines = r.body.split(b"\n")
    eq(lines[-1], b"", "ends with a newline")
    eq(lines[:-1], [b"%d" % i for i in range(1, 20001)], "every line, in order")


@t.case
def http10_close_delimited(st):
    c = st.gw.raw()
    c.send(req_bytes("GET", "/echo/x?stream=3", version="HTTP/1.0"))
    s = Streamed(c)
    status, hdrs = s.head()
    eq(status, 200, "status")
    check("transfer-encoding" not in hdrs, "no chunking for HTTP/1.0: %r" % hdrs)
    eq(s.until_close(), b"1\n2\n3\n", "body up to the close")
    c.close()


@t.case
def a_stream_outlives_the_deadline(st):
    # the route's deadline is 1.5 s; the stream lasts 4 x 0.6 s
    r = st.gw.http("GET", "/echo/x?stream=4&every_ms=600", check_frame=False, timeout=60)
    eq((r.status, r.body), (200, b"1\n2\n3\n4\n"), "the whole stream, no 504")


@t.case
def cancel_reaches_the_handler(st):
    g0 = streams(st, "client_gone")
    c = st.gw.raw()
    c.send(req_bytes("GET", "/echo/x?stream=1000000&every_ms=20"))
    s = Streamed(c)
    s.head()
    eq(s.chunk(), b"1\n", "first line")
    c.close()
    wait_until(lambda: "cancelled after" in ctx["echo"].stderr_text(), 10,
               msg="the echo service's cancel callback")
    eq(streams(st, "client_gone"), g0 + 1, "client_gone counted")
    ctx["echo"].assert_alive()
    # the service is fine afterwards
    eq(st.gw.http("GET", "/echo/x?stream=2", check_frame=False).body, b"1\n2\n", "next stream")


@t.case
def python_clock_streams_and_is_cancelled(st):
    py = ctx["procs"].add(python_hello(st))
    st.gw.wait_route("GET", "/hello/clock", py.instance)
    r = st.gw.http("GET", "/hello/clock?ticks=2", check_frame=False, timeout=30)
    eq(r.status, 200, "status")
    eq(r.header("content-type"), "text/event-stream", "content-type")
    events = [e for e in r.body.split(b"\n\n") if e]
    eq(len(events), 2, "two events")
    eq(json.loads(events[1].split(b"data: ", 1)[1])["tick"], 2, "second tick")
    # HEAD goes to the GET route: the stream's head, no body
    r = st.gw.http("HEAD", "/hello/clock?ticks=2", timeout=30)
    eq(r.status, 200, "HEAD status")
    eq(r.header("content-type"), "text/event-stream", "HEAD content-type")
    eq(r.body, b"", "HEAD body")
    # a raw subscriber on the instance's channel sees the cancel
    sub = st.redis.client(timeout=15)
    sub.subscribe("%s:svc:%s" % (PREFIX, py.instance))
    c = st.gw.raw()
    c.send(req_bytes("GET", "/hello/clock?ticks=60"))
    s = Streamed(c)
    s.head()
    check(s.chunk().startswith(b"id: 1\n"), "first event")
    rid = None
    while True:  # the request, then the cancel
        m = sub.get_message(timeout=15)
        check(m is not None, "no cancel on the service's channel")
        msg = json.loads(m[1])
        if rid is None:
            rid = msg["id"]
            c.close()
        elif msg.get("cancel"):
            eq(msg, {"v": 1, "id": rid, "cancel": True}, "cancel message")
            break
    sub.close()
    py.assert_alive()


if __name__ == "__main__":
    t.main(setup=setup, teardown=teardown)
