#!/usr/bin/env python3
"""PUBLISH answering 0 (SPEC §5): a gone ("ghost") instance is dropped and another
instance tried, up to 3 tries in all, then 503 no_instance."""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Monitor, Runner, Stack, assert_error, check, eq, now_ms,  # noqa: E402
                     uniq, wait_until)

t = Runner()
ST = None


def ghost(service, instance, routes):
    c = ST.redis.client()
    try:
        c.publish("portico:register", json.dumps({
            "v": 1, "type": "register", "service": service, "instance": instance,
            "channel": "portico:svc:" + instance, "ttl_ms": 300000, "ts_ms": now_ms(),
            "routes": [{"method": m, "path": p} for m, p in routes]}))
    finally:
        c.close()


@t.case
def ghost_and_real():
    name = uniq("fo")
    b = "/" + name
    holder = []
    real = ST.service(service=name, routes=[("GET", b + "/x")],
                      handler=lambda req: {"status": 200, "body": holder[0].instance})
    holder.append(real)
    ghost(name, name + "-ghost", [("GET", b + "/x")])
    ST.gw.wait_route("GET", b + "/x", name + "-ghost")
    for i in range(6):
        r = ST.gw.http("GET", b + "/x")
        eq((r.status, r.body), (200, real.instance.encode()), "request %d" % i)
    eq(ST.gw.route_instances("GET", b + "/x"), [real.instance], "ghost dropped from /routes")
    eq(real.n_requests(), 6, "real instance got every request once")
    eq(real.duplicates(), {}, "duplicates")
    real.stop()


@t.case
def only_ghosts_three_tries():
    name = uniq("fo")
    b = "/" + name
    ghosts = ["%s-g%d" % (name, i) for i in range(4)]
    for g in ghosts:
        ghost(name, g, [("GET", b + "/y")])
    for g in ghosts:
        ST.gw.wait_route("GET", b + "/y", g)
    mon = Monitor(ST.redis.port)
    try:
        r = ST.gw.http("GET", b + "/y", {"X-Request-Id": "ghosts-1"})
        assert_error(r, 503, "no_instance", request_id="ghosts-1")
        left = ST.gw.route_instances("GET", b + "/y")
        eq(len(left), 1, "instances left after one request (3 tries then stop): %r" % left)
        wait_until(lambda: len(mon.publishes("portico:svc:" + name)) >= 3, 3,
                   msg="3 PUBLISHes seen by MONITOR")
        time.sleep(0.1)
        pubs = [ch for ch, _ in mon.publishes("portico:svc:" + name)]
        eq(len(pubs), 3, "PUBLISHes for the request: %r" % pubs)
        eq(len(set(pubs)), 3, "each try went to a different ghost")
        check(left[0] not in [p.split(":", 2)[2] for p in pubs], "the untried ghost remains")
        r = ST.gw.http("GET", b + "/y")
        assert_error(r, 503, "no_instance")
        eq(ST.gw.route_instances("GET", b + "/y"), [], "last ghost dropped, route in grace")
        r = ST.gw.http("GET", b + "/y")
        assert_error(r, 503, "no_instance")
    finally:
        mon.close()


def setup():
    global ST
    ST = Stack(name="failover")
    return ST


if __name__ == "__main__":
    t.main(setup=setup, teardown=lambda st: st.close())
