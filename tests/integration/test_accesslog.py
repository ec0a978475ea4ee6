#!/usr/bin/env python3
"""The access log (protocol.md §8.1): one line per response sent, errors
included; JSON keys and values; the combined format; escaping of hostile
bytes; a pipe nobody reads never blocks the gateway (lines dropped and
counted); SIGUSR1 reopens the file after a logrotate-style rename with
nothing lost; --workers lines never interleave."""

import base64
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Gateway, Runner, Stack, assert_error, check, eq, parse_metrics,  # noqa: E402
                     req_bytes, run_gateway_cli, uniq, wait_until)

t = Runner()
ST = None
LOG = None

KEYS = {"ts", "request_id", "remote_addr", "method", "path", "query", "status", "bytes_in",
        "bytes_out", "duration_ms", "route", "service", "instance", "upstream_ms", "error",
        "trace_id", "tls", "user"}
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
# host ident user [time] "request" status bytes "referer" "agent"; escapes as nginx's
# (upper-case \xHH; a space kept, in the user too); bytes always a number
CLF_VAL = rb'((?:[^"\\]|\\x[0-9A-F]{2})*)'
CLF_RE = re.compile(rb'^(\S+) - ([^"]+) \[(\d\d/[A-Z][a-z]{2}/\d{4}:\d\d:\d\d:\d\d \+0000)\] '
                    rb'"' + CLF_VAL + rb'" (\d{3}) (\d+) "' + CLF_VAL + rb'" "' + CLF_VAL +
                    rb'"\n$')


