#!/usr/bin/env python3
"""Large bodies through an SDK service (examples/echo) go through Redis keys,
not pub/sub (protocol.md 3.1, 4.1): the echo service announces claim_check;
a 5 MB request body reaches its handler intact and its reply (the body again,
in JSON) comes back by reference; a 40 MB body both ways while other requests
are in flight: all of them succeed, the gateway's subscriber is never dropped;
a request whose key expired is answered 400 by the SDK; no key is left."""
import hashlib
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sdkutil import Procs, Stack, echo, eq, json_of, procs_teardown  # noqa: E402
from harness import PREFIX, Runner, check, wait_until  # noqa: E402

t = Runner()
ctx = {}


def setup():
    st = Stack(gateway_args=["--timeout-ms", "30000", "--max-body-bytes", str(48 << 20)],
               name="sdk-claim")
    ctx["procs"] = Procs()
    ctx["echo"] = ctx["procs"].add(echo(st))
    st.gw.wait_route("*", "/echo/*", ctx["echo"].instance)
    return st


teardown = procs_teardown(ctx)


def body_keys(st):
    c = st.redis.client()
    try:
        return c.command("KEYS", PREFIX + ":body:*")
    finally:
        c.close()


def subscriber_ids(st):
    c = st.redis.client()
    try:
        text = c.command("CLIENT", "LIST").decode()
    finally:
        c.close()
    ids = set()
    for ln in text.splitlines():
        f = dict(kv.split("=", 1) for kv in ln.split() if "=" in kv)
        if f.get("sub") == "2" and f.get("psub") == "0":
            ids.add(f.get("id"))
    return ids


def register_says_claim_check(st):
    sub = st.redis.client()
    try:
        sub.subscribe(PREFIX + ":register")
        c = st.redis.client()
        c.command("PUBLISH", PREFIX + ":discover", '{"v":1,"type":"discover"}')
        c.close()
        m = sub.get_message(timeout=5)
        check(m is not None, "a register message after discover")
        return json.loads(m[1]).get("claim_check")
    finally:
        sub.close()


@t.case
def echo_announces_claim_check(st):
    eq(register_says_claim_check(st), True, "claim_check in the register message")


@t.case
def five_mb_request_and_reply_by_reference(st):
    body = (b"0123456789abcdef" * (5 * 1000 * 1000 // 16))
    stored0 = st.gw.metric("portico_claim_checks_total", direction="request", result="stored")
    fetched0 = st.gw.metric("portico_claim_checks_total", direction="reply", result="fetched")
    r = st.gw.http("POST", "/echo/big", body=body, timeout=60)
    eq(r.status, 200, "status")
    got = json_of(r)
    eq(got["body_length"], len(body), "length seen by the handler")
    check(got["body"].encode() == body, "body seen by the handler intact")
    eq(st.gw.metric("portico_claim_checks_total", direction="request", result="stored"),
       stored0 + 1, "request body stored")
    eq(st.gw.metric("portico_claim_checks_total", direction="reply", result="fetched"),
       fetched0 + 1, "reply body read")
    wait_until(lambda: body_keys(st) == [], 5, msg="no body key left")
    # a small one stays inline both ways
    r = st.gw.http("POST", "/echo/small", body=b"hello")
    eq(json_of(r)["body"], "hello", "small body")
    eq(st.gw.metric("portico_claim_checks_total", direction="reply", result="fetched"),
       fetched0 + 1, "small reply inline")


@t.case
def forty_mb_cuts_nothing(st):
    body = os.urandom(20 * 1000 * 1000).hex().encode()  # 40 MB of ASCII
    subs0 = subscriber_ids(st)
    rec0 = st.gw.metric("portico_redis_reconnects_total")
    results = {}

    def small(i):
        results[i] = st.gw.http("GET", "/echo/s%d?delay_ms=1500" % i, timeout=60)

    th = [threading.Thread(target=small, args=(i,)) for i in range(10)]
    for x in th:
        x.start()
    r = st.gw.http("PUT", "/echo/huge", body=body, timeout=120)
    for x in th:
        x.join(60)
    eq(r.status, 200, "40 MB status")
    got = json_of(r)
    eq(got["body_length"], len(body), "40 MB length seen by the handler")
    eq(hashlib.sha256(got["body"].encode()).hexdigest(), hashlib.sha256(body).hexdigest(),
       "40 MB body back intact")
    for i in range(10):
        eq(results[i].status, 200, "request %d in flight meanwhile" % i)
    eq(st.gw.metric("portico_redis_reconnects_total"), rec0, "bus reconnects")
    eq(subscriber_ids(st), subs0, "the gateway's subscriber connection")
    wait_until(lambda: body_keys(st) == [], 5, msg="no body key left")
    ctx["echo"].assert_alive()


@t.case
def expired_request_key_is_400(st):
    # A request message naming a key that is not there (expired): the SDK
    # answers it 400 bad_request, without running the handler.
    sub = st.redis.client()
    rid = "0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9"
    reply_to = PREFIX + ":reply:test-" + rid
    sub.subscribe(reply_to)
    c = st.redis.client()
    msg = {"v": 1, "id": rid, "reply_to": reply_to, "deadline_ms": 10 ** 13, "method": "POST",
           "path": "/echo/x", "query": "", "route": "/echo/*", "params": {"*": "x"},
           "headers": [], "body_ref": "%s:body:%s:req" % (PREFIX, rid), "body_len": 5}
    eq(c.command("PUBLISH", "%s:svc:%s" % (PREFIX, ctx["echo"].instance), json.dumps(msg)), 1,
       "delivered")
    m = sub.get_message(timeout=10)
    check(m is not None, "a reply")
    rep = json.loads(m[1])
    eq(rep["status"], 400, "status for a missing body")
    # a foreign key is never read: the request is dropped
    c.command("SET", PREFIX + ":secret", "12345")
    msg["body_ref"] = PREFIX + ":secret"
    c.command("PUBLISH", "%s:svc:%s" % (PREFIX, ctx["echo"].instance), json.dumps(msg))
    eq(sub.get_message(timeout=1), None, "no reply to a foreign key")
    eq(c.command("GET", PREFIX + ":secret"), b"12345", "foreign key untouched")
    c.command("DEL", PREFIX + ":secret")
    c.close()
    sub.close()


if __name__ == "__main__":
    t.main(setup=setup, teardown=teardown)
