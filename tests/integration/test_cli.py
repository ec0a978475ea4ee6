#!/usr/bin/env python3
"""Command line (SPEC §7): --help, --version, bad flags and values exit 2 with one
stderr line, config file keys, and precedence flags > PORTICO_* env > --config."""

import json
import os
import re
import socket
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Gateway, Runner, Service, Stack, check, eq,  # noqa: E402
                     run_gateway_cli, uniq)


def _dual_stack():
    try:
        with open("/proc/sys/net/ipv6/bindv6only") as f:
            return f.read(1) != "1"
    except OSError:
        return True


DUAL_STACK = _dual_stack()
t = Runner()
ST = None


def one_line_error(args, env=None, what=None):
    rc, out, err = run_gateway_cli(args, env)
    eq(rc, 2, "exit code for %s (stderr %r)" % (what or args, err[:300]))
    check(err.endswith("\n") and err.count("\n") == 1 and err.strip() != "",
          "%s: stderr must be exactly one line, got %r" % (what or args, err[:500]))
    eq(out, "", "%s: stdout" % (what or args,))


@t.case
def help_exits_0():
    rc, out, err = run_gateway_cli(["--help"])
    eq(rc, 0, "exit code")
    for flag in ("--listen", "--admin", "--redis", "--prefix", "--timeout-ms",
                 "--header-timeout-ms", "--idle-timeout-ms", "--max-header-bytes",
                 "--max-body-bytes", "--max-connections", "--max-connections-per-ip",
                 "--body-timeout-ms", "--body-min-rate", "--drain-grace-ms",
                 "--registration-secret-file",
                 "--workers", "--log-level", "--route-grace-ms", "--config"):
        check(flag in out, "--help does not list %s" % flag)


@t.case
def version_exits_0():
    rc, out, err = run_gateway_cli(["--version"])
    eq(rc, 0, "exit code")
    check(re.search(r"\d+\.\d+\.\d+", out), "--version prints no version: %r" % out)


@t.case
def bad_flags_exit_2():
    one_line_error(["--nope"])
    one_line_error(["--timeout-ms"], what="missing value")
    one_line_error(["positional"])


@t.case
def bad_values_exit_2():
    for args in (["--timeout-ms", "abc"], ["--timeout-ms", "0"], ["--timeout-ms", "60001"],
                 ["--timeout-ms", "12x"], ["--timeout-ms", ""], ["--listen", "nothost"],
                 ["--listen", "127.0.0.1:70000"], ["--admin", "127.0.0.1:-1"],
                 ["--redis", "http://127.0.0.1:6379"], ["--log-level", "loud"],
                 ["--max-body-bytes", "-1"], ["--workers", "0"], ["--route-grace-ms", "-5"],
                 ["--max-header-bytes", "99999999999999999999"]):
        one_line_error(args)


@t.case
def bad_config_file_exit_2():
    d = ST.tmpdir
    cases = {"unknown": json.dumps({"no-such-key": 1}),
             "badval": json.dumps({"timeout-ms": "abc"}),
             "range": json.dumps({"timeout-ms": 0}),
             "notjson": "{timeout-ms: 5",
             "notobject": "[1, 2]"}
    for name, text in cases.items():
        p = os.path.join(d, "cfg-%s.json" % name)
        with open(p, "w") as f:
            f.write(text)
        one_line_error(["--config", p], what="config %s" % name)
    one_line_error(["--config", os.path.join(d, "missing.json")], what="missing config file")


@t.case
def bad_env_value_exit_2():
    one_line_error([], env={"PORTICO_TIMEOUT_MS": "abc"}, what="PORTICO_TIMEOUT_MS=abc")


