#!/usr/bin/env python3
"""The SDK's Redis authentication and transports, through the real gateway and
the C examples: a password-only Redis (requirepass), the least-privilege ACL
recipe of examples/acl (the users example as svc-users, the gateway as
portico-gateway), and a unix socket. In each, the example registers and a
request reaches it through HTTP; a wrong password never registers."""
import os
import shutil
import sys
import tempfile
import types

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sdkutil import Procs, check, echo, eq, users  # noqa: E402
from harness import HOST, Gateway, Runner, SecureRedis, wait_until  # noqa: E402

t = Runner()
HERE = os.path.dirname(os.path.abspath(__file__))
ACL_FILE = os.path.normpath(os.path.join(HERE, "..", "..", "..", "examples", "acl", "portico.acl"))


class Env:
    """A Redis started with extra options, a gateway on it, example services."""

    def __init__(self, name, redis_kw, gw_url, tcp=True):
        self.tmpdir = tempfile.mkdtemp(prefix="portico-it-sdkauth-%s-" % name)
        self.procs = Procs()
        self.gw = None
        kw = dict(redis_kw)
        if not tcp:
            kw["unix"] = os.path.join(self.tmpdir, "redis.sock")
            kw["tcp"] = False
        self.redis = SecureRedis(self.tmpdir, **kw)
        try:
            self.redis.start()
            self.gw = Gateway(self.tmpdir, gw_url(self.redis), ["--route-grace-ms", "0"])
            self.gw.start()
        except BaseException:
            self.close()
            raise
        # what sdkutil.Example needs of a stack
        self.stack = types.SimpleNamespace(tmpdir=self.tmpdir, redis=self.redis)

    def example(self, make, url):
        return self.procs.add(make(self.stack, redis_url=url))

    def close(self):
        try:
            self.procs.close()
            if self.gw is not None:
                self.gw.stop()
        finally:
            self.redis.stop(kill=True)
            shutil.rmtree(self.tmpdir, ignore_errors=True)


@t.case
def password_only():
    pw = "s3cret-pass"
    env = Env("pw", {"extra": ["--requirepass", pw], "auth": {"password": pw}},
              lambda r: "redis://:%s@%s:%d" % (pw, HOST, r.port))
    try:
        svc = env.example(echo, "redis://:%s@%s:%d" % (pw, HOST, env.redis.port))
        env.gw.wait_route("*", "/echo/*", svc.instance)
        eq(env.gw.http("GET", "/echo/pw").status, 200, "request to an authenticated service")
        bad = echo(env.stack, redis_url="redis://:wrong@%s:%d" % (HOST, env.redis.port))
        bad.start = _start_no_wait(bad)
        env.procs.add(bad)
        wait_until(lambda: "WRONGPASS" in bad.stderr_text() or "invalid" in bad.stderr_text(),
                   10, msg="the SDK reports the refused AUTH")
        eq(len(env.gw.route_instances("*", "/echo/*")), 1, "no second instance with a bad password")
    finally:
        env.close()


def users_under_acl(name, acl_text, creates, what):
    """Redis with this ACL file, the gateway as portico-gateway and the users
    example as svc-users; `creates` users created and listed through them."""
    tmp = tempfile.mkdtemp(prefix="portico-it-sdkauth-%s-" % name)
    try:
        acl = os.path.join(tmp, "portico.acl")
        with open(acl, "w") as f:
            f.write(acl_text)
        env = Env(name, {"extra": ["--aclfile", acl],
                         "auth": {"user": "portico-gateway", "password": "CHANGE-ME-gateway"}},
                  lambda r: "redis://portico-gateway:CHANGE-ME-gateway@%s:%d" % (HOST, r.port))
        try:
            svc = env.example(users, "redis://svc-users:CHANGE-ME-users@%s:%d"
                              % (HOST, env.redis.port))
            env.gw.wait_route("GET", "/users", svc.instance)
            for i in range(creates):
                r = env.gw.http("POST", "/users", headers={"Content-Type": "application/json"},
                                body=b'{"name":"Ada"}')
                eq(r.status, 201, "create user %d %s" % (i, what))
            eq(env.gw.http("GET", "/users").status, 200, "list users")
            svc.assert_alive()
        finally:
            env.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def recipe():
    with open(ACL_FILE) as f:
        return f.read()


@t.case
def acl_recipe_users_example():
    users_under_acl("acl", recipe(), 1, "through the ACL-restricted service")


@t.case
def acl_without_client_reply():
    # A user that may not run CLIENT REPLY: the SDK's probe is refused and
    # replies go out as plain PUBLISH (answers read and dropped).
    text = recipe()
    check("+client|reply" in text, "the recipe lets services use CLIENT REPLY")
    users_under_acl("acl2", text.replace(" +client|reply", ""), 5, "without CLIENT REPLY")


@t.case
def unix_socket():
    env = Env("unix", {}, lambda r: "unix://" + r.unix, tcp=False)
    try:
        svc = env.example(echo, "unix://" + env.redis.unix)
        env.gw.wait_route("*", "/echo/*", svc.instance)
        eq(env.gw.http("GET", "/echo/unix").status, 200, "request over a unix-socket Redis")
    finally:
        env.close()


def _start_no_wait(ex):
    """start() that does not wait for "ready" (a service that cannot register)."""
    orig = ex.start

    def start(timeout=10.0):
        try:
            return orig(timeout=1.0)
        except Exception:  # noqa: BLE001 - it is expected never to be ready
            return ex
    return start


if __name__ == "__main__":
    t.main(setup=lambda: None, teardown=lambda st: None)
