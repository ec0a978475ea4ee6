#!/usr/bin/env python3
"""Client authentication (docs/security.md "Client authentication"): API keys and
JWT (HS256, RS256) per route, 401/403 with WWW-Authenticate per RFC 6750/7235,
the verified identity forwarded as x-auth-subject / x-auth-key-id, client copies
of those headers stripped, and a bad --auth-file refused with exit 2.

RS256 tokens are signed with `openssl dgst -sha256 -sign` on keys made with
`openssl genpkey` at test time; HS256 tokens with hmac + hashlib."""

import base64
import hashlib
import hmac
import http.client as httpclient
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HOST, Gateway, Response, Runner, Stack, assert_error, check,  # noqa: E402
                     eq, run_gateway_cli, uniq, wait_until)

t = Runner()
ST = None
KEYDIR = None

HS_SECRET = "hs256-test-secret-0123456789abcdef-xyz"
KEY_CI = "key-ci-0123456789abcdef"
KEY_OPS = "key-ops-0123456789abcdef"
ISS = "https://idp.test"
AUD = "portico"

POLICY = {
    "api_keys": [
        {"id": "ci-bot", "key": KEY_CI},
        {"id": "ops", "key_sha256": hashlib.sha256(KEY_OPS.encode()).hexdigest()},
    ],
    "jwt": {"hs256_secret_file": "hs.secret", "rs256_public_key_file": "rs.pub.pem",
            "issuer": ISS, "audience": AUD, "leeway_s": 5},
    "default": "public",
    "routes": [
        {"prefix": "/k", "auth": "api_key"},
        {"prefix": "/j", "auth": "jwt"},
        {"prefix": "/e", "auth": "api_key_or_jwt"},
        {"prefix": "/j/open", "auth": "public"},
        {"pattern": "/j/admin/{id}", "auth": "jwt", "claims": {"role": "admin"}},
        {"pattern": "/j/scoped", "auth": "jwt", "claims": {"scope": "write"}},
        {"pattern": "/m", "methods": ["POST"], "auth": "api_key"},
        {"prefix": "/jc", "auth": "jwt", "claims": {"role": "admin"}},
    ],
}


# ------------------------------------------------------------------ tokens

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def claims(**kw):
    c = {"iss": ISS, "aud": AUD, "exp": int(time.time()) + 300, "sub": "alice"}
    c.update(kw)
    return {k: v for k, v in c.items() if v is not None}


def signing_input(header, payload):
    return (b64u(json.dumps(header).encode()) + "." +
            b64u(json.dumps(payload).encode())).encode()


def hs256(payload, secret=HS_SECRET, header=None):
    si = signing_input(header or {"alg": "HS256", "typ": "JWT"}, payload)
    key = secret if isinstance(secret, bytes) else secret.encode()
    return si.decode() + "." + b64u(hmac.new(key, si, hashlib.sha256).digest())


def rs256(payload, key="rs.key.pem"):
    si = signing_input({"alg": "RS256", "typ": "JWT"}, payload)
    sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign", os.path.join(KEYDIR, key)],
                         input=si, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
    return si.decode() + "." + b64u(sig.stdout)


def bearer(tok):
    return {"Authorization": "Bearer " + tok}


# ------------------------------------------------------------------ helpers

def identity_echo(req):
    h = {}
    for k, v in req["headers"]:
        if k.startswith("x-auth-"):
            h.setdefault(k, []).append(v)
    return {"status": 200, "headers": [["content-type", "application/json"]],
            "body": json.dumps(h)}


def mk(prefix, method="GET", pattern=None):
    """A service owning method prefix/<unique> (or the given pattern)."""
    path = pattern or "%s/%s" % (prefix, uniq("r"))
    svc = ST.service(routes=[(method, path)], handler=identity_echo)
    return svc, path


def seen(r):
    eq(r.status, 200, "status (body %r)" % (r.body[:200],))
    return json.loads(r.body)


def expect_401(r, challenge):
    assert_error(r, 401, "unauthorized")
    eq(r.header("www-authenticate"), challenge, "WWW-Authenticate")


