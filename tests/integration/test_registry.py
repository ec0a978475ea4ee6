#!/usr/bin/env python3
"""Registration (SPEC §3): register, heartbeat, TTL expiry and clamping, grace
(503 no_instance then 404), deregister, discover at gateway start, ownership and
hijack refusal, param-name-insensitive patterns, channel checks, and invalid
announcements dropped and counted while everything keeps working."""

import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (PREFIX, Gateway, RespClient, Runner, Service, Stack, check,  # noqa: E402
                     eq, fail, assert_error, free_port, now_ms, uniq, wait_until)

t = Runner()
ST = None
GRACE_MS = 1500
LONG_TTL = 300000     # heartbeat every 100 s: none happens during a case


def who(svc_holder):
    def h(req):
        return {"status": 200, "body": svc_holder[0].instance}
    return h


def mk(routes, base=None, service=None, **kw):
    base = base or "/" + uniq("r")
    holder = []
    kw.setdefault("handler", who(holder))
    svc = ST.service(service=service, routes=[(m, base + p) for m, p in routes], **kw)
    holder.append(svc)
    return svc, base


def reg_metric(reason):
    return ST.gw.metric("portico_registrations_total", result=reason)


@t.case
def register_and_route():
    svc, b = mk([("GET", "/a"), ("POST", "/a/{id}")])
    r = ST.gw.http("GET", b + "/a")
    eq((r.status, r.body), (200, svc.instance.encode()), "GET")
    r = ST.gw.http("POST", b + "/a/9", body=b"x")
    eq((r.status, r.body), (200, svc.instance.encode()), "POST")
    rt = ST.gw.route("POST", b + "/a/{id}")
    eq(rt["service"], svc.service, "service in /routes")
    eq([(i["instance"], i["channel"]) for i in rt["instances"]],
       [(svc.instance, "portico:svc:" + svc.instance)], "instances in /routes")
    svc.stop()


@t.case
def accepted_counted():
    before = reg_metric("accepted")
    svc, b = mk([("GET", "/acc")], ttl_ms=LONG_TTL)
    wait_until(lambda: reg_metric("accepted") >= before + 1, 3, msg="accepted counter")
    svc.stop()


@t.case
def heartbeat_keeps_alive():
    svc, b = mk([("GET", "/hb")], ttl_ms=1000)
    t_end = time.monotonic() + 2.6
    while time.monotonic() < t_end:
        eq(ST.gw.http("GET", b + "/hb").status, 200, "request during heartbeats")
        time.sleep(0.2)
    check(svc.registers_sent >= 6, "heartbeats sent: %d" % svc.registers_sent)
    svc.stop()


@t.case
def ttl_clamped_to_minimum():
    # ttl_ms 10 is clamped to 1000: alive at 0.5 s, gone by ~1 s + slack
    svc, b = mk([("GET", "/clamp")], ttl_ms=10, heartbeat=False)
    t0 = time.monotonic()
    time.sleep(0.5)
    eq(ST.gw.http("GET", b + "/clamp").status, 200, "0.5 s after one register with ttl_ms 10")
    ST.gw.wait_no_instance(svc.instance, timeout=3)
    el = time.monotonic() - t0
    check(el >= 0.9, "instance dropped after %.2fs (ttl clamped to 1000 ms)" % el)
    svc.stop(deregister=False)


@t.case
def ttl_expiry_grace_then_404():
    svc, b = mk([("GET", "/ttl")], ttl_ms=1000)
    eq(ST.gw.http("GET", b + "/ttl").status, 200, "alive")
    svc.pause_heartbeat()
    t0 = time.monotonic()
    time.sleep(0.3)
    eq(ST.gw.http("GET", b + "/ttl").status, 200, "still alive 0.3 s after the last heartbeat")
    ST.gw.wait_no_instance(svc.instance, timeout=3)
    rt = ST.gw.route("GET", b + "/ttl")
    check(rt is not None, "route vanished at once; it must stay %d ms in grace" % GRACE_MS)
    eq(rt["instances"], [], "route in grace has no instances")
    assert_error(ST.gw.http("GET", b + "/ttl"), 503, "no_instance")
    wait_until(lambda: ST.gw.route("GET", b + "/ttl") is None, GRACE_MS / 1000 + 3,
               msg="route removed after grace")
    el = time.monotonic() - t0
    check(el >= GRACE_MS / 1000, "route gone after %.2fs, sooner than the grace" % el)
    assert_error(ST.gw.http("GET", b + "/ttl"), 404, "not_found")
    eq(svc.n_requests(), 2, "requests delivered")
    svc.stop(deregister=False)


