#!/usr/bin/env python3
"""Every row of SPEC §5's error table, with exact status, error code and framing;
bad requests (400), oversize headers (431) and bodies (413), the header timeout
(408) — each followed by the gateway closing the connection."""

import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Runner, Stack, check, eq, fail, assert_error, req_bytes,  # noqa: E402
                     uniq)

t = Runner()
ST = None
HEADER_TIMEOUT_MS = 500


def mk(routes, handler=None, **kw):
    base = "/" + uniq("e")
    svc = ST.service(routes=[(m, base + p) for m, p in routes], handler=handler, **kw)
    return svc, base


def bad_request(data, code=400, err="bad_request", what=None):
    """Sends data on a fresh connection; asserts the error response, connection: close, EOF."""
    with ST.gw.raw() as c:
        c.send(data)
        r = c.read_response()
        assert_error(r, code, err)
        eq((r.header("connection") or "").lower(), "close",
           "connection header of %d for %r" % (code, what or data[:60]))
        c.expect_eof(3)
    return r


@t.case
def not_found_404():
    r = ST.gw.http("GET", "/no/such/route", {"X-Request-Id": "err-404"})
    assert_error(r, 404, "not_found", request_id="err-404")
    r = ST.gw.http("HEAD", "/no/such/route")
    eq(r.status, 404, "HEAD 404 status")
    eq(r.body, b"", "HEAD 404 body")


@t.case
def not_found_keeps_connection():
    with ST.gw.raw() as c:
        for _ in range(2):
            c.send(req_bytes("GET", "/nothing"))
            assert_error(c.read_response(), 404, "not_found")
        c.expect_quiet(0.2)


@t.case
def method_not_allowed_405():
    svc, b = mk([("GET", "/m"), ("POST", "/m")])
    r = ST.gw.http("DELETE", b + "/m", {"X-Request-Id": "err-405"})
    assert_error(r, 405, "method_not_allowed", request_id="err-405")
    eq(r.header("allow"), "GET, POST", "allow: the methods announced, HEAD not added")
    svc2, b2 = mk([("PUT", "/x/{id}"), ("DELETE", "/x/*")])
    r = ST.gw.http("PATCH", b2 + "/x/1")
    assert_error(r, 405, "method_not_allowed")
    eq(r.header("allow"), "DELETE, PUT", "allow lists methods of every matching pattern")
    eq(svc.n_requests() + svc2.n_requests(), 0, "no request forwarded")


@t.case
def no_instance_503_in_grace():
    svc, b = mk([("GET", "/gone")])
    eq(ST.gw.http("GET", b + "/gone").status, 200, "before deregister")
    svc.stop(deregister=True)
    ST.gw.wait_no_instance(svc.instance)
    r = ST.gw.http("GET", b + "/gone", {"X-Request-Id": "err-503"})
    assert_error(r, 503, "no_instance", request_id="err-503")


@t.case
def timeout_504():
    svc, b = mk([("GET", "/slow")], handler=lambda req: None, timeout_ms=300)
    t0 = time.monotonic()
    r = ST.gw.http("GET", b + "/slow", {"X-Request-Id": "err-504"})
    el = time.monotonic() - t0
    assert_error(r, 504, "timeout", request_id="err-504")
    check(0.25 <= el <= 3.0, "504 after %.2fs, route timeout_ms is 300" % el)
    eq(svc.n_requests(), 1, "request delivered once")


@t.case
def bad_reply_502():
    svc, b = mk([("GET", "/bad")], handler=lambda req: {"status": 99})
    r = ST.gw.http("GET", b + "/bad", {"X-Request-Id": "err-502"})
    assert_error(r, 502, "bad_reply", request_id="err-502")


