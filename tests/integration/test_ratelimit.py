#!/usr/bin/env python3
"""Rate limiting (docs/security.md): a token bucket per client identity and route,
in process by default; with --ratelimit-redis one GCRA limit on Redis shared by every
gateway, falling back to the local bucket when Redis cannot decide. 429 with
Retry-After and RateLimit-*; allowed responses carry RateLimit-* too.

The identity is the client IP here (no auth configured): clients bind their sockets
to 127.0.0.1 or 127.0.0.2 to be two different clients."""

import http.client as httpclient
import json
import os
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HOST, Gateway, Raw, Response, Runner, Stack,  # noqa: E402
                     assert_error, check, check_framing, eq, fail, req_bytes,
                     run_gateway_cli, wait_until)

t = Runner()
ST = None
GW = {}          # "local" (the stack's gateway), "s1", "s2" (shared limiter)
SVC = {}

RULES = {
    "rules": [
        {"route": "/rl/a", "rate": 2, "burst": 3},
        {"route": "/rl/b", "rate": 2, "burst": 3},
        {"prefix": "/rl/shared", "rate": 1, "per": "minute", "burst": 5},
        {"prefix": "/rl/fb", "rate": 1, "per": "minute", "burst": 4},
        {"route": "/rl/free", "unlimited": True},
        {"route": "/rl/k", "rate": 1, "per": "minute", "burst": 2},
    ],
    "default": {"rate": 1000, "burst": 1000},
}
ROUTES = ["/rl/a", "/rl/b", "/rl/free", "/rl/shared/1", "/rl/shared/2", "/rl/shared/3",
          "/rl/shared/4", "/rl/fb/1", "/rl/pending", "/rl/pending2", "/rl/after", "/other",
          "/rl/k"]
KEY_A, KEY_B = "rl-key-a-0123456789abcdef", "rl-key-b-0123456789abcdef"
AUTH = {"api_keys": [{"id": "rl-a", "key": KEY_A}, {"id": "rl-b", "key": KEY_B}],
        "default": "public", "routes": [{"prefix": "/rl/k", "auth": "api_key"}]}


def get(gw, path, src="127.0.0.1", timeout=10.0, headers=()):
    """GET from a chosen loopback source address (the client identity)."""
    gw.assert_alive()
    c = httpclient.HTTPConnection(HOST, gw.port, timeout=timeout, source_address=(src, 0))
    try:
        c.putrequest("GET", path, skip_host=True, skip_accept_encoding=True)
        c.putheader("Host", "test.local")
        for k, v in headers:
            c.putheader(k, v)
        c.endheaders()
        resp = c.getresponse()
        r = Response(resp.status, resp.reason, [(k.lower(), v) for k, v in resp.getheaders()],
                     resp.read())
    except (OSError, httpclient.HTTPException) as e:
        gw.assert_alive()
        fail("GET %s from %s failed: %r" % (path, src, e))
    finally:
        c.close()
    check_framing(r)
    return r


def raw_from(g, src):
    """A harness Raw connection from a chosen loopback source address."""
    g.assert_alive()
    c = Raw.__new__(Raw)
    c.sock = socket.create_connection((HOST, g.port), timeout=10.0, source_address=(src, 0))
    c.timeout, c.buf, c.eof = 10.0, b"", False
    return c


def rl_headers(r):
    return tuple(r.header(h) for h in ("ratelimit-limit", "ratelimit-remaining",
                                       "ratelimit-reset", "ratelimit-policy"))


def assert_429(r, limit, policy):
    assert_error(r, 429, "rate_limited")
    ra = r.header("retry-after")
    check(ra is not None and ra.isdigit() and int(ra) >= 1, "Retry-After %r" % (ra,))
    eq(r.header("ratelimit-limit"), str(limit), "RateLimit-Limit on 429")
    eq(r.header("ratelimit-remaining"), "0", "RateLimit-Remaining on 429")
    eq(r.header("ratelimit-policy"), policy, "RateLimit-Policy on 429")
    reset = r.header("ratelimit-reset")
    check(reset is not None and reset.isdigit() and int(reset) >= 1, "RateLimit-Reset %r" % reset)
    return int(ra)