@t.case
def deregister_removes_at_once():
    svc, b = mk([("GET", "/dr")], ttl_ms=LONG_TTL)
    svc.stop(deregister=True)
    ST.gw.wait_no_instance(svc.instance, timeout=1.0)
    assert_error(ST.gw.http("GET", b + "/dr"), 503, "no_instance")
    wait_until(lambda: ST.gw.http("GET", b + "/dr").status == 404, GRACE_MS / 1000 + 3,
               msg="404 after grace")


@t.case
def grace_keeps_ownership_then_frees():
    name = uniq("own")
    a, b = mk([("GET", "/own")], service=name, ttl_ms=LONG_TTL)
    a.stop(deregister=True)
    ST.gw.wait_no_instance(a.instance)
    hj0 = reg_metric("hijack")
    # another service tries to take the route during grace: refused
    x, _ = mk([("GET", "/own")], base=b, service=uniq("thief"), ttl_ms=LONG_TTL,
              heartbeat=False, wait_route=False)
    wait_until(lambda: reg_metric("hijack") >= hj0 + 1, 3, msg="hijack counted during grace")
    assert_error(ST.gw.http("GET", b + "/own"), 503, "no_instance")
    eq(x.n_requests(), 0, "thief got no request")
    # a restarted instance of the owner takes it back
    a2, _ = mk([("GET", "/own")], base=b, service=name, ttl_ms=LONG_TTL)
    r = ST.gw.http("GET", b + "/own")
    eq((r.status, r.body), (200, a2.instance.encode()), "restarted owner serves")
    a2.stop(deregister=True)
    x.stop(deregister=True)
    # after grace the route is free to be claimed by anybody
    wait_until(lambda: ST.gw.route("GET", b + "/own") is None, GRACE_MS / 1000 + 3,
               msg="route removed after grace")
    y, _ = mk([("GET", "/own")], base=b, service=uniq("newowner"), ttl_ms=LONG_TTL)
    r = ST.gw.http("GET", b + "/own")
    eq((r.status, r.body), (200, y.instance.encode()), "new owner after grace")
    eq(ST.gw.route("GET", b + "/own")["service"], y.service, "owner in /routes")
    y.stop()


@t.case
def hijack_refused():
    a, b = mk([("GET", "/hj"), ("GET", "/hj/{id}")], ttl_ms=LONG_TTL)
    hj0 = reg_metric("hijack")
    x, _ = mk([("GET", "/hj"), ("GET", "/hj/{other}"), ("GET", "/mine")], base=b,
              ttl_ms=LONG_TTL, heartbeat=False, wait_route=False)
    ST.gw.wait_route("GET", b + "/mine", x.instance)
    wait_until(lambda: reg_metric("hijack") >= hj0 + 2, 3, msg="hijack counter +2")
    time.sleep(0.2)
    eq(reg_metric("hijack"), hj0 + 2, "hijack counted once per refused route")
    for _ in range(5):
        eq(ST.gw.http("GET", b + "/hj").body, a.instance.encode(), "owner keeps /hj")
        eq(ST.gw.http("GET", b + "/hj/7").body, a.instance.encode(), "owner keeps /hj/{id}")
    eq(ST.gw.http("GET", b + "/mine").body, x.instance.encode(), "thief's own route works")
    eq(x.n_requests(), 1, "thief got only its own route's request")
    eq(ST.gw.route("GET", b + "/hj")["service"], a.service, "owner in /routes")
    eq(ST.gw.route_instances("GET", b + "/hj"), [a.instance], "no thief instance on /hj")
    eq(ST.gw.route("GET", b + "/hj/{id}")["pattern"], b + "/hj/{id}", "first names kept")
    a.stop()
    x.stop()


