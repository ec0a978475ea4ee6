#!/usr/bin/env python3
"""Signed registration (SPEC §3, docs/security.md): with a registration secret the
gateway accepts only {"v":1,"signed":...,"sig":...} envelopes; unsigned, forged,
tampered, stale, timestamp-less and replayed announcements are refused and counted
by reason; per-service secrets (one service's key cannot announce another, the
global key is not accepted for a service that has its own, unknown services are
refused without a global key); the route allow-list; bad security files stop the
gateway at start with exit 2 and one line."""

import hashlib
import hmac
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Gateway, Runner, SecureRedis, Service, Stack,  # noqa: E402
                     assert_error, check, eq, fail, now_ms, run_gateway_cli, uniq, wait_until)

t = Runner()
ST = None
FILES = {}
GLOBAL_KEY = "global-s3cret"
KEYS = {"users": "users-k3y", "orders": "orders-k3y"}
ALLOW = {"users": ["/users", "/accounts/", "/shared"],
         "orders": ["/orders", "/shared", "/shared/special"], "legacy": ["/legacy"]}
LONG_TTL = 300000


def sign(inner, key, upper=False):
    """The SPEC §3 envelope of inner (dict or text) signed with key."""
    text = inner if isinstance(inner, str) else json.dumps(inner)
    sig = hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()
    return {"v": 1, "signed": text, "sig": sig.upper() if upper else sig}


class SignedService(Service):
    """A harness Service whose register/deregister messages are signed."""

    def __init__(self, redis_port, service, key, **kw):
        super().__init__(redis_port, service, **kw)
        self.key = key

    def register_msg(self):
        return sign(super().register_msg(), self.key)

    def deregister_msg(self):
        m = super().deregister_msg()
        m["ts_ms"] = now_ms()
        return sign(m, self.key)


def reg(service, instance, routes, ts=None, **kw):
    m = {"v": 1, "type": "register", "service": service, "instance": instance,
         "channel": "portico:svc:" + instance, "ttl_ms": LONG_TTL,
         "ts_ms": now_ms() if ts is None else ts,
         "routes": [{"method": "GET", "path": p} for p in routes]}
    m.update(kw)
    return m


def dereg(service, instance, ts=None):
    return {"v": 1, "type": "deregister", "service": service, "instance": instance,
            "ts_ms": now_ms() if ts is None else ts}


def publish(msg, redis=None):
    c = (redis or ST.redis).client()
    try:
        return c.publish("portico:register", msg if isinstance(msg, (str, bytes))
                         else json.dumps(msg))
    finally:
        c.close()


def metric(reason, gw=None):
    return (gw or ST.gw).metric("portico_registrations_total", result=reason)


def expect_refused(msgs, reason, gw=None):
    """Publishes msgs; waits until reason counted len(msgs) more times."""
    before = metric(reason, gw)
    for m in msgs:
        publish(m)
    wait_until(lambda: metric(reason, gw) >= before + len(msgs), 3,
               msg="registrations_total{result=%s} +%d" % (reason, len(msgs)))
    eq(metric(reason, gw) - before, len(msgs), "%s count" % reason)


def signed_service(service, key, routes, **kw):
    s = SignedService(ST.redis.port, service, key, routes=routes, ttl_ms=LONG_TTL, **kw)
    ST.services.append(s)
    s.start()
    for m, p in s.routes:
        ST.gw.wait_route(m, p, s.instance)
    return s


def instance_listed(instance):
    return any(i.get("instance") == instance for r in ST.gw.routes()
               for i in r.get("instances", []))


# --------------------------------------------------------------------------
# cases
# --------------------------------------------------------------------------

@t.case
def signed_register_serves_traffic():
    b = "/users/" + uniq("ok")
    acc = metric("accepted")
    svc = signed_service("users", KEYS["users"], [("GET", b), ("GET", b + "/{id}")],
                         handler=lambda req: {"status": 200, "body": "hello " + req["path"]})
    r = ST.gw.http("GET", b + "/7")
    eq((r.status, r.body), (200, ("hello %s/7" % b).encode()), "request via a signed service")
    check(metric("accepted") >= acc + 1, "accepted counted")
    # A signed deregister (with ts_ms) removes it at once.
    svc.stop(deregister=True)
    wait_until(lambda: not instance_listed(svc.instance), 3, msg="signed deregister applied")


