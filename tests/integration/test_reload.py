#!/usr/bin/env python3
"""Reload, checks, health (SPEC §9, protocol.md §6-§7): SIGHUP reloads the --config
file and every file the settings name, all or nothing; --check-config; /livez and
/readyz; the systemd notify protocol (NOTIFY_SOCKET)."""

import http.client as httpclient
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HOST, Gateway, Runner, Stack, TestFailure, assert_error,  # noqa: E402
                     check, eq, fail, gateway_binary, gateway_env, run_gateway_cli, uniq,
                     wait_until)

t = Runner()
KEY = "reload-key-0123456789abcdef"


def write(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))
    os.replace(tmp, path)   # an operator's editor may not, but the test must not race itself


class Setup:
    """A stack whose gateway reads --config cfg.json, which names the other files."""

    def __init__(self, name, extra_args=(), cfg=None, auth=None, rl=None, env=None):
        self.st = Stack(name=name, start_gateway=False)
        d = self.st.tmpdir
        self.cfg, self.auth, self.rl = (os.path.join(d, n) for n in ("cfg.json", "auth.json",
                                                                     "rl.json"))
        self.secrets, self.allow = os.path.join(d, "secrets.json"), os.path.join(d, "allow.json")
        write(self.auth, auth or {"default": "public"})
        write(self.rl, rl or {"rules": []})
        base = {"auth-file": self.auth, "ratelimit-file": self.rl}
        base.update(cfg or {})
        write(self.cfg, base)
        self.base_cfg = base
        self.st.start_gateway(["--config", self.cfg] + list(extra_args), env=env)
        self.gw = self.st.gw

    def reloads(self, result):
        return self.gw.metric("portico_config_reloads_total", result=result)

    def hup(self, result="ok"):
        """SIGHUP; waits until the reload is counted with `result`."""
        before = self.reloads(result)
        self.gw.signal(signal.SIGHUP)
        wait_until(lambda: self.reloads(result) == before + 1, 10, 0.02,
                   "portico_config_reloads_total{result=%s} to grow" % result)

    def close(self):
        self.st.close()


# ---------------------------------------------------------------- --check-config

def check_files(d):
    """A complete, valid set of files in d; returns the argv naming them."""
    paths = {n: os.path.join(d, n) for n in ("cfg.json", "auth.json", "rl.json", "secret",
                                             "secrets.json", "allow.json", "hs.key")}
    write(paths["hs.key"], "0123456789abcdef0123456789abcdef\n")
    write(paths["auth.json"], {"api_keys": [{"id": "k", "key": KEY}], "default": "public",
                               "jwt": {"hs256_secret_file": "hs.key"},
                               "cors": {"origins": ["https://a.example"]}})
    write(paths["rl.json"], {"rules": [{"route": "/a", "rate": 5}]})
    write(paths["secret"], "s3cr3t\n")
    write(paths["secrets.json"], {"users": "u-s3cr3t"})
    write(paths["allow.json"], {"users": ["/users"]})
    write(paths["cfg.json"], {"auth-file": paths["auth.json"], "ratelimit-file": paths["rl.json"],
                              "timeout-ms": 2000})
    return paths, ["--config", paths["cfg.json"], "--registration-secret-file", paths["secret"],
                   "--registration-secrets-file", paths["secrets.json"],
                   "--route-allowlist-file", paths["allow.json"]]


@t.case
def check_config_ok_binds_and_connects_nothing():
    d = tempfile.mkdtemp(prefix="portico-it-check-")
    held = socket.socket()
    held.bind((HOST, 0))
    held.listen(1)
    closed = socket.socket()
    closed.bind((HOST, 0))       # bound, never listening: a connect would be refused
    try:
        _, argv = check_files(d)
        argv += ["--listen", "%s:%d" % (HOST, held.getsockname()[1]),
                 "--redis", "redis://%s:%d" % (HOST, closed.getsockname()[1]), "--workers", "2"]
        rc, out, err = run_gateway_cli(["--check-config"] + argv)
        eq((rc, out, err), (0, "configuration ok\n", ""), "--check-config on a good set")
        # the same flags without --check-config really try to bind the held port
        rc, out, err = run_gateway_cli(argv + ["--admin", "off"])
        check(rc != 0 and "cannot listen" in err, "without --check-config it binds: %r" % err)
        # the environment counts too
        rc, out, err = run_gateway_cli(["--check-config"], env={"PORTICO_CONFIG": argv[1]})
        eq((rc, out), (0, "configuration ok\n"), "--check-config with PORTICO_CONFIG")
    finally:
        held.close()
        closed.close()
        shutil.rmtree(d, ignore_errors=True)


