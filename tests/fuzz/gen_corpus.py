#!/usr/bin/env python3
"""gen_corpus.py -- writes the hand-made seed inputs of tests/fuzz/corpus/.

Run from anywhere: python3 tests/fuzz/gen_corpus.py. Seeds are named
seed-*; inputs kept from fuzzing runs (crash-*, or minimized finds) live
beside them and are never touched by this script.
"""
import base64
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))


def write(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("latin-1")
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


# ------------------------------------------------------------------ http
H = "Host: t\r\n"
http = {
    "get": "GET / HTTP/1.1\r\n" + H + "\r\n",
    "get_query": "GET /users/42?verbose=1&x=%2F HTTP/1.1\r\n" + H + "Accept: */*\r\n\r\n",
    "get_http10": "GET /a HTTP/1.0\r\n\r\n",
    "get_http10_keepalive": "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /b HTTP/1.0\r\n\r\n",
    "head": "HEAD /h HTTP/1.1\r\n" + H + "\r\n",
    "post_cl": "POST /p HTTP/1.1\r\n" + H + "Content-Length: 5\r\n\r\nhello",
    "post_cl0": "POST /p HTTP/1.1\r\n" + H + "Content-Length: 0\r\n\r\n",
    "post_chunked": "POST /c HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n"
                    "5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n",
    "post_chunked_trailer": "POST /c HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n"
                            "a\r\n0123456789\r\n0\r\nX-Trailer: v\r\n\r\n",
    "pipeline3": ("GET /1 HTTP/1.1\r\n" + H + "\r\n") +
                 ("POST /2 HTTP/1.1\r\n" + H + "Content-Length: 3\r\n\r\nabc") +
                 ("GET /3 HTTP/1.1\r\n" + H + "Connection: close\r\n\r\n"),
    "pipeline_after_close": "GET /1 HTTP/1.1\r\n" + H + "Connection: close\r\n\r\nGET /2 HTTP/1.1\r\n" + H + "\r\n",
    "leading_crlf": "\r\n\r\nGET / HTTP/1.1\r\n" + H + "\r\n",
    "expect": "PUT /e HTTP/1.1\r\n" + H + "Expect: 100-continue\r\nContent-Length: 2\r\n\r\nok",
    "upgrade": "GET /ws HTTP/1.1\r\n" + H + "Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n\x81\x00",
    "many_headers": "GET /m HTTP/1.1\r\n" + H + "".join("X-H%d: %d\r\n" % (i, i) for i in range(40)) + "\r\n",
    "obs_text": "GET /o HTTP/1.1\r\n" + H + "X-T: caf\xe9 \t ok\r\n\r\n",
    "cl_te": "POST /s HTTP/1.1\r\n" + H + "Content-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG",
    "te_cl": "POST /s HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\nContent-Length: 6\r\n\r\n0\r\n\r\nG",
    "te_list": "POST /s HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
    "te_http10": "POST /s HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "cl_dup": "POST /s HTTP/1.1\r\n" + H + "Content-Length: 1\r\nContent-Length: 2\r\n\r\nab",
    "cl_plus": "POST /s HTTP/1.1\r\n" + H + "Content-Length: +5\r\n\r\nhello",
    "cl_huge": "POST /s HTTP/1.1\r\n" + H + "Content-Length: 99999999999999999999\r\n\r\n",
    "cl_over_limit": "POST /s HTTP/1.1\r\n" + H + "Content-Length: 5000\r\n\r\n",
    "obs_fold": "GET / HTTP/1.1\r\n" + H + "X-A: a\r\n b\r\n\r\n",
    "bare_lf": "GET / HTTP/1.1\n" + H + "\n",
    "bare_cr": "GET / HTTP/1.1\r\n" + H + "X-A: a\rb\r\n\r\n",
    "nul_value": "GET / HTTP/1.1\r\n" + H + "X-A: a\x00b\r\n\r\n",
    "space_colon": "GET / HTTP/1.1\r\n" + "Host : t\r\n\r\n",
    "no_host": "GET / HTTP/1.1\r\n\r\n",
    "two_hosts": "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "absolute_form": "GET http://t/x HTTP/1.1\r\n" + H + "\r\n",
    "connect": "CONNECT t:443 HTTP/1.1\r\nHost: t:443\r\n\r\n",
    "asterisk": "OPTIONS * HTTP/1.1\r\n" + H + "\r\n",
    "double_space": "GET  / HTTP/1.1\r\n" + H + "\r\n",
    "tab_target": "GET /a\tb HTTP/1.1\r\n" + H + "\r\n",
    "http09": "GET /\r\n",
    "http2_preface": "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "bad_method": "G(T / HTTP/1.1\r\n" + H + "\r\n",
    "chunk_nonhex": "POST /c HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\nzz\r\nx\r\n0\r\n\r\n",
    "chunk_overflow": "POST /c HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nx\r\n0\r\n\r\n",
    "chunk_no_crlf": "POST /c HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
    "chunk_ext_cr": "POST /c HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n5;a\rb\r\nhello\r\n0\r\n\r\n",
    "chunk_lf": "POST /c HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
    "chunk_over_limit": "POST /c HTTP/1.1\r\n" + H + "Transfer-Encoding: chunked\r\n\r\n1001\r\n",
    "smuggle_in_body": "POST /s HTTP/1.1\r\n" + H + "Content-Length: 35\r\n\r\nGET /admin HTTP/1.1\r\nHost: t\r\n\r\n\r\n",
    "long_target": "GET /" + "a" * 2100 + " HTTP/1.1\r\n" + H + "\r\n",
    "pct_dots": "GET /a/%2e%2e/b HTTP/1.1\r\n" + H + "\r\n",
    "pct_slash_dots": "GET /files/..%2f..%2fetc HTTP/1.1\r\n" + H + "\r\n",
    # the plain-request reader's edges (http.c read_plain): taken, or left
    # to the scanner and http_parser, with the same result either way
    "plain_values": "GET /v HTTP/1.1\r\n" + H + "X-Empty:\r\nX-Ows: \t \r\nX-Trail: a \t\r\n"
                    "X-Lead:\t  b\r\nX-Hi: \xe9\xff\r\n\r\n",
    "plain_high_target": "GET /caf\xe9/\xff?q=\x80 HTTP/1.1\r\n" + H + "\r\n",
    "plain_keepalive_cl0": "PATCH /k HTTP/1.1\r\nConnection: Keep-Alive\r\n" + H +
                           "content-length: 0 \r\n\r\nDELETE /d HTTP/1.1\r\n" + H + "\r\n",
    "plain_cl0_twice": "GET /c HTTP/1.1\r\n" + H + "Content-Length: 0\r\nContent-Length: 0\r\n\r\n",
    "plain_cl00": "GET /c HTTP/1.1\r\n" + H + "Content-Length: 00\r\n\r\n",
    "plain_cl0_tab": "GET /c HTTP/1.1\r\n" + H + "Content-Length: 0\t\r\n\r\n",
    "plain_cl0_spaces": "GET /c HTTP/1.1\r\n" + H + "Content-Length:\t 0  \r\n\r\n",
    "plain_keepalive_tab": "GET /c HTTP/1.1\r\n" + H + "Connection: keep-alive\t\r\n\r\n",
    "plain_host_upper_twice": "GET /h HTTP/1.1\r\nHOST: a\r\nhost: a\r\n\r\n",
    "plain_host_bad": "GET /h HTTP/1.1\r\nHost: a b\r\n\r\n",
    "plain_prefix_names": "GET /p HTTP/1.1\r\n" + H + "Transfer-Encodingx: y\r\nUpgradex: y\r\n"
                          "Connectionx: close\r\nContent-Lengthx: 5\r\nProxy-Connection: close\r\n\r\n",
    "plain_conn_close": "GET /1 HTTP/1.1\r\n" + H + "Connection: close\r\n\r\nGET /2 HTTP/1.1\r\n" + H + "\r\n",
    "plain_conn_list": "GET /1 HTTP/1.1\r\n" + H + "Connection: keep-alive, x-a\r\nX-A: 1\r\n\r\n",
    "plain_32_headers": "GET /m HTTP/1.1\r\n" + H + "".join("X-H%d: %d\r\n" % (i, i) for i in range(31)) + "\r\n",
    "plain_33_headers": "GET /m HTTP/1.1\r\n" + H + "".join("X-H%d: %d\r\n" % (i, i) for i in range(32)) + "\r\n",
    "plain_head_at_limit": "GET /" + "a" * (2048 - 27) + " HTTP/1.1\r\n" + H + "\r\n",
    "plain_head_over_limit": "GET /" + "a" * (2048 - 26) + " HTTP/1.1\r\n" + H + "\r\n",
    "plain_then_split": "GET /1 HTTP/1.1\r\n" + H + "\r\nGET /2 HTTP/1.1\r\nHo",
    "plain_lowercase_method": "get / HTTP/1.1\r\n" + H + "\r\n",
    "plain_options_query": "OPTIONS /o?x HTTP/1.1\r\n" + H + "\r\nHEAD /h HTTP/1.1\r\n" + H + "\r\n",
}
for k, v in http.items():
    write("http", k, v)

# ------------------------------------------------------------- register
R = {"v": 1, "type": "register", "service": "users", "instance": "users-1b4e28ba",
     "channel": "portico:svc:users-1b4e28ba", "ttl_ms": 10000, "timeout_ms": 5000,
     "ts_ms": 1763772345678,
     "routes": [{"method": "GET", "path": "/users"}, {"method": "POST", "path": "/users"},
                {"method": "GET", "path": "/users/{id}"}, {"method": "*", "path": "/files/*"}]}


def reg(**kw):
    m = dict(R)
    m.update(kw)
    return json.dumps(m, separators=(",", ":"))


register = {
    "full": reg(),
    "minimal": json.dumps({"v": 1, "type": "register", "service": "a", "instance": "a",
                           "channel": "portico:svc:a", "routes": [{"method": "GET", "path": "/"}]}),
    "deregister": json.dumps({"v": 1, "type": "deregister", "service": "users", "instance": "users-1"}),
    "deregister_ts": json.dumps({"v": 1, "type": "deregister", "service": "users", "instance": "u", "ts_ms": 5}),
    "ttl_clamp": reg(ttl_ms=1, timeout_ms=999999999),
    "ttl_negative": reg(ttl_ms=-5, timeout_ms=0),
    "ts_negative": reg(ts_ms=-1),
    "unicode_route": reg(routes=[{"method": "GET", "path": "/caf\u00e9/{name}"}]),
    "escaped": reg().replace('"users"', '"\\u0075sers"'),
    "bad_channel": reg(channel="portico:reply:x"),
    "bad_version": reg(v=2),
    "bad_type": reg(type="hello"),
    "dup_key": '{"v":1,"v":1}',
    "not_object": "[1,2,3]",
    "deep": "[" * 40 + "]" * 40,
    "nul_string": reg().replace('"users"', '"us\\u0000ers"', 1),
    "many_routes": reg(routes=[{"method": "GET", "path": "/r%d/{id}" % i} for i in range(50)]),
    "route_star_mid": reg(routes=[{"method": "GET", "path": "/a/*/b"}]),
    "route_dup_param": reg(routes=[{"method": "GET", "path": "/a/{x}/{x}"}]),
    "float_ttl": reg(ttl_ms=1.5),
    "huge_int": reg().replace("10000", "99999999999999999999999"),
    "signed": json.dumps({"v": 1, "signed": reg(), "sig": "00" * 32}),
    "signed_bad": json.dumps({"v": 1, "signed": 5, "sig": "zz"}),
    "signed_upper": json.dumps({"v": 1, "signed": reg(), "sig": "AB" * 32}),
    "trailing": reg() + " x",
    "empty": "",
}
for k, v in register.items():
    write("register", k, v.encode("utf-8"))

# ---------------------------------------------------------------- reply
ID = "0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9"


def rep(**kw):
    m = {"v": 1, "id": ID, "status": 200}
    m.update(kw)
    return json.dumps(m, separators=(",", ":"))


reply = {
    "min": rep(),
    "headers_body": rep(headers=[["content-type", "application/json"], ["x-a", "b"]], body='{"id":"42"}'),
    "base64": rep(body=base64.b64encode(bytes(range(40))).decode(), body_encoding="base64"),
    "base64_bad": rep(body="!!!", body_encoding="base64"),
    "enc_unknown": rep(body="x", body_encoding="gzip"),
    "status_204": rep(status=204),
    "status_bad": rep(status=99),
    "status_float": rep(status=200.0),
    "status_string": rep(status="200"),
    "no_id": json.dumps({"v": 1, "status": 200}),
    "id_number": json.dumps({"v": 1, "id": 5, "status": 200}),
    "bad_version": rep(v=2),
    "header_crlf": rep(headers=[["x-a", "a\r\nb"]]),
    "header_bad_name": rep(headers=[["x a", "b"]]),
    "header_not_pair": rep(headers=[["x-a"]]),
    "unicode_escape": rep(body="\u00e9t\u00e9 \\u0000").replace("\\u00e9", "\\u00e9"),
    "escapes": '{"v":1,"id":"%s","status":200,"body":"a\\"b\\\\c\\n\\t\\/"}' % ID,
    "unknown_member": rep(extra={"x": [1, 2, {"y": None}]}),
    "dup_key": '{"v":1,"id":"%s","status":200,"status":201}' % ID,
    "ws": ' { "v" : 1 , "id" : "%s" , "status" : 200 , "headers" : [ ] } ' % ID,
    "exponent": '{"v":1,"id":"%s","status":2e2}' % ID,
    "deep": '{"v":1,"id":"%s","x":%s}' % (ID, "[" * 40 + "]" * 40),
    "request": json.dumps({"v": 1, "id": ID, "reply_to": "portico:reply:g", "deadline_ms": 1763772350678,
                           "method": "GET", "path": "/users/42", "query": "verbose=1", "route": "/users/{id}",
                           "params": {"id": "42"}, "headers": [["host", "api.example"]],
                           "remote_addr": "203.0.113.9", "body": "..."}),
    "request_b64": json.dumps({"v": 1, "id": ID, "reply_to": "r", "deadline_ms": 0, "method": "POST",
                               "path": "/", "body": "AAEC", "body_encoding": "base64"}),
    "request_bad_params": json.dumps({"v": 1, "id": ID, "reply_to": "r", "deadline_ms": 1, "method": "GET",
                                      "path": "/", "params": {"a": 1}}),
    "not_json": "hello",
    "empty": "",
}
for k, v in reply.items():
    write("reply", k, v.encode("utf-8"))


# ---------------------------------------------------------------- wire2
# fuzz_wire2: the input is a message (v2 heads and bodies), and a body.
def v2(head, body=b""):
    h = dict(head, v=2)
    if body:
        h["body_len"] = len(body)
    return json.dumps(h, separators=(",", ":")).encode() + b"\n" + body


RQ = {"id": ID, "reply_to": "portico:reply:g", "deadline_ms": 1763772350678, "method": "POST",
      "path": "/users", "query": "", "route": "/users", "params": {}, "headers": [["x-a", "b"]]}
wire2 = {
    "reply_empty": v2({"id": ID, "status": 204}),
    "reply_json": v2({"id": ID, "status": 200, "headers": [["content-type", "application/json"]]},
                     b'{"id":"42"}'),
    "reply_binary": v2({"id": ID, "status": 200}, bytes(range(256))),
    "reply_newlines": v2({"id": ID, "status": 200}, b"\n\n{\"v\":2}\n"),
    "reply_ref": v2({"id": ID, "status": 200, "body_ref": "portico:body:%s:rep" % ID,
                     "body_len": 70000}),
    "reply_no_newline": json.dumps({"v": 2, "id": ID, "status": 200}).encode(),
    "reply_len_short": v2({"id": ID, "status": 200, "body_len": 9}) + b"abc",
    "reply_body_field": v2({"id": ID, "status": 200, "body": "x"}),
    "reply_head_not_json": b'{"v":2,"id":"%s","status":200\nabc' % ID.encode(),
    "request_empty": v2(RQ),
    "request_json": v2(RQ, b'{"name":"ann"}'),
    "request_binary": v2(RQ, bytes(range(255, -1, -1))),
    "request_ref": v2(dict(RQ, body_ref="portico:body:%s:req" % ID, body_len=70000)),
    "request_len_long": v2(dict(RQ, body_len=1)) + b"ab",
    "v1_request": json.dumps(dict(RQ, v=1, body="x")).encode(),
    "stream_first": v2({"id": ID, "status": 200, "more": True}, b"data: 0\n\n"),
    "stream_next": v2({"id": ID, "seq": 1, "more": True}, bytes(range(32))),
    "stream_last": v2({"id": ID, "seq": 2, "more": False}),
    "cancel": v2({"id": ID, "cancel": True}),
    "body_text": b"hello, world",
    "body_zeros": bytes(64),
    "empty": b"",
}
for k, v in wire2.items():
    write("wire2", k, v)

# --------------------------------------------------------------- router
router = {
    "root": "GET /",
    "users": "GET /users/42",
    "users_me": "GET /users/me",
    "posts": "GET /users/1/posts/2",
    "files": "PUT /files/a/b/c",
    "files_empty": "GET /files",
    "head": "HEAD /head/x",
    "head_get": "HEAD /users",
    "no_method": "PATCH /users",
    "backtrack": "GET /a/b/c",
    "wild_backtrack": "GET /w/1/z\nGET /w/1/y",
    "pct": "GET /users/%2F%41",
    "pct_dots": "GET /files/%2e%2e/x",
    "pct_slash_dots": "GET /files/..%2f..%2fetc",
    "pct_slash_dot_param": "GET /files/a%2F.",
    "pct_slash_dots_mid": "GET /users/a%2F..%2Fb",
    "pct_slash_dotdot_ok": "GET /files/a%2F...%2F.b",
    "bad_pct": "GET /users/%zz",
    "nul": "GET /users/%00",
    "utf8": "GET /caf%C3%A9/x",
    "bad_utf8": "GET /caf%C3/x",
    "empty_seg": "GET /users/",
    "no_slash": "GET users",
    "params3": "GET /p/1/2/3/4",
    "add_match": "+GET /new/{id}\nGET /new/7\n-GET /new/{other}\nGET /new/7",
    "add_conflict": "+GET /users/{uid}\n+GET /users/{id}\nGET /users/1",
    "add_star": "+* /s/*\nDELETE /s/a/b\n-* /s/*\nDELETE /s/a/b",
    "add_bad": "+get /x\n+GET x\n+GET /a/*/b\n+GET /{a}/{a}",
    "remove_base": "-GET /users/{id}\nGET /users/1\n-PUT /users/{id}\nGET /users/1",
    "remove_all": "\n".join("-%s %s" % (m, p) for m, p in [
        ("GET", "/"), ("GET", "/users"), ("POST", "/users"), ("GET", "/users/{id}"),
        ("PUT", "/users/{id}"), ("GET", "/users/me")]) + "\nGET /users/me",
    "deep": "+GET " + "/{a}" * 1 + "/x" * 40 + "\nGET " + "/1" + "/x" * 40,
    "star_method": "* /any",
}
for k, v in router.items():
    write("router", k, v.encode("utf-8"))

# ---------------------------------------------------------------- match
# fuzz_match: first line the request, then routes (see fuzz_match.c); "@"
# lines build paths and patterns from pieces, one per byte.
ROUTES = "\n".join([
    "GET /", "GET /users", "POST /users", "GET /users/{id}", "PUT /users/{uid}",
    "GET /users/me", "* /files/*", "GET /files/{name}", "PUT /a/{x}/c", "GET /a/b/{y}",
    "HEAD /h", "GET /h", "GET /w/*", "GET /w/{id}/z", "GET /caf\u00e9/{n}", "DELETE /any",
])
match = {
    "root": "GET /",
    "users": "GET /users/42",
    "users_me": "GET /users/me",
    "users_put_names": "PUT /users/7",
    "no_method": "PATCH /users",
    "head_get": "HEAD /users/1",
    "head_exact": "HEAD /h",
    "files": "GET /files/x/y",
    "files_param": "GET /files/x",
    "files_empty": "POST /files",
    "files_slash": "POST /files/",
    "backtrack": "PUT /a/b/c",
    "wild_backtrack": "GET /w/1/y",
    "pct_split": "GET /users/a%2Fb",
    "pct_dots": "GET /files/%2e%2e/x",
    "pct_slash_dots": "GET /files/..%2f..%2fetc",
    "pct_slash_dot_param": "GET /files/a%2F.",
    "pct_slash_dots_mid": "GET /users/a%2F..%2Fb",
    "pct_slash_dotdot_ok": "GET /files/a%2F...%2F.b",
    "bad_pct": "GET /users/%zz",
    "nul": "GET /users/%00",
    "nul_files": "GET /files/a%00",
    "utf8": "GET /caf%C3%A9/x",
    "bad_utf8": "GET /users/%C3",
    "overlong": "GET /files/%C0%AF",
    "surrogate": "GET /users/%ED%A0%80",
    "empty_seg": "GET /users/",
    "empty_mid": "GET /files//x",
    "no_slash": "GET users",
    "star_method": "* /users",
    "lower_method": "get /users",
}
for k, v in match.items():
    write("match", k, (v + "\n" + ROUTES).encode("utf-8"))
# same pattern, two names: the first announcement names the params
write("match", "names_first", b"POST /v/1\nGET /v/{a}\nPOST /v/{b}\n* /v/{c}")
write("match", "dup_pair", b"GET /d/1\nGET /d/{a}\nGET /d/{b}\n* /d/*")
write("match", "invalid_routes", b"GET /x/y\nget /x/y\nGET x\nGET /x/*/y\nGET /{a}/{a}\nGET /x/{q}")
# built from pieces: "@" + method byte + one byte per piece
write("match", "built", b"@\x00\x00\x02\x03\n@\x00\x00\x04\x06\n@\x05\x00\x02\x03\n@\x02\x00\x06")
write("match", "built_deep", b"@\x00" + b"\x00" * 300 + b"\n@\x05\x00\x06\n@\x00" + b"\x00" * 20 + b"\x06")
# beyond 256 segments, and at the 16 KiB limit
write("match", "long_segments", ("GET " + "/a" * 400 + "\n* /a/*\nGET /a/{x}/*").encode())
write("match", "too_long", ("GET /a/" + "x" * 16382 + "\n* /a/*").encode())
write("match", "at_limit", ("GET /a/" + "x" * 16381 + "\n* /a/*").encode())

# ----------------------------------------------------------------- proxy
SIG2 = b"\r\n\r\n\x00\r\nQUIT\n"
REQ = b"GET / HTTP/1.1\r\nHost: t\r\n\r\n"
V2_4 = SIG2 + b"\x21\x11\x00\x0c" + bytes([203, 0, 113, 9, 192, 0, 2, 1, 0xdc, 0x04, 0x01, 0xbb])
V2_6 = (SIG2 + b"\x21\x21\x00\x24" + b"\x20\x01\x0d\xb8" + b"\x00" * 11 + b"\x09"
        + b"\x20\x01\x0d\xb8" + b"\x00" * 11 + b"\x01" + b"\x00\x01\xff\xff")
proxy = {
    "v1_tcp4": b"PROXY TCP4 203.0.113.9 192.0.2.1 56324 443\r\n" + REQ,
    "v1_tcp6": b"PROXY TCP6 2001:db8::9 2001:db8::1 1 65535\r\n" + REQ,
    "v1_mapped": b"PROXY TCP6 ::ffff:198.51.100.7 ::1 0 80\r\n",
    "v1_unknown": b"PROXY UNKNOWN\r\n" + REQ,
    "v1_unknown_tail": b"PROXY UNKNOWN ffff:f...f:ffff 1.2.3.4 65535 65535\r\n",
    "v1_longest": (b"PROXY TCP6 " + b"ffff:" * 7 + b"ffff " + b"ffff:" * 7 + b"ffff 65535 65535\r\n"),
    "v1_too_long": b"PROXY UNKNOWN " + b"x" * 100 + b"\r\n",
    "v1_bare_lf": b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
    "v1_bad_port": b"PROXY TCP4 1.2.3.4 5.6.7.8 080 65536\r\n",
    "v2_tcp4": V2_4 + REQ,
    "v2_tcp6": V2_6 + REQ,
    "v2_tlvs": (SIG2 + b"\x21\x11\x00\x1a" + bytes([10, 0, 0, 1, 10, 0, 0, 2, 0, 80, 1, 187])
                + b"\x01\x00\x08http/1.1\x04\x00\x00" + REQ),
    "v2_local": SIG2 + b"\x20\x00\x00\x00" + REQ,
    "v2_unspec": SIG2 + b"\x21\x00\x00\x03abc",
    "v2_unix": SIG2 + b"\x21\x31\x00\xd8" + b"\x00" * 216,
    "v2_udp": SIG2 + b"\x21\x12\x00\x0c" + b"\x00" * 12,
    "v2_too_long": SIG2 + b"\x21\x11\x10\x01",
    "v2_short_block": SIG2 + b"\x21\x21\x00\x0c" + b"\x00" * 12,
    "v2_version3": SIG2 + b"\x31\x11\x00\x0c" + b"\x00" * 12,
    "split_v2_sig": SIG2[:7],
    "split_v1": b"PROXY TCP4 1.2.",
    "http": REQ,
    "tls": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
}
for k, v in proxy.items():
    write("proxy", k, v)

# ----------------------------------------------------------------- uresp
# first byte: bit 0 = the request was HEAD, the rest = where the input is cut
uresp = {
    "cl": b"\x40HTTP/1.1 200 OK\r\nContent-Length: 5\r\nServer: x\r\n\r\nhello",
    "chunked": b"\x20HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: v\r\n\r\n",
    "close_delimited": b"\x60HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
    "http10": b"\x10HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "head": b"\x41HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n",
    "no_content": b"\x30HTTP/1.1 204 No Content\r\n\r\n",
    "not_modified": b"\x30HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
    "interim": b"\x50HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early\r\nLink: </a>\r\n\r\n"
               b"HTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nx",
    "upgrade": b"\x00HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n",
    "bad_status": b"\x08HTTP/1.1 abc Nope\r\nContent-Length: 0\r\n\r\n",
    "both_cl_te": b"\x70HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"
                  b"3\r\nabc\r\n0\r\n\r\n",
    "extra_bytes": b"\x7eHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloEXTRA",
    "bad_chunk": b"\x44HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    "many_headers": b"\x22HTTP/1.1 200 OK\r\n" + b"".join(b"X-H%d: v\r\n" % i for i in range(120))
                    + b"\r\n",
    "big_header": b"\x7fHTTP/1.1 200 OK\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n",
    "mixed_case": b"\x12HTTP/1.1 404 Not Found\r\nCONTENT-type: text/plain\r\ncontent-LENGTH: 1\r\n\r\n!",
    "te_gzip_chunked": b"\x36HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                       b"2\r\nok\r\n0\r\n\r\n",
    "te_twice": b"\x52HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\ntransfer-encoding:  Chunked\r\n\r\n"
                b"2\r\nok\r\n0\r\n\r\n",
}
for k, v in uresp.items():
    write("uresp", k, v)