# ------------------------------------------------------------------ cases

@t.case
def public_route_without_credentials():
    svc, p = mk("/pub")
    eq(seen(ST.gw.http("GET", p)), {}, "identity headers at the service")


@t.case
def client_identity_headers_stripped():
    forged = {"X-Auth-Subject": "admin", "X-Auth-Key-Id": "root"}
    svc, p = mk("/pub")
    eq(seen(ST.gw.http("GET", p, forged)), {}, "public route")
    svc, p = mk("/k")
    h = dict(forged, **{"X-API-Key": KEY_CI})
    eq(seen(ST.gw.http("GET", p, h)), {"x-auth-key-id": ["ci-bot"]}, "api key route")
    svc, p = mk("/j")
    h = dict(forged, **bearer(hs256(claims(sub="bob"))))
    eq(seen(ST.gw.http("GET", p, h)), {"x-auth-subject": ["bob"]}, "jwt route")


@t.case
def underscore_look_alikes_stripped():
    """X_Auth_Subject and friends are read as X-Auth-Subject by CGI-style
    frameworks (HTTP_X_AUTH_SUBJECT): the service never sees them; other
    underscore names pass."""
    forged = {"X_Auth_Subject": "admin", "X_Auth_Key_Id": "root", "x-auth_subject": "root",
              "X_Request_Id": "forged", "X_Forwarded_For": "10.9.9.9",
              "X_Forwarded_Proto": "https", "X_Custom_Thing": "kept"}
    own = {"x-auth-subject", "x-auth-key-id", "x-request-id", "x-forwarded-for",
           "x-forwarded-proto"}
    for prefix, extra, want in (("/pub", {}, {}),
                                ("/j", bearer(hs256(claims(sub="bob"))),
                                 {"x-auth-subject": ["bob"]})):
        svc, p = mk(prefix)
        eq(seen(ST.gw.http("GET", p, dict(forged, **extra))), want, prefix + " identity")
        names = [k for k, _ in svc.last_request()["headers"]]
        eq([k for k in names if "_" in k], ["x_custom_thing"], prefix + " underscore names")
        eq(sorted(k for k in names if k.replace("_", "-") in own), sorted(own - {"x-auth-key-id"}
           if want else own - {"x-auth-key-id", "x-auth-subject"}), prefix + " own headers")
        hdrs = dict(svc.last_request()["headers"])
        eq(hdrs["x-forwarded-for"], "127.0.0.1", prefix + " x-forwarded-for")
        eq(hdrs["x-forwarded-proto"], "http", prefix + " x-forwarded-proto")


# ------------------------------------------------- failed credentials, 429

def http_from(src, gw, method, path, headers=None):
    """One request to gw from source address src (loopback: 127.0.0.x)."""
    c = httpclient.HTTPConnection(HOST, gw.port, timeout=10, source_address=(src, 0))
    try:
        c.putrequest(method, path, skip_accept_encoding=True)
        for k, v in (headers.items() if isinstance(headers, dict) else headers or []):
            c.putheader(k, v)
        c.endheaders()
        resp = c.getresponse()
        return Response(resp.status, resp.reason, [(k.lower(), v) for k, v in resp.getheaders()],
                        resp.read())
    finally:
        c.close()


def fail_gateway(name, limit, window_ms):
    gw = Gateway(ST.tmpdir, ST.redis.url,
                 ["--auth-file", os.path.join(KEYDIR, "auth.json"), "--auth-fail-limit",
                  str(limit), "--auth-fail-window-ms", str(window_ms)], name=name)
    gw.start()
    gw.wait_healthy()
    return gw


def expect_throttled(r, what):
    assert_error(r, 429, "rate_limited")
    ra = r.header("retry-after") or ""
    check(ra.isdigit() and int(ra) >= 1, "%s: retry-after %r" % (what, ra))
    eq(r.header("www-authenticate"), None, what + ": no challenge on a 429")