@t.case
def check_config_each_kind_of_bad():
    d = tempfile.mkdtemp(prefix="portico-it-check-")
    try:
        check_bad_files(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def check_bad_files(d):
    paths, argv = check_files(d)
    bad = os.path.join(d, "bad.json")
    cases = []   # (what, extra argv, env, file to write or None, text it must name)

    def case(what, extra=(), env=None, files=None, names=None):
        cases.append((what, list(extra), env, files or {}, names))

    case("flag value", ["--timeout-ms", "0"], names="--timeout-ms")
    case("unknown flag", ["--no-such-flag"], names="--no-such-flag")
    case("environment", env={"PORTICO_MAX_BODY_BYTES": "x"}, names="PORTICO_MAX_BODY_BYTES")
    case("config key", files={"cfg.json": {"auth-file": paths["auth.json"], "nope": 1}},
         names="cfg.json")
    case("config not JSON", files={"cfg.json": "{"}, names="cfg.json")
    case("missing config", ["--config", os.path.join(d, "absent.json")], names="absent.json")
    case("auth file", files={"auth.json": {"default": "api_key"}}, names="auth.json")
    case("auth key file", files={"hs.key": ""}, names="auth.json")
    case("cors", files={"auth.json": {"default": "public", "cors": {"origins": ["bad"]}}},
         names="auth.json")
    case("ratelimit file", files={"rl.json": {"rules": [{"route": "/a"}]}}, names="rl.json")
    case("burst without rate", ["--ratelimit-burst", "3"], names="--ratelimit-burst")
    case("secret file", files={"secret": "\n"}, names="secret")
    case("secrets file", files={"secrets.json": ["x"]}, names="secrets.json")
    case("allow-list", files={"allow.json": {"users": "/users"}}, names="allow.json")
    case("missing allow-list", ["--route-allowlist-file", bad], names="bad.json")
    # a TLS pair is read whenever it is named, with or without --tls-listen
    case("tls pair without a listener", ["--tls-cert", paths["secret"], "--tls-key", bad],
         names="--tls-key " + bad)
    case("half a tls pair", ["--tls-cert", paths["secret"]], names="--tls-cert without --tls-key")
    good = {n: open(p).read() for n, p in paths.items()}
    for what, extra, env, files, names in cases:
        for n, content in files.items():
            write(paths[n], content)
        try:
            rc, out, err = run_gateway_cli(["--check-config"] + argv + extra, env=env)
        finally:
            for n in files:
                write(paths[n], good[n])
        eq(rc, 2, "exit status for a bad %s (stderr %r)" % (what, err))
        eq(out, "", "stdout for a bad %s" % what)
        lines = err.splitlines()
        check(len(lines) == 1 and lines[0].startswith("portico: ") and names in lines[0],
              "one line naming %r for a bad %s: %r" % (names, what, err))
    rc, out, _ = run_gateway_cli(["--check-config"] + argv)
    eq((rc, out), (0, "configuration ok\n"), "the good set again")


# ---------------------------------------------------------------------- reload

@t.case
def reload_applies_auth_cors_and_settings():
    s = Setup("reload-apply")
    try:
        svc = s.st.service(routes=[("GET", "/rl/x")])
        eq(s.gw.http("GET", "/rl/x").status, 200, "public before the reload")
        write(s.auth, {"api_keys": [{"id": "k", "key": KEY}], "default": "public",
                       "routes": [{"prefix": "/rl", "auth": "api_key"}],
                       "cors": {"origins": ["https://app.example"]}})
        s.hup()
        assert_error(s.gw.http("GET", "/rl/x"), 401, "unauthorized")
        r = s.gw.http("GET", "/rl/x", headers={"x-api-key": KEY, "origin": "https://app.example"})
        eq(r.status, 200, "with the key after the reload")
        eq(r.header("access-control-allow-origin"), "https://app.example", "CORS after reload")
        # a setting from the config file: a smaller body limit
        write(s.cfg, dict(s.base_cfg, **{"max-body-bytes": 4}))
        s.hup()
        r = s.gw.http("POST", "/rl/x", headers={"x-api-key": KEY}, body=b"12345")
        eq(r.status, 413, "max-body-bytes from the reloaded config file")
        eq(s.reloads("error"), 0, "no refused reload")
        svc.stop()
    finally:
        s.close()


@t.case
def reload_invalid_changes_nothing():
    s = Setup("reload-bad", auth={"api_keys": [{"id": "k", "key": KEY}], "default": "public",
                                  "routes": [{"prefix": "/rb", "auth": "api_key"}]})
    try:
        svc = s.st.service(routes=[("GET", "/rb/x"), ("GET", "/open")])
        stderr_before = len(s.gw.stderr_text())
        # each kind of bad file; the auth file is made public every time too,
        # so that any half-applied reload would show
        public = {"default": "public"}
        bad = [
            ("auth file", s.auth, "{", None),
            ("rate-limit file", s.rl, {"rules": [{"route": "/x", "rate": 0}]}, public),
            ("config file", s.cfg, dict(s.base_cfg, nope=1), public),
            ("config value", s.cfg, dict(s.base_cfg, **{"timeout-ms": 0}), public),
            ("allow-list", s.allow, "[", public),
        ]
        for n, (what, path, content, auth) in enumerate(bad):
            good_text = open(path).read() if os.path.exists(path) else None
            good_cfg = open(s.cfg).read()
            if path == s.allow:
                write(s.cfg, dict(s.base_cfg, **{"route-allowlist-file": s.allow}))
            write(path, content)
            if auth is not None:
                write(s.auth, auth)
            s.hup("error")
            assert_error(s.gw.http("GET", "/rb/x"), 401, "unauthorized")
            eq(s.gw.http("GET", "/rb/x", headers={"x-api-key": KEY}).status, 200,
               "key still works after a bad %s" % what)
            eq(s.gw.http("GET", "/open").status, 200, "other routes after a bad %s" % what)
            lines = [ln for ln in s.gw.stderr_text()[stderr_before:].splitlines()
                     if "reload refused" in ln]
            eq(len(lines), n + 1, "one log line per refused reload")
            check(os.path.basename(path) in lines[-1],
                  "the line names the %s: %r" % (what, lines[-1]))
            # restore
            if good_text is None:
                os.unlink(path)
            else:
                write(path, good_text)
            write(s.cfg, good_cfg)
            write(s.auth, {"api_keys": [{"id": "k", "key": KEY}], "default": "public",
                           "routes": [{"prefix": "/rb", "auth": "api_key"}]})
        eq(s.reloads("ok"), 0, "no reload went through")
        s.hup("ok")
        eq(s.reloads("error"), len(bad), "refused reloads counted")
        svc.stop()
    finally:
        s.close()


@t.case
def reload_keeps_socket_settings_with_a_warning():
    s = Setup("reload-fixed")
    try:
        svc = s.st.service(routes=[("GET", "/fx")])
        write(s.cfg, dict(s.base_cfg, prefix="other", workers=4, **{"timeout-ms": 3000}))
        s.hup()
        text = s.gw.stderr_text()
        for name in ("prefix", "workers"):
            check("%s changed" % name in text, "a warning for %s: %s" % (name, text[-2000:]))
        # still on the old prefix: the service (on "portico") is still reached
        eq(s.gw.http("GET", "/fx").status, 200, "served on the old prefix")
        svc.stop()
    finally:
        s.close()


@t.case
def reload_keeps_buckets_of_unchanged_rules():
    rules = {"rules": [{"route": "/rk/a", "rate": 1, "per": "hour", "burst": 3},
                       {"route": "/rk/b", "rate": 1, "per": "hour", "burst": 3}]}
    s = Setup("reload-rl", rl=rules)
    try:
        svc = s.st.service(routes=[("GET", "/rk/a"), ("GET", "/rk/b")])
        for want in ("2", "1"):
            r = s.gw.http("GET", "/rk/a")
            eq((r.status, r.header("ratelimit-remaining")), (200, want), "bucket of /rk/a")
        # another rule changes: /rk/a's bucket goes on where it was
        rules["rules"][1]["burst"] = 7
        write(s.rl, rules)
        s.hup()
        r = s.gw.http("GET", "/rk/a")
        eq((r.status, r.header("ratelimit-remaining")), (200, "0"), "/rk/a kept its state")
        assert_error(s.gw.http("GET", "/rk/a"), 429, "rate_limited")
        r = s.gw.http("GET", "/rk/b")
        eq((r.status, r.header("ratelimit-remaining")), (200, "6"), "/rk/b with its new burst")
        # its own rule changes: it starts over, full
        rules["rules"][0]["burst"] = 5
        write(s.rl, rules)
        s.hup()
        r = s.gw.http("GET", "/rk/a")
        eq((r.status, r.header("ratelimit-remaining")), (200, "4"), "/rk/a starts over")
        # and a rule removed: not limited any more
        rules["rules"] = rules["rules"][1:]
        write(s.rl, rules)
        s.hup()
        r = s.gw.http("GET", "/rk/a")
        eq((r.status, r.header("ratelimit-remaining")), (200, None), "/rk/a unlimited")
        svc.stop()
    finally:
        s.close()


@t.case
def reload_while_shared_limit_waits_for_redis():
    """A request waiting for the shared limiter keeps the rule and the auth decision it
    started with, though the reload removes both."""
    rules = {"rules": [{"route": "/rw", "rate": 1, "per": "hour", "burst": 5}]}
    s = Setup("reload-shared", rl=rules, extra_args=["--ratelimit-redis"])
    try:
        svc = s.st.service(routes=[("GET", "/rw")])
        eq(s.gw.http("GET", "/rw").status, 200, "the script is loaded")
        rc = s.st.redis.client()
        rc.command("CLIENT", "PAUSE", "10000", "WRITE")   # EVALSHA waits; PING does not
        out = {}
        th = threading.Thread(target=lambda: out.update(r=s.gw.http("GET", "/rw", timeout=30)))
        th.start()
        try:
            wait_until(lambda: b"blocked_clients:1" in rc.command("INFO", "clients"), 10, 0.02,
                       "the EVALSHA to be held by the pause")
            write(s.rl, {"rules": []})
            write(s.auth, {"api_keys": [{"id": "k", "key": KEY}], "default": "api_key"})
            s.hup()
        finally:
            rc.command("CLIENT", "UNPAUSE")
            th.join(30)
        check("r" in out, "the held request was answered")
        r = out["r"]
        eq(r.status, 200, "decided by the rule and the auth it started with")
        # its rule (burst 5, second request): decided on Redis, or, if the pause
        # outlasted the bus's pings, on the local fallback, which has no rule now
        check(r.header("ratelimit-remaining") in ("3", "5"),
              "its rule: %r" % r.header("ratelimit-remaining"))
        assert_error(s.gw.http("GET", "/rw"), 401, "unauthorized")
        r = s.gw.http("GET", "/rw", headers={"x-api-key": KEY})
        eq((r.status, r.header("ratelimit-remaining")), (200, None), "no rule any more")
        rc.close()
        svc.stop()
    finally:
        s.close()


@t.case
def reload_20_times_under_load_loses_nothing():
    s = Setup("reload-load")
    try:
        svc = s.st.service(routes=[("GET", "/ld"), ("POST", "/ld")])
        stop = threading.Event()
        results = []   # per thread: [ok, other statuses, errors]
        lock = threading.Lock()

        def client(i):
            ok, bad, errs = 0, [], []
            conn = httpclient.HTTPConnection(HOST, s.gw.port, timeout=30)
            n = 0
            while not stop.is_set():
                n += 1
                try:
                    if n % 3 == 0:
                        conn.request("POST", "/ld", body=b"x" * (n % 500), headers={"host": "t"})
                    else:
                        conn.request("GET", "/ld?i=%d&n=%d" % (i, n), headers={"host": "t"})
                    r = conn.getresponse()
                    r.read()
                    if r.status == 200:
                        ok += 1
                    else:
                        bad.append(r.status)
                    if r.getheader("connection", "").lower() == "close":
                        errs.append("connection: close")
                        conn.close()
                        conn = httpclient.HTTPConnection(HOST, s.gw.port, timeout=30)
                except (OSError, httpclient.HTTPException) as e:
                    errs.append(repr(e))
                    conn.close()
                    conn = httpclient.HTTPConnection(HOST, s.gw.port, timeout=30)
            conn.close()
            with lock:
                results.append((ok, bad, errs))

        threads = [threading.Thread(target=client, args=(i,)) for i in range(4)]
        for th in threads:
            th.start()
        try:
            wait_until(lambda: len(svc.requests) >= 20, 20, 0.02, "traffic to flow")
            for n in range(20):
                limit = {"rules": [{"route": "/other%d" % n, "rate": 1 + n}]}
                write(s.rl, limit)
                write(s.auth, {"default": "public", "routes": [
                    {"prefix": "/private%d" % n, "auth": "public"}]})
                seen = len(svc.requests)
                s.hup()
                wait_until(lambda: len(svc.requests) > seen, 20, 0.02, "traffic after reload")
        finally:
            stop.set()
            for th in threads:
                th.join(60)
        eq(len(results), 4, "every client thread ended")
        total = sum(r[0] for r in results)
        for ok, bad, errs in results:
            eq(bad, [], "non-200 responses")
            eq(errs, [], "lost, reset or closed connections")
            check(ok > 0, "each client was served")
        eq(s.reloads("ok"), 20, "20 reloads")
        eq(total, len(svc.requests), "every request reached the service and was answered")
        svc.stop()
    finally:
        s.close()


# ---------------------------------------------------------------------- health

@t.case
def livez_and_readyz_follow_redis_and_drain():
    st = Stack(name="reload-ready")
    try:
        gw = st.gw
        eq(gw.admin_get("/livez")[:3:2], (200, {"status": "alive"}), "livez")
        eq(gw.admin_get("/readyz")[:3:2], (200, {"status": "ready"}), "readyz")
        st.redis.stop()
        wait_until(lambda: gw.admin_get("/readyz")[0] == 503, 15, 0.05, "readyz 503")
        eq(gw.admin_get("/readyz")[2], {"status": "not_ready", "reason": "redis_down"},
           "readyz body with Redis down")
        eq(gw.admin_get("/livez")[0], 200, "livez with Redis down")
        st.redis.start()
        wait_until(lambda: gw.admin_get("/readyz")[0] == 200, 15, 0.05, "readyz back")
        # drain: one request held in flight keeps the gateway draining
        release = threading.Event()

        def held(req):
            release.wait(30)
            return {"status": 200, "body": "released"}
        svc = st.service(routes=[("GET", "/held")], handler=held, timeout_ms=30000)
        c = gw.raw(timeout=30)
        c.send(b"GET /held HTTP/1.1\r\nHost: t\r\n\r\n")
        svc.wait_requests(1)
        gw.signal(signal.SIGTERM)

        def draining():
            try:
                return gw.admin_get("/readyz")[2] == {"status": "not_ready",
                                                      "reason": "draining"}
            except TestFailure:
                return False
        wait_until(draining, 10, 0.02, "readyz draining")
        eq(gw.admin_get("/readyz")[0], 503, "readyz status while draining")
        eq(gw.admin_get("/livez")[0], 200, "livez while draining")
        release.set()
        eq(c.read_response().status, 200, "the held request")
        c.close()
        rc = gw.wait_exit(20)
        eq(rc, 0, "exit after the drain")
        st.stop_gateway()
    finally:
        st.close()


# ---------------------------------------------------------------------- notify

class NotifySocket:
    """A unix datagram socket as NOTIFY_SOCKET, recording the messages in order."""

    def __init__(self, d, abstract=False):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        if abstract:
            name = "portico-it-%s" % uniq("n")
            self.sock.bind("\0" + name)
            self.env = "@" + name
        else:
            self.env = os.path.join(d, "notify.sock")
            self.sock.bind(self.env)
        self.sock.settimeout(0.05)
        self.msgs = []

    def poll(self):
        while True:
            try:
                self.msgs.append(self.sock.recv(4096).decode())
            except socket.timeout:
                return self.msgs

    def wait(self, n, what):
        wait_until(lambda: len(self.poll()) >= n, 15, 0.01, what)
        return self.msgs

    def close(self):
        self.sock.close()


def reloading_ok(msg):
    lines = msg.split("\n")
    return (len(lines) == 2 and lines[0] == "RELOADING=1" and lines[1].startswith("MONOTONIC_USEC=")
            and lines[1][15:].isdigit() and int(lines[1][15:]) > 0)


def notify_case(name, abstract, workers):
    st = Stack(name=name, start_gateway=False)
    ns = NotifySocket(st.tmpdir, abstract)
    try:
        args = ["--workers", str(workers)] if workers > 1 else []
        st.start_gateway(args, env={"NOTIFY_SOCKET": ns.env})
        eq(ns.wait(1, "READY=1"), ["READY=1"], "messages at start")
        st.gw.signal(signal.SIGHUP)
        wait_until(lambda: st.gw.metric("portico_config_reloads_total", result="ok") == workers,
                   15, 0.02, "every worker reloaded")
        msgs = ns.wait(3, "RELOADING=1, READY=1")
        check(reloading_ok(msgs[1]), "RELOADING message: %r" % msgs[1])
        eq(msgs[2], "READY=1", "READY=1 after the reload")
        st.gw.signal(signal.SIGTERM)
        eq(st.gw.wait_exit(20), 0, "exit")
        msgs = ns.wait(4, "STOPPING=1")
        eq(msgs[3:], ["STOPPING=1"], "STOPPING=1 on SIGTERM, and nothing else")
        eq(len(ns.poll()), 4, "no message from a worker")
        st.stop_gateway()
    finally:
        ns.close()
        st.close()


@t.case
def notify_protocol_path_socket():
    notify_case("reload-notify", False, 1)


@t.case
def notify_protocol_abstract_socket_with_workers():
    notify_case("reload-notify-w", True, 2)


@t.case
def notify_reload_before_ready_tells_nothing():
    """A SIGHUP before the gateway is ready (its Redis accepts the connection
    and never answers: ready after the 3-s wait) is not told to the service
    manager: the first message is the one READY=1, then STOPPING=1."""
    silent = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    st = Stack(name="reload-notify-early", start_gateway=False)
    ns = NotifySocket(st.tmpdir)
    proc = None
    try:
        err = open(os.path.join(st.tmpdir, "early.stderr"), "wb")
        proc = subprocess.Popen(
            [gateway_binary(), "--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--redis",
             "redis://127.0.0.1:%d" % silent.getsockname()[1]],
            stdout=subprocess.DEVNULL, stderr=err, stdin=subprocess.DEVNULL,
            env=gateway_env({"NOTIFY_SOCKET": ns.env}))
        err.close()
        time.sleep(0.5)
        proc.send_signal(signal.SIGHUP)
        eq(ns.wait(1, "READY=1"), ["READY=1"], "only READY=1, after the reload before it")
        time.sleep(0.3)
        eq(ns.poll(), ["READY=1"], "nothing after it")
        proc.send_signal(signal.SIGTERM)
        eq(proc.wait(20), 0, "exit")
        eq(ns.poll(), ["READY=1", "STOPPING=1"], "STOPPING=1 on SIGTERM")
        with open(os.path.join(st.tmpdir, "early.stderr")) as f:
            log = f.read()
        check("configuration reloaded" in log, "the early SIGHUP was a reload: %s" % log[-400:])
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        ns.close()
        silent.close()
        st.close()


@t.case
def notify_socket_unusable_is_ignored():
    st = Stack(name="reload-notify-bad", start_gateway=False)
    try:
        for bad in ("relative/path", "/nonexistent/dir/sock", "@"):
            st.start_gateway([], env={"NOTIFY_SOCKET": bad})
            st.gw.signal(signal.SIGHUP)
            wait_until(lambda: st.gw.metric("portico_config_reloads_total", result="ok") == 1,
                       10, 0.02, "the reload with NOTIFY_SOCKET=%r" % bad)
            st.stop_gateway()
    finally:
        st.close()


if __name__ == "__main__":
    t.main()
