#!/usr/bin/env python3
"""After Redis restarts, the gateway may be back before its services have
re-subscribed: a PUBLISH that reaches nobody, for an instance not heard from
since the bus came up, must not drop it. The request waits for an
announcement (bounded), then tries again; an instance heard from since the
bus came up is still dropped at 0 receivers. The services here re-subscribe
only when the test opens their gate, so the order of events is fixed."""

import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Runner, Service, Stack, assert_error, check, eq, now_ms,  # noqa: E402
                     uniq, wait_until)

t = Runner()
ST = None
GATE = threading.Event()   # set: services may (re)connect their subscriber
GATE.set()


class GatedService(Service):
    """Its subscriber connects only while GATE is set (publishing is not gated)."""

    def _client(self):
        if threading.current_thread().name.startswith("svc-sub-"):
            while not GATE.wait(0.05):
                if self._stop.is_set():
                    raise OSError("stopped")
        return super()._client()


def who(holder):
    return lambda req: {"status": 200, "body": holder[0].instance}


def gated(name, path, **kw):
    holder = []
    s = GatedService(ST.redis.port, name, routes=[("GET", path)], handler=who(holder),
                     heartbeat=False, ttl_ms=60000, timeout_ms=10000, **kw)
    holder.append(s)
    ST.services.append(s)
    s.start()
    ST.gw.wait_route("GET", path, s.instance)
    return s


def restart_redis_gated():
    """Redis restarts while the services' subscribers are held back; returns
    once the gateway's bus is up again."""
    GATE.clear()
    ST.redis.stop(kill=True)
    ST.redis.start()
    ST.gw.wait_healthy(timeout=15)


def listed(path):
    return sorted(ST.gw.route_instances("GET", path) or [])


@t.case
def kept_and_served_after_reannounce():
    name = uniq("ra")
    path = "/" + name
    a, b = gated(name, path), gated(name, path)
    eq(ST.gw.http("GET", path).status, 200, "before the restart")
    restart_redis_gated()
    waits0 = ST.gw.metric("portico_publish_waits_total")
    fo0 = ST.gw.metric("portico_publish_failovers_total")
    n0 = a.n_requests() + b.n_requests()
    out = []
    th = threading.Thread(target=lambda: out.append(ST.gw.http("GET", path, timeout=20)))
    th.start()
    try:
        wait_until(lambda: ST.gw.metric("portico_publish_waits_total") > waits0, 10,
                   msg="the request to wait for an announcement")
        eq(listed(path), sorted([a.instance, b.instance]), "instances kept while waiting")
    finally:
        GATE.set()     # the services re-subscribe and re-announce
        th.join(25)
    check(out, "the request did not finish")
    eq(out[0].status, 200, "answered once the services re-announced: %r" % out[0])
    check(out[0].body in (a.instance.encode(), b.instance.encode()), "body %r" % out[0].body)
    eq(a.n_requests() + b.n_requests() - n0, 1, "requests delivered")
    eq(a.duplicates(), {}, "duplicates at a")
    eq(b.duplicates(), {}, "duplicates at b")
    eq(ST.gw.metric("portico_publish_failovers_total"), fo0, "instances dropped at 0 receivers")
    eq(listed(path), sorted([a.instance, b.instance]), "both instances still listed")
    for _ in range(4):
        eq(ST.gw.http("GET", path).status, 200, "after the re-announcement")


@t.case
def silent_instance_kept_three_tries_then_503():
    """An instance that does not come back: 3 tries (each after a bounded
    wait), then 503 no_instance; the instance is left to its TTL."""
    name = uniq("rs")
    path = "/" + name
    s = gated(name, path)
    restart_redis_gated()
    waits0 = ST.gw.metric("portico_publish_waits_total")
    fo0 = ST.gw.metric("portico_publish_failovers_total")
    try:
        r = ST.gw.http("GET", path, {"X-Request-Id": "silent-1"}, timeout=20)
        assert_error(r, 503, "no_instance", request_id="silent-1")
        eq(ST.gw.metric("portico_publish_waits_total") - waits0, 3, "PUBLISHes that waited")
        eq(ST.gw.metric("portico_publish_failovers_total"), fo0, "dropped instances")
        eq(listed(path), [s.instance], "the silent instance is kept (its TTL decides)")
    finally:
        GATE.set()
    ST.gw.wait_route("GET", path, s.instance)
    wait_until(lambda: s.connects >= 2, 10, msg="the service to reconnect")
    wait_until(lambda: ST.gw.http("GET", path).status == 200, 10, msg="a 200 once it is back")


@t.case
def heard_since_up_still_dropped():
    """An instance announced after the bus came up and gone since (a ghost:
    nobody subscribed to its channel) is dropped at 0 receivers as before."""
    name = uniq("rg")
    path = "/" + name
    real = gated(name, path)
    ghost = name + "-ghost"
    c = ST.redis.client()
    try:
        c.publish("portico:register", json.dumps({
            "v": 1, "type": "register", "service": name, "instance": ghost,
            "channel": "portico:svc:" + ghost, "ttl_ms": 300000, "ts_ms": now_ms(),
            "routes": [{"method": "GET", "path": path}]}))
    finally:
        c.close()
    ST.gw.wait_route("GET", path, ghost)
    fo0 = ST.gw.metric("portico_publish_failovers_total")
    waits0 = ST.gw.metric("portico_publish_waits_total")
    for _ in range(4):
        r = ST.gw.http("GET", path)
        eq((r.status, r.body), (200, real.instance.encode()), "served by the real instance")
    eq(listed(path), [real.instance], "ghost dropped")
    eq(ST.gw.metric("portico_publish_failovers_total"), fo0 + 1, "one drop counted")
    eq(ST.gw.metric("portico_publish_waits_total"), waits0, "no wait for a ghost heard since up")


def setup():
    global ST
    ST = Stack(name="reannounce")
    return ST


if __name__ == "__main__":
    t.main(setup=setup, teardown=lambda st: st.close())
