#!/usr/bin/env python3
"""examples/echo through the real gateway: every method on /echo and below,
query, body, headers and x-request-id handed to the service; an asynchronous
reply (reply from a timer after the handler returned); a late asynchronous
reply after the deadline (504 from the gateway, refused by the SDK); and
deregistration on SIGTERM (with --route-grace-ms 0 the route is gone at once:
404, not after the TTL), with a clean exit."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sdkutil import Procs, Stack, check, echo, eq, json_of, procs_teardown  # noqa: E402
from harness import Runner, assert_error, wait_until  # noqa: E402

t = Runner()
ctx = {}


def setup():
    st = Stack(gateway_args=["--route-grace-ms", "0", "--timeout-ms", "1500"], name="sdk-echo")
    ctx["procs"] = Procs()
    ctx["echo"] = ctx["procs"].add(echo(st))
    st.gw.wait_route("*", "/echo/*", ctx["echo"].instance)
    return st


teardown = procs_teardown(ctx)


def client_reply_calls(st):
    """How many CLIENT REPLY commands Redis executed (INFO commandstats)."""
    c = st.redis.client()
    try:
        info = c.command("INFO", "commandstats")
    finally:
        c.close()
    info = info.decode() if isinstance(info, bytes) else info
    for ln in info.splitlines():
        if ln.startswith("cmdstat_client|reply:"):
            return int(ln.split("calls=")[1].split(",")[0])
    return 0


@t.case
def replies_are_published_without_answers(st):
    # The SDK publishes each reply after CLIENT REPLY SKIP (Redis answers
    # neither), so the service is not woken up by an answer it drops.
    before = client_reply_calls(st)
    for i in range(20):
        eq(st.gw.http("GET", "/echo/skip%d" % i).status, 200, "request %d" % i)
    eq(client_reply_calls(st) - before, 20, "one CLIENT REPLY SKIP per reply")
    ctx["echo"].assert_alive()
    # the answers that are wanted still arrive on the same connection: the
    # heartbeat's PUBLISH keeps the instance registered, calls keep working
    time.sleep(1.5)
    eq(st.gw.http("GET", "/echo/after").status, 200, "after heartbeats")


@t.case
def every_method(st):
    for m in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        body = b"payload-" + m.encode() if m in ("POST", "PUT", "PATCH") else None
        r = st.gw.http(m, "/echo/a/b%20c?x=1&y=2", headers={"X-Thing": "yes"}, body=body)
        eq(r.status, 200, "%s status" % m)
        eq(r.header("content-type"), "application/json", "content-type")
        j = json_of(r)
        eq(j["method"], m, "method")
        eq(j["path"], "/echo/a/b%20c", "raw path")
        eq(j["query"], "x=1&y=2", "query")
        eq(j["route"], "/echo/*", "route")
        eq(j["params"], {"*": "a/b c"}, "params")
        eq(j["body"], body.decode() if body else "", "body")
        hdrs = dict(j["headers"])
        eq(hdrs.get("x-thing"), "yes", "custom header")
        eq(j["request_id"], r.header("x-request-id"), "x-request-id seen by the service")
        eq(j["remote_addr"], "127.0.0.1", "remote_addr")
        eq(j["instance"], ctx["echo"].instance, "instance")


@t.case
def root_and_request_id(st):
    r = st.gw.http("GET", "/echo", headers={"X-Request-Id": "my-req-1"})
    eq(r.status, 200, "status")
    j = json_of(r)
    eq(j["params"], {"*": ""}, "empty wildcard")
    eq(j["request_id"], "my-req-1", "client request id kept")
    eq(r.header("x-request-id"), "my-req-1", "response request id")


@t.case
def messages_outside_the_fast_path(st):
    # Control characters travel as \u00XX escapes and more than 48 headers
    # do not fit the SDK's in-place reader: the full decoder reads these
    # requests, and the service must see exactly the same values.
    body = b'a\x01b\tc"d\\e\x1f'
    many = {"X-H-%02d" % i: "value-%d" % i for i in range(60)}
    r = st.gw.http("POST", "/echo/p%C3%A9?q=%01", headers=many, body=body)
    eq(r.status, 200, "status")
    j = json_of(r)
    eq(j["body"], body.decode(), "body with control characters")
    eq(j["body_length"], len(body), "body length")
    eq(j["params"], {"*": "p\u00e9"}, "percent-decoded UTF-8 param")
    hdrs = dict(j["headers"])
    for name, value in many.items():
        eq(hdrs.get(name.lower()), value, "header %s" % name)
    eq(j["request_id"], r.header("x-request-id"), "x-request-id found among 60+ headers")
    # a body that is not UTF-8 arrives base64-encoded: echo gives its length
    r = st.gw.http("PUT", "/echo/bin", body=b"\xff\x00\xfe\x80")
    eq(r.status, 200, "binary status")
    j = json_of(r)
    eq(j["body"], None, "binary body is not a JSON string")
    eq(j["body_length"], 4, "binary body length")


@t.case
def long_reply_channel(st):
    # Another gateway may use a reply channel of any length: one too long for
    # the SDK's in-place PUBLISH framing (over 200 bytes) takes the plain path.
    import json
    import uuid
    chan = "portico:reply:" + "r" * 300
    sub, pub = st.redis.client(), st.redis.client()
    try:
        sub.subscribe(chan)
        rid = str(uuid.uuid4())
        req = {"v": 1, "id": rid, "reply_to": chan, "deadline_ms": int(time.time() * 1000) + 5000,
               "method": "GET", "path": "/echo/long", "route": "/echo/*", "params": {"*": "long"},
               "headers": [["x-request-id", "long-1"]]}
        eq(pub.publish("portico:svc:" + ctx["echo"].instance, json.dumps(req)), 1, "receivers")
        m = sub.get_message(timeout=5.0)
        check(m is not None, "no reply on the long channel")
        eq(m[0], chan, "reply channel")
        rep = json.loads(m[1])
        eq(rep["id"], rid, "reply id")
        eq(rep["status"], 200, "reply status")
        eq(json.loads(rep["body"])["path"], "/echo/long", "echoed path")
    finally:
        sub.close()
        pub.close()


@t.case
def reply_to_must_be_a_reply_channel(st):
    # services.md: a reply goes only to "<prefix>:reply:<id>"; a request
    # naming another channel (P:register, another prefix, the bare
    # "P:reply:") is dropped unanswered, and the service goes on serving.
    import json
    import uuid
    bad = ["portico:register", "other:reply:x", "portico:reply:", "portico:replyx"]
    sub, pub = st.redis.client(), st.redis.client()
    try:
        sub.subscribe(*bad)
        for chan in bad:
            req = {"v": 1, "id": str(uuid.uuid4()), "reply_to": chan,
                   "deadline_ms": int(time.time() * 1000) + 5000, "method": "GET",
                   "path": "/echo/x", "route": "/echo/*", "params": {"*": "x"}, "headers": []}
            eq(pub.publish("portico:svc:" + ctx["echo"].instance, json.dumps(req)), 1,
               "receivers for " + chan)
        eq(st.gw.http("GET", "/echo/after").status, 200, "served after the bad requests")
        m = sub.get_message(timeout=1.0)
        check(m is None, "a reply was published on a channel that is not a reply channel: %r"
              % (m,))
        check("reply_to is not a reply channel" in ctx["echo"].stderr_text(),
              "the drop is not logged")
    finally:
        sub.close()
        pub.close()


@t.case
def head_uses_the_route(st):
    r = st.gw.http("HEAD", "/echo/x")
    eq(r.status, 200, "HEAD status")
    eq(r.body, b"", "HEAD has no body")


@t.case
def asynchronous_reply(st):
    t0 = time.monotonic()
    r = st.gw.http("GET", "/echo/later?delay_ms=300")
    dt = time.monotonic() - t0
    eq(r.status, 200, "status")
    eq(json_of(r)["query"], "delay_ms=300", "echoed query")
    check(dt >= 0.28, "answered after %.3fs, before the 300 ms delay" % dt)


@t.case
def asynchronous_reply_after_deadline(st):
    # gateway deadline 1500 ms; the service answers after 1700 ms
    r = st.gw.http("GET", "/echo/late?delay_ms=1700")
    assert_error(r, 504, "timeout")
    wait_until(lambda: "deadline passed before the delayed reply" in ctx["echo"].stderr_text(),
               3.0, 0.05, "the echo example to see its late reply refused")
    ctx["echo"].assert_alive()


@t.case
def sigterm_deregisters_at_once(st):
    ex = ctx["echo"]
    eq(st.gw.http("GET", "/echo/x").status, 200, "before")
    ex.stop()   # SIGTERM; asserts exit 0 and no sanitizer report
    # deregister is published before the process exits: no TTL wait
    r = st.gw.http("GET", "/echo/x")
    assert_error(r, 404, "not_found")
    check("deregistering" in ex.stderr_text(), "no deregister logged")


if __name__ == "__main__":
    t.main(setup=setup, teardown=teardown)
