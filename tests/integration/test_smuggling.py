#!/usr/bin/env python3
"""Request smuggling and framing (SPEC §5, docs/security.md "Bad bytes").

Every case sends exact bytes on a fresh connection and expects the error
response (400, or 431 for a head over --max-header-bytes, 413 for a chunk
larger than the body limit) with `connection: close`, then EOF, and nothing
forwarded: after each group a barrier request (answered only once the
service has seen it; the gateway's PUBLISHes reach the service in order)
proves that no refused byte became a request. A few positive controls show
that the strict reading refuses only what it should.

Decisions (also in docs/security.md):
- Transfer-Encoding must be exactly `chunked` (case-insensitive, OWS around
  it); any other coding or list, a second Transfer-Encoding header, or
  Transfer-Encoding in HTTP/1.0 is 400. With Content-Length too: 400.
- Content-Length: one header, digits only.
- Lines end in CRLF: a bare CR or a bare LF anywhere in the head, a chunk
  line or the trailers is 400, as are obs-fold, NUL and other control bytes,
  white space before a header colon.
- The request line is exactly `METHOD SP /origin-form-target SP HTTP/1.x CRLF`:
  absolute-form, authority-form (CONNECT) and asterisk-form targets are 400
  (a gateway is not a forward proxy), so are '#', tabs, runs of spaces,
  HTTP/0.9 lines and the HTTP/2 preface.
- HTTP/1.1 without Host, or with two, or with an invalid one: 400 (as nginx).
- Trailers are checked like headers, then dropped.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Runner, Stack, assert_error, check, eq, req_bytes,  # noqa: E402
                     uniq)

t = Runner()
ST = None
SVC = None
B = None          # base path of the catch-all route
CODES = {400: "bad_request", 413: "body_too_large", 431: "headers_too_large"}


def echo(req):
    return {"status": 200, "headers": [["content-type", "application/octet-stream"]],
            "body": req["_body"]}


def forwarded():
    """Number of requests the service received, other than barriers, once every
    request the gateway may have published before now has arrived."""
    with ST.gw.raw() as c:
        c.send(req_bytes("GET", B + "/barrier/" + uniq("b")))
        eq(c.read_response().status, 200, "barrier request")
    return len([r for r in SVC.wait_requests(1) if "/barrier/" not in r.get("path", "")])


class Group:
    """Cases of one kind; on exit, checks that none of them was forwarded."""

    def __enter__(self):
        self.before = forwarded()
        return self

    def __exit__(self, et, ev, tb):
        if et is None:
            eq(forwarded(), self.before, "requests forwarded by refused input")


def refused(data, status=400, what=None, split=False):
    """Sends data on a fresh connection (in one write, or two when split) and
    asserts the error response, connection: close and EOF."""
    if isinstance(data, str):
        data = data.encode("latin-1")
    with ST.gw.raw() as c:
        try:
            if split and len(data) > 1:
                c.send(data[:len(data) // 2])
                c.send(data[len(data) // 2:])
            else:
                c.send(data)
        except OSError:
            pass   # the gateway may answer and shut before reading all of a big request
        r = c.read_response()
        where = what or data[:80]
        check(r.status == status, "%r: status %d, want %d (body %r)" % (where, r.status, status,
                                                                       r.body[:200]))
        assert_error(r, status, CODES[status])
        eq((r.header("connection") or "").lower(), "close", "connection header for %r" % (where,))
        c.expect_eof(3)
    return r


def post(headers, body=b"", target=None, version="HTTP/1.1"):
    """Exact request bytes: request line, Host, the given header lines as is."""
    head = "POST %s %s\r\nHost: t\r\n" % (target or B + "/x", version)
    head += "".join(h + "\r\n" for h in headers)
    return head.encode("latin-1") + b"\r\n" + body


def accepted(data, body=None, what=None):
    """Sends data; expects 200 and, when given, the echoed body."""
    with ST.gw.raw() as c:
        c.send(data)
        r = c.read_response()
        eq(r.status, 200, "status of %r (body %r)" % (what or data[:80], r.body[:200]))
        if body is not None:
            eq(r.body, body, "body forwarded for %r" % (what or data[:80],))
    return r


# --------------------------------------------------------------------------
# Content-Length and Transfer-Encoding
# --------------------------------------------------------------------------

@t.case
def cl_and_te_both_orders():
    with Group():
        refused(post(["Content-Length: 6", "Transfer-Encoding: chunked"], b"0\r\n\r\nG"))
        refused(post(["Transfer-Encoding: chunked", "Content-Length: 6"], b"0\r\n\r\nG"))
        refused(post(["Content-Length: 0", "Transfer-Encoding: chunked"], b"0\r\n\r\n"))
        # CL.TE with a request smuggled after the chunked terminator
        refused(post(["Content-Length: 44", "Transfer-Encoding: chunked"],
                     b"0\r\n\r\nGET " + B.encode() + b"/admin HTTP/1.1\r\nHost: t\r\n\r\n"))
        # TE.CL: the chunk would carry a whole request to a CL reader
        refused(post(["Transfer-Encoding: chunked", "Content-Length: 4"],
                     b"5c\r\nGPOST " + B.encode() + b"/admin HTTP/1.1\r\nHost: t\r\n"
                     b"Content-Length: 15\r\n\r\nx=1\r\n0\r\n\r\n"))


TE_VARIANTS = ["chunked, identity", "Chunked", " chunked", "\tchunked", "xchunked",
               "chunked ", "chunkedx", "identity, chunked", "chunked;q=1", "CHUNKED"]


@t.case
def cl_with_te_variants():
    with Group():
        for te in TE_VARIANTS:
            refused(post(["Content-Length: 5", "Transfer-Encoding: " + te], b"0\r\n\r\n"),
                    what="CL + TE %r" % te)
            refused(post(["Transfer-Encoding: " + te, "Content-Length: 5"], b"0\r\n\r\n"),
                    what="TE %r + CL" % te)


@t.case
def te_alone_must_be_exactly_chunked():
    with Group():
        for te in ["chunked, identity", "identity", "xchunked", "chunkedx", "gzip, chunked",
                   "chunked, chunked", "chunked;q=1", ",chunked", "chunk ed", "",
                   "chunked \t"]:   # http_parser does not read a trailing HTAB: refused
            refused(post(["Transfer-Encoding: " + te], b"0\r\n\r\n"), what="TE %r" % te)
        refused(post(["Transfer-Encoding: chunked", "Transfer-Encoding: chunked"],
                     b"0\r\n\r\n"), what="two TE headers")
        refused(post(["Transfer-Encoding : chunked"], b"0\r\n\r\n"), what="TE space colon")
    # coding names are case-insensitive; OWS around the value is not part of it
    before = forwarded()
    for te in ["Chunked", "CHUNKED", " chunked", "chunked "]:
        accepted(post(["Transfer-Encoding: " + te], b"3\r\nabc\r\n0\r\n\r\n"), b"abc",
                 what="TE %r" % te)
    eq(forwarded(), before + 4, "valid chunked requests forwarded")


@t.case
def te_in_http10():
    with Group():
        refused(post(["Transfer-Encoding: chunked"], b"3\r\nabc\r\n0\r\n\r\n",
                     version="HTTP/1.0"))
        refused(post(["Transfer-Encoding: chunked", "Connection: keep-alive"],
                     b"3\r\nabc\r\n0\r\n\r\n", version="HTTP/1.0"))
        refused(post(["Transfer-Encoding: chunked", "Content-Length: 3"],
                     b"abc", version="HTTP/1.0"))


@t.case
def duplicate_content_length():
    with Group():
        refused(post(["Content-Length: 3", "Content-Length: 3"], b"abc"), what="same")
        refused(post(["Content-Length: 3", "Content-Length: 4"], b"abcd"), what="different")
        refused(post(["Content-Length: 3", "content-length: 3"], b"abc"), what="case")
        refused(post(["Content-Length: 3, 3"], b"abc"), what="list same")
        refused(post(["Content-Length: 3,4"], b"abcd"), what="list different")


@t.case
def invalid_content_length():
    with Group():
        for v in ["+5", "-1", "5 5", "0x5", "", "99999999999999999999999", "5.0", "1e3",
                  "five", "5a", "\x005", "\xb5"]:
            refused(post(["Content-Length: " + v], b"hello"), what="Content-Length %r" % v)
    # white space around a valid value is allowed
    accepted(post(["Content-Length:  5 "], b"hello"), b"hello")


# --------------------------------------------------------------------------
# Line structure: obs-fold, bare CR / LF, NUL, spaces
# --------------------------------------------------------------------------

@t.case
def obsolete_line_folding():
    with Group():
        refused(post(["X-A: a", " b"]), what="SP fold")
        refused(post(["X-A: a", "\tb"]), what="HTAB fold")
        refused(post(["X-A: a", " Transfer-Encoding: chunked"], b"0\r\n\r\n"), what="fold TE")
        refused(post(["Content-Length: 1", " 0"], b"x" * 10), what="fold CL")
        refused(b"GET " + B.encode() + b"/x HTTP/1.1\r\n Host: t\r\n\r\n", what="fold 1st")
        refused(b"GET " + B.encode() + b"/x HTTP/1.1\r\nHost: t\r\n \r\n\r\n", what="ws line")


@t.case
def nul_and_bare_cr_in_head():
    b = B.encode()
    with Group():
        for data in [
            b"GET " + b + b"/x HTTP/1.1\r\nHost: t\r\nX-A: a\x00b\r\n\r\n",
            b"GET " + b + b"/x HTTP/1.1\r\nHost: t\r\nX-\x00A: b\r\n\r\n",
            b"GET " + b + b"/x HTTP/1.1\r\nHost: t\r\nX-A: a\rb\r\n\r\n",
            b"GET " + b + b"/x HTTP/1.1\r\nHost: t\r\nX-A: a\r\r\n\r\n",
            b"GET " + b + b"/x HTTP/1.1\r\nHost: t\r\nX-\rA: b\r\n\r\n",
            b"GET " + b + b"/x HTTP/1.1\r\nHost: t\r\nX-A: b\r\rTransfer-Encoding: chunked\r\n\r\n",
            b"GET " + b + b"/x HTTP/1.1\r\nHost: t\r\nX-A: \x01\r\n\r\n",
            b"GET " + b + b"/x HTTP/1.1\r\nHost: t\r\nX-A: \x7f\r\n\r\n",
            b"GET " + b + b"/x HTTP/1.1\r\nHost: t\r\n\r\r\n",
            b"GET " + b + b"/x HTTP/1.1\r\nHost: t\r\n\rX",
            b"GET " + b + b"/x\x00 HTTP/1.1\r\nHost: t\r\n\r\n",
            b"GET " + b + b"/x\x00y HTTP/1.1\r\nHost: t\r\n\r\n",
            b"GET " + b + b"/x\r HTTP/1.1\r\nHost: t\r\n\r\n",
            b"GET " + b + b"/x HTTP/1.1\r\rHost: t\r\n\r\n",
            b"GET " + b + b"/x HTTP/1.1\x00\r\nHost: t\r\n\r\n",
            b"\x00GET " + b + b"/x HTTP/1.1\r\nHost: t\r\n\r\n",
            b"\rGET " + b + b"/x HTTP/1.1\r\nHost: t\r\n\r\n",
        ]:
            refused(data)


@t.case
def bare_lf_line_endings():
    b = B.encode()
    with Group():
        refused(b"GET " + b + b"/x HTTP/1.1\nHost: t\r\n\r\n", what="request line LF")
        refused(b"GET " + b + b"/x HTTP/1.1\r\nHost: t\n\r\n", what="header LF")
        refused(b"GET " + b + b"/x HTTP/1.1\r\nHost: t\r\n\n", what="end LF")
        refused(b"GET " + b + b"/x HTTP/1.1\nHost: t\n\n", what="all LF")
        refused(b"\nGET " + b + b"/x HTTP/1.1\r\nHost: t\r\n\r\n", what="leading LF")
        refused(b"GET " + b + b"/x HTTP/1.1\r\nHost: t\r\nX-A: a\nTransfer-Encoding: chunked"
                b"\r\n\r\n0\r\n\r\n", what="LF hides TE")
    # one empty line (CRLF) before a request line is ignored (RFC 9112 §2.2)
    accepted(b"\r\nGET " + b + b"/x HTTP/1.1\r\nHost: t\r\n\r\n")


@t.case
def space_before_colon():
    with Group():
        refused(post(["Host2 : t"]), what="SP before colon")
        refused(post(["X-A\t: t"]), what="HTAB before colon")
        refused(post(["Content-Length : 5"], b"hello"), what="CL SP colon")
        refused(post([": novalue"]), what="empty name")
        refused(post(["X A: b"]), what="space in name")
        refused(post(["X-A"]), what="no colon")
        refused(post(["X-\x80: b"]), what="non-ASCII name")


# --------------------------------------------------------------------------
# Chunked framing
# --------------------------------------------------------------------------

def chunked(body):
    return post(["Transfer-Encoding: chunked"], body)


@t.case
def bad_chunk_sizes():
    with Group():
        for body in [
            b"zz\r\nhello\r\n0\r\n\r\n",                  # not hex
            b"5g\r\nhello\r\n0\r\n\r\n",
            b"0x5\r\nhello\r\n0\r\n\r\n",
            b"ffffffffffffffffffff\r\nx\r\n0\r\n\r\n",     # overflows 64 bits
            b"-1\r\nx\r\n0\r\n\r\n",                       # negative
            b"+5\r\nhello\r\n0\r\n\r\n",
            b" 5\r\nhello\r\n0\r\n\r\n",
            b"5 \r\nhello\r\n0\r\n\r\n",                    # BWS without an extension
            b"\r\nhello\r\n0\r\n\r\n",                      # empty size
            b"5\r\nhelloXX0\r\n\r\n",                       # data not followed by CRLF
            b"5\r\nhello\r0\r\n\r\n",
            b"5\r\nhello0\r\n\r\n",
            b"5\r\nhel\r\n0\r\n\r\n",                       # short chunk eats the CRLF
            b"5;a=b\rc\r\nhello\r\n0\r\n\r\n",              # bare CR in an extension
            b"5;a\x00\r\nhello\r\n0\r\n\r\n",               # NUL in an extension
            b"5;a\x01\r\nhello\r\n0\r\n\r\n",
            b"5\rXhello\r\n0\r\n\r\n",                      # CR not followed by LF
            b"5\r\rhello\r\n0\r\n\r\n",
            b"5\nhello\r\n0\r\n\r\n",                       # bare LF after the size
            b"5;ext\nhello\r\n0\r\n\r\n",                   # bare LF after an extension
            b"5\r\nhello\n0\r\n\r\n",                       # bare LF after the data
            b"5\r\nhello\r\n0\n\r\n",                       # bare LF after the last chunk
            b"5\r\nhello\r\n0\r\n\n",                       # bare LF ending the trailers
            b"0\r\nX-T: a\r\n b\r\n\r\n",                   # obs-fold in trailers
            b"0\r\nX-T: a\x00\r\n\r\n",                     # NUL in trailers
            b"0\r\nX-T : a\r\n\r\n",
            b"0\r\n\rX",
        ]:
            refused(chunked(body), what=body)
            refused(chunked(body), what=body, split=True)
        # a chunk size beyond the body limit is refused before its data arrives
        refused(chunked(b"fffffffffffffff0\r\n"), 413)
        refused(chunked(b"100001\r\n"), 413)
        refused(chunked(b"1;" + b"e" * 5000 + b"\r\nx\r\n0\r\n\r\n"), what="4 KiB extension")
    # valid framing still works: extensions, BWS before ';', trailers (dropped)
    before = forwarded()
    accepted(chunked(b"5;name=value\r\nhello\r\n0\r\n\r\n"), b"hello")
    accepted(chunked(b"5 ;name\r\nhello\r\n0;x\r\n\r\n"), b"hello")
    accepted(chunked(b"000005\r\nhello\r\n0\r\n\r\n"), b"hello")
    accepted(chunked(b"5\r\nhello\r\n0\r\nX-Trailer: 1\r\nContent-Length: 99\r\n\r\n"), b"hello")
    req = SVC.last_request()
    names = [h[0] for h in req.get("headers", [])]
    check("x-trailer" not in names and "content-length" not in names,
          "trailers must not be forwarded as headers: %r" % (names,))
    eq(forwarded(), before + 4, "valid chunked requests forwarded")


# --------------------------------------------------------------------------
# Request line
# --------------------------------------------------------------------------

@t.case
def oversized_request_line_431():
    b = B.encode()
    with Group():
        refused(b"GET " + b + b"/" + b"a" * 17000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 431,
                what="17000-byte target")
        # request line + headers just over 16384 bytes
        line = b"GET " + b + b"/x HTTP/1.1\r\n"
        fill = 16384 - len(line) - len(b"Host: t\r\n") - len(b"X-F: \r\n") - 2 + 1
        refused(line + b"Host: t\r\nX-F: " + b"f" * fill + b"\r\n\r\n", 431, what="16385 bytes")
        refused(b"GET " + b + b"/" + b"a" * 17000, 431, what="no end of line")
    # exactly at the limit is fine
    line = b"GET " + b + b"/x HTTP/1.1\r\n"
    fill = 16384 - len(line) - len(b"Host: t\r\n") - len(b"X-F: \r\n") - 2
    accepted(line + b"Host: t\r\nX-F: " + b"f" * fill + b"\r\n\r\n", what="16384 bytes")


@t.case
def request_line_spaces_and_tabs():
    b = B.encode()
    with Group():
        for rl in [b"GET  " + b + b"/x HTTP/1.1", b"GET " + b + b"/x  HTTP/1.1",
                   b"GET\t" + b + b"/x HTTP/1.1", b"GET " + b + b"/x\tHTTP/1.1",
                   b"GET " + b + b"/x HTTP/1.1 ", b" GET " + b + b"/x HTTP/1.1",
                   b"GET " + b + b"/a\tb HTTP/1.1", b"GET " + b + b"/a b HTTP/1.1",
                   b"GET " + b + b"/x\x0cHTTP/1.1", b"GET " + b + b"/x#frag HTTP/1.1",
                   b"GET /x HTTP/1.1 extra", b"GET " + b + b"/x\x7f HTTP/1.1"]:
            refused(rl + b"\r\nHost: t\r\n\r\n", what=rl)


@t.case
def invalid_methods():
    b = B.encode()
    with Group():
        for m in [b"G(T", b"GE\x01T", b"get", b"GET\x80", b"G:T", b"FOO", b"G/T", b"[GET]",
                  b"GETGETGETGETGETGETGETGET", b"\x16\x03\x01"]:
            refused(m + b" " + b + b"/x HTTP/1.1\r\nHost: t\r\n\r\n", what=m)


@t.case
def versions_http09_and_http2():
    b = B.encode()
    with Group():
        refused(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", what="HTTP/2 preface")
        refused(b"GET " + b + b"/x\r\n", what="HTTP/0.9")
        refused(b"GET " + b + b"/x\r\n\r\n", what="HTTP/0.9 + blank")
        for v in [b"HTTP/2.0", b"HTTP/1.2", b"HTTP/1.10", b"HTTP/0.9", b"http/1.1", b"HTTP/1",
                  b"HTTP/1.1.1", b"HTTP /1.1", b"HTTP/3"]:
            refused(b"GET " + b + b"/x " + v + b"\r\nHost: t\r\n\r\n", what=v)


@t.case
def target_forms():
    b = B.encode()
    with Group():
        refused(b"GET http://t" + b + b"/x HTTP/1.1\r\nHost: t\r\n\r\n", what="absolute-form")
        refused(b"GET https://evil.example" + b + b"/x HTTP/1.1\r\nHost: t\r\n\r\n",
                what="absolute-form, other host")
        refused(b"CONNECT t:80 HTTP/1.1\r\nHost: t:80\r\n\r\n", what="authority-form")
        refused(b"OPTIONS * HTTP/1.1\r\nHost: t\r\n\r\n", what="asterisk-form")
        refused(b"GET x" + b + b" HTTP/1.1\r\nHost: t\r\n\r\n", what="relative")


@t.case
def host_header():
    b = B.encode()
    with Group():
        refused(b"GET " + b + b"/x HTTP/1.1\r\n\r\n", what="missing Host")
        refused(b"GET " + b + b"/x HTTP/1.1\r\nX-A: b\r\n\r\n", what="missing Host + header")
        refused(b"GET " + b + b"/x HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", what="two Hosts")
        refused(b"GET " + b + b"/x HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", what="two same")
        refused(b"GET " + b + b"/x HTTP/1.1\r\nHost: a b\r\n\r\n", what="space in Host")
        refused(b"GET " + b + b"/x HTTP/1.1\r\nHost: a/b\r\n\r\n", what="slash in Host")
        refused(b"GET " + b + b"/x HTTP/1.1\r\nHost: a@b\r\n\r\n", what="userinfo in Host")
        refused(b"GET " + b + b"/x HTTP/1.1\r\nHost:\r\n\r\n", what="empty Host")
    # HTTP/1.0 may omit Host; valid forms are accepted
    accepted(b"GET " + b + b"/x HTTP/1.0\r\n\r\n", what="1.0 without Host")
    for h in [b"t", b"t:8000", b"127.0.0.1:1", b"[::1]:80", b"a-b.c_d.example"]:
        accepted(b"GET " + b + b"/x HTTP/1.1\r\nHost: " + h + b"\r\n\r\n", what=h)


# --------------------------------------------------------------------------
# Pipelining
# --------------------------------------------------------------------------

@t.case
def request_in_a_body_is_just_body():
    b = B.encode()
    inner = b"GET " + b + b"/admin HTTP/1.1\r\nHost: t\r\n\r\n"
    before = forwarded()
    with ST.gw.raw() as c:
        c.send(post(["Content-Length: %d" % len(inner)], inner))
        r = c.read_response()
        eq((r.status, r.body), (200, inner), "the hidden request is the body")
        c.send(b"GET " + b + b"/x HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n\r\n"
               % len(inner) + inner)
        r = c.read_response()
        eq((r.status, r.body), (200, inner), "GET with a body")
        c.expect_quiet(0.2)
    eq(forwarded(), before + 2, "exactly two requests forwarded")
    paths = [q["path"] for q in SVC.requests[-3:]]
    check(B + "/admin" not in paths, "the hidden request was forwarded: %r" % (paths,))


@t.case
def pipelined_good_then_smuggle():
    b = B.encode()
    good = b"GET " + b + b"/x HTTP/1.1\r\nHost: t\r\n\r\n"
    before = forwarded()
    for bad, status in [
        (post(["Content-Length: 5", "Transfer-Encoding: chunked"], b"0\r\n\r\n"), 400),
        (post(["Transfer-Encoding: chunked"], b"0\n\r\nGET " + b + b"/admin HTTP/1.1\r\n\r\n"),
         400),
        (b"GET " + b + b"/x HTTP/1.1\r\nHost: t\r\nX: a\r\n Transfer-Encoding: chunked\r\n\r\n",
         400),
        (b"GET " + b + b"/" + b"a" * 17000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", 431),
    ]:
        with ST.gw.raw() as c:
            c.send(good + good + bad + good)
            for i in range(2):
                eq(c.read_response().status, 200, "pipelined good request %d" % i)
            r = c.read_response()
            assert_error(r, status, CODES[status])
            eq((r.header("connection") or "").lower(), "close", "connection: close")
            c.expect_eof(3)
    eq(forwarded(), before + 8, "only the good requests before the bad one")


@t.case
def gateway_still_serving():
    accepted(b"GET " + B.encode() + b"/alive HTTP/1.1\r\nHost: t\r\n\r\n")
    SVC.check_no_errors()


def setup():
    global ST, SVC, B
    ST = Stack(name="smuggling")
    B = "/" + uniq("sm")
    SVC = ST.service(routes=[("*", B + "/*")], handler=echo)
    return ST


if __name__ == "__main__":
    t.main(setup=setup, teardown=lambda st: st.close())
