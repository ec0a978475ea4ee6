#!/usr/bin/env python3
"""HTTP/1.1 behaviour of the public listener (SPEC §4, §5): keep-alive, HTTP/1.0,
Connection: close, HEAD, chunked request bodies, x-request-id, x-forwarded-*,
hop-by-hop filtering both ways, framing of replies, 204/304, the request message
fields, and route matching precedence (SPEC §3)."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Runner, Stack, check, eq, fail, assert_error, req_bytes,  # noqa: E402
                     uniq, wait_until)

t = Runner()
ST = None
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def echo_instance(svc):
    def h(req):
        return {"status": 200, "headers": [["content-type", "text/plain"]],
                "body": "%s %s %s" % (svc[0].instance if svc else "?", req["method"], req["path"])}
    return h


def mk(routes, handler=None, **kw):
    """A service with routes under a unique prefix; returns (svc, base)."""
    base = "/" + uniq("b")
    holder = []
    svc = ST.service(routes=[(m, base + p) for m, p in routes],
                     handler=handler or echo_instance(holder), **kw)
    holder.append(svc)
    return svc, base


def hdrs(req, name):
    return [v for k, v in req["headers"] if k == name]


@t.case
def keep_alive_sequential():
    svc, b = mk([("GET", "/k")])
    with ST.gw.raw() as c:
        for i in range(3):
            c.send(req_bytes("GET", b + "/k?i=%d" % i))
            r = c.read_response()
            eq(r.status, 200, "status #%d" % i)
            eq(r.body, ("%s GET %s/k" % (svc.instance, b)).encode(), "body #%d" % i)
            check((r.header("connection") or "").lower() != "close", "keep-alive closed")
        c.expect_quiet(0.2)
    eq(svc.n_requests(), 3, "requests received")


@t.case
def http10_closes():
    svc, b = mk([("GET", "/h10")])
    with ST.gw.raw() as c:
        c.send(req_bytes("GET", b + "/h10", version="HTTP/1.0"))
        r = c.read_response()
        eq(r.status, 200, "status")
        eq(r.body, ("%s GET %s/h10" % (svc.instance, b)).encode(), "body")
        c.expect_eof(3)


@t.case
def http10_without_host():
    svc, b = mk([("GET", "/h10nh")])
    with ST.gw.raw() as c:
        c.send(req_bytes("GET", b + "/h10nh", version="HTTP/1.0", host=None))
        r = c.read_response()
        eq(r.status, 200, "status")
        c.expect_eof(3)


@t.case
def connection_close_honoured():
    svc, b = mk([("GET", "/cc")])
    with ST.gw.raw() as c:
        c.send(req_bytes("GET", b + "/cc", [("Connection", "close")]))
        r = c.read_response()
        eq(r.status, 200, "status")
        eq((r.header("connection") or "").lower(), "close", "connection header")
        c.expect_eof(3)
    # the service never sees the hop-by-hop Connection header
    eq(hdrs(svc.last_request(), "connection"), [], "connection forwarded")


@t.case
def head_forwarded_no_body():
    got = []

    def h(req):
        got.append(req["method"])
        return {"status": 200, "headers": [["content-type", "text/plain"]], "body": "hello"}
    svc, b = mk([("GET", "/hd")], handler=h)
    with ST.gw.raw() as c:
        c.send(req_bytes("HEAD", b + "/hd"))
        r = c.read_response(head=True)
        eq(r.status, 200, "HEAD status")
        eq(r.header("content-type"), "text/plain", "HEAD content-type")
        eq(r.header("content-length"), "5", "HEAD: the length a GET gets")
        c.expect_quiet(0.3)   # no body bytes follow
        c.send(req_bytes("GET", b + "/hd"))
        r2 = c.read_response()
        eq(r2.body, b"hello", "GET after HEAD on the same connection")
    eq(got, ["HEAD", "GET"], "methods the service saw (HEAD forwarded as HEAD)")


@t.case
def head_reply_length_passed_on():
    """A service that answers HEAD as it should (no body, the length a GET
    would get in content-length) is believed: the client gets that length
    (RFC 9110 8.6), not 0; a content-length that is not a number is not, and
    then none is sent."""
    def h(req):
        if req["path"].endswith("/two"):  # two that disagree: neither is believed
            return {"status": 200, "headers": [["content-length", "5"], ["content-length", "6"]]}
        cl = "1234" if req["path"].endswith("/ok") else "12x"
        return {"status": 200, "headers": [["content-type", "text/plain"],
                                           ["Content-Length", cl]]}
    svc, b = mk([("GET", "/ok"), ("GET", "/bad"), ("GET", "/two")], handler=h)
    with ST.gw.raw() as c:
        c.send(req_bytes("HEAD", b + "/ok"))
        r = c.read_response(head=True)
        eq(r.status, 200, "HEAD status")
        eq(r.header_all("content-length"), ["1234"], "HEAD: the service's length")
        c.expect_quiet(0.3)
        c.send(req_bytes("HEAD", b + "/bad"))
        r = c.read_response(head=True)
        eq(r.header_all("content-length"), [], "HEAD: a bad length is not passed on, and "
           "no other is made up (the GET's is not known)")
        c.send(req_bytes("HEAD", b + "/two"))
        r = c.read_response(head=True)
        eq(r.header_all("content-length"), [], "HEAD: two lengths that disagree")
        c.send(req_bytes("GET", b + "/ok"))
        r = c.read_response()
        eq((r.status, r.body, r.header("content-length")), (200, b"", "0"),
           "GET: the gateway frames the body it got, whatever the service said")


@t.case
def chunked_request_body():
    svc, b = mk([("POST", "/ch")])
    body = (b"5\r\nhello\r\n"
            b"6;ext=1\r\n world\r\n"
            b"B\r\n 0123456789\r\n"
            b"0\r\n\r\n")
    with ST.gw.raw() as c:
        c.send(req_bytes("POST", b + "/ch", [("Transfer-Encoding", "chunked")]) + body)
        r = c.read_response()
        eq(r.status, 200, "status")
        # split chunked body in many writes on a kept-alive connection
        c.send(req_bytes("POST", b + "/ch", [("Transfer-Encoding", "chunked")]))
        for piece in [b"3\r", b"\nabc", b"\r\n", b"0\r\n", b"\r\n"]:
            c.send(piece)
            time.sleep(0.02)
        eq(c.read_response().status, 200, "status of split chunked")
    reqs = svc.wait_requests(2)
    eq(reqs[0]["_body"], b"hello world 0123456789", "de-chunked body")
    eq(reqs[1]["_body"], b"abc", "de-chunked split body")
    for rq in reqs:
        eq(hdrs(rq, "transfer-encoding"), [], "transfer-encoding forwarded")
        check("body_encoding" not in rq, "utf-8 body must not be base64")


@t.case
def request_id_kept():
    svc, b = mk([("GET", "/rid")])
    rid = "client-id_123.~!"
    r = ST.gw.http("GET", b + "/rid", {"X-Request-Id": rid})
    eq(r.header("x-request-id"), rid, "response x-request-id")
    eq(hdrs(svc.last_request(), "x-request-id"), [rid], "x-request-id to the service")
    long_ok = "a" * 128
    r = ST.gw.http("GET", b + "/rid", {"X-Request-Id": long_ok})
    eq(r.header("x-request-id"), long_ok, "128-char x-request-id kept")


@t.case
def request_id_generated():
    svc, b = mk([("GET", "/ridg")])
    seen = set()
    for bad in [None, "a" * 129, "has space", "tab\there", "caf\u00e9"]:
        h = {} if bad is None else {"X-Request-Id": bad}
        if bad is not None and not all(ord(ch) < 128 for ch in bad):
            # http.client sends latin-1: use raw bytes
            with ST.gw.raw() as c:
                c.send(req_bytes("GET", b + "/ridg", [("X-Request-Id", bad.encode().decode("latin-1"))]))
                r = c.read_response()
        else:
            r = ST.gw.http("GET", b + "/ridg", h)
        eq(r.status, 200, "status for x-request-id %r" % (bad,))
        rid = r.header("x-request-id")
        check(rid and rid != bad and 1 <= len(rid) <= 128 and all(0x21 <= ord(ch) <= 0x7e for ch in rid),
              "generated x-request-id %r for client value %r" % (rid, bad))
        got = hdrs(svc.last_request(), "x-request-id")
        eq(got, [rid], "service x-request-id (one, the generated one)")
        seen.add(rid)
    eq(len(seen), 5, "generated ids are distinct")


@t.case
def forwarded_headers():
    svc, b = mk([("GET", "/xff")])
    ST.gw.http("GET", b + "/xff", [("X-Forwarded-For", "1.2.3.4"),
                                   ("X-Forwarded-Proto", "https")])
    rq = svc.last_request()
    eq(hdrs(rq, "x-forwarded-for"), ["1.2.3.4, 127.0.0.1"], "x-forwarded-for appended")
    eq(hdrs(rq, "x-forwarded-proto"), ["http"], "x-forwarded-proto replaced")
    eq(rq.get("remote_addr"), "127.0.0.1", "remote_addr")
    ST.gw.http("GET", b + "/xff")
    rq = svc.last_request()
    eq(hdrs(rq, "x-forwarded-for"), ["127.0.0.1"], "x-forwarded-for without client value")
    eq(hdrs(rq, "x-forwarded-proto"), ["http"], "x-forwarded-proto set")


@t.case
def request_message_fields():
    svc, b = mk([("POST", "/items/{id}")], timeout_ms=3000)
    with ST.gw.raw() as c:
        c.send(req_bytes("POST", b + "/items/a%20b?x=1&y=%20z",
                         [("X-One", "1"), ("X-Two", "two words"), ("x-one", "3"),
                          ("Content-Type", "text/plain")], body=b"payload"))
        r = c.read_response()
        eq(r.status, 200, "status")
    rq = svc.last_request()
    t_recv = svc.recv_times[-1]
    want_keys = {"v", "id", "reply_to", "deadline_ms", "method", "path", "query", "route",
                 "params", "headers", "remote_addr", "body", "_body"}
    eq(set(rq.keys()), want_keys, "request message fields")
    eq(rq["v"], 1, "v")
    check(UUID_RE.match(rq["id"]), "id is not a lower-case UUIDv4: %r" % rq["id"])
    eq(rq["reply_to"], "portico:reply:" + ST.gw.gateway_id, "reply_to")
    eq(rq["method"], "POST", "method")
    eq(rq["path"], b + "/items/a%20b", "raw path")
    eq(rq["query"], "x=1&y=%20z", "raw query")
    eq(rq["route"], b + "/items/{id}", "route")
    eq(rq["params"], {"id": "a b"}, "decoded params")
    eq(rq["body"], "payload", "body")
    check(isinstance(rq["deadline_ms"], int), "deadline_ms not an integer")
    left = rq["deadline_ms"] - t_recv * 1000
    check(2000 <= left <= 3500, "deadline_ms is now%+dms, want ~ now+3000" % left)
    names = [k for k, _ in rq["headers"]]
    for k in names:
        eq(k, k.lower(), "header name case")
    client = [[k, v] for k, v in rq["headers"]
              if k in ("host", "x-one", "x-two", "content-type", "content-length")]
    eq([kv for kv in client if kv[0] != "content-length"],
       [["host", "test.local"], ["x-one", "1"], ["x-two", "two words"], ["x-one", "3"],
        ["content-type", "text/plain"]], "client headers in arrival order")
    for name in ("x-request-id", "x-forwarded-for", "x-forwarded-proto"):
        eq(len(hdrs(rq, name)), 1, "%s count" % name)


@t.case
def query_and_encoded_slash():
    svc, b = mk([("GET", "/q/{id}")])
    r = ST.gw.http("GET", b + "/q/a%2Fb")
    eq(r.status, 200, "%2F stays within one segment")
    rq = svc.last_request()
    eq(rq["params"], {"id": "a/b"}, "params")
    eq(rq["path"], b + "/q/a%2Fb", "raw path")
    eq(rq["query"], "", "empty query")
    ST.gw.http("GET", b + "/q/x?")
    eq(svc.last_request()["query"], "", "query of a bare '?'")


@t.case
def hop_by_hop_request_stripped():
    svc, b = mk([("GET", "/hop")])
    r = ST.gw.http("GET", b + "/hop", [
        ("Keep-Alive", "timeout=5"), ("TE", "trailers"), ("Trailer", "x-t"),
        ("Upgrade", "foo/1"), ("Proxy-Authorization", "Basic eA=="), ("Proxy-Foo", "bar"),
        ("PROXY-CONNECTION", "keep-alive"), ("X-Keep", "yes")])
    eq(r.status, 200, "status")
    rq = svc.last_request()
    names = [k for k, _ in rq["headers"]]
    for bad in ("connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade",
                "proxy-authorization", "proxy-foo", "proxy-connection"):
        check(bad not in names, "hop-by-hop %r forwarded: %r" % (bad, rq["headers"]))
    eq(hdrs(rq, "x-keep"), ["yes"], "end-to-end header kept")


@t.case
def hop_by_hop_reply_stripped_and_reframed():
    def h(req):
        return {"status": 200, "headers": [
            ["connection", "close"], ["keep-alive", "timeout=1"], ["transfer-encoding", "chunked"],
            ["upgrade", "x"], ["proxy-foo", "1"], ["trailer", "x"], ["te", "x"],
            ["content-length", "999"], ["x-ok", "yes"], ["set-cookie", "a=1"],
            ["set-cookie", "b=2"], ["content-type", "text/x-test"]],
            "body": "abc"}
    svc, b = mk([("GET", "/hopr")], handler=h)
    with ST.gw.raw() as c:
        for _ in range(2):    # twice on one connection: the reply's connection:close is ignored
            c.send(req_bytes("GET", b + "/hopr"))
            r = c.read_response()
            eq(r.status, 200, "status")
            eq(r.body, b"abc", "body")
            eq(r.header_all("content-length"), ["3"], "content-length made by the gateway")
            for bad in ("keep-alive", "transfer-encoding", "upgrade", "proxy-foo", "trailer", "te"):
                eq(r.header_all(bad), [], "reply hop-by-hop %r" % bad)
            check((r.header("connection") or "").lower() != "close", "reply connection: close leaked")
            eq(r.header("x-ok"), "yes", "x-ok")
            eq(r.header_all("set-cookie"), ["a=1", "b=2"], "repeated reply headers in order")
            eq(r.header("content-type"), "text/x-test", "content-type")
        c.expect_quiet(0.2)


@t.case
def reply_headers_named_in_connection_dropped():
    """A reply's Connection header names more hop-by-hop headers (RFC 9110
    7.6.1): they are dropped too, whatever their case or place (SPEC §4)."""
    def h(req):
        return {"status": 200, "headers": [
            ["X-Before", "b"], ["Connection", "X-Custom, x-before"], ["x-custom", "1"],
            ["connection", "keep-alive,X-Other"], ["X-OTHER", "2"], ["x-kept", "3"]],
            "body": "abc"}
    svc, b = mk([("GET", "/connr")], handler=h)
    r = ST.gw.http("GET", b + "/connr")
    eq(r.status, 200, "status")
    eq(r.body, b"abc", "body")
    for gone in ("x-custom", "x-before", "x-other", "connection"):
        eq(r.header_all(gone), [], "reply header %r named by connection" % gone)
    eq(r.header("x-kept"), "3", "a header not named is kept")


@t.case
def status_passthrough():
    def h(req):
        st = int(req["params"]["st"])
        return {"status": st, "headers": [["content-type", "text/plain"]], "body": "s%d" % st}
    svc, b = mk([("GET", "/st/{st}")], handler=h)
    for st in (200, 201, 299, 400, 404, 418, 500, 503, 599):
        r = ST.gw.http("GET", "%s/st/%d" % (b, st))
        eq(r.status, st, "status passthrough")
        eq(r.body, b"s%d" % st, "body for %d" % st)
        eq(r.header("content-type"), "text/plain", "content-type for %d" % st)


@t.case
def no_body_for_204_304():
    def h(req):
        return {"status": int(req["params"]["st"]), "headers": [["etag", "\"x\""]],
                "body": "must not be sent"}
    svc, b = mk([("GET", "/nb/{st}")], handler=h)
    with ST.gw.raw() as c:
        for st in (204, 304):
            c.send(req_bytes("GET", "%s/nb/%d" % (b, st)))
            r = c.read_response()
            eq(r.status, st, "status")
            eq(r.header("etag"), "\"x\"", "etag kept")
        c.send(req_bytes("GET", "%s/nb/200" % b))
        r = c.read_response()      # would misparse if body bytes had been sent above
        eq((r.status, r.body), (200, b"must not be sent"), "next response on the connection")


@t.case
def routing_precedence():
    svc, b = mk([("GET", "/r/{id}"), ("GET", "/r/me"), ("GET", "/r/*"),
                 ("GET", "/r/{id}/x"), ("GET", "/r/me/y"), ("*", "/any/{id}"),
                 ("POST", "/any/{id}")])
    cases = [("GET", "/r/me", "/r/me", {}),
             ("GET", "/r/42", "/r/{id}", {"id": "42"}),
             ("GET", "/r/me/x", "/r/{id}/x", {"id": "me"}),      # backtracking
             ("GET", "/r/me/y", "/r/me/y", {}),
             ("GET", "/r/a/b/c", "/r/*", {"*": "a/b/c"}),
             ("GET", "/r", "/r/*", {"*": ""}),
             ("DELETE", "/any/7", "/any/{id}", {"id": "7"}),
             ("POST", "/any/7", "/any/{id}", {"id": "7"})]
    for m, p, route, params in cases:
        n0 = svc.n_requests()
        r = ST.gw.http(m, b + p)
        eq(r.status, 200, "%s %s status" % (m, p))
        rq = svc.wait_requests(n0 + 1)[-1]
        eq(rq["route"], b + route, "%s %s route" % (m, p))
        eq(rq["method"], m, "method")
        eq(rq["params"], params, "%s %s params" % (m, p))
    # {id} never matches an empty segment
    svc2, b2 = mk([("GET", "/users/{id}")])
    r = ST.gw.http("GET", b2 + "/users/")
    assert_error(r, 404, "not_found")


def setup():
    global ST
    ST = Stack(name="http_basic")
    return ST


if __name__ == "__main__":
    t.main(setup=setup, teardown=lambda st: st.close())