@t.case
def upper_case_hex_accepted():
    inst = uniq("users-up")
    b = "/users/" + uniq("up")
    publish(sign(reg("users", inst, [b]), KEYS["users"], upper=True))
    ST.gw.wait_route("GET", b, inst)
    publish(sign(dereg("users", inst), KEYS["users"]))
    wait_until(lambda: not instance_listed(inst), 3, msg="deregistered")


@t.case
def unsigned_refused():
    b = "/users/" + uniq("uns")
    inst = uniq("users-uns")
    expect_refused([reg("users", inst, [b]), reg("legacy", inst + "l", ["/legacy" + b])],
                   "unsigned")
    # a plain deregister cannot knock out a signed instance either
    svc = signed_service("users", KEYS["users"], [("GET", b + "/live")])
    expect_refused([{"v": 1, "type": "deregister", "service": "users",
                     "instance": svc.instance}], "unsigned")
    eq(ST.gw.http("GET", b + "/live").status, 200, "instance still serving")
    check(ST.gw.route("GET", b) is None, "unsigned route listed")
    assert_error(ST.gw.http("GET", b), 404, "not_found")
    svc.stop()


@t.case
def forged_and_tampered_refused():
    b = "/users/" + uniq("forge")
    inst = uniq("users-f")
    good = sign(reg("users", inst, [b]), KEYS["users"])
    tampered = dict(good)
    tampered["signed"] = good["signed"].replace(b, b + "x")
    flipped = dict(good)
    flipped["sig"] = good["sig"][:-1] + ("0" if good["sig"][-1] != "0" else "1")
    expect_refused([
        sign(reg("users", inst, [b]), "wrong-key"),
        sign(reg("users", inst, [b]), GLOBAL_KEY),          # users has its own key
        sign(reg("users", inst, [b]), KEYS["orders"]),      # another service's key
        tampered,
        flipped,
        dict(good, sig=good["sig"][:-2]),                    # short
        dict(good, sig="z" * 64),                            # not hex
        dict(good, sig=""),
    ], "bad_signature")
    for p in (b, b + "x"):
        check(ST.gw.route("GET", p) is None, "forged route listed: %s" % p)
    expect_refused([
        {"v": 2, "signed": good["signed"], "sig": good["sig"]},
        {"v": 1, "signed": json.loads(good["signed"]), "sig": good["sig"]},
        {"v": 1, "signed": good["signed"], "sig": 12},
    ], "bad_envelope")
    expect_refused(["{not json", json.dumps(good)[:-1]], "not_json")
    ST.gw.assert_alive()


@t.case
def per_service_keys():
    # orders' key cannot announce users' routes, even with an orders-looking instance
    b = "/users/" + uniq("ps")
    expect_refused([sign(reg("users", uniq("orders-x"), [b]), KEYS["orders"])],
                   "bad_signature")
    check(ST.gw.route("GET", b) is None, "route announced with another service's key")
    # each service with its own key works
    o = signed_service("orders", KEYS["orders"], [("GET", "/orders/" + uniq("o"))])
    eq(ST.gw.http("GET", o.routes[0][1]).status, 200, "orders with its own key")
    # a service not in the secrets file signs with the global key
    lg = signed_service("legacy", GLOBAL_KEY, [("GET", "/legacy/" + uniq("l"))])
    eq(ST.gw.http("GET", lg.routes[0][1]).status, 200, "legacy with the global key")
    expect_refused([sign(reg("legacy", uniq("legacy-x"), ["/legacy/" + uniq("z")]),
                         KEYS["users"])], "bad_signature")
    o.stop()
    lg.stop()