def hs256_token(payload, secret):
    def b64u(b):
        return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
    si = (b64u(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + "." +
          b64u(json.dumps(payload).encode()))
    return si + "." + b64u(hmac.new(secret.encode(), si.encode(), hashlib.sha256).digest())


def log_lines(path, whole=True):
    """The lines of the log; whole=False while the gateway may be writing (a
    read can see a write in progress: the last line may be cut)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return []
    if whole:
        check(data == b"" or data.endswith(b"\n"), "log ends mid-line: %r" % data[-200:])
    return [ln for ln in data.splitlines(keepends=True) if ln.endswith(b"\n")]


def json_lines(path):
    out = []
    for ln in log_lines(path):
        try:
            j = json.loads(ln.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise AssertionError("not a JSON line (%s): %r" % (e, ln))
        check(set(j) <= KEYS, "unknown keys %r" % (set(j) - KEYS))
        check(TS_RE.match(j["ts"]) is not None, "ts %r" % j["ts"])
        for k in ("status", "bytes_in", "bytes_out", "duration_ms"):
            check(isinstance(j[k], int), "%s is an integer: %r" % (k, j))
        check(isinstance(j["tls"], bool), "tls is a boolean")
        out.append(j)
    return out


def line_for(path, rid):
    """The JSON line of the response with this request id (waits for it)."""
    def find():
        for j in json_lines(path):
            if j.get("request_id") == rid:
                return j
        return None
    return wait_until(find, 10, msg="access log line for %s" % rid)


@t.case
def forwarded_request_line():
    svc = ST.service(service="alog", routes=[("GET", "/alog/{id}")])
    r = ST.gw.http("GET", "/alog/7?x=1&y=%22", headers={"X-Request-Id": "alog-ok-1",
                                                        "User-Agent": "curl/8"})
    eq(r.status, 200, "status")
    j = line_for(LOG, "alog-ok-1")
    eq(j["method"], "GET", "method")
    eq(j["path"], "/alog/7", "path")
    eq(j["query"], "x=1&y=%22", "query")
    eq(j["status"], 200, "status")
    eq(j["route"], "/alog/{id}", "route")
    eq(j["service"], "alog", "service")
    eq(j["instance"], svc.instance, "instance")
    eq(j["remote_addr"], "127.0.0.1", "remote_addr")
    eq(j["tls"], False, "tls")
    check(isinstance(j.get("upstream_ms"), int) and j["upstream_ms"] >= 0, "upstream_ms %r" % j)
    check(j["upstream_ms"] <= j["duration_ms"] + 1, "upstream within the request: %r" % j)
    check("error" not in j and "user" not in j, "absent values omitted: %r" % j)
    check(re.match(r"^[0-9a-f]{32}$", j.get("trace_id", "")), "trace_id %r" % j)
    eq(j["trace_id"], dict(svc.requests[-1]["headers"])["traceparent"][3:35],
       "trace_id is the one sent on")
    svc.stop()
    # the route in its grace period: 503 no_instance, still named in the line
    wait_until(lambda: ST.gw.http("GET", "/alog/8").status == 503, 10, msg="503 in grace")
    r = ST.gw.http("GET", "/alog/9", headers={"X-Request-Id": "alog-grace-1"})
    assert_error(r, 503, "no_instance")
    j = line_for(LOG, "alog-grace-1")
    eq((j.get("route"), j.get("service"), j.get("error")), ("/alog/{id}", "alog", "no_instance"),
       "a 503 no_instance line names its route and service")


def read_until(c, done, what, timeout=20):
    end = time.monotonic() + timeout
    while not done(c.buf):
        check(time.monotonic() < end, "timed out waiting for %s: %r" % (what, c.buf[-200:]))
        try:
            check(c._fill(0.5) or done(c.buf), "closed before %s" % what)
        except socket.timeout:
            pass


@t.case
def streamed_response_logged_once_when_it_ends():
    svc = ST.service(service="alogst", routes=[("GET", "/alogst/s")], handler=lambda req: None)
    c = ST.gw.raw()
    c.send(req_bytes("GET", "/alogst/s", [("X-Request-Id", "alog-stream-1")]))
    wait_until(lambda: len(svc.requests) >= 1, 10, msg="the request at the service")
    req = svc.requests[-1]
    svc.publish_reply(req, {"status": 200, "headers": [["content-type", "text/plain"]],
                            "body": "one,", "more": True})
    read_until(c, lambda b: b"one," in b, "the first chunk at the client")
    check(not any(j.get("request_id") == "alog-stream-1" for j in json_lines(LOG)),
          "no line while the stream runs")
    svc.publish_reply(req, {"seq": 1, "body": "two", "more": False})
    read_until(c, lambda b: b.endswith(b"0\r\n\r\n"), "the last chunk at the client")
    raw = len(c.buf)
    c.close()
    j = line_for(LOG, "alog-stream-1")
    eq(j["status"], 200, "status")
    eq(j["bytes_out"], raw, "bytes_out: head, chunks and their framing")
    eq(sum(1 for x in json_lines(LOG) if x.get("request_id") == "alog-stream-1"), 1,
       "one line per response")
    svc.stop()


@t.case
def exact_bytes_in_and_out():
    req = req_bytes("GET", "/nowhere-%s" % uniq(), [("X-Request-Id", "alog-bytes")])
    with ST.gw.raw() as c:
        c.send(req)
        r = c.read_response()
    eq(r.status, 404, "status")
    j = line_for(LOG, "alog-bytes")
    eq(j["bytes_in"], len(req), "bytes_in")
    eq(j["bytes_out"], len(r.raw), "bytes_out")
    eq(j["error"], "not_found", "error code")
    check("route" not in j and "upstream_ms" not in j, "no route: %r" % j)


@t.case
def post_body_counted():
    svc = ST.service(service="alogp", routes=[("POST", "/alogp")])
    body = b"z" * 3000
    req = req_bytes("POST", "/alogp", [("X-Request-Id", "alog-post"),
                                       ("Content-Length", str(len(body)))], body)
    with ST.gw.raw() as c:
        c.send(req)
        r = c.read_response()
    eq(r.status, 200, "status")
    eq(line_for(LOG, "alog-post")["bytes_in"], len(req), "bytes_in with a body")
    svc.stop()


@t.case
def pipelined_requests_each_logged():
    reqs = b"".join(req_bytes("GET", "/pipe-%d" % i, [("X-Request-Id", "alog-pipe-%d" % i)])
                    for i in range(5))
    with ST.gw.raw() as c:
        c.send(reqs)
        for _ in range(5):
            eq(c.read_response().status, 404, "pipelined status")
    for i in range(5):
        j = line_for(LOG, "alog-pipe-%d" % i)
        eq(j["path"], "/pipe-%d" % i, "path")
        eq(j["bytes_in"], len(req_bytes("GET", "/pipe-%d" % i,
                                        [("X-Request-Id", "alog-pipe-%d" % i)])), "bytes_in")


@t.case
def unparsable_request_logs_what_was_read():
    with ST.gw.raw() as c:
        c.send(b"GET /half-read?q=1 HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        r = c.read_response()
        eq(r.status, 400, "status")
        rid = r.header("x-request-id")
    j = line_for(LOG, rid)
    eq(j["status"], 400, "status")
    eq(j["error"], "bad_request", "error")
    eq(j["method"], "GET", "method read")
    eq(j["path"], "/half-read", "path read")
    eq(j["query"], "q=1", "query read")
    check(j["bytes_in"] > 0, "bytes_in: %r" % j)
    # garbage: nothing of a request line
    with ST.gw.raw() as c:
        c.send(b"\x16\x03\x01\x00\xa5garbage\r\n\r\n")
        r = c.read_response()
        eq(r.status, 400, "status")
        rid = r.header("x-request-id")
    j = line_for(LOG, rid)
    check("path" not in j and "method" not in j, "nothing read, nothing claimed: %r" % j)


@t.case
def oversize_and_timeout_logged():
    with ST.gw.raw() as c:
        c.send(req_bytes("GET", "/big", [("X-Fill", "a" * 17000), ("X-Request-Id", "alog-431")]))
        r = c.read_response()
        eq(r.status, 431, "status")
        rid431 = r.header("x-request-id")
    with ST.gw.raw() as c:
        c.send(req_bytes("POST", "/b", [("Content-Length", "99999999999"),
                                        ("X-Request-Id", "alog-413")]))
        eq(c.read_response().status, 413, "status")
    with ST.gw.raw() as c:   # header timeout (1 s here): 408
        c.send(b"GET /slow HTTP/1.1\r\n")
        r = c.read_response(timeout=15)
        eq(r.status, 408, "status")
        rid408 = r.header("x-request-id")
    eq(line_for(LOG, rid431)["error"], "headers_too_large", "431 logged")
    j = line_for(LOG, "alog-413")
    eq((j["status"], j["error"], j["method"], j["path"]), (413, "body_too_large", "POST", "/b"),
       "413 logged with its head")
    j = line_for(LOG, rid408)
    eq((j["status"], j["error"], j["path"]), (408, "header_timeout", "/slow"), "408 logged")


@t.case
def closed_without_response_logs_nothing():
    before = len(log_lines(LOG))
    with ST.gw.raw() as c:
        c.send(b"GET /never-finished HTTP/1.1\r\nHost: x\r\n")
    r = ST.gw.http("GET", "/marker", headers={"X-Request-Id": "alog-marker"})
    eq(r.status, 404, "marker")
    line_for(LOG, "alog-marker")
    lines = log_lines(LOG)
    eq(len(lines), before + 1, "only the marker was logged")
    check(b"never-finished" not in b"".join(lines), "the abandoned request is not logged")


def lines_with(path, rid):
    """The JSON lines of this request id, once a marker request logged after
    them is in the log too (a second line would have been written by then)."""
    marker = "alog-marker-%s" % uniq()
    eq(ST.gw.http("GET", "/marker", headers={"X-Request-Id": marker}).status, 404, "marker")
    line_for(path, marker)
    return [j for j in json_lines(path) if j.get("request_id") == rid]


@t.case
def client_closed_before_response_logged_499():
    """A client that goes away before its response (nginx's 499, "client closed
    request"): one line for each request in flight or queued behind it on the
    connection, status 499, error client_closed, no bytes out, the route, service
    and instance it was sent to; not counted in portico_http_requests_total."""
    svc = ST.service(service="alog499", routes=[("GET", "/alog499/{x}")], handler=lambda req: None)
    c = ST.gw.raw()
    c.send(req_bytes("GET", "/alog499/one?q=1", [("X-Request-Id", "alog-499-1")]))
    wait_until(lambda: len(svc.requests) >= 1, 10, msg="the request at the service")
    time.sleep(0.2)
    c.close()
    j = line_for(LOG, "alog-499-1")
    eq((j["status"], j.get("error"), j["bytes_out"]), (499, "client_closed", 0),
       "499, client_closed, nothing sent")
    eq((j["method"], j["path"], j["query"]), ("GET", "/alog499/one", "q=1"), "the request")
    eq((j.get("route"), j.get("service"), j.get("instance")),
       ("/alog499/{x}", "alog499", svc.instance), "where it was sent")
    check(j["duration_ms"] >= 150, "duration up to the close: %r" % j)
    check(j["bytes_in"] > 0 and "upstream_ms" not in j, "no reply: %r" % j)
    eq(len(lines_with(LOG, "alog-499-1")), 1, "one line")

    # pipelined: the one in flight and the one queued behind it, each once
    c = ST.gw.raw()
    c.send(b"".join(req_bytes("GET", "/alog499/p%d" % i, [("X-Request-Id", "alog-499-p%d" % i)])
                    for i in range(2)))
    wait_until(lambda: len(svc.requests) >= 3, 10, msg="both requests at the service")
    c.close()
    for i in range(2):
        got = lines_with(LOG, "alog-499-p%d" % i)
        eq([(x["status"], x.get("error")) for x in got], [(499, "client_closed")],
           "pipelined request %d: one 499 line" % i)
    eq(ST.gw.metric("portico_http_requests_total", code="499"), 0.0,
       "499 is not a response: not in portico_http_requests_total")

    # answered, then the client leaves: its line only (no 499 after it)
    c = ST.gw.raw()
    c.send(req_bytes("GET", "/alog499/ok", [("X-Request-Id", "alog-499-ok")]))
    wait_until(lambda: len(svc.requests) >= 4, 10, msg="the answered request at the service")
    svc.publish_reply(svc.requests[-1], {"status": 200, "body": "fine"})
    eq(c.read_response().status, 200, "answered")
    c.close()
    got = lines_with(LOG, "alog-499-ok")
    eq([(x["status"], x.get("error")) for x in got], [(200, None)], "an answered request: once")
    svc.stop()


@t.case
def stream_cut_by_client_logged_once():
    """A streamed reply whose client leaves mid-stream: one line, with the status
    sent and the bytes written, error client_closed (nginx logs the status it sent)."""
    svc = ST.service(service="alogsc", routes=[("GET", "/alogsc")], handler=lambda req: None)
    c = ST.gw.raw()
    c.send(req_bytes("GET", "/alogsc", [("X-Request-Id", "alog-stream-cut")]))
    wait_until(lambda: len(svc.requests) >= 1, 10, msg="the request at the service")
    svc.publish_reply(svc.requests[-1], {"status": 200, "body": "part,", "more": True,
                                         "headers": [["content-type", "text/plain"]]})
    read_until(c, lambda b: b"part," in b, "the first chunk")
    got = len(c.buf)
    c.close()
    j = line_for(LOG, "alog-stream-cut")
    eq((j["status"], j.get("error")), (200, "client_closed"), "the status sent, client_closed")
    check(j["bytes_out"] >= got, "bytes written: %r (read %d)" % (j, got))
    eq(len(lines_with(LOG, "alog-stream-cut")), 1, "one line")
    svc.stop()


@t.case
def hostile_bytes_escaped_json():
    # quotes, backslashes, control bytes and invalid UTF-8 where the client controls them
    rid = 'q"\\x'
    path = '/esc/a"b\\c'
    with ST.gw.raw() as c:
        c.send(b"GET " + path.encode() + b"?k=\"\\\x7f HTTP/1.1\r\nHost: x\r\nX-Request-Id: " +
               rid.encode() + b"\r\nUser-Agent: \xff\xfe\"\\\t\r\n\r\n")
        r = c.read_response()
    if r.status == 400:   # the target refused by the parser: logged all the same
        j = line_for(LOG, r.header("x-request-id"))
    else:
        j = line_for(LOG, rid)
        eq(j["path"], path, "path round-trips")
    check(json_lines(LOG), "every line parses")


@t.case
def credentials_and_bodies_never_logged():
    secret = "Bearer sekrit-token-%s" % uniq()
    body = "body-%s" % uniq()
    ST.gw.http("POST", "/nowhere", headers={"Authorization": secret, "Cookie": "c=" + secret,
                                            "X-Request-Id": "alog-secret"}, body=body.encode())
    line_for(LOG, "alog-secret")
    data = b"".join(log_lines(LOG))
    check(secret.encode() not in data and body.encode() not in data, "no secrets, no bodies")


@t.case
def admin_requests_not_logged():
    ST.gw.admin_get("/health")
    ST.gw.http("GET", "/after-admin", headers={"X-Request-Id": "alog-after-admin"})
    line_for(LOG, "alog-after-admin")
    check(not any(j.get("path") == "/health" for j in json_lines(LOG)), "admin not logged")


@t.case
def bad_settings_exit_2():
    for args, env, want in [
            (["--access-log-format", "xml"], None, "--access-log-format"),
            ([], {"PORTICO_ACCESS_LOG_FORMAT": "apache"}, "PORTICO_ACCESS_LOG_FORMAT"),
            (["--access-log", "/nonexistent-dir-%s/a.log" % uniq()], None, "--access-log"),
            (["--check-config", "--access-log", "/nonexistent-dir-%s/a.log" % uniq()], None,
             "--access-log")]:
        rc, out, err = run_gateway_cli(["--redis", "redis://127.0.0.1:1"] + args, env=env)
        eq(rc, 2, "exit status for %r %r" % (args, env))
        eq(len(err.strip().splitlines()), 1, "one line: %r" % err)
        check(want in err, "names %s: %r" % (want, err))
    rc, out, err = run_gateway_cli(["--check-config", "--access-log",
                                    os.path.join(ST.tmpdir, "ok.log")])
    eq((rc, out.strip()), (0, "configuration ok"), "a writable path is fine: %r" % err)
    _, out, _ = run_gateway_cli(["--help"])
    check("--access-log DEST" in out and "--access-log-format F" in out, "in --help")


@t.case
def format_from_environment():
    st = Stack(name="alogenv", start_gateway=False)
    try:
        path = os.path.join(st.tmpdir, "env.log")
        st.start_gateway([], env={"PORTICO_ACCESS_LOG": path,
                                  "PORTICO_ACCESS_LOG_FORMAT": "combined"})
        eq(st.gw.http("GET", "/env-x").status, 404, "status")
        lines = wait_until(lambda: log_lines(path, False) or None, 10, msg="a line")
        check(CLF_RE.match(lines[0]) is not None, "combined from the environment: %r" % lines)
    finally:
        st.close()


@t.case
def refused_after_the_head_logged_like_any_request():
    """A request refused after its head was read (413, 400 bad chunking, 408 in the
    body) is logged with the client address of SPEC §8 (here the right-most untrusted
    X-Forwarded-For entry of a trusted peer), its duration from its first byte, and in
    the combined format its Referer and User-Agent."""
    st = Stack(name="alogref", start_gateway=False)
    try:
        path = os.path.join(st.tmpdir, "access.log")
        common = ["--trusted-proxies", "127.0.0.0/8", "--max-body-bytes", "10",
                  "--header-timeout-ms", "1000", "--access-log", path]
        st.start_gateway(common)
        xff = [("X-Forwarded-For", "203.0.113.7, 198.51.100.9")]

        def refused(rid, framing, body=b"", pause=0.0, want=413, extra=(), json_line=True):
            req = req_bytes("POST", "/ref", [("X-Request-Id", rid)] + xff + list(extra) +
                            [framing])
            first, rest = req.split(b"\r\n", 1)
            with st.gw.raw(timeout=15) as c:
                c.send(first + b"\r\n")     # the request's first bytes, then a pause
                time.sleep(pause)
                c.send(rest + body)
                eq(c.read_response(timeout=15).status, want, "status of %s" % rid)
            return line_for(path, rid) if json_line else None

        j = refused("alog-ref-413", ("Content-Length", "99"), pause=0.4)
        eq((j["status"], j["error"]), (413, "body_too_large"), "413 logged")
        eq(j["remote_addr"], "198.51.100.9", "413: the client address, not the peer")
        check(j["duration_ms"] >= 300, "413: duration from the first byte: %r" % j)
        j = refused("alog-ref-400", ("Transfer-Encoding", "chunked"), b"zz\r\n", want=400)
        eq((j["status"], j["error"]), (400, "bad_request"), "bad chunking logged")
        eq(j["remote_addr"], "198.51.100.9", "400 in the body: the client address")
        j = refused("alog-ref-408", ("Content-Length", "5"), b"ab", want=408)
        eq((j["status"], j["error"]), (408, "header_timeout"), "stalled body logged")
        eq(j["remote_addr"], "198.51.100.9", "408 in the body: the client address")
        check(j["duration_ms"] >= 900, "408: duration from the first byte: %r" % j)
        with st.gw.raw(timeout=15) as c:   # sends nothing: from the accept
            r = c.read_response(timeout=15)
            eq(r.status, 408, "nothing sent")
        j = line_for(path, r.header("x-request-id"))
        eq(j["remote_addr"], "127.0.0.1", "nothing read: the peer")
        check(j["duration_ms"] >= 900, "408 for nothing sent: duration from the accept: %r" % j)
        st.stop_gateway()

        os.unlink(path)
        st.start_gateway(common + ["--access-log-format", "combined"])
        refused("alog-ref-clf", ("Content-Length", "99"),
                extra=[("Referer", "http://r/ref"), ("User-Agent", "agent/2")], json_line=False)
        lines = wait_until(lambda: log_lines(path, False) or None, 10, msg="a combined line")
        m = CLF_RE.match(lines[0])
        check(m is not None, "not a combined line: %r" % lines)
        eq(m.group(1), b"198.51.100.9", "host: the client address")
        eq((m.group(4), m.group(5)), (b"POST /ref HTTP/1.1", b"413"), "request and status")
        eq((m.group(7), m.group(8)), (b"http://r/ref", b"agent/2"), "referer and agent read")
    finally:
        st.close()


# ---------------------------------------------------------------- combined

@t.case
def combined_format():
    """Exactly nginx's combined format: its escapes (\\xHH in upper case, '"', '\\'
    and bytes outside 0x20-0x7e; a space kept in every field, the user's too) and
    $body_bytes_sent (0 for a response without a body, not Apache's "-")."""
    st = Stack(name="alogc", start_gateway=False)
    try:
        path = os.path.join(st.tmpdir, "access.log")
        auth = os.path.join(st.tmpdir, "auth.json")
        secret = "combined-hs256-secret-0123456789abcdef"
        with open(auth, "w") as f:
            json.dump({"jwt": {"hs256_secret": secret}, "default": "public",
                       "routes": [{"prefix": "/clfj", "auth": "jwt"}]}, f)
        st.start_gateway(["--access-log", path, "--access-log-format", "combined",
                          "--auth-file", auth])
        st.service(service="clf", routes=[("GET", "/clf"), ("GET", "/clfj")])
        r = st.gw.http("GET", "/clf?a=1", headers={"Referer": "http://r/x",
                                                   "User-Agent": "agent 1.0"})
        eq(r.status, 200, "status")
        with st.gw.raw() as c:
            c.send(b"GET /clf2 HTTP/1.0\r\nUser-Agent: a\"b\\c\xff\x80 d\r\n\r\n")
            eq(c.read_response().status, 404, "status")
        with st.gw.raw() as c:
            c.send(b"\x16\x03 nonsense\r\n\r\n")
            eq(c.read_response().status, 400, "status")
        eq(st.gw.http("HEAD", "/clf-head").status, 404, "HEAD: a response without a body")
        tok = hs256_token({"sub": 'ann "o" \u00e9', "exp": int(time.time()) + 300}, secret)
        eq(st.gw.http("GET", "/clfj", headers={"Authorization": "Bearer " + tok}).status, 200,
           "authenticated")
        lines = wait_until(lambda: (lambda ls: ls if len(ls) >= 5 else None)(log_lines(path)), 10,
                           msg="five combined lines")
        ms = []
        for ln in lines:
            m = CLF_RE.match(ln)
            check(m is not None, "not a combined line: %r" % ln)
            check(all(0x20 <= b < 0x7f for b in ln[:-1]), "printable ASCII only: %r" % ln)
            ms.append(m)
        m = ms[0]
        eq(m.group(1), b"127.0.0.1", "host")
        eq(m.group(2), b"-", "no user")
        eq(m.group(4), b"GET /clf?a=1 HTTP/1.1", "request")
        eq(m.group(5), b"200", "status")
        eq(m.group(6), str(len(r.body)).encode(), "body bytes")
        eq(m.group(7), b"http://r/x", "referer")
        eq(m.group(8), b"agent 1.0", "agent")
        eq(ms[1].group(4), b"GET /clf2 HTTP/1.0", "HTTP/1.0 request")
        eq(ms[1].group(8), b"a\\x22b\\x5Cc\\xFF\\x80 d", "agent escaped as nginx does")
        eq(ms[2].group(4), b"-", "nothing read")
        eq(ms[2].group(5), b"400", "status")
        eq((ms[3].group(4), ms[3].group(5)), (b"HEAD /clf-head HTTP/1.1", b"404"), "HEAD")
        eq(ms[3].group(6), b"0", "no body bytes: 0, as nginx's $body_bytes_sent")
        eq(ms[4].group(4), b"GET /clfj HTTP/1.1", "authenticated request")
        eq(ms[4].group(2), b"ann \\x22o\\x22 \\xC3\\xA9", "the user escaped as nginx's $remote_user")
    finally:
        st.close()


# ---------------------------------------------------------------- never blocks

@t.case
def full_pipe_never_blocks_lines_dropped():
    """stdout is a FIFO nobody reads: the gateway goes on answering; past the
    pipe and the buffer lines are dropped and counted; what was written is
    whole lines."""
    st = Stack(name="alogpipe", start_gateway=False)
    rfd = None
    try:
        gw = Gateway(st.tmpdir, st.redis.url, ["--access-log", "stdout"], name="gwpipe")
        os.mkfifo(gw.stdout_path)
        rfd = os.open(gw.stdout_path, os.O_RDONLY | os.O_NONBLOCK)
        st.gw = gw.start()
        st.gw.wait_healthy()
        n = 0
        fill = "f" * 900   # long lines: fewer requests to fill 64 KiB + 1 MiB
        with st.gw.raw() as c:
            while True:
                batch = b"".join(req_bytes("GET", "/%s/%d" % (fill, n + i)) for i in range(50))
                c.send(batch)
                for _ in range(50):
                    eq(c.read_response().status, 404, "answered while the log is stuck")
                n += 50
                _, _, text = st.gw.admin_get("/metrics")
                m = parse_metrics(text)
                if m.get(("portico_access_log_dropped_total", frozenset()), 0) > 0:
                    break
                check(n < 20000, "no drop after %d requests" % n)
        data = b""
        while True:   # what the pipe holds now: whole lines (PIPE_BUF writes)
            try:
                chunk = os.read(rfd, 1 << 16)
            except BlockingIOError:
                break
            if not chunk:
                break
            data += chunk
        check(data.endswith(b"\n"), "whole lines in the pipe")
        for ln in data.splitlines():
            json.loads(ln)
        check(data.count(b"\n") < n, "some lines were dropped (%d of %d)" % (data.count(b"\n"), n))
    finally:
        st.close()
        if rfd is not None:
            os.close(rfd)


# ---------------------------------------------------------------- rotation

def load(gw, stop, counts, prefix):
    with gw.raw() as c:
        i = 0
        while not stop.is_set():
            c.send(req_bytes("GET", "/%s/%d" % (prefix, i)))
            eq(c.read_response().status, 404, "status")
            i += 1
        counts.append(i)


@t.case
def sigusr1_reopens_after_rename():
    st = Stack(name="alogrot")
    try:
        path = os.path.join(st.tmpdir, "access.log")
        st.stop_gateway()
        st.start_gateway(["--access-log", path])
        stop, counts = threading.Event(), []
        th = [threading.Thread(target=load, args=(st.gw, stop, counts, "rot%d" % k))
              for k in range(2)]
        for x in th:
            x.start()
        wait_until(lambda: len(log_lines(path, False)) > 100, 20, msg="lines before the rename")
        os.rename(path, path + ".1")
        st.gw.signal(signal.SIGUSR1)
        wait_until(lambda: len(log_lines(path, False)) > 100, 20, msg="lines in the new file")
        stop.set()
        for x in th:
            x.join(30)
        total = sum(counts)
        st.gw.http("GET", "/rot-end", headers={"X-Request-Id": "rot-end"})
        line_for(path, "rot-end")
        old, new = json_lines(path + ".1"), json_lines(path)
        eq(len(old) + len(new), total + 1, "every response logged once across the two files")
        check(len(old) > 100, "the old file kept its lines")
        check("reopened" in st.gw.stderr_text(), "reopen logged")
    finally:
        st.close()


@t.case
def reload_switches_destination():
    """SIGHUP takes a new --access-log from the --config file (SPEC §9): file to file
    under load (what was logged before goes to the old file: every response once across
    the two), SIGUSR1 then reopens the new path; a path that cannot be opened refuses
    the whole reload (one line, nothing changes); file to off, off to stdout, stdout to
    a file."""
    st = Stack(name="alogre", start_gateway=False)
    try:
        d = st.tmpdir
        a, b, c = (os.path.join(d, n) for n in ("a.log", "b.log", "c.log"))
        cfg = os.path.join(d, "cfg.json")

        def write_cfg(obj):
            with open(cfg + ".tmp", "w") as f:
                json.dump(obj, f)
            os.replace(cfg + ".tmp", cfg)

        write_cfg({"access-log": a})
        st.start_gateway(["--config", cfg])
        gw = st.gw

        def reload(result, n):
            gw.signal(signal.SIGHUP)
            wait_until(lambda: gw.metric("portico_config_reloads_total", result=result) == n,
                       10, 0.02, "reload %s %d" % (result, n))

        def ids(path):
            return [j["request_id"] for j in json_lines(path)]

        def mark(rid, path):
            eq(gw.http("GET", "/mark", headers={"X-Request-Id": rid}).status, 404, rid)
            if path is not None:
                line_for(path, rid)

        mark("re-a", a)
        stop, counts = threading.Event(), []
        th = [threading.Thread(target=load, args=(gw, stop, counts, "re%d" % k)) for k in range(2)]
        for x in th:
            x.start()
        wait_until(lambda: len(log_lines(a, False)) > 50, 20, msg="lines in a.log")
        write_cfg({"access-log": b})
        reload("ok", 1)
        wait_until(lambda: len(log_lines(b, False)) > 50, 20, msg="lines in b.log")
        stop.set()
        for x in th:
            x.join(30)
        mark("re-b", b)
        old, new = json_lines(a), json_lines(b)
        eq(len(old) + len(new), sum(counts) + 2, "every response logged once across the two")
        check("re-b" not in ids(a), "nothing new in the old file")

        os.rename(b, b + ".1")   # SIGUSR1 reopens the path the reload named
        gw.signal(signal.SIGUSR1)
        wait_until(lambda: "reopened " + b in gw.stderr_text(), 10, msg="reopened b.log")
        mark("re-b2", b)

        bad = os.path.join(d, "no-such-dir", "x.log")
        write_cfg({"access-log": bad, "max-body-bytes": 4})
        reload("error", 1)
        lines = [ln for ln in gw.stderr_text().splitlines() if "reload refused" in ln]
        eq(len(lines), 1, "one line for the refused reload")
        check("--access-log " + bad in lines[0], "it names the path: %r" % lines[0])
        r = gw.http("POST", "/mark", headers={"X-Request-Id": "re-bad"}, body=b"12345")
        eq(r.status, 404, "nothing changed: max-body-bytes not applied")
        line_for(b, "re-bad")

        write_cfg({})   # off
        reload("ok", 2)
        mark("re-off", None)
        write_cfg({"access-log": "stdout"})
        reload("ok", 3)
        mark("re-stdout", gw.stdout_path)
        write_cfg({"access-log": c})
        reload("ok", 4)
        mark("re-c", c)
        check("re-off" not in ids(b) + ids(gw.stdout_path) + ids(c), "off: not logged")
        check("re-c" not in ids(gw.stdout_path), "stdout left behind")
        eq(ids(c), ["re-c"], "c.log")
    finally:
        st.close()


@t.case
def workers_lines_never_interleave():
    st = Stack(name="alogwk", start_gateway=False)
    try:
        path = os.path.join(st.tmpdir, "access.log")
        st.start_gateway(["--access-log", path, "--workers", "2"])
        stop, counts = threading.Event(), []
        th = [threading.Thread(target=load, args=(st.gw, stop, counts, "w%d/%s" % (k, "p" * 300)))
              for k in range(6)]
        for x in th:
            x.start()
        wait_until(lambda: len(log_lines(path, False)) > 3000, 60, msg="3000 lines")
        st.gw.signal(signal.SIGUSR1)   # the parent passes it on: each worker reopens
        wait_until(lambda: len(log_lines(path, False)) > 4000, 60, msg="4000 lines")
        stop.set()
        for x in th:
            x.join(30)
        total = sum(counts)
        wait_until(lambda: len(log_lines(path, False)) >= total, 10, msg="%d lines" % total)
        lines = json_lines(path)   # every line parses
        eq(len(lines), total, "one line per response")
        eq(len({j["request_id"] for j in lines}), total, "each response once")
    finally:
        st.close()


def setup():
    global ST, LOG
    ST = Stack(name="alog", start_gateway=False)
    LOG = os.path.join(ST.tmpdir, "access.log")
    ST.start_gateway(["--access-log", LOG, "--header-timeout-ms", "1000"])
    return ST


if __name__ == "__main__":
    t.main(setup=setup, teardown=lambda st: st.close())
