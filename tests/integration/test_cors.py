#!/usr/bin/env python3
"""CORS (docs/security.md "CORS"): preflights answered by the gateway before auth
and routing (204 or 403), Access-Control-Allow-Origin & co. on actual responses to
allowed origins, errors included, a service's own CORS headers replaced, nothing
for other origins or on the admin listener; "*" origins; bad configs exit 2."""

import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Gateway, Runner, Stack, assert_error, check, eq, http,  # noqa: E402
                     run_gateway_cli, uniq)

t = Runner()
ST = None
TMP = None

APP = "https://app.example"
KEY = "cors-test-key-0123456789"
POLICY = {
    "cors": {
        "origins": [APP, "http://localhost:3000"],
        "methods": ["GET", "POST", "DELETE"],
        "headers": ["Authorization", "Content-Type", "X-Custom"],
        "expose_headers": ["X-Request-Id", "X-Total"],
        "credentials": True,
        "max_age": 300,
    },
    "api_keys": [{"id": "k", "key": KEY}],
    "default": "public",
    "routes": [{"prefix": "/sec", "auth": "api_key"}],
}


def handler(req):
    return {"status": 200,
            "headers": [["content-type", "text/plain"], ["x-total", "3"],
                        ["access-control-allow-origin", "*"], ["vary", "accept"]],
            "body": "ok"}


def mk(prefix="/c", methods=("GET",)):
    path = "%s/%s" % (prefix, uniq("r"))
    svc = ST.service(routes=[(m, path) for m in methods], handler=handler)
    return svc, path


def preflight(path, origin=APP, method="POST", headers=None, gw=None):
    h = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers is not None:
        h["Access-Control-Request-Headers"] = headers
    return (gw or ST.gw).http("OPTIONS", path, h)


def vary_has(r, token):
    toks = [v.strip().lower() for line in r.header_all("vary") for v in line.split(",")]
    return token in toks


@t.case
def preflight_allowed_204():
    svc, p = mk(methods=("POST",))
    r = preflight(p, headers="content-type, X-Custom")
    eq(r.status, 204, "status (body %r)" % (r.body,))
    eq(r.body, b"", "body")
    eq(r.header_all("access-control-allow-origin"), [APP], "allow-origin")
    eq(r.header("access-control-allow-credentials"), "true", "allow-credentials")
    eq(r.header("access-control-allow-methods"), "GET, POST, DELETE", "allow-methods")
    eq(r.header("access-control-allow-headers"), "authorization, content-type, x-custom",
       "allow-headers")
    eq(r.header("access-control-max-age"), "300", "max-age")
    check(vary_has(r, "origin") and vary_has(r, "access-control-request-method"),
          "vary: %r" % r.header_all("vary"))
    eq(svc.n_requests(), 0, "preflights that reached the service")


@t.case
def preflight_before_routing_and_auth():
    # no such route: still answered
    eq(preflight("/nowhere/%s" % uniq("x")).status, 204, "unknown path")
    # protected route, no credentials: still answered
    svc, p = mk("/sec", methods=("DELETE",))
    eq(preflight(p, method="DELETE").status, 204, "protected route")
    eq(svc.n_requests(), 0, "preflights that reached the service")


@t.case
def preflight_denied_403():
    svc, p = mk(methods=("POST",))
    r = preflight(p, origin="https://evil.example")
    assert_error(r, 403, "cors_forbidden")
    eq(r.header("access-control-allow-origin"), None, "allow-origin for a bad origin")
    r = preflight(p, method="PUT")
    assert_error(r, 403, "cors_forbidden")
    r = preflight(p, headers="content-type, x-other")
    assert_error(r, 403, "cors_forbidden")
    r = preflight(p, origin=APP + "/")
    assert_error(r, 403, "cors_forbidden")
    r = preflight(p, origin="https://app.example.evil.com")
    assert_error(r, 403, "cors_forbidden")
    eq(svc.n_requests(), 0, "preflights that reached the service")


@t.case
def plain_options_is_routed():
    # OPTIONS without Access-Control-Request-Method is not a preflight
    svc, p = mk(methods=("OPTIONS",))
    r = ST.gw.http("OPTIONS", p, {"Origin": APP})
    eq(r.status, 200, "status")
    eq(svc.n_requests(), 1, "forwarded")


@t.case
def actual_response_headers():
    svc, p = mk()
    r = ST.gw.http("GET", p, {"Origin": APP})
    eq(r.status, 200, "status")
    eq(r.body, b"ok", "body")
    eq(r.header_all("access-control-allow-origin"), [APP],
       "allow-origin (the service's '*' replaced)")
    eq(r.header("access-control-allow-credentials"), "true", "credentials")
    eq(r.header("access-control-expose-headers"), "x-request-id, x-total", "expose")
    check(vary_has(r, "origin") and vary_has(r, "accept"), "vary: %r" % r.header_all("vary"))
    r = ST.gw.http("GET", p, {"Origin": "http://localhost:3000"})
    eq(r.header("access-control-allow-origin"), "http://localhost:3000", "second origin")