@t.case
def unknown_service_without_global_key():
    # a second gateway on the same Redis with per-service secrets only
    gw2 = Gateway(ST.tmpdir, ST.redis.url, ["--registration-secrets-file", FILES["secrets"]],
                  name="gw-secrets-only")
    gw2.start()
    try:
        gw2.wait_healthy()
        before = metric("unknown_service", gw2)
        publish(sign(reg("legacy", uniq("legacy-u"), ["/legacy/" + uniq("u")]), GLOBAL_KEY))
        wait_until(lambda: metric("unknown_service", gw2) >= before + 1, 3,
                   msg="unknown_service counted on gw2")
        b = "/users/" + uniq("gw2")
        publish(sign(reg("users", uniq("users-g2"), [b]), KEYS["users"]))
        gw2.wait_route("GET", b)
    finally:
        gw2.stop()


@t.case
def stale_and_timestamp_less_refused():
    b = "/users/" + uniq("st")
    now = now_ms()
    expect_refused([
        sign(reg("users", uniq("users-s"), [b], ts=now - 31000), KEYS["users"]),
        sign(reg("users", uniq("users-s"), [b], ts=now + 31000), KEYS["users"]),
        sign(reg("users", uniq("users-s"), [b], ts=1), KEYS["users"]),
        sign(dereg("users", uniq("users-s"), ts=now - 60000), KEYS["users"]),
    ], "stale")
    m = reg("users", uniq("users-nt"), [b])
    del m["ts_ms"]
    d = dereg("users", uniq("users-nt"))
    del d["ts_ms"]
    expect_refused([sign(m, KEYS["users"]), sign(d, KEYS["users"])], "no_timestamp")
    check(ST.gw.route("GET", b) is None, "stale route listed")
    # inside the window is fine (clock skew up to 30 s)
    inst = uniq("users-skew")
    publish(sign(reg("users", inst, [b + "/skew"], ts=now_ms() - 20000), KEYS["users"]))
    ST.gw.wait_route("GET", b + "/skew", inst)
    publish(sign(dereg("users", inst), KEYS["users"]))


@t.case
def replays_refused():
    b = "/users/" + uniq("rp")
    inst = uniq("users-rp")
    t0 = now_ms()
    old = sign(reg("users", inst, [b + "/a", b + "/b"], ts=t0 - 2000), KEYS["users"])
    new = sign(reg("users", inst, [b + "/a"], ts=t0 - 1000), KEYS["users"])
    publish(old)
    ST.gw.wait_route("GET", b + "/b", inst)
    publish(new)
    wait_until(lambda: ST.gw.route("GET", b + "/b") is None or
               inst not in (ST.gw.route_instances("GET", b + "/b") or []), 3,
               msg="route /b dropped by the newer register")
    # an older register cannot roll the route set back
    expect_refused([old], "replayed")
    check(inst not in (ST.gw.route_instances("GET", b + "/b") or []), "old route set restored")
    # the latest register again is a heartbeat: accepted
    acc = metric("accepted")
    publish(new)
    wait_until(lambda: metric("accepted") >= acc + 1, 3, msg="replayed heartbeat accepted")
    # a deregister older than the last register cannot knock the instance out
    expect_refused([sign(dereg("users", inst, ts=t0 - 1500), KEYS["users"])], "replayed")
    check(instance_listed(inst), "instance knocked out by an old deregister")
    # a current deregister does; afterwards its last register cannot bring it back
    dr = sign(dereg("users", inst, ts=now_ms()), KEYS["users"])
    publish(dr)
    wait_until(lambda: not instance_listed(inst), 3, msg="deregistered")
    expect_refused([new, old], "replayed")
    time.sleep(0.1)
    check(not instance_listed(inst), "replayed register resurrected a deregistered instance")
    # a fresh register (a restart with the same id) is accepted
    publish(sign(reg("users", inst, [b + "/a"]), KEYS["users"]))
    ST.gw.wait_route("GET", b + "/a", inst)
    publish(sign(dereg("users", inst), KEYS["users"]))


