#!/usr/bin/env python3
"""Bus security (docs/security.md): the gateway authenticates to Redis with a
password (requirepass) and with an ACL user; a wrong password keeps it retrying
with /health 503 and an AUTH error in the log; unix sockets; and the shipped
least-privilege ACL file (examples/acl/portico.acl) run by a real redis-server:
the legitimate flow works end to end, a service's credentials cannot read another
service's requests or act as the gateway, a client without credentials cannot
publish, and with per-service secrets a holder of the service's Redis
credentials still cannot announce routes it cannot sign."""

import hashlib
import hmac
import json
import os
import shutil
import socket
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HOST, AuthClient, Gateway, RespError, Runner,  # noqa: E402
                     SecureRedis, Service, check, eq, fail, now_ms, uniq, wait_until)

t = Runner()
HERE = os.path.dirname(os.path.abspath(__file__))
ACL_FILE = os.path.normpath(os.path.join(HERE, "..", "..", "examples", "acl", "portico.acl"))
GW_USER, GW_PASS = "portico-gateway", "CHANGE-ME-gateway"
SVC_USER, SVC_PASS = "svc-users", "CHANGE-ME-users"
USERS_KEY = "users-signing-k3y"


# --------------------------------------------------------------------------
# helpers: a harness Service that connects through an authenticated client
# (harness.AuthClient / SecureRedis) and signs its announcements
# --------------------------------------------------------------------------

class AuthService(Service):
    """A harness Service whose Redis connections authenticate (or use a unix socket)
    and whose register/deregister messages are signed when key is given."""

    def __init__(self, conn, service, key=None, **kw):
        super().__init__(conn.get("port") or 0, service, **kw)
        self.conn = conn
        self.key = key

    def _client(self):
        return AuthClient(**self.conn)

    def register_msg(self):
        m = super().register_msg()
        return sign(m, self.key) if self.key else m

    def deregister_msg(self):
        m = super().deregister_msg()
        m["ts_ms"] = now_ms()
        return sign(m, self.key) if self.key else m


def sign(inner, key):
    text = inner if isinstance(inner, str) else json.dumps(inner)
    return {"v": 1, "signed": text,
            "sig": hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()}


class Env:
    """One redis + one gateway + services for a case; close() stops all (by PID)."""

    def __init__(self, name, redis_kw, redis_url, gw_args=()):
        self.tmpdir = tempfile.mkdtemp(prefix="portico-it-secbus-%s-" % name)
        self.redis = None
        self.gw = None
        self.services = []
        self.clients = []
        try:
            kw = dict(redis_kw)
            if kw.pop("unix", False):
                kw["unix"] = os.path.join(self.tmpdir, "redis.sock")
            self.redis = SecureRedis(self.tmpdir, **kw).start()
            url = redis_url(self.redis)
            self.gw = Gateway(self.tmpdir, url, list(gw_args), name="gateway")
            self.gw.start()
        except BaseException:
            self.close(check=False)
            raise

    def service(self, conn, service, routes, key=None, **kw):
        s = AuthService(conn, service, key=key, routes=routes, **kw)
        self.services.append(s)
        s.start()
        return s

    def client(self, **conn):
        c = AuthClient(**conn)
        self.clients.append(c)
        return c

    def close(self, check=True):
        err = None
        for c in self.clients:
            c.close()
        for s in self.services:
            try:
                s.stop(deregister=False)
            except Exception:  # noqa: BLE001
                pass
        try:
            if self.gw is not None:
                self.gw.stop(check_clean=check)
        except AssertionError as e:
            err = e
        finally:
            if self.redis is not None:
                self.redis.stop(kill=True)
            if err is None:
                shutil.rmtree(self.tmpdir, ignore_errors=True)
        if err is not None:
            raise err


def expect_error(fn, prefix, what):
    try:
        r = fn()
    except RespError as e:
        check(str(e).startswith(prefix), "%s: error %r, want %s..." % (what, str(e), prefix))
        return
    fail("%s: succeeded (%r), want %s" % (what, r, prefix))


def echo(req):
    return {"status": 200, "body": "%s %s" % (req["method"], req["path"])}


# --------------------------------------------------------------------------
# cases
# --------------------------------------------------------------------------

@t.case
def requirepass_password_only():
    env = Env("pass", {"extra": ["--requirepass", "pw-0nly"], "auth": {"password": "pw-0nly"}},
              lambda r: "redis://:pw-0nly@%s:%d" % (HOST, r.port))
    try:
        env.gw.wait_healthy()
        svc = env.service(env.redis.conn(password="pw-0nly"), "pwsvc", [("GET", "/pw")],
                          handler=echo)
        env.gw.wait_route("GET", "/pw", svc.instance)
        r = env.gw.http("GET", "/pw")
        eq((r.status, r.body), (200, b"GET /pw"), "request through a password-protected Redis")
        # and without the password Redis answers NOAUTH
        anon = env.client(port=env.redis.port)
        expect_error(lambda: anon.publish("portico:register", "{}"), "NOAUTH", "anonymous PUBLISH")
    finally:
        env.close()


