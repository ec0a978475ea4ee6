#!/usr/bin/env python3
"""Admin listener (SPEC §6): /health, /routes shape, /metrics names and values."""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Runner, Stack, assert_error, check, eq, parse_metrics, wait_until  # noqa: E402

t = Runner()
ST = None


@t.case
def health_ok():
    st, h, j = ST.gw.admin_get("/health")
    eq(st, 200, "status")
    eq(dict(h).get("content-type"), "application/json", "content-type")
    eq(j.get("status"), "ok", "status field")
    eq(j.get("redis"), "up", "redis field")
    eq(j.get("gateway_id"), ST.gw.gateway_id, "gateway_id matches the ready line")
    eq(j.get("workers"), 1, "workers field")
    eq(j.get("inflight"), 0, "inflight at rest")
    check(isinstance(j.get("connections"), int), "connections field %r" % j.get("connections"))


@t.case
def routes_shape():
    svc = ST.service(service="users", instance="users-1",
                     routes=[("GET", "/users/{id}"), ("POST", "/users")], ttl_ms=3000)
    time.sleep(0.3)
    routes = ST.gw.routes()
    mine = sorted([r for r in routes if r["service"] == "users"], key=lambda r: r["method"])
    eq(len(mine), 2, "routes of users")
    for r in mine:
        eq(set(r.keys()), {"service", "method", "pattern", "kind", "in_grace", "retry", "async",
                           "instances"},
           "route keys")
        eq(r["kind"], "bus", "kind")
        eq(r["retry"], False, "retry (not announced)")
        eq(len(r["instances"]), 1, "instances")
        i = r["instances"][0]
        eq(set(i.keys()), {"instance", "channel", "last_heard_s", "inflight", "timeout_ms",
                           "ejected", "ejected_for_s", "consecutive_timeouts", "ejections"},
           "instance keys")
        eq((i["instance"], i["channel"], i["inflight"], i["ejected"], i["ejected_for_s"],
            i["consecutive_timeouts"], i["ejections"]),
           ("users-1", "portico:svc:users-1", 0, False, 0, 0, 0), "instance fields")
        check(isinstance(i["last_heard_s"], (int, float)) and 0 <= i["last_heard_s"] <= 2.0,
              "last_heard_s %r" % (i["last_heard_s"],))
    eq([(r["method"], r["pattern"]) for r in mine], [("GET", "/users/{id}"), ("POST", "/users")],
       "methods and patterns")
    svc.stop(deregister=True)
    ST.gw.wait_no_instance("users-1")
    r = ST.gw.route("GET", "/users/{id}")
    check(r is not None, "route in grace not listed")
    eq(r["instances"], [], "instances of a route in grace")


@t.case
def metrics_names_and_values():
    svc = ST.service(routes=[("GET", "/m")])
    m0 = ST.gw.metrics()
    c200 = m0.get(("portico_http_requests_total", frozenset({("code", "200")})), 0)
    c404 = m0.get(("portico_http_requests_total", frozenset({("code", "404")})), 0)
    for _ in range(3):
        eq(ST.gw.http("GET", "/m").status, 200, "request")
    eq(ST.gw.http("GET", "/nope").status, 404, "404")
    st, h, text = ST.gw.admin_get("/metrics")
    eq(st, 200, "status")
    ct = dict(h).get("content-type", "")
    check(ct.startswith("text/plain") and "0.0.4" in ct, "metrics content-type %r" % ct)
    m = parse_metrics(text)
    names = {n for n, _ in m}
    for n in ("portico_http_requests_total", "portico_request_duration_seconds_bucket",
              "portico_request_duration_seconds_sum", "portico_request_duration_seconds_count",
              "portico_inflight_requests", "portico_instances", "portico_registrations_total",
              "portico_late_replies_total", "portico_bad_replies_total",
              "portico_redis_reconnects_total"):
        check(n in names, "metric %s missing" % n)
    for n in ("portico_http_requests_total", "portico_request_duration_seconds",
              "portico_registrations_total", "portico_late_replies_total"):
        check("# TYPE %s " % n in text, "no # TYPE line for %s" % n)
    eq(m[("portico_http_requests_total", frozenset({("code", "200")}))], c200 + 3, "code 200 count")
    eq(m[("portico_http_requests_total", frozenset({("code", "404")}))], c404 + 1, "code 404 count")
    inf = m.get(("portico_request_duration_seconds_bucket", frozenset({("le", "+Inf")})))
    eq(inf, m[("portico_request_duration_seconds_count", frozenset())], "+Inf bucket == _count")
    buckets = sorted((float(dict(k[1])["le"]), v) for k, v in m.items()
                     if k[0] == "portico_request_duration_seconds_bucket")
    eq([v for _, v in buckets], sorted(v for _, v in buckets), "buckets are cumulative")
    eq(m[("portico_inflight_requests", frozenset())], 0, "inflight at rest")
    check(m[("portico_instances", frozenset())] >= 1, "portico_instances")
    check(m.get(("portico_registrations_total", frozenset({("result", "accepted")})), 0) >= 1,
          "accepted registrations")
    svc.stop()


@t.case
def admin_unknown_path_404():
    st, _, j = ST.gw.admin_get("/nope")
    eq(st, 404, "admin unknown path")


@t.case
def admin_not_on_public_listener():
    assert_error(ST.gw.http("GET", "/health"), 404, "not_found")


def setup():
    global ST
    ST = Stack(name="admin")
    return ST


if __name__ == "__main__":
    t.main(setup=setup, teardown=lambda st: st.close())
