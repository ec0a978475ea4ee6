#!/usr/bin/env python3
"""examples/python/service.py (no SDK, Debian's python3-redis) through the
real gateway: GET /hello/{name}; 405 for another method; request messages it
must drop (published straight onto its channel: not JSON, v 2, no id, a
reply_to outside P:reply:, mistyped deadline_ms or params, past its deadline)
neither get a reply nor stop it; deregistration on SIGTERM (404 at once with
--route-grace-ms 0) and exit 0."""
import json
import os
import re
import signal
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sdkutil import (Procs, Stack, eq, json_of, python_hello, replies_in_order,  # noqa: E402
                     request_message, procs_teardown)
from harness import Runner, assert_error, check, now_ms, wait_until  # noqa: E402

t = Runner()
ctx = {}


def setup():
    st = Stack(gateway_args=["--route-grace-ms", "0"], name="sdk-python")
    ctx["procs"] = Procs()
    ctx["hello"] = ctx["procs"].add(python_hello(st))
    st.gw.wait_route("GET", "/hello/{name}", ctx["hello"].instance)
    return st


teardown = procs_teardown(ctx)


@t.case
def hello(st):
    r = st.gw.http("GET", "/hello/world")
    eq((r.status, json_of(r)), (200, {"hello": "world"}), "GET /hello/world")
    eq(json_of(st.gw.http("GET", "/hello/caf%C3%A9"))["hello"], "caf\u00e9", "decoded param")
    assert_error(st.gw.http("POST", "/hello/x", body=b""), 405, "method_not_allowed")


@t.case
def trace_continued(st):
    """The example continues the gateway's trace: a child span (same trace-id
    and flags, a new parent-id), logged and returned as traceresponse."""
    tid, pid = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    r = st.gw.http("GET", "/hello/traced", headers={"traceparent": "00-%s-%s-01" % (tid, pid)})
    eq(r.status, 200, "status")
    tr = r.header("traceresponse") or ""
    m = re.match(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$", tr)
    check(m is not None, "traceresponse %r" % tr)
    eq((m.group(1), m.group(3)), (tid, "01"), "same trace, same flags")
    check(m.group(2) != pid, "a span of its own")
    line = wait_until(lambda: [ln for ln in ctx["hello"].stderr_text().splitlines()
                               if "trace=%s" % tid in ln and m.group(2) in ln], 5,
                      msg="the trace logged")[0]
    par = re.search(r"parent=([0-9a-f]{16})", line).group(1)
    check(par not in (pid, m.group(2)), "its parent is the gateway's span, not the client's")
    # without a client traceparent the gateway's new trace is continued
    r = st.gw.http("GET", "/hello/untraced")
    check(re.match(r"^00-[0-9a-f]{32}-[0-9a-f]{16}-01$", r.header("traceresponse") or ""),
          "the gateway's trace continued: %r" % r.header("traceresponse"))


@t.case
def bad_request_messages_are_dropped(st):
    chan = "portico:svc:" + ctx["hello"].instance
    mine = "portico:reply:" + str(uuid.uuid4())
    evil = "evil:reply:" + str(uuid.uuid4())

    def req(reply_to, **kw):
        kw.setdefault("path", "/hello/x")
        kw.setdefault("route", "/hello/{name}")
        kw.setdefault("params", {"name": "x"})
        return json.dumps(request_message(reply_to, **kw))
    sub, pub = st.redis.client(), st.redis.client()
    try:
        sub.subscribe(mine, evil, "portico:register")
        for m in ["not json", "[1,2]", "null", req(mine, v=2), req(evil), req("portico:register"),
                  json.dumps({"v": 1, "reply_to": mine}), req(None),
                  req(mine, deadline_ms="soon"), req(mine, params=["x"]),
                  req(mine, deadline_ms=now_ms() - 60000)]:
            eq(pub.publish(chan, m), 1, "one subscriber on the instance channel")
        good = json.loads(req(mine, params={"name": "ok"}))
        pub.publish(chan, json.dumps(good))
        got = replies_in_order(sub, 1, mine)
        eq((got[0]["id"], got[0]["status"], json.loads(got[0]["body"])),
           (good["id"], 200, {"hello": "ok"}), "the one good request answered")
    finally:
        sub.close()
        pub.close()
    ctx["hello"].assert_alive()
    eq(st.gw.http("GET", "/hello/still").status, 200, "still serving")


@t.case
def sigterm_deregisters(st):
    ctx["hello"].stop(sig=signal.SIGTERM)
    assert_error(st.gw.http("GET", "/hello/world"), 404, "not_found")


if __name__ == "__main__":
    t.main(setup=setup, teardown=teardown)