@t.case
def same_pattern_other_param_names():
    name = uniq("pn")
    a, b = mk([("GET", "/p/{id}")], service=name, ttl_ms=LONG_TTL)
    a2, _ = mk([("GET", "/p/{uid}")], base=b, service=name, ttl_ms=LONG_TTL, wait_route=False)
    ST.gw.wait_route("GET", b + "/p/{id}", a2.instance)
    eq(sorted(ST.gw.route_instances("GET", b + "/p/{id}")), sorted([a.instance, a2.instance]),
       "both instances on one route")
    check(ST.gw.route("GET", b + "/p/{uid}") is None, "second spelling listed as its own route")
    for i in range(6):
        eq(ST.gw.http("GET", b + "/p/%d" % i).status, 200, "request")
    eq(a.n_requests() + a2.n_requests(), 6, "requests delivered")
    check(a.n_requests() > 0 and a2.n_requests() > 0, "both instances used")
    for rq in a.requests + a2.requests:
        eq(rq["route"], b + "/p/{id}", "route as first announced")
        eq(list(rq["params"].keys()), ["id"], "param names of the first announcement")
    a.stop()
    a2.stop()


@t.case
def discover_at_gateway_start():
    # the service is up before the gateway and would not heartbeat for 100 s
    svc, b = mk([("GET", "/disc")], ttl_ms=LONG_TTL)
    d0 = svc.discovers
    gw2 = Gateway(ST.tmpdir, ST.redis.url, name="gateway-discover")
    try:
        gw2.start()
        wait_until(lambda: svc.discovers > d0, 5, msg="discover from the new gateway")
        gw2.wait_route("GET", b + "/disc", svc.instance, timeout=5)
        r = gw2.http("GET", b + "/disc")
        eq((r.status, r.body), (200, svc.instance.encode()), "request via the new gateway")
        eq(svc.requests[-1]["reply_to"], "portico:reply:" + gw2.gateway_id, "reply_to of gw2")
        check(gw2.gateway_id != ST.gw.gateway_id, "gateway ids must differ")
    finally:
        gw2.stop()
    svc.stop()


def send_raw_register(data):
    c = ST.redis.client()
    try:
        return c.publish("portico:register", data if isinstance(data, (bytes, str)) else json.dumps(data))
    finally:
        c.close()


def reg(instance, routes, service=None, **kw):
    m = {"v": 1, "type": "register", "service": service or "svc-bad", "instance": instance,
         "channel": "portico:svc:" + instance, "ttl_ms": LONG_TTL, "ts_ms": now_ms(),
         "routes": routes}
    m.update(kw)
    return m


@t.case
def wrong_channel_refused():
    b = "/" + uniq("wc")
    bc0 = reg_metric("bad_channel")
    other, _ = mk([("GET", "/other")], ttl_ms=LONG_TTL)
    send_raw_register(reg("wc-1", [{"method": "GET", "path": b + "/a"}],
                          channel="portico:reply:" + ST.gw.gateway_id))
    send_raw_register(reg("wc-2", [{"method": "GET", "path": b + "/b"}],
                          channel=other.channel))
    send_raw_register(reg("wc-3", [{"method": "GET", "path": b + "/c"}],
                          channel="portico:svc:wc-3x"))
    send_raw_register(reg("wc-4", [{"method": "GET", "path": b + "/d"}],
                          channel="other:svc:wc-4"))
    wait_until(lambda: reg_metric("bad_channel") >= bc0 + 4, 3, msg="bad_channel +4")
    for p in ("/a", "/b", "/c", "/d"):
        check(ST.gw.route("GET", b + p) is None, "route with a bad channel listed: %s" % p)
        assert_error(ST.gw.http("GET", b + p), 404, "not_found")
    eq(other.n_requests(), 0, "nothing sent to the other instance's channel")
    other.stop()


