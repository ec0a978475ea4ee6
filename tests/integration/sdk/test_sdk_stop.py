#!/usr/bin/env python3
"""portico_service_stop with streamed replies open (docs/sdk.md, Streams; SPEC §12),
through the real gateway and examples/echo (?stream=N&every_ms=M):
a stop keeps the instance channel while a stream is open, so the stream goes on
and the gateway's cancel still reaches it when the client leaves (the service
then exits 0 at once), and a request published on the channel meanwhile is
answered 503 "stopping" at once, in its own wire version (v1 and v2); a stream
whose client stays is ended by the SDK PORTICO_STOP_STREAM_MS (10 s) into the
stop (its cancel callback runs, the service exits 0) and the client's response
is cut short by the gateway's stream idle timeout (no last chunk); with no
stream open a stop is as before: the channel goes at once (a request published
on it gets 0 receivers while the stop waits for a delayed reply) and an idle
service exits at once."""
import json
import os
import signal
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from sdkutil import Procs, Stack, check, echo, eq, request_message, procs_teardown  # noqa: E402
from harness import PREFIX, Runner, fail, req_bytes, tail, wait_until  # noqa: E402
from test_stream import Streamed  # noqa: E402

STOP_STREAM_S = 10.0  # PORTICO_STOP_STREAM_MS
IDLE_MS = 1500        # the gateway's --stream-idle-timeout-ms here

t = Runner()
ctx = {}


def setup():
    st = Stack(gateway_args=["--route-grace-ms", "0", "--timeout-ms", "5000",
                             "--stream-idle-timeout-ms", str(IDLE_MS)], name="sdk-stop")
    ctx["procs"] = Procs()
    return st


teardown = procs_teardown(ctx)


def start_echo(st):
    ex = ctx["procs"].add(echo(st))
    st.gw.wait_route("*", "/echo/*", ex.instance)
    return ex


def channel(ex):
    return "%s:svc:%s" % (PREFIX, ex.instance)


def wait_exit(ex, timeout, what):
    """Waits for ex to exit on its own (no second signal: the example would
    then leave its loop whatever the SDK does); asserts exit 0, no sanitizer
    report. Returns the seconds waited."""
    t0 = time.monotonic()
    while ex.alive():
        if time.monotonic() - t0 > timeout:
            fail("%s: the service did not exit within %.1fs:\n%s" % (
                what, timeout, tail(ex.stderr_text())))
        time.sleep(0.02)
    ex.stop()  # reaps it: exit 0, no sanitizer report
    return time.monotonic() - t0


def open_stream(st):
    c = st.gw.raw(timeout=30)
    c.send(req_bytes("GET", "/echo/s?stream=1000000&every_ms=100"))
    s = Streamed(c)
    eq(s.head()[0], 200, "stream status")
    eq(s.chunk(), b"1\n", "first line")
    return c, s


def sigterm(ex):
    ex.send_signal(signal.SIGTERM)
    wait_until(lambda: "deregistering" in ex.stderr_text(), 5, msg="the deregister logged")


def lines_go_on(s, after, n):
    """Reads n more lines; they follow `after` without a gap."""
    for i in range(after + 1, after + 1 + n):
        eq(s.chunk(), b"%d\n" % i, "line %d" % i)
    return after + n


def refused_at_once(st, ex):
    """A request published on the stopping instance's channel: one receiver,
    and a 503 "stopping" reply in the request's version, at once."""
    sub, pub = st.redis.client(timeout=10), st.redis.client()
    reply_to = "portico:reply:" + str(uuid.uuid4())
    try:
        sub.subscribe(reply_to)
        m = request_message(reply_to, path="/echo/x", route="/echo/*", params={"*": "x"},
                            headers=[["x-request-id", "rid-stop-1"]])
        eq(pub.publish(channel(ex), json.dumps(m)), 1, "receivers while a stream is open")
        got = sub.get_message(timeout=3)
        check(got is not None, "no reply to a request sent while stopping")
        rep = json.loads(got[1])
        eq((rep["v"], rep["id"], rep["status"]), (1, m["id"], 503), "v1 reply")
        eq(json.loads(rep["body"]), {"error": "stopping", "message": "the instance is stopping",
                                     "request_id": "rid-stop-1"}, "error body")
        # wire version 2: a v2 head, the body raw after it
        m = request_message(reply_to, path="/echo/y", route="/echo/*", params={"*": "y"},
                            headers=[["x-request-id", "rid-stop-2"]])
        m["v"] = 2
        eq(pub.publish(channel(ex), json.dumps(m, separators=(",", ":")) + "\n"), 1,
           "receivers (v2)")
        got = sub.get_message(timeout=3)
        check(got is not None, "no reply to a v2 request sent while stopping")
        nl = got[1].index(b"\n")
        head, body = json.loads(got[1][:nl]), got[1][nl + 1:]
        eq((head["v"], head["id"], head["status"], head["body_len"]),
           (2, m["id"], 503, len(body)), "v2 reply head")
        eq(json.loads(body)["error"], "stopping", "v2 error body")
    finally:
        sub.close()
        pub.close()