@t.case
def failed_credentials_throttled():
    """--auth-fail-limit 3 per hour: three failed credentials from an address,
    then 429 for anything it sends to a route that needs credentials, good
    credentials included; other addresses, public routes and 403s unaffected."""
    gw = fail_gateway(uniq("gwfail"), 3, 3600000)
    try:
        svc, p = mk("/k")
        pub, pp = mk("/pub")
        jsvc, jp = mk("/jc")
        for route in ((svc, p), (pub, pp), (jsvc, jp)):
            gw.wait_route("GET", route[1], route[0].instance)
        bad = {"X-API-Key": "not-a-key-0123456789"}
        for i in range(3):
            expect_401(http_from("127.0.0.1", gw, "GET", p, bad),
                       'ApiKey realm="portico", error="invalid_key"')
        expect_throttled(http_from("127.0.0.1", gw, "GET", p, bad), "4th bad key")
        expect_throttled(http_from("127.0.0.1", gw, "GET", p, {"X-API-Key": KEY_CI}), "good key")
        expect_throttled(http_from("127.0.0.1", gw, "GET", p), "no key")
        eq(seen(http_from("127.0.0.1", gw, "GET", pp)), {}, "public route still served")
        eq(svc.n_requests(), 0, "nothing reached the key route from the locked address")
        # another address: its own count
        eq(seen(http_from("127.0.0.2", gw, "GET", p, {"X-API-Key": KEY_CI})),
           {"x-auth-key-id": ["ci-bot"]}, "good key from 127.0.0.2")
        expect_401(http_from("127.0.0.2", gw, "GET", p, bad),
                   'ApiKey realm="portico", error="invalid_key"')
        # repeated credential headers (400) and bad tokens count the same
        two = [("X-API-Key", KEY_CI), ("X-API-Key", KEY_CI)]
        for i in range(3):
            eq(http_from("127.0.0.3", gw, "GET", p, two).status, 400, "repeated headers")
        expect_throttled(http_from("127.0.0.3", gw, "GET", p, {"X-API-Key": KEY_CI}),
                         "after three 400s")
        for i in range(3):
            eq(http_from("127.0.0.4", gw, "GET", jp, bearer("x.y.z")).status, 401, "bad token")
        expect_throttled(http_from("127.0.0.4", gw, "GET", jp, bearer(hs256(claims()))),
                         "after three bad tokens")
        # a valid token without the claims is not a failed credential
        for i in range(5):
            eq(http_from("127.0.0.5", gw, "GET", jp, bearer(hs256(claims()))).status, 403,
               "403 #%d" % i)
        eq(gw.metric("portico_auth_failures_total"), 3 + 1 + 3 + 3, "failures counted")
        eq(gw.metric("portico_auth_throttled_total"), 3 + 1 + 1, "429s counted")
    finally:
        gw.stop()


@t.case
def failed_credentials_window_passes():
    """With 2 per second the address is refused until a failure's token is back;
    then a good key is served again."""
    gw = fail_gateway(uniq("gwwin"), 2, 1000)
    try:
        svc, p = mk("/k")
        gw.wait_route("GET", p, svc.instance)
        bad = {"X-API-Key": "not-a-key-0123456789"}
        got = []
        for i in range(500):  # a loaded machine may give a token back between two
            got.append(http_from("127.0.0.6", gw, "GET", p, bad).status)
            if got[-1] == 429:
                break
        eq(got[-1], 429, "bad keys end in 429")
        check(set(got) == {401, 429}, "statuses %r" % (set(got),))
        wait_until(lambda: http_from("127.0.0.6", gw, "GET", p, {"X-API-Key": KEY_CI}).status
                   == 200, 30, 0.05, "a good key served again once the window passed")
    finally:
        gw.stop()


@t.case
def api_key_missing_401():
    svc, p = mk("/k")
    expect_401(ST.gw.http("GET", p), 'ApiKey realm="portico"')
    # a bearer token is not an API key
    expect_401(ST.gw.http("GET", p, bearer(hs256(claims()))), 'ApiKey realm="portico"')
    eq(svc.n_requests(), 0, "requests that reached the service")