def invalid_messages(b):
    ok_route = [{"method": "GET", "path": b + "/x"}]
    deep = {"v": 1}
    for _ in range(40):
        deep = {"a": deep}
    big = reg("big-1", ok_route)
    big["pad"] = "p" * (70 * 1024)
    many = reg("many-1", [{"method": "GET", "path": "%s/m%d" % (b, i)} for i in range(1001)])
    return [
        ("not_json", b"{not json"),
        ("not_json", b"\xff\xfe"),
        ("not_json", b""),
        ("too_large", json.dumps(big)),
        ("too_deep", json.dumps(deep)),
        ("too_many_routes", json.dumps(many)),
        ("bad_version", json.dumps(reg("ver-1", ok_route, v=2))),
        ("bad_type", json.dumps(reg("typ-1", ok_route, type="nope"))),
        ("bad_service", json.dumps(reg("bs-1", ok_route, service="Users"))),
        ("bad_service", json.dumps(reg("bs-2", ok_route, service="a" * 64))),
        ("bad_service", json.dumps(reg("bs-3", ok_route, service="-x"))),
        ("bad_instance", json.dumps(dict(reg("bi-1", ok_route), instance="a b",
                                         channel="portico:svc:a b"))),
        ("bad_instance", json.dumps(dict(reg("bi-2", ok_route), instance="i" * 129,
                                         channel="portico:svc:" + "i" * 129))),
        ("bad_route", json.dumps(reg("br-1", [{"method": "GET", "path": "nope"}]))),
        ("bad_route", json.dumps(reg("br-2", [{"method": "get", "path": b + "/x"}]))),
        ("bad_route", json.dumps(reg("br-3", [{"method": "GET", "path": b + "/*/x"}]))),
        ("bad_field", json.dumps(reg("bf-1", ok_route, ttl_ms="abc"))),
    ]


@t.case
def invalid_announcements_dropped_and_counted():
    good, gb = mk([("GET", "/good")], ttl_ms=LONG_TTL)
    b = "/" + uniq("inv")
    msgs = invalid_messages(b)
    want = {}
    for reason, _ in msgs:
        want[reason] = want.get(reason, 0) + 1
    before = {r: reg_metric(r) for r in want}
    for _, data in msgs:
        send_raw_register(data)
        eq(ST.gw.http("GET", gb + "/good").status, 200, "good route after an invalid message")

    def counted():
        return all(reg_metric(r) >= before[r] + n for r, n in want.items())
    try:
        wait_until(counted, 3, msg="every invalid message counted")
    except AssertionError:
        got = {r: reg_metric(r) - before[r] for r in want}
        fail("registrations_total deltas %r, want %r" % (got, want))
    got = {r: reg_metric(r) - before[r] for r in want}
    eq(got, want, "registrations_total deltas per reason")
    for r in ST.gw.routes():
        check(not r["pattern"].startswith(b), "route from an invalid message listed: %r" % r)
    ST.gw.assert_alive()
    good.stop()


@t.case
def register_with_one_bad_route():
    # a message with one bad route: the gateway must not crash; whatever it does with the
    # good routes, the bad one is never listed
    b = "/" + uniq("mix")
    send_raw_register(reg("mix-1", [{"method": "GET", "path": b + "/ok"},
                                    {"method": "GET", "path": "bad"}]))
    time.sleep(0.2)
    ST.gw.assert_alive()
    for r in ST.gw.routes():
        check(r["pattern"] != "bad", "bad pattern listed")


# ---- registration limits (docs/security.md "Registration limits") --------
# Each case runs its own gateway on its own channel prefix, so that the other
# cases' services never count against its small limits.

def capped_gateway(prefix, args):
    gw = Gateway(ST.tmpdir, ST.redis.url, ["--prefix", prefix] + args, name=prefix)
    gw.start()
    gw.wait_healthy()
    return gw


