#!/usr/bin/env python3
"""examples/node/service.js (Node.js, ioredis, no SDK) through the real gateway
and, for what a gateway never sends, by publishing on its instance channel:
GET /hi/{name} (decoded param, HEAD, 405 from the gateway), POST /hi/echo
(UTF-8 and binary bodies both ways, a BOM kept, empty body), dispatch on
`route` with other param names and on `path` without a route, its own 404
error body, requests it must ignore (not JSON, v 2, no id, a reply_to outside
P:reply:, past its deadline), re-announcing on discover, a Redis restart,
and deregistration on SIGTERM (404 at once with --route-grace-ms 0) with exit 0.

Skipped (exit 77) only when node or npm is not installed."""
import json
import os
import signal
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sdkutil import (Procs, Stack, eq, json_of, node_hi, node_or_skip,  # noqa: E402
                     replies_in_order, request_message, procs_teardown)
from harness import Runner, assert_error, fail, now_ms, wait_until  # noqa: E402

node_or_skip()
t = Runner()
ctx = {}


def setup():
    st = Stack(gateway_args=["--route-grace-ms", "0"], name="sdk-node")
    ctx["procs"] = Procs()
    ctx["hi"] = ctx["procs"].add(node_hi(st))
    st.gw.wait_route("GET", "/hi/{name}", ctx["hi"].instance)
    st.gw.wait_route("POST", "/hi/echo", ctx["hi"].instance)
    return st


teardown = procs_teardown(ctx)


@t.case
def hi(st):
    r = st.gw.http("GET", "/hi/world")
    eq((r.status, json_of(r), r.header("content-type")), (200, {"hi": "world"}, "application/json"),
       "GET /hi/world")
    eq(json_of(st.gw.http("GET", "/hi/caf%C3%A9"))["hi"], "caf\u00e9", "decoded param")
    eq(json_of(st.gw.http("GET", "/hi/echo")), {"hi": "echo"}, "GET /hi/echo is /hi/{name}")
    r = st.gw.http("HEAD", "/hi/x")
    eq((r.status, r.body, r.header("content-length")), (200, b"", str(len('{"hi":"x"}'))), "HEAD")
    assert_error(st.gw.http("POST", "/hi/x", body=b""), 405, "method_not_allowed")
    assert_error(st.gw.http("GET", "/hi"), 404, "not_found")


@t.case
def echo_bodies(st):
    for body, ctype in ((b'{"say":"hi"}', "application/json"),
                        ("h\u00e9llo \u2603".encode(), "text/plain; charset=utf-8"),
                        (bytes(range(256)), None),            # not UTF-8: base64 both ways
                        (b"\xef\xbb\xbfbom", "text/plain"),   # a BOM is kept
                        (b"a\x00b", "application/octet-stream")):
        headers = {"content-type": ctype} if ctype else {}
        r = st.gw.http("POST", "/hi/echo", headers=headers, body=body)
        eq((r.status, r.body), (200, body), "echo of %r" % body[:20])
        eq(r.header("content-type"), ctype or "application/octet-stream", "echoed content-type")
    r = st.gw.http("POST", "/hi/echo", body=b"")
    eq((r.status, r.body), (200, b""), "empty body")


def request(reply_to, **kw):
    kw.setdefault("path", "/hi/x")
    kw.setdefault("route", "/hi/{name}")
    kw.setdefault("params", {"name": "x"})
    return request_message(reply_to, **kw)


@t.case
def dispatch_and_bad_requests(st):
    chan = "portico:svc:" + ctx["hi"].instance
    mine = "portico:reply:" + str(uuid.uuid4())
    evil = "evil:reply:" + str(uuid.uuid4())
    sub, pub = st.redis.client(), st.redis.client()
    try:
        sub.subscribe(mine, evil, "portico:register")
        # Ignored: not JSON, v 2, no id, reply_to outside P:reply:, past its deadline.
        ignored = [b"not json", b"[1,2]", b"null",
                   json.dumps(request(mine, v=2)).encode(),
                   json.dumps({k: v for k, v in request(mine).items() if k != "id"}).encode(),
                   json.dumps(request(evil)).encode(),
                   json.dumps(request("portico:register")).encode(),
                   json.dumps(request(mine, deadline_ms=now_ms() - 60000)).encode()]
        for m in ignored:
            eq(pub.publish(chan, m), 1, "one subscriber on the instance channel")
        # Answered, in this order: other param names, no route (the path), an
        # unknown route (the service's own 404 error body).
        good = [request(mine, route="/hi/{who}", params={"who": "renamed"}),
                request(mine, path="/hi/caf%C3%A9", route=None),
                request(mine, method="GET", path="/nope", route="/nope", params={})]
        good[1].pop("route")
        for m in good:
            eq(pub.publish(chan, json.dumps(m)), 1, "published")
        got = replies_in_order(sub, len(good), mine)
        eq([g["id"] for g in got], [m["id"] for m in good], "replies, in order, to the good ones only")
        eq([g["status"] for g in got], [200, 200, 404], "statuses")
        eq(json.loads(got[0]["body"]), {"hi": "renamed"}, "param by position")
        eq(json.loads(got[1]["body"]), {"hi": "caf\u00e9"}, "matched by path")
        eq(json.loads(got[2]["body"]), {"error": "not_found", "message": "no route for this method and path",
                                        "request_id": "rid-direct-1"}, "service error body")
        eq(got[2]["headers"], [["content-type", "application/json"]], "error headers")
    finally:
        sub.close()
        pub.close()
    ctx["hi"].assert_alive()
    eq(st.gw.http("GET", "/hi/still").status, 200, "still serving")


@t.case
def discover_makes_it_announce(st):
    # 20 discovers: 20 register messages of the instance follow (heartbeats alone,
    # every ttl/3 = 3.3 s, would take over a minute to make as many).
    sub, pub = st.redis.client(), st.redis.client()
    try:
        sub.subscribe("portico:register")
        for _ in range(20):
            eq(pub.publish("portico:discover", '{"v":1,"type":"discover"}'), 1, "hi subscribed")
        n, deadline = 0, time.monotonic() + 40
        while n < 20:
            msg = sub.get_message(timeout=max(0.0, deadline - time.monotonic()))
            if msg is None:
                fail("only %d register messages after 20 discovers" % n)
            m = json.loads(msg[1])
            if m.get("type") == "register" and m.get("instance") == ctx["hi"].instance:
                n += 1
    finally:
        sub.close()
        pub.close()


@t.case
def redis_restart(st):
    """Redis restarted empty: the service connects again, subscribes again and
    answers (a gateway publishing to an unsubscribed instance would drop it)."""
    eq(st.gw.http("GET", "/hi/before").status, 200, "before")
    st.redis.restart(kill=True)  # same port, empty
    st.gw.wait_healthy(10)
    wait_until(lambda: st.gw.http("GET", "/hi/after").status == 200, 30, 0.2,
               "GET /hi/after answered by the Node.js example after the restart")
    st.gw.wait_route("GET", "/hi/{name}", ctx["hi"].instance, timeout=10)
    ctx["hi"].assert_alive()


@t.case
def sigterm_deregisters(st):
    ctx["hi"].stop(sig=signal.SIGTERM)
    assert_error(st.gw.http("GET", "/hi/world"), 404, "not_found")


if __name__ == "__main__":
    t.main(setup=setup, teardown=teardown)