@t.case
def prefix_rule_covers_whole_segments():
    # {"prefix": "/k"} covers /k itself and /k/..., never /kx...
    for pattern in ("/k", "/k/" + uniq("x")):
        svc, p = mk(None, pattern=pattern)
        expect_401(ST.gw.http("GET", p), 'ApiKey realm="portico"')
        eq(svc.n_requests(), 0, "%s: requests that reached the service" % pattern)
    svc, p = mk(None, pattern="/k" + uniq("x"))
    eq(seen(ST.gw.http("GET", p)), {}, "%s is not under the /k prefix" % p)


@t.case
def api_key_wrong_401():
    svc, p = mk("/k")
    for h in ({"X-API-Key": "key-ci-0123456789abcdeX"}, {"X-API-Key": KEY_CI[:-1]},
              {"Authorization": "ApiKey nope"}, {"X-API-Key": ""}):
        r = ST.gw.http("GET", p, h)
        expect_401(r, 'ApiKey realm="portico", error="invalid_key"')
    eq(svc.n_requests(), 0, "requests that reached the service")


@t.case
def api_key_right_200():
    svc, p = mk("/k")
    eq(seen(ST.gw.http("GET", p, {"X-API-Key": KEY_CI})), {"x-auth-key-id": ["ci-bot"]},
       "X-API-Key")
    eq(seen(ST.gw.http("GET", p, {"Authorization": "ApiKey " + KEY_CI})),
       {"x-auth-key-id": ["ci-bot"]}, "Authorization: ApiKey")
    eq(seen(ST.gw.http("GET", p, {"Authorization": "apikey  " + KEY_OPS})),
       {"x-auth-key-id": ["ops"]}, "key configured by its SHA-256")


@t.case
def repeated_credentials_400():
    svc, p = mk("/k")
    r = ST.gw.http("GET", p, [("X-API-Key", KEY_CI), ("X-API-Key", KEY_OPS)])
    assert_error(r, 400, "bad_request")
    r = ST.gw.http("GET", p, [("X-API-Key", KEY_CI), ("Authorization", "ApiKey " + KEY_CI)])
    assert_error(r, 400, "bad_request")
    eq(svc.n_requests(), 0, "requests that reached the service")


@t.case
def jwt_missing_401():
    svc, p = mk("/j")
    expect_401(ST.gw.http("GET", p), 'Bearer realm="portico"')
    expect_401(ST.gw.http("GET", p, {"Authorization": "Basic YTpi"}), 'Bearer realm="portico"')


@t.case
def jwt_hs256_valid():
    svc, p = mk("/j")
    eq(seen(ST.gw.http("GET", p, bearer(hs256(claims())))), {"x-auth-subject": ["alice"]},
       "identity")
    # no sub: allowed, nothing forwarded
    eq(seen(ST.gw.http("GET", p, bearer(hs256(claims(sub=None))))), {}, "no sub")
    # the scheme name is case-insensitive
    eq(seen(ST.gw.http("GET", p, {"Authorization": "bearer " + hs256(claims())})),
       {"x-auth-subject": ["alice"]}, "lower-case scheme")


def bad_token(p, tok):
    r = ST.gw.http("GET", p, bearer(tok))
    assert_error(r, 401, "unauthorized")
    w = r.header("www-authenticate") or ""
    check(w.startswith('Bearer realm="portico", error="invalid_token"'),
          "WWW-Authenticate %r" % w)
    return w


@t.case
def jwt_expired_401():
    svc, p = mk("/j")
    w = bad_token(p, hs256(claims(exp=int(time.time()) - 60)))
    check("expired" in w, "description: %r" % w)
    bad_token(p, hs256(claims(exp=None)))                       # exp required
    bad_token(p, hs256(claims(nbf=int(time.time()) + 120)))     # not yet valid
    eq(svc.n_requests(), 0, "requests that reached the service")


@t.case
def jwt_wrong_signature_401():
    svc, p = mk("/j")
    bad_token(p, hs256(claims(), secret="another-secret-another-secret-0123"))
    good = hs256(claims(sub="alice"))
    forged = hs256(claims(sub="admin"))
    h1, _, s1 = good.split(".")
    _, p2, _ = forged.split(".")
    bad_token(p, "%s.%s.%s" % (h1, p2, s1))                      # payload swapped
    bad_token(p, rs256(claims(), key="other.key.pem"))           # RS256, other key
    bad_token(p, good + "x")                                     # garbage
    bad_token(p, "not-a-token")
    eq(svc.n_requests(), 0, "requests that reached the service")