@t.case
def cancel_reaches_a_stopping_service(st):
    ex = start_echo(st)
    c, s = open_stream(st)
    try:
        sigterm(ex)
        n = lines_go_on(s, 1, 3)  # the stream goes on while the service stops
        ex.assert_alive()
        refused_at_once(st, ex)
        n = lines_go_on(s, n, 2)
    finally:
        c.close()  # the client leaves: the gateway publishes the cancel
    dt = wait_exit(ex, 3, "cancel while stopping")
    check("cancelled after" in ex.stderr_text(), "the echo's cancel callback did not run:\n%s"
          % tail(ex.stderr_text()))
    check("still open" not in ex.stderr_text(), "the stream was cut by the bound, not cancelled")
    check(dt < 3, "exited %.1fs after the client left" % dt)


@t.case
def a_stream_outliving_the_bound_is_cut(st):
    ex = start_echo(st)
    c, s = open_stream(st)
    t0 = time.monotonic()
    sigterm(ex)
    lines = []
    # read while waiting: the stream flows until the SDK ends it, then the
    # gateway's idle timeout cuts the response (no last chunk)
    done = {}

    def reader():
        try:
            while True:
                ch = s.chunk()
                if ch is None or ch == b"":
                    done["end"] = ch
                    return
                lines.append(ch)
        except Exception as e:  # noqa: BLE001
            done["error"] = e

    th = threading.Thread(target=reader, daemon=True)
    th.start()
    try:
        wait_exit(ex, STOP_STREAM_S + 5, "stream outliving the bound")
        dt = time.monotonic() - t0
        check(dt >= STOP_STREAM_S - 0.5, "exited %.1fs into the stop, before the bound" % dt)
        check("still open" in ex.stderr_text() and "cancelled after" in ex.stderr_text(),
              "the bound's end and the cancel callback logged:\n%s" % tail(ex.stderr_text()))
        th.join(IDLE_MS / 1000.0 + 10)
        check(not th.is_alive(), "the client's response did not end")
    finally:
        c.close()
    check("error" not in done, "reader: %r" % done.get("error"))
    eq(done.get("end"), None, "the response is cut short (None), never completed (b'')")
    eq(lines, [b"%d\n" % i for i in range(2, len(lines) + 2)], "lines in order, no gap")
    check(len(lines) >= 50, "the stream went on during the stop: %d lines" % len(lines))


@t.case
def no_stream_the_channel_goes_at_once(st):
    ex = start_echo(st)
    result = {}
    n0 = st.gw.metric("portico_inflight_requests")

    def slow():
        result["r"] = st.gw.http("GET", "/echo/d?delay_ms=3000", timeout=10)

    th = threading.Thread(target=slow, daemon=True)
    th.start()
    wait_until(lambda: st.gw.metric("portico_inflight_requests") == n0 + 1, 5,
               msg="the delayed request in flight")
    sigterm(ex)
    ex.assert_alive()  # waiting for the delayed reply
    pub = st.redis.client()
    try:
        m = request_message("portico:reply:nobody", path="/echo/x", route="/echo/*")
        wait_until(lambda: pub.publish(channel(ex), json.dumps(m)) == 0, 1,
                   msg="0 receivers on the channel of a stopping instance")
    finally:
        pub.close()
    ex.assert_alive()
    th.join(10)
    eq(result["r"].status, 200, "the delayed reply still goes out")
    wait_exit(ex, 3, "stop after the delayed reply")


@t.case
def idle_service_exits_at_once(st):
    ex = start_echo(st)
    t0 = time.monotonic()
    ex.send_signal(signal.SIGTERM)
    wait_exit(ex, 2, "idle stop")
    check(time.monotonic() - t0 < 2, "idle stop took %.1fs" % (time.monotonic() - t0))
    check("deregistering" in ex.stderr_text() and "stream(s) open" not in ex.stderr_text(),
          "plain deregister logged:\n%s" % tail(ex.stderr_text()))


if __name__ == "__main__":
    t.main(setup=setup, teardown=teardown)