@t.case
def wrong_password_keeps_retrying():
    env = Env("wrong", {"extra": ["--requirepass", "right"], "auth": {"password": "right"}},
              lambda r: "redis://:wrong@%s:%d" % (HOST, r.port))
    try:
        def health():
            st, _, body = env.gw.admin_get("/health")
            return st, body
        st, body = health()
        eq(st, 503, "/health with a wrong password")
        eq(body.get("redis"), "down", "/health redis field")
        wait_until(lambda: env.gw.stderr_text().count("AUTH") >= 4, 5,
                   msg="AUTH refused on three connection attempts (retrying)")
        text = env.gw.stderr_text()
        line = [ln for ln in text.splitlines() if "AUTH" in ln][0]
        check("WRONGPASS" in line or "invalid" in line, "AUTH log line: %r" % line)
        check("wrong" not in text.replace("WRONGPASS", ""), "password leaked into the log")
        env.gw.assert_alive()
        eq(health()[0], 503, "/health still 503")
        r = env.gw.http("GET", "/anything")
        check(r.status in (404, 503), "request while Redis is unusable: %d" % r.status)
    finally:
        env.close()


@t.case
def acl_user_and_password():
    # ACL users given as "user" config directives on the command line; db 3 via SELECT
    env = Env("acluser", {"extra": ["--user", "default", "off", "nopass", "resetchannels",
                                    "--user", "gw", "on", ">gw-pw", "~*", "&*", "+@all"],
                          "auth": {"user": "gw", "password": "gw-pw"}},
              lambda r: "redis://gw:gw-pw@%s:%d/3" % (HOST, r.port))
    try:
        env.gw.wait_healthy()
        svc = env.service(env.redis.conn(user="gw", password="gw-pw"), "aclsvc",
                          [("GET", "/acl")], handler=echo)
        env.gw.wait_route("GET", "/acl", svc.instance)
        eq(env.gw.http("GET", "/acl").status, 200, "request with an ACL user and db 3")
    finally:
        env.close()


@t.case
def unix_socket():
    env = Env("unix", {"unix": True, "tcp": False},
              lambda r: "unix://%s?db=2" % r.unix)
    try:
        env.gw.wait_healthy()
        svc = env.service(env.redis.conn(), "unixsvc", [("GET", "/unix/{id}")], handler=echo)
        env.gw.wait_route("GET", "/unix/{id}", svc.instance)
        r = env.gw.http("GET", "/unix/5")
        eq((r.status, r.body), (200, b"GET /unix/5"), "request over a unix socket")
        eq(oct(os.stat(env.redis.unix).st_mode & 0o777), oct(0o700), "socket mode")
    finally:
        env.close()


def acl_env():
    tmp = tempfile.mkdtemp(prefix="portico-it-secbus-keys-")
    secrets = os.path.join(tmp, "secrets.json")
    with open(secrets, "w") as f:
        json.dump({"users": USERS_KEY}, f)
    aclcopy = os.path.join(tmp, "portico.acl")
    shutil.copy(ACL_FILE, aclcopy)
    env = Env("acl", {"extra": ["--aclfile", aclcopy],
                      "auth": {"user": GW_USER, "password": GW_PASS}},
              lambda r: "redis://%s:%s@%s:%d" % (GW_USER, GW_PASS, HOST, r.port),
              ["--registration-secrets-file", secrets])
    env.keydir = tmp
    return env


