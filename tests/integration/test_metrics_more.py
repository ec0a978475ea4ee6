#!/usr/bin/env python3
"""More of /metrics (protocol.md §8.3): portico_build_info, auth rejections by
reason, rate-limit rejections, the upstream duration histogram, the access-log
drop counter and the standard process_* metrics; each moves when it should
and only then."""

import json
import os
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HOST, Runner, Stack, check, eq, gateway_binary, parse_metrics,  # noqa: E402
                     uniq)

t = Runner()
ST = None
KEY = "key-metrics-0123456789abcdef"
POLICY = {"api_keys": [{"id": "ci", "key": KEY}],
          "jwt": {"hs256_secret": "metrics-secret-0123456789abcdef-xyz"},
          "default": "public",
          "routes": [{"prefix": "/k", "auth": "api_key"}, {"prefix": "/j", "auth": "jwt"}]}
RULES = {"rules": [{"route": "/rl", "rate": 1, "per": "hour", "burst": 2}]}


def metrics():
    st, _, text = ST.gw.admin_get("/metrics")
    eq(st, 200, "/metrics")
    return parse_metrics(text), text


def val(m, name, **labels):
    return m.get((name, frozenset(labels.items())), None)


@t.case
def build_info():
    m, text = metrics()
    ver = subprocess.run([gateway_binary(), "--version"], capture_output=True, text=True,
                         timeout=20).stdout.split()[-1]
    eq(val(m, "portico_build_info", version=ver), 1.0, "build info with the version")
    check("# TYPE portico_build_info gauge" in text, "a gauge")


@t.case
def auth_rejections_by_reason():
    ST.service(service="authm", routes=[("GET", "/k/a"), ("GET", "/j/a")])
    m0, text = metrics()
    reasons = ["missing_credentials", "invalid_api_key", "invalid_token", "insufficient_claims",
               "repeated_credentials", "throttled"]
    for r in reasons:   # every reason is there from the start: a bounded set
        eq(val(m0, "portico_auth_rejections_total", reason=r), 0.0, "reason %s at 0" % r)
    eq(ST.gw.http("GET", "/k/a").status, 401, "no key")
    eq(ST.gw.http("GET", "/k/a", headers={"X-API-Key": "wrong-0123456789abcdef"}).status, 401,
       "bad key")
    eq(ST.gw.http("GET", "/j/a", headers={"Authorization": "Bearer x.y.z"}).status, 401,
       "bad token")
    eq(ST.gw.http("GET", "/k/a", headers={"X-API-Key": KEY}).status, 200, "good key")
    eq(ST.gw.http("GET", "/open").status, 404, "public, no route")
    m1, _ = metrics()
    for r, d in [("missing_credentials", 1), ("invalid_api_key", 1), ("invalid_token", 1),
                 ("insufficient_claims", 0), ("repeated_credentials", 0), ("throttled", 0)]:
        eq(val(m1, "portico_auth_rejections_total", reason=r), float(d), "reason %s" % r)
    check(not any(k[0] == "portico_auth_rejections_total" and
                  dict(k[1]).get("reason") not in reasons for k in m1), "no other reason")


@t.case
def ratelimit_rejections():
    ST.service(service="rlm", routes=[("GET", "/rl"), ("GET", "/free")])
    m0, _ = metrics()
    eq(val(m0, "portico_ratelimit_rejections_total"), 0.0, "at 0")
    got = [ST.gw.http("GET", "/rl").status for _ in range(4)]
    eq(got, [200, 200, 429, 429], "burst of 2")
    eq(ST.gw.http("GET", "/free").status, 200, "unlimited route")
    m1, _ = metrics()
    eq(val(m1, "portico_ratelimit_rejections_total"), 2.0, "two refused")