@t.case
def allowlist_refuses_outside_routes():
    tag = uniq("al")
    ok1, ok2 = "/users/" + tag, "/accounts/" + tag + "/{id}"
    bad = ["/orders/" + tag, "/usersx" + tag, "/" + tag, "/{any}/" + tag]
    before = metric("not_allowed")
    svc = SignedService(ST.redis.port, "users", KEYS["users"], ttl_ms=LONG_TTL,
                        heartbeat=False, routes=[("GET", p) for p in [ok1, ok2] + bad])
    ST.services.append(svc)
    svc.start()
    ST.gw.wait_route("GET", ok1, svc.instance)
    ST.gw.wait_route("GET", ok2, svc.instance)
    wait_until(lambda: metric("not_allowed") >= before + len(bad), 3, msg="not_allowed +4")
    eq(metric("not_allowed") - before, len(bad), "not_allowed count")
    eq(ST.gw.http("GET", ok1).status, 200, "allowed route")
    eq(ST.gw.http("GET", "/accounts/%s/9" % tag).status, 200, "allowed param route")
    for p in bad:
        check(ST.gw.route("GET", p) is None, "route outside the allow-list listed: %s" % p)
    assert_error(ST.gw.http("GET", "/orders/" + tag), 404, "not_found")
    svc.stop()


@t.case
def startup_errors_exit_2():
    d = ST.tmpdir
    empty = os.path.join(d, "empty.secret")
    with open(empty, "w") as f:
        f.write(" \n\t\n")
    badjson = os.path.join(d, "bad.json")
    with open(badjson, "w") as f:
        f.write('{"users": ')
    badname = os.path.join(d, "badname.json")
    with open(badname, "w") as f:
        f.write('{"Users": "k"}')
    badprefix = os.path.join(d, "badprefix.json")
    with open(badprefix, "w") as f:
        f.write('{"users": ["users"]}')
    base = ["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--redis", ST.redis.url]
    for args, want in [
        (["--registration-secret-file", os.path.join(d, "missing")], "missing"),
        (["--registration-secret-file", empty], "empty"),
        (["--registration-secret-file", d], "not a regular file"),
        (["--registration-secrets-file", badjson], "bad.json"),
        (["--registration-secrets-file", badname], "not a service name"),
        (["--route-allowlist-file", badprefix], "not a path prefix"),
        (["--route-allowlist-file", os.path.join(d, "nope.json")], "nope.json"),
    ]:
        rc, out, err = run_gateway_cli(base + args)
        eq(rc, 2, "exit code for %r (stderr %r)" % (args, err[:300]))
        check(err.endswith("\n") and err.count("\n") == 1,
              "stderr must be one line for %r: %r" % (args, err[:500]))
        check(want in err, "stderr for %r lacks %r: %r" % (args, want, err))
        check(GLOBAL_KEY not in err, "secret leaked in an error")


@t.case
def secret_file_whitespace_ignored():
    # the global secret file holds "  global-s3cret\n\n"; signing with the trimmed text works
    with open(FILES["secret"]) as f:
        raw = f.read()
    check(raw != GLOBAL_KEY and raw.strip() == GLOBAL_KEY, "secret file must carry white space")
    lg = signed_service("legacy", GLOBAL_KEY, [("GET", "/legacy/" + uniq("ws"))])
    eq(ST.gw.http("GET", lg.routes[0][1]).status, 200, "legacy route")
    lg.stop()