@t.case
def bad_reply_502_strict_json_refusals():
    # JSON with a readable id that strict parsing refuses (a duplicate key, an
    # integer past 64 bits) is a bad reply (502 at once), not an unmatchable
    # one left to its deadline (504)
    for tail in ('"status":200,"status":201', '"status":18446744073709551816'):
        svc, b = mk([("GET", "/strict")], timeout_ms=5000, handler=lambda req, tail=tail: (
            '{"v":1,"id":"%s",%s}' % (req["id"], tail)).encode())
        r = ST.gw.http("GET", b + "/strict")
        assert_error(r, 502, "bad_reply")


MALFORMED = [
    b"GARBAGE\r\n\r\n",
    b"GET\r\n\r\n",
    b"GET /x HTTP/1.1 extra\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost a\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n",
    b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    b"GET /\x00x HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET x HTTP/1.1\r\nHost: a\r\n\r\n",
    b"GET / HTTP/1.1\r\nBad Name: a\r\n\r\n",
]


@t.case
def malformed_400():
    for data in MALFORMED:
        bad_request(data)


@t.case
def dot_segments_400():
    svc, b = mk([("GET", "/d/*")])
    eq(ST.gw.http("GET", b + "/d/a/b").status, 200, "wildcard route works")
    for p in ["/d/../x", "/d/./x", "/d/a/..", "/d/a/.", "/d/%2e%2e/x", "/d/%2E%2e/x",
              "/d/.%2e/x", "/d/%2e/x", "/d/%2E", "/..", "/./d/x"]:
        bad_request(req_bytes("GET", b + p if p.startswith("/d") else p), what=p)
    eq(svc.n_requests(), 1, "no dot-segment request forwarded")
    # dots inside a segment are fine
    eq(ST.gw.http("GET", b + "/d/..a/.b/c.").status, 200, "dots inside segments")


@t.case
def encoded_slash_dot_parts_400():
    """%2F keeps its segment whole, but a "." or ".." part inside it would reach a
    param or "*" value as "../../etc": 400, nothing forwarded."""
    svc, b = mk([("GET", "/f/*"), ("GET", "/g/{name}")])
    for p in ["/f/..%2f..%2fetc", "/f/..%2F", "/f/a%2F..", "/f/a%2F..%2Fb", "/f/a%2F.%2Fb",
              "/f/.%2Fa", "/f/%2F..", "/f/x/a%2f%2e%2e%2fb", "/g/..%2Fsecret", "/g/a%2F."]:
        bad_request(req_bytes("GET", b + p), what=p)
    eq(svc.n_requests(), 0, "no request with a dot part forwarded")
    # dots that are not a whole part, and an encoded slash alone, still pass
    r = ST.gw.http("GET", b + "/f/a%2F...%2F.b%2Fc.")
    eq(r.status, 200, "dots inside parts")
    eq(svc.last_request()["params"], {"*": "a/.../.b/c."}, "wildcard value")
    r = ST.gw.http("GET", b + "/g/a%2Fb")
    eq(r.status, 200, "encoded slash in a param")
    eq(svc.last_request()["params"], {"name": "a/b"}, "param value")


@t.case
def connect_and_trace_405():
    """CONNECT (no tunnels) and TRACE (cross-site tracing) are never forwarded,
    not even to a route announced for them or to a "*" route: 405."""
    svc, b = mk([("*", "/any/*"), ("CONNECT", "/c"), ("TRACE", "/t")])
    eq(ST.gw.http("GET", b + "/any/x").status, 200, "the '*' route works")
    for method, path in (("CONNECT", "/any/x"), ("CONNECT", "/c"), ("TRACE", "/any/x"),
                         ("TRACE", "/t"), ("CONNECT", "/nothing/here")):
        with ST.gw.raw() as c:
            c.send(req_bytes(method, b + path, [("X-Request-Id", "m-405")], body=b"hi"))
            r = c.read_response()
            assert_error(r, 405, "method_not_allowed", request_id="m-405")
            if method == "CONNECT":  # no tunnel: what follows is not read as requests
                c.expect_eof(3)
            else:  # an ordinary refusal: the connection stays usable
                c.send(req_bytes("GET", b + "/any/y"))
                eq(c.read_response().status, 200, "GET after TRACE on the same connection")
    eq([q["method"] for q in svc.requests], ["GET", "GET", "GET"], "only GETs forwarded")