@t.case
def upstream_duration_histogram():
    ST.service(service="upm", routes=[("GET", "/up")])
    m0, text = metrics()
    check("# TYPE portico_upstream_duration_seconds histogram" in text, "a histogram")
    c0 = val(m0, "portico_upstream_duration_seconds_count")
    for _ in range(5):
        eq(ST.gw.http("GET", "/up").status, 200, "forwarded")
    eq(ST.gw.http("GET", "/nothing-%s" % uniq()).status, 404, "not forwarded")
    m1, _ = metrics()
    eq(val(m1, "portico_upstream_duration_seconds_count") - c0, 5.0, "five replies")
    eq(val(m1, "portico_upstream_duration_seconds_bucket", le="+Inf"),
       val(m1, "portico_upstream_duration_seconds_count"), "+Inf = count")
    prev = 0
    for le in ["0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25",
               "0.5", "1", "2.5", "5", "10", "+Inf"]:
        v = val(m1, "portico_upstream_duration_seconds_bucket", le=le)
        check(v is not None and v >= prev, "bucket %s cumulative" % le)
        prev = v
    check(val(m1, "portico_upstream_duration_seconds_sum") >= 0, "sum")
    # the request histogram is unchanged in shape
    eq(val(m1, "portico_request_duration_seconds_bucket", le="+Inf"),
       val(m1, "portico_request_duration_seconds_count"), "request histogram +Inf = count")


@t.case
def access_log_dropped_present():
    m, text = metrics()
    eq(val(m, "portico_access_log_dropped_total"), 0.0, "nothing dropped")
    check("# TYPE portico_access_log_dropped_total counter" in text, "a counter")


@t.case
def process_metrics():
    m0, text = metrics()
    for name, typ in [("process_cpu_seconds_total", "counter"),
                      ("process_resident_memory_bytes", "gauge"),
                      ("process_open_fds", "gauge"), ("process_start_time_seconds", "gauge"),
                      ("process_max_fds", "gauge")]:
        check("# TYPE %s %s" % (name, typ) in text, "%s is a %s" % (name, typ))
    check(val(m0, "process_resident_memory_bytes") > 1 << 20, "some resident memory")
    start = val(m0, "process_start_time_seconds")
    check(time.time() - 3600 < start <= time.time() + 1, "start time %r" % start)
    # the same start time read again (it is the process's, not the scrape's)
    m1, _ = metrics()
    check(abs(val(m1, "process_start_time_seconds") - start) < 0.02, "start time stable")
    # open 30 connections: open fds move up by at least 30, then back
    fds0 = val(m1, "process_open_fds")
    socks = [socket.create_connection((HOST, ST.gw.port)) for _ in range(30)]
    try:
        deadline = time.monotonic() + 10
        while True:
            m2, _ = metrics()
            if val(m2, "process_open_fds") >= fds0 + 30 or time.monotonic() > deadline:
                break
        check(val(m2, "process_open_fds") >= fds0 + 30, "fds %r -> %r" % (
            fds0, val(m2, "process_open_fds")))
    finally:
        for s in socks:
            s.close()
    # CPU time: burn some in the gateway, it must move
    cpu0 = val(m2, "process_cpu_seconds_total")
    check(cpu0 > 0, "some CPU time used: %r" % cpu0)
    for _ in range(50):
        for _ in range(100):
            ST.gw.http("GET", "/nothing")
        m3, _ = metrics()
        if val(m3, "process_cpu_seconds_total") > cpu0:
            break
    check(val(m3, "process_cpu_seconds_total") > cpu0, "cpu time moved %r -> %r" % (
        cpu0, val(m3, "process_cpu_seconds_total")))


def setup():
    global ST
    ST = Stack(name="metricsmore", start_gateway=False)
    pol = os.path.join(ST.tmpdir, "auth.json")
    with open(pol, "w") as f:
        json.dump(POLICY, f)
    rules = os.path.join(ST.tmpdir, "rules.json")
    with open(rules, "w") as f:
        json.dump(RULES, f)
    ST.start_gateway(["--auth-file", pol, "--ratelimit-file", rules])
    return ST


if __name__ == "__main__":
    t.main(setup=setup, teardown=lambda st: st.close())