@t.case
def shadowing_another_service_refused():
    tag = uniq("sh")
    name = lambda s: lambda req: {"status": 200, "body": s}  # noqa: E731
    users = signed_service("users", KEYS["users"], [("GET", "/shared/%s/{id}" % tag),
                                                    ("GET", "/shared/{x}/%s" % tag)],
                           handler=name("users"))
    before = metric("shadowing")
    bad = [("GET", "/shared/%s/me" % tag), ("*", "/shared/%s/admin" % tag),
           ("HEAD", "/shared/%s/x" % tag)]
    ok = [("POST", "/shared/%s/me" % tag),               # a method users does not serve
          ("GET", "/shared/%s/me/more" % tag),           # no path both match
          ("GET", "/shared/special/%s" % tag)]           # the allow-list names it
    orders = SignedService(ST.redis.port, "orders", KEYS["orders"], ttl_ms=LONG_TTL,
                           heartbeat=False, routes=bad + ok, handler=name("orders"))
    ST.services.append(orders)
    orders.start()
    for m, p in ok:
        ST.gw.wait_route(m, p, orders.instance)
    wait_until(lambda: metric("shadowing") >= before + len(bad), 3, msg="shadowing +3")
    eq(metric("shadowing") - before, len(bad), "shadowing count")
    for m, p in bad:
        check(ST.gw.route(m, p) is None, "shadowing route listed: %s %s" % (m, p))
    for path, who in [("/shared/%s/me" % tag, b"users"), ("/shared/%s/admin" % tag, b"users"),
                      ("/shared/%s/me/more" % tag, b"orders"),
                      ("/shared/special/%s" % tag, b"orders"),
                      ("/shared/other/%s" % tag, b"users")]:
        r = ST.gw.http("GET", path)
        eq((r.status, r.body), (200, who), "GET %s" % path)
    eq(ST.gw.http("POST", "/shared/%s/me" % tag, body=b"x").body, b"orders", "POST")
    # a service may shadow its own routes
    own = signed_service("users", KEYS["users"], [("GET", "/shared/%s/mine" % tag)],
                         handler=name("users-own"))
    eq(ST.gw.http("GET", "/shared/%s/mine" % tag).body, b"users-own", "own shadowing")
    eq(metric("shadowing") - before, len(bad), "shadowing count after own routes")
    check("(shadowing)" in ST.gw.stderr_text(), "refusal logged")
    for s_ in (orders, own, users):
        s_.stop()


# ---- default trust: the start-up warning -----------------------------------

WARNING = "registration is unsigned and Redis"


def start_stop(redis_url, args=(), name=None):
    """Starts a gateway, waits until it is healthy, stops it; its stderr."""
    gw = Gateway(ST.tmpdir, redis_url, list(args), name=name or uniq("trust"))
    gw.start()
    try:
        gw.wait_healthy()
    finally:
        gw.stop()
    return gw.stderr_text()


@t.case
def unsigned_on_loopback_or_unix_not_warned():
    err = start_stop(ST.redis.url)
    check(WARNING not in err, "warning with Redis on 127.0.0.1: %r" % err)
    sock = os.path.join(ST.tmpdir, "trust.sock")
    r = SecureRedis(ST.tmpdir, unix=sock, tcp=False)
    r.start()
    try:
        err = start_stop("unix://%s" % sock)
    finally:
        r.stop(kill=True)
    check(WARNING not in err, "warning with Redis on a unix socket: %r" % err)


@t.case
def unsigned_off_loopback_warned_once():
    # 0.0.0.0 is not a loopback address (the warning's rule); Linux connects it to
    # this host, so nothing leaves the machine
    url = "redis://0.0.0.0:%d" % ST.redis.port
    err = start_stop(url)
    eq(err.count(WARNING), 1, "warnings in %r" % err)
    check("--registration-secret" in err, "the warning names the remedy: %r" % err)
    ready = [i for i, line in enumerate(err.splitlines()) if "portico ready" in line]
    warn = [i for i, line in enumerate(err.splitlines()) if WARNING in line]
    check(ready and warn and warn[0] < ready[0], "warned before the ready line: %r" % err)
    # signed registration: no warning, wherever Redis is
    err = start_stop(url, ["--registration-secret-file", FILES["secret"]])
    check(WARNING not in err, "warning although registration is signed: %r" % err)


def setup():
    global ST
    ST = Stack(start_gateway=False, name="secreg")
    try:
        FILES["secret"] = os.path.join(ST.tmpdir, "registration.secret")
        with open(FILES["secret"], "w") as f:
            f.write("  %s\n\n" % GLOBAL_KEY)
        FILES["secrets"] = os.path.join(ST.tmpdir, "secrets.json")
        with open(FILES["secrets"], "w") as f:
            json.dump(KEYS, f)
        FILES["allow"] = os.path.join(ST.tmpdir, "allow.json")
        with open(FILES["allow"], "w") as f:
            json.dump(ALLOW, f)
        for p in FILES.values():
            os.chmod(p, 0o600)
        ST.start_gateway(["--registration-secret-file", FILES["secret"],
                          "--registration-secrets-file", FILES["secrets"],
                          "--route-allowlist-file", FILES["allow"]])
    except BaseException:
        ST.close()
        raise
    return ST


if __name__ == "__main__":
    t.main(setup=setup, teardown=lambda st: st.close())