@t.case
def bad_percent_escape_400():
    svc, b = mk([("GET", "/pe/*")])
    for p in ["/pe/%zz", "/pe/%4", "/pe/a%00b"]:
        bad_request(req_bytes("GET", b + p), what=p)
    eq(svc.n_requests(), 0, "nothing forwarded")


@t.case
def smuggling_cl_and_te_400():
    svc, b = mk([("POST", "/sm")])
    bad_request(req_bytes("POST", b + "/sm", [("Content-Length", "5"),
                                              ("Transfer-Encoding", "chunked")],
                          body=b"0\r\n\r\n"))
    bad_request(req_bytes("POST", b + "/sm", [("Transfer-Encoding", "chunked"),
                                              ("Content-Length", "5")],
                          body=b"0\r\n\r\n"))
    eq(svc.n_requests(), 0, "nothing forwarded")


@t.case
def bad_chunking_400():
    svc, b = mk([("POST", "/bc")])
    te = [("Transfer-Encoding", "chunked")]
    for body in [b"zz\r\nhello\r\n0\r\n\r\n",
                 b"ffffffffffffffffffff\r\nx\r\n0\r\n\r\n",
                 b"5\r\nhelloXX0\r\n\r\n",
                 b"-1\r\nx\r\n0\r\n\r\n"]:
        bad_request(req_bytes("POST", b + "/bc", te, body=body), what=body)
    eq(svc.n_requests(), 0, "nothing forwarded")


@t.case
def bad_request_after_good_one_on_keepalive():
    svc, b = mk([("GET", "/kg")])
    with ST.gw.raw() as c:
        c.send(req_bytes("GET", b + "/kg"))
        eq(c.read_response().status, 200, "first request")
        c.send(b"NOT HTTP AT ALL\r\n\r\n")
        r = c.read_response()
        assert_error(r, 400, "bad_request")
        c.expect_eof(3)


