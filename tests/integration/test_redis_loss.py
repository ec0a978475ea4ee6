#!/usr/bin/env python3
"""Redis lost and back (SPEC §5): in-flight requests fail at once with 503, new ones
get 503 bus_unavailable immediately, /health says down; after Redis restarts on the
same port the gateway reconnects by itself, publishes discover, routes come back and
every request is handled exactly once."""

import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Gateway, Redis, Runner, Stack, assert_error, check, eq,  # noqa: E402
                     wait_until)

t = Runner()
ST = None
S = {}


def who(holder):
    return lambda req: {"status": 200, "body": holder[0].instance}


@t.case
def baseline():
    holder = []
    svc = ST.service(service="rl", routes=[("GET", "/rl/x"), ("GET", "/rl/slow")],
                     handler=lambda req: None if req["path"] == "/rl/slow" else
                     {"status": 200, "body": holder[0].instance}, timeout_ms=10000)
    holder.append(svc)
    short = ST.service(service="rlshort", routes=[("GET", "/rls/x")], ttl_ms=1000)
    S["svc"], S["short"] = svc, short
    eq(ST.gw.http("GET", "/rl/x").status, 200, "before the outage")
    S["reconnects0"] = ST.gw.metric("portico_redis_reconnects_total")
    S["late0"] = ST.gw.metric("portico_late_replies_total")


@t.case
def inflight_fails_fast_when_redis_dies():
    out = []
    th = threading.Thread(target=lambda: out.append(ST.gw.http("GET", "/rl/slow", timeout=15)))
    n0 = S["svc"].n_requests()
    th.start()
    S["svc"].wait_requests(n0 + 1)
    S["short"].pause_heartbeat()       # this one will be silent through the outage
    t0 = time.monotonic()
    ST.redis.stop(kill=True)
    th.join(12)
    el = time.monotonic() - t0
    check(out, "in-flight request did not finish")
    assert_error(out[0], 503, "bus_unavailable")
    check(el < 2.0, "in-flight request failed only after %.2fs (deadline 10 s)" % el)


@t.case
def new_requests_503_immediately():
    for p in ("/rl/x", "/rl/slow"):
        t0 = time.monotonic()
        r = ST.gw.http("GET", p)
        el = time.monotonic() - t0
        assert_error(r, 503, "bus_unavailable")
        check(el < 1.0, "bus_unavailable after %.2fs (must be immediate)" % el)


@t.case
def health_503_while_down():
    st, _, j = ST.gw.admin_get("/health")
    eq(st, 503, "/health status")
    eq(j.get("redis"), "down", "/health redis")


@t.case
def reconnect_after_restart():
    time.sleep(1.2)              # let the short-ttl instance's TTL run out meanwhile
    d0 = S["svc"].discovers
    ST.redis.start()
    watcher = ST.redis.client()
    watcher.subscribe("portico:discover")
    ST.gw.wait_healthy(timeout=10)
    m = watcher.get_message(timeout=6)
    watcher.close()
    if m is not None:
        eq(json.loads(m[1]), {"v": 1, "type": "discover"}, "discover message")
    else:   # published before the watcher subscribed: the service must have seen it
        check(S["svc"].discovers > d0, "no discover published after the reconnect")
    ST.gw.wait_route("GET", "/rl/x", S["svc"].instance, timeout=8)
    eq(ST.gw.http("GET", "/rl/x").status, 200, "after the reconnect")
    ST.gw.assert_alive()


@t.case
def expired_meanwhile_dropped():
    ins = ST.gw.route_instances("GET", "/rls/x")
    check(not ins or S["short"].instance not in ins,
          "instance whose TTL ran out during the outage still listed: %r" % ins)


@t.case
def exactly_once_after_reconnect():
    svc = S["svc"]
    n0 = svc.n_requests()
    for i in range(20):
        r = ST.gw.http("GET", "/rl/x")
        eq((r.status, r.body), (200, svc.instance.encode()), "request %d" % i)
    eq(svc.n_requests() - n0, 20, "requests received")
    eq(svc.duplicates(), {}, "a request delivered twice")
    time.sleep(0.3)
    eq(ST.gw.metric("portico_late_replies_total"), S["late0"],
       "late replies (a doubled reply-channel subscription would count every reply twice)")
    c = ST.redis.client()
    try:
        subs = c.command("PUBSUB", "NUMSUB", ST.gw.reply_channel)
    finally:
        c.close()
    eq(int(subs[1]), 1, "subscribers of the reply channel")


@t.case
def reconnects_counted():
    v = ST.gw.metric("portico_redis_reconnects_total")
    check(v >= S["reconnects0"] + 1, "portico_redis_reconnects_total %r -> %r" % (S["reconnects0"], v))


@t.case
def second_outage_sigterm_redis():
    ST.redis.stop(kill=False)
    wait_until(lambda: ST.gw.admin_get("/health")[0] == 503, 5, msg="/health 503")
    ST.redis.start()
    ST.gw.wait_healthy(timeout=10)
    ST.gw.wait_route("GET", "/rl/x", S["svc"].instance, timeout=8)
    eq(ST.gw.http("GET", "/rl/x").status, 200, "after the second outage")


@t.case
def gateway_started_while_redis_down():
    r2 = Redis(os.path.join(ST.tmpdir, "r2"))
    gw = Gateway(ST.tmpdir, r2.url, name="gateway-nored")
    try:
        gw.start()
        st, _, j = gw.admin_get("/health")
        eq(st, 503, "/health without Redis")
        assert_error(gw.http("GET", "/anything"), 503, "bus_unavailable")
        r2.start()
        gw.wait_healthy(timeout=10)
        from harness import Service
        svc = Service(r2.port, "late", routes=[("GET", "/late")]).start()
        try:
            gw.wait_route("GET", "/late", svc.instance)
            eq(gw.http("GET", "/late").status, 200, "request once Redis is up")
        finally:
            svc.stop()
    finally:
        try:
            gw.stop()
        finally:
            r2.stop(kill=True)


@t.case
def redis_that_never_answers():
    """A peer that accepts the TCP connection but never answers (a hung Redis):
    the gateway gives up on the attempt after a few seconds and retries, instead
    of waiting on it forever; clients get 503 bus_unavailable meanwhile."""
    mute = socket.socket()
    mute.bind(("127.0.0.1", 0))
    mute.listen(16)
    port = mute.getsockname()[1]
    gw = Gateway(ST.tmpdir, "redis://127.0.0.1:%d" % port, name="gateway-mute")
    try:
        gw.start()
        assert_error(gw.http("GET", "/x"), 503, "bus_unavailable")
        wait_until(lambda: "connect timed out" in gw.stderr_text(), 10,
                   msg="a log line saying the connect attempt timed out")
        eq(gw.admin_get("/health")[0], 503, "/health while Redis hangs")
    finally:
        try:
            gw.stop()
        finally:
            mute.close()


def setup():
    global ST
    ST = Stack(name="redis_loss")
    return ST


if __name__ == "__main__":
    t.main(setup=setup, teardown=lambda st: st.close())
