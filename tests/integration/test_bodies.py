#!/usr/bin/env python3
"""Body encoding (SPEC §4): UTF-8 as a JSON string, anything else base64 with
body_encoding; empty bodies omitted; byte-exact both ways; the 1 MiB limit."""

import base64
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Runner, Stack, assert_error, check, eq, req_bytes, uniq  # noqa: E402

t = Runner()
ST = None
ALL_BYTES = bytes(range(256))


def echo(req):
    """Echo the body back; binary as base64 explicitly."""
    body = req["_body"]
    return {"status": 200, "headers": [["content-type", "application/octet-stream"]],
            "body": base64.b64encode(body).decode(), "body_encoding": "base64"}


def mk(routes, handler=echo):
    base = "/" + uniq("bd")
    return ST.service(routes=[(m, base + p) for m, p in routes], handler=handler), base


@t.case
def binary_both_ways():
    svc, b = mk([("POST", "/bin")])
    body = ALL_BYTES * 4 + ALL_BYTES[::-1]
    r = ST.gw.http("POST", b + "/bin", body=body)
    eq(r.status, 200, "status")
    eq(r.body, body, "binary body echoed byte-exact")
    rq = svc.last_request()
    eq(rq.get("body_encoding"), "base64", "body_encoding of a binary body")
    eq(base64.b64decode(rq["body"], validate=True), body, "request body bytes")


@t.case
def invalid_utf8_goes_base64():
    svc, b = mk([("POST", "/iu")])
    for body in [b"\xc0\xaf", b"\xed\xa0\x80", b"abc\xff", b"\xf4\x90\x80\x80", b"\xe2\x82"]:
        r = ST.gw.http("POST", b + "/iu", body=body)
        eq(r.body, body, "echo of %r" % body)
        rq = svc.last_request()
        eq(rq.get("body_encoding"), "base64", "encoding of invalid UTF-8 %r" % body)
        eq(base64.b64decode(rq["body"]), body, "bytes of %r" % body)


@t.case
def utf8_as_json_string():
    svc, b = mk([("POST", "/u8")])
    text = "h\u00e9llo \u2713 \u65e5\u672c \U0001F600 \"quoted\" \\ back\nline"
    r = ST.gw.http("POST", b + "/u8", {"Content-Type": "text/plain; charset=utf-8"},
                   body=text.encode("utf-8"))
    eq(r.body, text.encode("utf-8"), "echo")
    rq = svc.last_request()
    check("body_encoding" not in rq, "UTF-8 body sent with body_encoding %r" % rq.get("body_encoding"))
    eq(rq["body"], text, "body as a JSON string")


@t.case
def nul_byte_body_exact():
    svc, b = mk([("POST", "/nul")])
    body = b"a\x00b"
    r = ST.gw.http("POST", b + "/nul", body=body)
    eq(r.body, body, "echo")
    eq(svc.last_request()["_body"], body, "request body bytes (either encoding)")


@t.case
def empty_body_omitted():
    svc, b = mk([("GET", "/e"), ("POST", "/e")])
    ST.gw.http("GET", b + "/e")
    rq = svc.last_request()
    check("body" not in rq and "body_encoding" not in rq, "empty GET body present: %r" % rq.get("body"))
    ST.gw.http("POST", b + "/e", {"Content-Length": "0"})
    rq = svc.last_request()
    check("body" not in rq and "body_encoding" not in rq, "empty POST body present: %r" % rq.get("body"))
    with ST.gw.raw() as c:
        c.send(req_bytes("POST", b + "/e", [("Transfer-Encoding", "chunked")], body=b"0\r\n\r\n"))
        eq(c.read_response().status, 200, "empty chunked body")
    rq = svc.last_request()
    check("body" not in rq, "empty chunked body present")


@t.case
def reply_body_utf8_and_empty():
    def h(req):
        k = req["params"]["k"]
        if k == "text":
            return {"status": 200, "body": "\u00e9t\u00e9"}
        if k == "none":
            return {"status": 200}
        if k == "empty":
            return {"status": 200, "body": ""}
        return {"status": 200, "body": base64.b64encode(ALL_BYTES).decode(),
                "body_encoding": "base64"}
    svc, b = mk([("GET", "/r/{k}")], h)
    eq(ST.gw.http("GET", b + "/r/text").body, "\u00e9t\u00e9".encode(), "utf-8 reply body")
    for k in ("none", "empty"):
        r = ST.gw.http("GET", b + "/r/" + k)
        eq((r.status, r.body, r.header("content-length")), (200, b"", "0"), "reply without body (%s)" % k)
    eq(ST.gw.http("GET", b + "/r/bin").body, ALL_BYTES, "base64 reply body")


@t.case
def one_mib_ok_one_more_413():
    svc, b = mk([("POST", "/big")], lambda req: {"status": 200, "body": str(len(req["_body"]))})
    body = bytes(range(256)) * 4096     # 1 MiB, binary: base64 on the bus
    eq(len(body), 1048576, "test body size")
    r = ST.gw.http("POST", b + "/big", body=body, timeout=30)
    eq((r.status, r.body), (200, b"1048576"), "1 MiB body")
    eq(svc.last_request()["_body"], body, "1 MiB byte-exact")
    with ST.gw.raw() as c:
        c.send(req_bytes("POST", b + "/big", [("Content-Length", "1048577")]))
        assert_error(c.read_response(), 413, "body_too_large")
        c.expect_eof(3)
    # chunked: exactly 1 MiB accepted
    chunk = b"%x\r\n%s\r\n" % (65536, b"q" * 65536)
    with ST.gw.raw(timeout=30) as c:
        c.send(req_bytes("POST", b + "/big", [("Transfer-Encoding", "chunked")]) +
               chunk * 16 + b"0\r\n\r\n")
        eq(c.read_response().body, b"1048576", "chunked 1 MiB")
    eq(svc.n_requests(), 2, "requests delivered")


def setup():
    global ST
    ST = Stack(name="bodies")
    return ST


if __name__ == "__main__":
    t.main(setup=setup, teardown=lambda st: st.close())