@t.case
def jwt_alg_none_401():
    svc, p = mk("/j")
    c = claims(sub="admin")
    for alg in ("none", "None", "NONE", ""):
        si = signing_input({"alg": alg, "typ": "JWT"}, c).decode()
        bad_token(p, si + ".")
        bad_token(p, si + "." + b64u(b"sig"))
    eq(svc.n_requests(), 0, "requests that reached the service")


@t.case
def jwt_alg_confusion_401():
    """HS256 'signed' with the RS256 public key as the HMAC secret."""
    svc, p = mk("/j")
    with open(os.path.join(KEYDIR, "rs.pub.pem"), "rb") as f:
        pub = f.read()
    bad_token(p, hs256(claims(sub="admin"), secret=pub))
    bad_token(p, hs256(claims(sub="admin"), secret=pub.strip()))
    eq(svc.n_requests(), 0, "requests that reached the service")


@t.case
def jwt_rs256_valid():
    svc, p = mk("/j")
    eq(seen(ST.gw.http("GET", p, bearer(rs256(claims(sub="carol"))))),
       {"x-auth-subject": ["carol"]}, "identity")


@t.case
def jwt_issuer_audience():
    svc, p = mk("/j")
    bad_token(p, hs256(claims(iss="https://evil.test")))
    bad_token(p, hs256(claims(aud="someone-else")))
    eq(seen(ST.gw.http("GET", p, bearer(hs256(claims(aud=["x", AUD])))))["x-auth-subject"],
       ["alice"], "aud as an array")


@t.case
def jwt_claims_403():
    svc = ST.service(routes=[("GET", "/j/admin/{id}"), ("GET", "/j/scoped")],
                     handler=identity_echo)
    for path, bad, good in (("/j/admin/7", {"role": "user"}, {"role": "admin"}),
                            ("/j/scoped", {"scope": "read"}, {"scope": "read write"})):
        r = ST.gw.http("GET", path, bearer(hs256(claims(**bad))))
        assert_error(r, 403, "forbidden")
        eq(r.header("www-authenticate"), 'Bearer realm="portico", error="insufficient_scope"',
           "403 WWW-Authenticate")
        r = ST.gw.http("GET", path, bearer(hs256(claims())))   # claim missing
        assert_error(r, 403, "forbidden")
        eq(seen(ST.gw.http("GET", path, bearer(hs256(claims(**good))))),
           {"x-auth-subject": ["alice"]}, "%s with the claim" % path)
        # no token at all is 401, not 403
        expect_401(ST.gw.http("GET", path), 'Bearer realm="portico"')
    eq(svc.n_requests(), 2, "requests that reached the service")


@t.case
def api_key_or_jwt():
    svc, p = mk("/e")
    eq(seen(ST.gw.http("GET", p, {"X-API-Key": KEY_CI})), {"x-auth-key-id": ["ci-bot"]}, "key")
    eq(seen(ST.gw.http("GET", p, bearer(hs256(claims())))), {"x-auth-subject": ["alice"]},
       "token")
    expect_401(ST.gw.http("GET", p), 'Bearer realm="portico", ApiKey realm="portico"')
    # every credential presented must be valid
    r = ST.gw.http("GET", p, dict(bearer(hs256(claims(exp=1))), **{"X-API-Key": KEY_CI}))
    assert_error(r, 401, "unauthorized")
    both = dict(bearer(hs256(claims())), **{"X-API-Key": KEY_CI})
    eq(seen(ST.gw.http("GET", p, both)),
       {"x-auth-subject": ["alice"], "x-auth-key-id": ["ci-bot"]}, "both")