@t.case
def other_origins_get_nothing():
    svc, p = mk()
    for h in ({"Origin": "https://evil.example"}, {}, {"Origin": "null"}):
        r = ST.gw.http("GET", p, h)
        eq(r.status, 200, "status")
        eq(r.header("access-control-allow-origin"), None, "allow-origin for %r" % h)
        eq(r.header("access-control-allow-credentials"), None, "credentials for %r" % h)
        check(vary_has(r, "origin"), "vary origin for %r" % h)
    r = ST.gw.http("GET", p, [("Origin", APP), ("Origin", APP)])
    eq(r.header("access-control-allow-origin"), None, "two Origin headers")


@t.case
def errors_carry_cors_headers():
    r = ST.gw.http("GET", "/nowhere/%s" % uniq("x"), {"Origin": APP})
    assert_error(r, 404, "not_found")
    eq(r.header("access-control-allow-origin"), APP, "404 allow-origin")
    svc, p = mk("/sec")
    r = ST.gw.http("GET", p, {"Origin": APP})
    assert_error(r, 401, "unauthorized")
    eq(r.header("access-control-allow-origin"), APP, "401 allow-origin")
    eq(r.header("access-control-allow-credentials"), "true", "401 credentials")
    r = ST.gw.http("GET", p, {"Origin": APP, "X-API-Key": KEY})
    eq(r.status, 200, "with the key")
    eq(r.header("access-control-allow-origin"), APP, "200 allow-origin")
    r = ST.gw.http("POST", p, {"Origin": APP}, body=b"")
    assert_error(r, 405, "method_not_allowed")
    eq(r.header("access-control-allow-origin"), APP, "405 allow-origin")


@t.case
def admin_listener_untouched():
    r = http(ST.gw.admin_port, "GET", "/health", {"Origin": APP})
    eq(r.status, 200, "admin status")
    eq(r.header("access-control-allow-origin"), None, "admin allow-origin")


@t.case
def wildcard_origin():
    d = os.path.join(TMP, "star")
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, "auth.json")
    with open(path, "w") as f:
        json.dump({"cors": {"origins": ["*"], "methods": ["*"], "headers": ["*"],
                            "max_age": -1}}, f)
    gw = Gateway(d, ST.redis.url, ["--auth-file", path], name="star")
    gw.start()
    try:
        gw.wait_healthy()
        svc, p = mk()
        gw.wait_route("GET", p)
        r = gw.http("GET", p, {"Origin": "https://anything.example"})
        eq(r.header_all("access-control-allow-origin"), ["*"], "allow-origin")
        eq(r.header("access-control-allow-credentials"), None, "credentials")
        r = gw.http("GET", p)
        eq(r.header("access-control-allow-origin"), None, "no Origin, no CORS")
        r = preflight(p, origin="https://x.example", method="PATCH", headers="x-a, x-b", gw=gw)
        eq(r.status, 204, "preflight")
        eq(r.header("access-control-allow-origin"), "*", "preflight allow-origin")
        eq(r.header("access-control-allow-methods"), "PATCH", "methods echo")
        eq(r.header("access-control-allow-headers"), "x-a, x-b", "headers echo")
        eq(r.header("access-control-max-age"), None, "max-age off")
    finally:
        gw.stop()


@t.case
def bad_cors_config_exit_2():
    bad = [
        {"origins": ["*"], "credentials": True},
        {"origins": []},
        {"origins": ["https://a.example/path"]},
        {"origins": ["app.example"]},
        {"origins": [APP], "methods": ["GET POST"]},
        {"origins": [APP], "max_age": "10"},
        {"origins": [APP], "colour": "blue"},
    ]
    for i, c in enumerate(bad):
        path = os.path.join(TMP, "bad%d.json" % i)
        with open(path, "w") as f:
            json.dump({"cors": c}, f)
        rc, out, err = run_gateway_cli(["--auth-file", path, "--admin", "off"])
        eq(rc, 2, "%r: exit code (stderr %r)" % (c, err[:300]))
        check(err.count("\n") == 1 and "cors" in err, "%r: stderr %r" % (c, err[:300]))


def setup():
    global ST, TMP
    TMP = tempfile.mkdtemp(prefix="portico-cors-")
    path = os.path.join(TMP, "auth.json")
    with open(path, "w") as f:
        json.dump(POLICY, f)
    ST = Stack(["--auth-file", path], name="cors")
    return ST


def teardown(st):
    try:
        if st is not None:
            st.close()
    finally:
        shutil.rmtree(TMP, ignore_errors=True)


if __name__ == "__main__":
    t.main(setup=setup, teardown=teardown)