def statuses(gw, path, n, src="127.0.0.1"):
    return [get(gw, path, src).status for _ in range(n)]


# ------------------------------------------------------------------ local


@t.case
def local_burst_then_429():
    g, svc = GW["local"], SVC["svc"]
    n0 = svc.n_requests()
    for i in range(3):
        r = get(g, "/rl/a")
        eq(r.status, 200, "request %d within the burst" % i)
        reset = str(-(-(i + 1) * 500 // 1000))       # ceil: 0.5 s per spent token
        eq(rl_headers(r), ("3", str(2 - i), reset, "3;w=2"),
           "RateLimit-* on allowed request %d" % i)
    r = get(g, "/rl/a")
    ra = assert_429(r, 3, "3;w=2")
    eq(ra, 1, "Retry-After (one token every 0.5 s)")
    eq(svc.n_requests() - n0, 3, "requests that reached the service")


@t.case
def local_refill_after_time():
    g = GW["local"]
    t0 = time.monotonic()
    eq(get(g, "/rl/a").status, 429, "still limited")
    wait_until(lambda: get(g, "/rl/a").status == 200, 3.0, 0.05, "a token to come back")
    el = time.monotonic() - t0
    check(el < 1.5, "refill took %.2fs (one token per 0.5 s)" % el)
    eq(get(g, "/rl/a").status, 429, "one token only, not a new burst")


@t.case
def local_identities_and_routes_apart():
    g, svc = GW["local"], SVC["svc"]
    eq(statuses(g, "/rl/b", 4), [200, 200, 200, 429], "127.0.0.1 on /rl/b")
    # Another client (source address) has its own bucket, and so has another route.
    r = get(g, "/rl/b", src="127.0.0.2")
    eq(r.status, 200, "127.0.0.2 on /rl/b")
    eq(r.header("ratelimit-remaining"), "2", "127.0.0.2's own bucket")
    eq(svc.last_request().get("remote_addr"), "127.0.0.2", "remote_addr seen by the service")
    eq(statuses(g, "/rl/b", 3, src="127.0.0.2"), [200, 200, 429], "127.0.0.2 spends its burst")
    eq(get(g, "/rl/b").status, 429, "127.0.0.1 still limited")


@t.case
def unlimited_and_default_rules():
    g = GW["local"]
    for _ in range(10):
        r = get(g, "/rl/free")
        eq(r.status, 200, "unlimited route")
        eq(rl_headers(r), (None,) * 4, "no RateLimit-* on an unlimited route")
    r = get(g, "/other")
    eq(r.status, 200, "default rule")
    eq(rl_headers(r), ("1000", "999", "1", "1000;w=1"), "default rule headers")


@t.case
def pipelined_429_in_order():
    c = raw_from(GW["local"], "127.0.0.4")
    try:
        c.send(b"".join(req_bytes("GET", "/rl/a") for _ in range(5)))
        codes = [c.read_response().status for _ in range(5)]
    finally:
        c.close()
    eq(codes, [200, 200, 200, 429, 429], "pipelined statuses, in order")


@t.case
def api_key_is_the_identity():
    """With auth, the verified API key id is the identity: two keys from one IP
    have two buckets; an unauthenticated request is refused before it is counted."""
    g, svc = GW["local"], SVC["svc"]
    r = get(g, "/rl/k")
    eq((r.status, r.header("ratelimit-limit")), (401, None), "no key: refused, not counted")
    ka, kb = (("X-API-Key", KEY_A),), (("X-API-Key", KEY_B),)
    got = [get(g, "/rl/k", headers=ka).status for _ in range(3)]
    eq(got, [200, 200, 429], "key A (burst 2)")
    eq(svc.last_request().get("remote_addr"), "127.0.0.1", "same client address")
    r = get(g, "/rl/k", headers=kb)
    eq(r.status, 200, "key B from the same IP: its own bucket")
    eq(r.header("ratelimit-remaining"), "1", "key B's remaining")
    eq(get(g, "/rl/k", headers=ka, src="127.0.0.2").status, 429,
       "key A from another IP: still key A's bucket")


# ------------------------------------------------------------------ shared


@t.case
def shared_limit_across_two_gateways():
    s1, s2 = GW["s1"], GW["s2"]
    got = []
    for i in range(12):
        r = get(s1 if i % 2 == 0 else s2, "/rl/shared/1")
        got.append(r.status)
        if r.status == 429:
            assert_429(r, 5, "5;w=300")
            check(int(r.header("retry-after")) > 1, "Retry-After for 1/min: %r"
                  % r.header("retry-after"))
    eq(sorted(got), [200] * 5 + [429] * 7, "allowed in all across two gateways (burst 5)")
    eq(got[:5], [200] * 5, "the first five pass, whichever gateway")
    c = ST.redis.client()
    try:
        pttl = c.command("PTTL", "portico:rl:/rl/shared/1:ip:127.0.0.1")
    finally:
        c.close()
    check(isinstance(pttl, int) and pttl > 0, "GCRA key with an expiry on Redis: PTTL %r" % pttl)
    # Concurrent requests on both gateways still add up to the limit.
    out = []
    lock = threading.Lock()

    def worker(g):
        for _ in range(5):
            st = get(g, "/rl/shared/2", src="127.0.0.5").status
            with lock:
                out.append(st)
    ths = [threading.Thread(target=worker, args=(g,)) for g in (s1, s2, s1, s2)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(30)
    eq(len(out), 20, "concurrent requests answered")
    eq(out.count(200), 5, "concurrent: allowed in all (burst 5); statuses %r" % out)


@t.case
def shared_survives_script_flush():
    c = ST.redis.client()
    try:
        eq(c.command("SCRIPT", "FLUSH"), "OK", "SCRIPT FLUSH")
    finally:
        c.close()
    got = [get(GW["s1"] if i % 2 else GW["s2"], "/rl/shared/3").status for i in range(8)]
    eq(got, [200] * 5 + [429] * 3, "limit still shared after NOSCRIPT")


@t.case
def fallback_to_local_when_redis_refuses():
    c = ST.redis.client()
    try:
        eq(c.command("ACL", "SETUSER", "default", "-eval", "-evalsha"), "OK", "ACL deny")
        try:
            a = statuses(GW["s1"], "/rl/fb/1", 6)
            b = statuses(GW["s2"], "/rl/fb/1", 6)
        finally:
            eq(c.command("ACL", "SETUSER", "default", "+eval", "+evalsha"), "OK", "ACL allow")
    finally:
        c.close()
    # Each gateway enforces the limit on its own bucket: 4 + 4.
    eq(a, [200] * 4 + [429] * 2, "gateway 1 on its local bucket")
    eq(b, [200] * 4 + [429] * 2, "gateway 2 on its local bucket")
    # Redis answers again: back to the shared limit (a fresh key on Redis).
    got = [get(GW["s1"] if i % 2 else GW["s2"], "/rl/shared/4").status for i in range(7)]
    eq(got, [200] * 5 + [429] * 2, "shared again")


@t.case
def client_gone_while_redis_decides():
    """The request waits for Redis; its client leaves; Redis answers late: the
    orphaned request is freed by the callback (ASan checks) and nothing is sent."""
    g = GW["s1"]
    svc = SVC["svc"]
    n0 = svc.n_requests()
    os.kill(ST.redis.proc.pid, signal.SIGSTOP)
    try:
        c = g.raw()
        c.send(req_bytes("GET", "/rl/pending"))
        time.sleep(0.3)           # the EVALSHA is out, unanswered
        c.close()
        time.sleep(0.3)           # the gateway sees the close
    finally:
        os.kill(ST.redis.proc.pid, signal.SIGCONT)
    time.sleep(0.3)
    g.assert_alive()
    eq(get(g, "/rl/after").status, 200, "gateway still serves")
    eq(svc.n_requests() - n0, 1, "only the later request reached the service")


@t.case
def redis_killed_while_deciding():
    """Redis dies with a decision outstanding: the local bucket decides, and the
    request then gets 503 bus_unavailable like everything else while Redis is down
    (SPEC §5), at once. After Redis is back the shared limit works again."""
    g = GW["s2"]
    out = []
    os.kill(ST.redis.proc.pid, signal.SIGSTOP)
    th = threading.Thread(target=lambda: out.append(get(g, "/rl/pending2")))
    th.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    ST.redis.stop(kill=True)
    th.join(10)
    check(out, "request did not finish")
    assert_error(out[0], 503, "bus_unavailable")
    check(time.monotonic() - t0 < 2.0, "answered only after %.2fs" % (time.monotonic() - t0))
    assert_error(get(GW["s1"], "/rl/shared/1"), 503, "bus_unavailable")
    ST.redis.start()
    for k in ("s1", "s2"):
        GW[k].wait_healthy(timeout=10)
        GW[k].wait_route("GET", "/rl/after", SVC["svc"].instance, timeout=8)
    # Redis lost its data and scripts: a fresh shared limit, still shared.
    got = [get(GW["s1"] if i % 2 else GW["s2"], "/rl/shared/1").status for i in range(7)]
    eq(got, [200] * 5 + [429] * 2, "shared limit after the restart")
    for k in ("s1", "s2", "local"):
        GW[k].assert_alive()


@t.case
def bad_rule_files_exit_2():
    bad = os.path.join(ST.tmpdir, "bad-rules.json")
    with open(bad, "w") as f:
        json.dump({"rules": [{"route": "/x", "rate": 0}]}, f)
    rc, out, err = run_gateway_cli(["--ratelimit-file", bad, "--listen", "127.0.0.1:0"])
    eq(rc, 2, "exit code for a bad rule")
    eq(err.count("\n"), 1, "one line on stderr: %r" % err)
    check("--ratelimit-file" in err and "rules[0]" in err, "reason: %r" % err)
    rc, out, err = run_gateway_cli(["--ratelimit-burst", "5"])
    eq(rc, 2, "burst without rps")
    rc, out, err = run_gateway_cli(["--ratelimit-redis=maybe"])
    eq(rc, 2, "bad boolean")


def setup():
    global ST
    ST = Stack(name="ratelimit", start_gateway=False)
    try:
        path = os.path.join(ST.tmpdir, "rules.json")
        with open(path, "w") as f:
            json.dump(RULES, f)
        auth = os.path.join(ST.tmpdir, "auth.json")
        with open(auth, "w") as f:
            json.dump(AUTH, f)
        GW["local"] = ST.start_gateway(["--ratelimit-file", path, "--auth-file", auth])
        for k in ("s1", "s2"):
            GW[k] = Gateway(ST.tmpdir, ST.redis.url, ["--ratelimit-file", path,
                                                      "--ratelimit-redis"], name="gw-" + k)
            GW[k].start()
            GW[k].wait_healthy()
        SVC["svc"] = ST.service(service="rl", routes=[("GET", p) for p in ROUTES])
        for k in ("s1", "s2"):
            for p in ROUTES:
                GW[k].wait_route("GET", p, SVC["svc"].instance)
    except BaseException:
        teardown(ST)
        raise
    return ST


def teardown(st):
    errs = []
    for k in ("s1", "s2"):
        g = GW.pop(k, None)
        if g is not None:
            try:
                g.stop()
            except Exception as e:  # noqa: BLE001
                errs.append("%s: %s" % (k, e))
    st.close()
    if errs:
        fail("; ".join(errs))


if __name__ == "__main__":
    t.main(setup=setup, teardown=teardown)