def cap_reg(prefix, service, instance, paths):
    return json.dumps({"v": 1, "type": "register", "service": service, "instance": instance,
                       "channel": "%s:svc:%s" % (prefix, instance), "ttl_ms": LONG_TTL,
                       "routes": [{"method": "GET", "path": p} for p in paths]})


def cap_publish(prefix, msgs):
    c = ST.redis.client()
    try:
        for m in msgs:
            c.publish(prefix + ":register", m)
    finally:
        c.close()


def cap_settle(gw, counts):
    """Waits until every registrations_total{result} reaches counts[result]."""
    def done():
        return all(gw.metric("portico_registrations_total", result=r) >= n
                   for r, n in counts.items())
    wait_until(done, 10, msg="registration results %r" % counts)
    for r, n in counts.items():
        eq(gw.metric("portico_registrations_total", result=r), n, "registrations_total{%s}" % r)


def listed_instances(gw):
    return sorted({i["instance"] for r in gw.routes() for i in r["instances"]})


@t.case
def instance_limits_refuse_new_instances():
    p = uniq("capi").replace("-", "")
    gw = capped_gateway(p, ["--max-instances", "5", "--max-instances-per-service", "3"])
    try:
        svc = Service(ST.redis.port, "capa", instance="capa-live", prefix=p, ttl_ms=LONG_TTL,
                      routes=[("GET", "/capa")],
                      handler=lambda req: {"status": 200, "body": "live"})
        ST.services.append(svc)
        svc.start()
        gw.wait_route("GET", "/capa", "capa-live")
        # a flood: 50 more instances of the same service, then 50 of other services
        cap_publish(p, [cap_reg(p, "capa", "capa-%d" % i, ["/capa"]) for i in range(50)])
        cap_publish(p, [cap_reg(p, "capb%d" % i, "capb-%d" % i, ["/capb%d" % i])
                        for i in range(50)])
        cap_settle(gw, {"accepted": 1 + 2 + 2, "too_many_service_instances": 48,
                        "too_many_instances": 48})
        _, _, h = gw.admin_get("/health")
        eq(h["instances"], 5, "/health instances")
        eq(len(listed_instances(gw)), 5, "instances in /routes")
        eq(h["routes"], 3, "/health routes")
        # known instances keep heartbeating and serving while the table is full
        before = gw.metric("portico_registrations_total", result="accepted")
        for _ in range(3):
            svc.publish_register()
        wait_until(lambda: gw.metric("portico_registrations_total", result="accepted")
                   >= before + 3, 10, msg="heartbeats accepted")
        r = gw.http("GET", "/capa")
        eq((r.status, r.body), (200, b"live"), "the live instance still serves")
        # a freed place is taken by the next newcomer
        svc.stop()
        gw.wait_no_instance("capa-live")
        cap_publish(p, [cap_reg(p, "capa", "capa-late", ["/capa"])])
        cap_settle(gw, {"accepted": before + 3 + 1})
        check("capa-late" in listed_instances(gw), "a new instance once there is room")
        check("too_many_instances" in gw.stderr_text(), "refusal logged")
        check(gw.stderr_text().count("too_many_service_instances") <= 2,
              "refusals logged rate-limited")
    finally:
        gw.stop()