@t.case
def headers_too_large_431():
    svc, b = mk([("GET", "/big")])
    ok = ST.gw.http("GET", b + "/big", {"X-Fill": "a" * 14000})
    eq(ok.status, 200, "14000-byte header under the 16 KiB limit")
    bad_request(req_bytes("GET", b + "/big", [("X-Fill", "a" * 17000)]), 431, "headers_too_large")
    many = [("X-F%d" % i, "b" * 100) for i in range(200)]
    bad_request(req_bytes("GET", b + "/big", many), 431, "headers_too_large", "many headers")
    bad_request(req_bytes("GET", b + "/big?" + "q" * 17000), 431, "headers_too_large", "long URL")
    # the limit is bytes (SPEC 5, 7), not lines: 1,000 short lines fit
    with ST.gw.raw() as c:
        c.send(req_bytes("GET", b + "/big", [("X-H%03d" % i, "v") for i in range(1000)]))
        r = c.read_response(timeout=5)
        eq(r.status, 200, "1,000 short header lines under the byte limit")
    # exactly the limit on the wire, in lines with no space after the colon
    # (3 bytes besides name and value): 200; one byte more: 431

    def head_of(size):
        start = b"GET " + (b + "/big").encode() + b" HTTP/1.1\r\nHost: x\r\n"
        room = size - len(start) - 2 - 6   # the final CRLF, the pad line's "x:" CRLF, 2
        lines = b"a:b\r\n" * (room // 5)
        return start + lines + b"x:" + b"y" * (room % 5 + 2) + b"\r\n\r\n"
    for size, want in ((16384, 200), (16385, 431)):
        data = head_of(size)
        eq(len(data), size, "head size")
        with ST.gw.raw() as c:
            c.send(data)
            r = c.read_response(timeout=5)
            eq(r.status, want, "a %d-byte head of 'a:b' lines" % size)
    eq(svc.n_requests(), 3, "only the requests under the limit forwarded")


@t.case
def body_too_large_content_length_413():
    svc, b = mk([("POST", "/b413")])
    with ST.gw.raw() as c:
        # the 413 must come without the client sending the (huge) body
        c.send(req_bytes("POST", b + "/b413", [("Content-Length", str(1048577))]) + b"x" * 1000)
        r = c.read_response(timeout=5)
        assert_error(r, 413, "body_too_large")
        eq((r.header("connection") or "").lower(), "close", "connection header")
        c.expect_eof(3)
    with ST.gw.raw() as c:
        c.send(req_bytes("POST", b + "/b413", [("Content-Length", "99999999999999")]))
        assert_error(c.read_response(timeout=5), 413, "body_too_large")
        c.expect_eof(3)
    eq(svc.n_requests(), 0, "nothing forwarded")


@t.case
def body_too_large_keeps_client_request_id():
    """The headers were read before the body was refused: the 413 carries the
    client's x-request-id (SPEC §5), for Content-Length and for chunked."""
    svc, b = mk([("POST", "/rid413")])
    with ST.gw.raw() as c:
        c.send(req_bytes("POST", b + "/rid413", [("Content-Length", str(1048577)),
                                                  ("X-Request-Id", "client-413-cl")]))
        assert_error(c.read_response(timeout=5), 413, "body_too_large", request_id="client-413-cl")
        c.expect_eof(3)
    with ST.gw.raw() as c:
        c.send(req_bytes("POST", b + "/rid413", [("Transfer-Encoding", "chunked"),
                                                  ("X-Request-Id", "client-413-te")]))
        c.send(b"100001\r\n")     # one chunk over the body limit, refused from its size line
        assert_error(c.read_response(timeout=5), 413, "body_too_large", request_id="client-413-te")
        c.expect_eof(3)
    # an invalid id is not echoed: the gateway makes one up, as for any request
    with ST.gw.raw() as c:
        c.send(req_bytes("POST", b + "/rid413", [("Content-Length", str(1048577)),
                                                  ("X-Request-Id", "bad id with spaces")]))
        j = assert_error(c.read_response(timeout=5), 413, "body_too_large")
        check(j["request_id"] != "bad id with spaces", "invalid id echoed: %r" % (j,))
    eq(svc.n_requests(), 0, "nothing forwarded")


@t.case
def body_too_large_chunked_413():
    svc, b = mk([("POST", "/c413")])
    c = ST.gw.raw()
    try:
        c.send(req_bytes("POST", b + "/c413", [("Transfer-Encoding", "chunked")]))
        chunk = b"%x\r\n%s\r\n" % (65536, b"z" * 65536)

        def sender():
            try:
                for _ in range(17):        # 17 * 64 KiB crosses 1 MiB
                    c.sock.sendall(chunk)
                c.sock.sendall(b"0\r\n\r\n")
            except OSError:
                pass
        th = threading.Thread(target=sender, daemon=True)
        th.start()
        r = c.read_response(timeout=10)
        assert_error(r, 413, "body_too_large")
        eq((r.header("connection") or "").lower(), "close", "connection header")
        c.expect_eof(5)
        th.join(5)
    finally:
        c.close()
    eq(svc.n_requests(), 0, "nothing forwarded")


@t.case
def exactly_max_body_accepted():
    svc, b = mk([("POST", "/max")],
                handler=lambda req: {"status": 200, "body": str(len(req["_body"]))})
    r = ST.gw.http("POST", b + "/max", body=b"a" * 1048576, timeout=20)
    eq((r.status, r.body), (200, b"1048576"), "exactly 1 MiB")


@t.case
def header_timeout_408():
    with ST.gw.raw() as c:
        t0 = time.monotonic()
        c.send(b"GET /x HTTP/1.1\r\nHost: a\r\n")
        r = c.read_response(timeout=5)
        el = time.monotonic() - t0
        assert_error(r, 408, "header_timeout")
        eq((r.header("connection") or "").lower(), "close", "connection header")
        c.expect_eof(3)
    check(0.4 <= el <= 3.0, "408 after %.2fs with --header-timeout-ms 500" % el)


@t.case
def body_timeout_408_keeps_client_request_id():
    """A body that stops coming: the head was read, so the 408 carries the
    client's x-request-id, and nothing is forwarded."""
    svc, b = mk([("POST", "/slowbody")])
    with ST.gw.raw() as c:
        c.send(req_bytes("POST", b + "/slowbody", [("Content-Length", "10"),
                                                   ("X-Request-Id", "client-408-body")]) + b"ab")
        r = c.read_response(timeout=5)
        assert_error(r, 408, "header_timeout", request_id="client-408-body")
        c.expect_eof(3)
    eq(svc.n_requests(), 0, "nothing forwarded")


@t.case
def header_timeout_not_reset_by_trickle():
    with ST.gw.raw() as c:
        t0 = time.monotonic()
        c.send(b"GET /x HTTP/1.1\r\n")
        got = None
        for i in range(40):       # a byte every 50 ms for up to 2 s
            try:
                c.send(b"X-T%d: 1\r\n" % i)
            except OSError:
                break
            time.sleep(0.05)
            c.sock.setblocking(False)
            try:
                d = c.sock.recv(65536)
                c.buf += d
                if not d or b"\r\n\r\n" in c.buf:
                    got = time.monotonic() - t0
                    break
            except (BlockingIOError, socket.timeout):
                pass
            finally:
                c.sock.setblocking(True)
        if got is None and b"\r\n\r\n" in c.buf:
            got = time.monotonic() - t0
        check(got is not None, "no 408 within 2 s of trickled headers (timer reset by bytes?)")
        check(got <= 1.5, "408 only after %.2fs (header timeout 500 ms)" % got)
        r = c.read_response(timeout=3)
        assert_error(r, 408, "header_timeout")


@t.case
def silent_connection_closed():
    # header timeout counts from accept for a connection that sends nothing
    with ST.gw.raw() as c:
        t0 = time.monotonic()
        c.sock.settimeout(4)
        data = b""
        try:
            while True:
                d = c.sock.recv(65536)
                if not d:
                    break
                data += d
        except ConnectionResetError:
            pass
        except socket.timeout:
            fail("silent connection still open after 4 s (header timeout 500 ms)")
        el = time.monotonic() - t0
        check(el <= 3.0, "closed only after %.2fs" % el)
        check(data == b"" or data.startswith(b"HTTP/1.1 408 "),
              "unexpected bytes on a silent connection: %r" % data[:100])


@t.case
def idle_timeout_applies_between_requests():
    svc, b = mk([("GET", "/idle")])
    with ST.gw.raw() as c:
        c.send(req_bytes("GET", b + "/idle"))
        eq(c.read_response().status, 200, "first")
        time.sleep(0.9)   # longer than the header timeout, shorter than the idle timeout
        c.send(req_bytes("GET", b + "/idle"))
        eq(c.read_response().status, 200, "second request after 0.9 s idle")


@t.case
def gateway_still_serving():
    svc, b = mk([("GET", "/alive")])
    eq(ST.gw.http("GET", b + "/alive").status, 200, "after all the bad input")


def setup():
    global ST
    ST = Stack(["--header-timeout-ms", str(HEADER_TIMEOUT_MS), "--idle-timeout-ms", "5000"],
               name="errors")
    return ST


if __name__ == "__main__":
    t.main(setup=setup, teardown=lambda st: st.close())