@t.case
def acl_recipe_end_to_end():
    check(os.path.exists(ACL_FILE), "example ACL file missing: %s" % ACL_FILE)
    env = acl_env()
    try:
        env.gw.wait_healthy()
        svc_conn = env.redis.conn(user=SVC_USER, password=SVC_PASS)
        # the legitimate flow: the users service as svc-users, signed announcements
        svc = env.service(svc_conn, "users", [("GET", "/users/{id}"), ("POST", "/users")],
                          key=USERS_KEY, instance="users-" + uniq("i"), handler=echo)
        env.gw.wait_route("GET", "/users/{id}", svc.instance)
        r = env.gw.http("GET", "/users/42")
        eq((r.status, r.body), (200, b"GET /users/42"), "GET through the ACL-locked bus")
        r = env.gw.http("POST", "/users", body=b"{}")
        eq((r.status, r.body), (200, b"POST /users"), "POST through the ACL-locked bus")
        eq(env.gw.metric("portico_registrations_total", result="accepted") >= 1, True,
           "accepted counted")

        # large bodies through keys (claim check): the gateway and the service
        # may SET/read/delete <prefix>:body:* keys, and nothing else
        big = b"b" * 300000
        cc = env.service(svc_conn, "users", [("POST", "/users/big")], key=USERS_KEY,
                         instance="users-" + uniq("cc"), claim_check=True,
                         handler=lambda req: {"status": 200, "body": req["_body"] + b"!"})
        env.gw.wait_route("POST", "/users/big", cc.instance)
        r = env.gw.http("POST", "/users/big", body=big)
        eq((r.status, r.body), (200, big + b"!"), "a body by reference both ways")
        check("body_ref" in cc.last_request(), "the request went by reference")
        eq(env.gw.metric("portico_claim_checks_total", direction="reply", result="fetched"), 1,
           "the reply went by reference")

        rogue = env.client(**svc_conn)
        # cannot read another service's requests, nor every announcement
        for ch in ("portico:svc:orders-1", "portico:register", "portico:reply:x",
                   "portico:svc:*"):
            expect_error(lambda: rogue.subscribe(ch), "NOPERM", "svc-users SUBSCRIBE %s" % ch)
        expect_error(lambda: rogue.command("PSUBSCRIBE", "portico:*"), "NOPERM",
                     "svc-users PSUBSCRIBE portico:*")
        # cannot inject requests into instances nor trigger discovery storms
        expect_error(lambda: rogue.publish("portico:svc:" + svc.instance, "{}"), "NOPERM",
                     "svc-users PUBLISH to an instance channel")
        expect_error(lambda: rogue.publish("portico:discover", "{}"), "NOPERM",
                     "svc-users PUBLISH discover")
        # no keyspace but the body keys, no admin commands
        eq(rogue.command("SET", "portico:body:x:rep", "v", "PX", 1000), "OK", "svc SET body key")
        for cmd in (("GET", "k"), ("SET", "portico:rl:x", "1"), ("GETDEL", "portico:x"),
                    ("KEYS", "*"), ("SCAN", "0"), ("GETRANGE", "portico:body:x:rep", "0", "1"), ("CONFIG", "GET", "*"), ("FLUSHALL",),
                    ("ACL", "LIST"), ("MONITOR",), ("CLIENT", "LIST")):
            expect_error(lambda: rogue.command(*cmd), "NOPERM", "svc-users %s" % (cmd,))
        # it may publish on register (its job), but without the signing key the gateway
        # refuses what it announces
        before = env.gw.metric("portico_registrations_total", result="unsigned")
        hijack = {"v": 1, "type": "register", "service": "users",
                  "instance": "users-rogue", "channel": "portico:svc:users-rogue",
                  "ttl_ms": 300000, "ts_ms": now_ms(),
                  "routes": [{"method": "GET", "path": "/users/{id}"}]}
        eq(rogue.publish("portico:register", json.dumps(hijack)) >= 1, True,
           "the gateway hears the register channel")
        bad = sign(hijack, "guessed-key")
        rogue.publish("portico:register", json.dumps(bad))
        wait_until(lambda: env.gw.metric("portico_registrations_total", result="unsigned")
                   >= before + 1, 3, msg="unsigned counted")
        wait_until(lambda: env.gw.metric("portico_registrations_total",
                                         result="bad_signature") >= 1, 3,
                   msg="bad_signature counted")
        eq(env.gw.route_instances("GET", "/users/{id}"), [svc.instance],
           "only the legitimate instance serves /users/{id}")

        # a client without credentials can do nothing
        anon = env.client(port=env.redis.port)
        expect_error(lambda: anon.publish("portico:register", json.dumps(hijack)), "NOAUTH",
                     "anonymous PUBLISH register")
        expect_error(lambda: anon.subscribe("portico:svc:" + svc.instance), "NOAUTH",
                     "anonymous SUBSCRIBE")
        # the gateway's own user cannot announce routes or answer as a service
        gwc = env.client(port=env.redis.port, user=GW_USER, password=GW_PASS)
        expect_error(lambda: gwc.publish("portico:register", "{}"), "NOPERM",
                     "gateway user PUBLISH register")
        expect_error(lambda: gwc.publish("portico:reply:x", "{}"), "NOPERM",
                     "gateway user PUBLISH reply")
        expect_error(lambda: gwc.command("GET", "k"), "NOPERM", "gateway user GET")
        for cmd in (("GETRANGE", "portico:rl:x", "0", "1"), ("DEL", "k"),
                    ("GET", "portico:body:x:rep"), ("KEYS", "*")):
            expect_error(lambda: gwc.command(*cmd), "NOPERM", "gateway user %s" % (cmd,))
        # wrong password for a real user
        expect_error(lambda: AuthClient(port=env.redis.port, user=SVC_USER, password="nope"),
                     "WRONGPASS", "svc-users with a wrong password")

        # still serving after all that
        eq(env.gw.http("GET", "/users/7").status, 200, "still serving")
    finally:
        try:
            env.close()
        finally:
            shutil.rmtree(env.keydir, ignore_errors=True)


if __name__ == "__main__":
    t.main()