@t.case
def listeners_on_one_port_exit_2():
    """--listen, --tls-listen and --admin on one non-zero port (the same address,
    or a wildcard and an address of its family) can never all be bound: refused
    like a bad value (exit 2, one line naming both flags), at start and by
    --check-config, which would otherwise say ok."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p = str(port)
    redis = ["--redis", "redis://127.0.0.1:1"]
    tls = ["--tls-cert", "c.pem", "--tls-key", "k.pem"]
    for args, flags, start in [
            (["--listen", "0.0.0.0:" + p, "--admin", "127.0.0.1:" + p],
             ("--listen 0.0.0.0:%s" % p, "--admin 127.0.0.1:%s" % p), True),
            (["--listen", "127.0.0.1:" + p, "--tls-listen", "127.0.0.1:" + p] + tls,
             ("--listen 127.0.0.1:%s" % p, "--tls-listen 127.0.0.1:%s" % p), True),
            (["--listen", "off", "--tls-listen", "127.0.0.1:" + p, "--admin", "0.0.0.0:" + p] +
             tls, ("--tls-listen", "--admin"), True),
            (["--listen", "[::]:" + p, "--admin", "[::1]:" + p],
             ("--listen [::]:%s" % p, "--admin [::1]:%s" % p), False),
            (["--listen", "127.0.0.1:" + p, "--admin", "127.0.0.1:" + p, "--workers", "2"],
             ("--listen", "--admin"), False),
            (["--listen", "[::ffff:127.0.0.1]:" + p, "--admin", "127.0.0.1:" + p],
             ("--listen", "--admin"), True)] + ([
            # the IPv6 wildcard takes IPv4 too on a dual-stack system
            (["--listen", "[::]:" + p, "--admin", "127.0.0.1:" + p],
             ("--listen [::]:%s" % p, "--admin 127.0.0.1:%s" % p), True)] if DUAL_STACK else []):
        for mode in ([], ["--check-config"]) if start else (["--check-config"],):
            rc, out, err = run_gateway_cli(mode + redis + args)
            eq((rc, out), (2, ""), "exit 2 for %r (stderr %r)" % (mode + args, err))
            lines = err.splitlines()
            check(len(lines) == 1 and all(f in lines[0] for f in flags) and
                  "the same port" in lines[0], "one line naming %r: %r" % (flags, err))
    for args in (["--listen", "127.0.0.1:" + p, "--admin", "127.0.0.2:" + p],
                 ["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
                 ["--listen", "[::1]:" + p, "--admin", "127.0.0.1:" + p]):
        rc, out, err = run_gateway_cli(["--check-config"] + redis + args)
        eq((rc, out.strip()), (0, "configuration ok"), "%r may be bound (%r)" % (args, err))


def effective_timeout(args=(), env=None):
    """Starts a gateway, sends one request, returns deadline_ms - arrival (ms)."""
    gw = Gateway(ST.tmpdir, ST.redis.url, args, env, name=uniq("gwcli"))
    svc = Service(ST.redis.port, uniq("cli"), routes=[("GET", "/" + uniq("c"))],
                  handler=lambda req: {"status": 200})
    try:
        gw.start()
        svc.start()
        gw.wait_route(*svc.routes[0], instance=svc.instance)
        eq(gw.http("GET", svc.routes[0][1]).status, 200, "request")
        return svc.last_request()["deadline_ms"] - svc.recv_times[-1] * 1000
    finally:
        svc.stop()
        gw.stop()


def near(got, want, what):
    check(want - 1000 <= got <= want + 300, "%s: deadline now%+dms, want ~%d" % (what, got, want))


@t.case
def default_timeout_5000():
    near(effective_timeout(), 5000, "default")


@t.case
def precedence_flag_env_file():
    cfg = os.path.join(ST.tmpdir, "cfg-ok.json")
    with open(cfg, "w") as f:
        json.dump({"timeout-ms": 20000}, f)
    near(effective_timeout(["--config", cfg]), 20000, "config file only")
    near(effective_timeout(["--config", cfg], {"PORTICO_TIMEOUT_MS": "12000"}), 12000,
         "env beats config file")
    near(effective_timeout(["--config", cfg, "--timeout-ms", "3000"],
                           {"PORTICO_TIMEOUT_MS": "12000"}), 3000, "flag beats env")
    near(effective_timeout(["--timeout-ms=7000"]), 7000, "--name=value form")
    near(effective_timeout([], {"PORTICO_CONFIG": cfg}), 20000, "PORTICO_CONFIG")


@t.case
def unknown_portico_env_ignored():
    near(effective_timeout([], {"PORTICO_NOT_A_SETTING": "1"}), 5000, "unknown PORTICO_ var")


def setup():
    global ST
    ST = Stack(start_gateway=False, name="cli")
    return ST


if __name__ == "__main__":
    t.main(setup=setup, teardown=lambda st: st.close())