@t.case
def most_specific_rule_wins():
    svc, p = mk("/j/open")           # public under the jwt prefix
    eq(seen(ST.gw.http("GET", p)), {}, "public sub-prefix")
    svc = ST.service(routes=[("GET", "/m"), ("POST", "/m")], handler=identity_echo)
    eq(seen(ST.gw.http("GET", "/m")), {}, "GET /m is public")
    eq(ST.gw.http("HEAD", "/m").status, 200, "HEAD /m is public")
    expect_401(ST.gw.http("POST", "/m", body=b"x"), 'ApiKey realm="portico"')
    eq(seen(ST.gw.http("POST", "/m", {"X-API-Key": KEY_CI}, body=b"x")),
       {"x-auth-key-id": ["ci-bot"]}, "POST /m with a key")
    # routing comes first: an unknown path is still 404, not 401
    assert_error(ST.gw.http("GET", "/k/none-such-route"), 404, "not_found")


@t.case
def bad_auth_files_exit_2():
    cases = [
        ("not json", "{"),
        ("unknown key", json.dumps({"default": "public", "bogus": 1})),
        ("bad mode", json.dumps({"default": "everyone"})),
        ("short key", json.dumps({"default": "api_key", "api_keys": [{"id": "a", "key": "k"}]})),
        ("short secret", json.dumps({"default": "jwt", "jwt": {"hs256_secret": "s"}})),
        ("missing key file", json.dumps({"default": "jwt",
                                         "jwt": {"rs256_public_key_file": "nope.pem"}})),
        ("claims on api_key", json.dumps({"default": "public", "api_keys": [
            {"id": "a", "key": KEY_CI}], "routes": [
            {"prefix": "/a", "auth": "api_key", "claims": {"role": "x"}}]})),
        ("jwt rule without jwt", json.dumps({"default": "public",
                                             "routes": [{"prefix": "/a", "auth": "jwt"}]})),
        ("no default", json.dumps({"api_keys": [{"id": "a", "key": KEY_CI}]})),
        ("duplicate rule", json.dumps({"default": "public", "api_keys": [
            {"id": "a", "key": KEY_CI}], "routes": [{"prefix": "/a", "auth": "api_key"},
                                                   {"prefix": "/a", "auth": "public"}]})),
    ]
    d = tempfile.mkdtemp(prefix="portico-auth-bad-")
    try:
        for name, text in cases:
            path = os.path.join(d, "auth.json")
            with open(path, "w") as f:
                f.write(text)
            rc, out, err = run_gateway_cli(["--auth-file", path, "--listen", "127.0.0.1:0",
                                            "--admin", "off"])
            eq(rc, 2, "%s: exit code (stderr %r)" % (name, err[:300]))
            check(err.count("\n") == 1 and err.endswith("\n") and "auth file" in err,
                  "%s: want one stderr line naming the auth file, got %r" % (name, err[:400]))
        rc, out, err = run_gateway_cli(["--auth-file", os.path.join(d, "absent.json")])
        eq(rc, 2, "missing file: exit code")
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ------------------------------------------------------------------ setup

def setup():
    global ST, KEYDIR
    KEYDIR = tempfile.mkdtemp(prefix="portico-auth-keys-")
    for name in ("rs", "other"):
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt",
                        "rsa_keygen_bits:2048", "-out", os.path.join(KEYDIR, name + ".key.pem")],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    subprocess.run(["openssl", "pkey", "-in", os.path.join(KEYDIR, "rs.key.pem"), "-pubout",
                    "-out", os.path.join(KEYDIR, "rs.pub.pem")], check=True)
    with open(os.path.join(KEYDIR, "hs.secret"), "w") as f:
        f.write(HS_SECRET + "\n")
    with open(os.path.join(KEYDIR, "auth.json"), "w") as f:
        json.dump(POLICY, f)
    # These cases send many bad credentials from one address: the failed-
    # credentials limit is off here and has gateways of its own below.
    ST = Stack(["--auth-file", os.path.join(KEYDIR, "auth.json"), "--auth-fail-limit", "0"],
               name="auth")
    return ST


def teardown(st):
    try:
        if st is not None:
            st.close()
    finally:
        shutil.rmtree(KEYDIR, ignore_errors=True)


if __name__ == "__main__":
    t.main(setup=setup, teardown=teardown)