@t.case
def route_limits_refuse_new_routes():
    p = uniq("capr").replace("-", "")
    gw = capped_gateway(p, ["--max-routes", "12", "--max-instance-routes", "20",
                            "--route-grace-ms", "0"])
    ten = ["/capr/%d" % i for i in range(10)]
    try:
        cap_publish(p, [cap_reg(p, "capr", "capr-1", ten)])
        cap_settle(gw, {"accepted": 1})
        # 10 + 5 distinct routes > 12: refused as a whole, nothing of it is created
        cap_publish(p, [cap_reg(p, "capr", "capr-2", ten[:3] + ["/capr/n%d" % i
                                                               for i in range(5)])])
        cap_settle(gw, {"accepted": 1, "route_table_full": 1})
        # the same 10 routes again: 20 (route, instance) pairs fit, 30 do not
        cap_publish(p, [cap_reg(p, "capr", "capr-%d" % i, ten) for i in range(3, 30)])
        cap_settle(gw, {"accepted": 2, "route_table_full": 1 + 26})
        _, _, h = gw.admin_get("/health")
        eq((h["instances"], h["routes"]), (2, 10), "/health instances and routes")
        eq(listed_instances(gw), ["capr-1", "capr-3"], "instances in /routes")
        # a known instance adding routes is never refused; the routes over a limit are
        # left out (20 pairs held: none fits)
        cap_publish(p, [cap_reg(p, "capr", "capr-1", ten + ["/capr/x", "/capr/y", "/capr/z"])])
        cap_settle(gw, {"accepted": 3, "route_table_full": 28})
        eq(gw.admin_get("/health")[2]["routes"], 10, "no route added over the limit")
        # with room for pairs, the distinct-route limit (12) leaves one of the three out
        cap_publish(p, [json.dumps({"v": 1, "type": "deregister", "service": "capr",
                                    "instance": "capr-3"})])
        gw.wait_no_instance("capr-3")
        cap_publish(p, [cap_reg(p, "capr", "capr-1", ten + ["/capr/x", "/capr/y", "/capr/z"])])
        cap_settle(gw, {"accepted": 4, "route_table_full": 29})
        eq(gw.admin_get("/health")[2]["routes"], 12, "routes up to the limit")
        eq(len(gw.route_instances("GET", "/capr/0")), 1, "the heartbeating instance serves")
    finally:
        gw.stop()


class SlowDoor:
    """A TCP relay to Redis that holds each new connection for `delay` s
    before relaying it: the gateway's bus comes up that much later."""

    def __init__(self, port, delay):
        self.target, self.delay = port, delay
        self.lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                a, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(a,), daemon=True).start()

    def _serve(self, a):
        time.sleep(self.delay)
        b = socket.create_connection(("127.0.0.1", self.target))
        self.socks += [a, b]
        for x, y in ((a, b), (b, a)):
            threading.Thread(target=self._pump, args=(x, y), daemon=True).start()

    @staticmethod
    def _pump(x, y):
        try:
            while True:
                d = x.recv(65536)
                if not d:
                    break
                y.sendall(d)
        except OSError:
            pass
        for s in (x, y):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.lsock.close()
        for s in self.socks:
            s.close()


@t.case
def ready_means_subscribed():
    """The ready line comes once the gateway listens on its channels (SPEC §7
    "when ready to serve"): with its Redis connections slow to open, a
    register published the moment the line is read still reaches the
    gateway (PUBLISH counts its subscriber) and its route serves. With Redis
    unreachable the line still comes, and requests get 503."""
    door = SlowDoor(ST.redis.port, 0.4)
    gw = Gateway(ST.tmpdir, "redis://127.0.0.1:%d" % door.port, name="gw-ready")
    try:
        gw.start()
        inst = uniq("early")
        path = "/" + uniq("early")
        msg = json.dumps({"v": 1, "type": "register", "service": "early", "instance": inst,
                          "channel": "%s:svc:%s" % (PREFIX, inst), "ttl_ms": 60000,
                          "routes": [{"method": "GET", "path": path}]})
        c = RespClient(ST.redis.port)
        try:
            n = c.command("PUBLISH", "%s:register" % PREFIX, msg)
        finally:
            c.close()
        check(n >= 2, "the register reached %d subscribers (the stack's gateway and the "
              "new one, at least)" % n)
        gw.wait_route("GET", path, inst, timeout=5)
    finally:
        gw.stop()
        door.close()
    gw = Gateway(ST.tmpdir, "redis://127.0.0.1:%d" % free_port(), name="gw-ready-noredis")
    gw.start()
    try:
        assert_error(gw.http("GET", "/anything"), 503, "bus_unavailable")
    finally:
        gw.stop()


def setup():
    global ST
    ST = Stack(["--route-grace-ms", str(GRACE_MS)], name="registry")
    return ST


if __name__ == "__main__":
    t.main(setup=setup, teardown=lambda st: st.close())
