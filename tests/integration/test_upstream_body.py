#!/usr/bin/env python3
"""Request bodies streamed to HTTP upstreams (SPEC §11, docs/protocol.md 5.7):
a body is passed on as it arrives, never held whole. 100 MB bodies
(Content-Length and chunked) reach an upstream that hashes them with the
gateway's RSS flat; a slow-reading upstream blocks the client's send
(backpressure) with RSS flat; an upstream that answers before reading the
body is heard at once; a client that goes away mid-body aborts the
upstream connection; Expect: 100-continue is answered once an upstream
connection is ready (never before a refusal); a chunked body over
--max-body-bytes mid-stream is refused 413 and the upstream exchange
aborted; a body nothing was given of is retried on another upstream."""

import hashlib
import json
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import HOST, Gateway, Raw, Runner, Stack, assert_error, check, eq, fail, wait_until  # noqa: E402,E501
import upstreams as U  # noqa: E402

t = Runner()

MiB = 1024 * 1024
HUGE = 100 * MiB
BLOCK = os.urandom(MiB)  # bodies are this block repeated: hashed as sent
RSS_GROWTH_MAX = 20 * 1024  # KiB


def status_kib(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class Sink:
    """An HTTP/1.1 upstream that reads each request body as it arrives (never
    whole: hashed piece by piece) and answers {"len","sha256","te","cl",
    "expect"}. mode "early": answers 413 right after the head, shuts its
    write side and drains the body. gate: awaited before a body is read (a
    reader that stops). Per request it records how far the body got, and
    whether it ended complete or cut short by the gateway closing."""

    def __init__(self, mode="count"):
        self.mode = mode
        self.gate = threading.Event()
        self.gate.set()
        self.lock = threading.Lock()
        self.connections = 0
        self.bodies = []  # dicts: n (bytes so far), complete, cut (EOF mid-body)
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(64)
        self.url = "http://%s:%d" % (HOST, self.sock.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def last(self):
        with self.lock:
            return dict(self.bodies[-1]) if self.bodies else None

    def _serve(self, c):
        f = c.makefile("rb")
        try:
            while self._one(c, f):
                pass
        except (OSError, ValueError):
            pass
        finally:
            c.close()

    def _one(self, c, f):
        line = f.readline(65536)
        if not line:
            return False
        headers = {}
        while True:
            h = f.readline(65536)
            if h in (b"\r\n", b""):
                break
            k, v = h.decode("latin-1").split(":", 1)
            headers[k.strip().lower()] = v.strip()
        rec = {"n": 0, "complete": False, "cut": False}
        with self.lock:
            self.bodies.append(rec)
        if self.mode == "early":
            body = b"the upstream refuses this body"
            c.sendall(b"HTTP/1.1 413 Payload Too Large\r\nconnection: close\r\n"
                      b"content-length: %d\r\n\r\n" % len(body) + body)
            c.shutdown(socket.SHUT_WR)
            while f.read1(MiB):  # what the gateway still sends, until it closes
                pass
            return False
        self.gate.wait(120)
        sha = hashlib.sha256()
        echo = self.mode == "echo"
        if echo:  # the response streams back what arrives, as it arrives
            c.sendall(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")

        def take(n):
            while n > 0:
                d = f.read1(min(n, MiB))
                if not d:
                    rec["cut"] = True
                    raise ValueError("cut short")
                if echo:
                    c.sendall(b"%x\r\n" % len(d) + d + b"\r\n")
                sha.update(d)
                n -= len(d)
                with self.lock:
                    rec["n"] += len(d)

        try:
            if "content-length" in headers:
                take(int(headers["content-length"]))
            elif headers.get("transfer-encoding") == "chunked":
                while True:
                    size = f.readline(1024)
                    if not size:
                        rec["cut"] = True
                        raise ValueError("cut short")
                    n = int(size.split(b";")[0], 16)
                    if n == 0:
                        f.readline(1024)
                        break
                    take(n)
                    f.readline(16)
        except ValueError:
            with self.lock:
                rec["cut"] = True
            return False
        with self.lock:
            rec["complete"] = True
        if echo:
            c.sendall(b"0\r\n\r\n")
            return True
        out = json.dumps({"len": rec["n"], "sha256": sha.hexdigest(),
                          "te": headers.get("transfer-encoding"),
                          "cl": headers.get("content-length"),
                          "expect": headers.get("expect")}).encode()
        c.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                  b"content-length: %d\r\n\r\n" % len(out) + out)
        return True

    def stop(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Ctx:
    pass


ENV = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=99:quarantine_size_mb=1"}


def setup():
    c = Ctx()
    c.count, c.gated, c.early, c.cut = Sink(), Sink(), Sink("early"), Sink()
    c.retry_ok, c.echo = Sink(), Sink("echo")
    R = U.route
    any_m = ["*"]
    doc = U.routes_doc(
        R("/count/*", [c.count], methods=any_m),
        R("/short", [c.count], methods=any_m, timeout_ms=300),
        R("/gated", [c.gated], methods=any_m, timeout_ms=60000),
        R("/early", [c.early], methods=any_m),
        R("/cut", [c.cut], methods=any_m),
        R("/echo", [c.echo], methods=any_m),
        R("/retry", ["http://%s:%d" % (HOST, U.closed_port()), c.retry_ok], methods=["POST"]),
        R("/gone", ["http://%s:%d" % (HOST, U.closed_port())], methods=["POST"]),
    )
    c.st = Stack(name="upbody", start_gateway=False)
    c.rf = os.path.join(c.st.tmpdir, "routes.json")
    U.write_json(c.rf, doc)
    c.st.start_gateway(["--routes-file", c.rf, "--max-body-bytes", str(300 * MiB),
                        "--upstream-eject-ms", "600000"], env=ENV)
    c.gw = c.st.gw
    # the default --max-body-bytes (1 MiB), a short wait for a stalled body
    c.gw2 = Gateway(c.st.tmpdir, c.st.redis.url,
                    ["--routes-file", c.rf, "--header-timeout-ms", "1000",
                     "--access-log", os.path.join(c.st.tmpdir, "limit-access.log")],
                    ENV, name="limit")
    c.gw2.start()
    c.gw2.wait_healthy()
    return c


def teardown(c):
    c.gw2.stop()
    c.st.stop_gateway()
    c.st.redis.stop()
    for s in (c.count, c.gated, c.early, c.cut, c.retry_ok, c.echo):
        s.stop()


def read_json_response(raw, timeout=120):
    r = raw.read_response(timeout=timeout)
    eq(r.status, 200, "status (%r)" % r.body[:200])
    return r.json()


def send_body(sock, total, chunked, sha=None, progress=None, piece=MiB):
    """Sends total bytes of BLOCK repeated (in chunks of piece when chunked)."""
    sent = 0
    while sent < total:
        n = min(piece, total - sent)
        d = BLOCK[:n] if n < MiB else BLOCK
        if sha is not None:
            sha.update(d)
        sock.sendall(b"%x\r\n" % n + d + b"\r\n" if chunked else d)
        sent += n
        if progress is not None:
            progress[0] = sent
    if chunked:
        sock.sendall(b"0\r\n\r\n")


def huge_body_flat_rss(c, chunked):
    pid = c.gw.pid
    base_rss, base_hwm = U.rss_kib(pid), status_kib(pid, "VmHWM")
    peak = [base_rss]
    done = threading.Event()

    def sample():
        while not done.wait(0.05):
            peak[0] = max(peak[0], U.rss_kib(pid))
    threading.Thread(target=sample, daemon=True).start()
    sha = hashlib.sha256()
    with Raw(c.gw.port, timeout=120) as raw:
        framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % HUGE
        raw.send(b"POST /count/huge HTTP/1.1\r\nHost: x\r\n" + framing + b"\r\n\r\n")
        send_body(raw.sock, HUGE, chunked, sha, piece=256 * 1024)
        j = read_json_response(raw)
    done.set()
    hwm = status_kib(pid, "VmHWM")
    eq(j["len"], HUGE, "bytes the upstream read")
    eq(j["sha256"], sha.hexdigest(), "the body's hash upstream")
    check(max(peak[0], hwm - base_hwm + base_rss) - base_rss < RSS_GROWTH_MAX,
          "gateway RSS grew by %d KiB (peak sampled), VmHWM by %d KiB, for a 100 MB body"
          % (peak[0] - base_rss, hwm - base_hwm))
    if chunked:
        eq(j["te"], "chunked", "passed on chunked")
    else:
        eq(j["cl"], str(HUGE), "content-length passed on")


@t.case
def huge_content_length_body_flat_rss(c):
    huge_body_flat_rss(c, chunked=False)


@t.case
def huge_chunked_body_flat_rss(c):
    huge_body_flat_rss(c, chunked=True)


@t.case
def slow_upstream_blocks_the_client(c):
    """The upstream stops reading: the gateway stops reading the client (whose
    send blocks), holding a bounded amount; then everything goes through."""
    total = 64 * MiB
    pid = c.gw.pid
    base = U.rss_kib(pid)
    c.gated.gate.clear()
    progress = [0]
    err = []
    sha = hashlib.sha256()
    raw = Raw(c.gw.port, timeout=120)
    try:
        raw.send(b"PUT /gated HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % total)

        def sender():
            try:
                send_body(raw.sock, total, False, sha, progress)
            except OSError as e:
                err.append(e)
        th = threading.Thread(target=sender, daemon=True)
        th.start()
        # Wait until the client's sending stops moving (blocked), or all went.
        last = [-1, 0]

        def settled():
            if progress[0] >= total:
                return True
            if progress[0] == last[0]:
                last[1] += 1
            else:
                last[0], last[1] = progress[0], 0
            return last[1] >= 10  # unchanged over 10 polls of 0.1 s
        wait_until(settled, 60, 0.1, "the client's send to block")
        held = progress[0]
        grown = U.rss_kib(pid) - base
        c.gated.gate.set()
        th.join(120)
        check(not err, "send failed: %r" % err)
        j = read_json_response(raw)
    finally:
        c.gated.gate.set()
        raw.close()
    check(held < total // 2, "the client sent %d of %d bytes to a stopped upstream" % (held, total))
    check(grown < RSS_GROWTH_MAX, "gateway RSS grew by %d KiB while the upstream stopped" % grown)
    eq(j["len"], total, "everything arrived once the upstream read again")
    eq(j["sha256"], sha.hexdigest(), "hash")


@t.case
def upstream_answering_early_is_heard(c):
    """The upstream answers 413 after the head, without reading the body: the
    client gets that answer while it has sent only part of its body, with
    connection: close (the rest of the body is not read)."""
    with Raw(c.gw.port, timeout=30) as raw:
        raw.send(b"POST /early HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (32 * MiB))
        raw.send(BLOCK)  # 1 MiB of 32, then wait for the answer
        r = raw.read_response(timeout=30)
        eq(r.status, 413, "the upstream's answer")
        eq(r.body, b"the upstream refuses this body", "its body")
        eq(r.header("connection"), "close", "connection")

        def closed():
            try:
                return not raw._fill(1)
            except socket.timeout:
                return False
        wait_until(closed, 30, 0, "the gateway to close the connection")
    eq(c.early.last()["complete"], False, "the upstream never read a body")


@t.case
def client_gone_mid_body_aborts_the_upstream(c):
    raw = Raw(c.gw.port, timeout=30)
    raw.send(b"POST /cut HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (32 * MiB))
    raw.send(BLOCK * 2)
    wait_until(lambda: (c.cut.last() or {}).get("n", 0) >= MiB, 30, 0.02,
               "the body to reach the upstream while it is sent")
    U.rst_close(raw.sock)
    wait_until(lambda: c.cut.last()["cut"], 30, 0.02, "the upstream connection to be closed")
    check(not c.cut.last()["complete"], "the body was cut short upstream")
    conns = c.cut.connections
    # the aborted connection was not pooled: the next request opens another
    with Raw(c.gw.port, timeout=30) as raw2:
        raw2.send(b"POST /cut HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        eq(read_json_response(raw2)["len"], 5, "the next request")
    eq(c.cut.connections, conns + 1, "connections the upstream accepted (the cut one not reused)")


def read_interim(raw):
    while b"\r\n\r\n" not in raw.buf:
        check(raw._fill(30), "closed before any response")
    head, _, rest = raw.buf.partition(b"\r\n\r\n")
    return head, rest


@t.case
def expect_100_continue_streamed(c):
    size = 3 * MiB
    for framing in (b"Content-Length: %d" % size, b"Transfer-Encoding: chunked"):
        sha = hashlib.sha256()
        with Raw(c.gw.port, timeout=30) as raw:
            raw.send(b"PUT /count/e HTTP/1.1\r\nHost: x\r\n" + framing +
                     b"\r\nExpect: 100-continue\r\n\r\n")
            interim, raw.buf = read_interim(raw)
            eq(interim, b"HTTP/1.1 100 Continue", "interim response")
            send_body(raw.sock, size, b"chunked" in framing, sha)
            j = read_json_response(raw)
        eq(j["len"], size, "body length")
        eq(j["sha256"], sha.hexdigest(), "hash")
        eq(j["expect"], None, "expect is the gateway's to answer, not passed on")


@t.case
def expect_100_continue_not_sent_before_a_refusal(c):
    """No upstream can be reached: the final answer comes without a 100, so the
    client never sends its body."""
    with Raw(c.gw.port, timeout=30) as raw:
        raw.send(b"POST /gone HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n"
                 b"Expect: 100-continue\r\n\r\n" % (2 * MiB))
        head, _ = read_interim(raw)
        check(not head.startswith(b"HTTP/1.1 100"), "100 Continue before the refusal: %r" % head)
        r = raw.read_response(timeout=30)
        check(r.status in (502, 503), "refused: %d" % r.status)
        eq(r.header("connection"), "close", "the unread body ends the connection")


@t.case
def chunked_body_over_the_limit_mid_stream(c):
    """--max-body-bytes 1 MiB (the default), a chunked body of 2 MiB: its
    first part reaches the upstream, then 413 from the gateway and the
    upstream exchange aborted (its connection closed mid-body)."""
    before = len(c.cut.bodies)
    with Raw(c.gw2.port, timeout=30) as raw:
        raw.send(b"POST /cut HTTP/1.1\r\nHost: x\r\nX-Request-Id: over-limit-1\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n")
        try:
            send_body(raw.sock, 2 * MiB, True, piece=64 * 1024)
        except OSError:
            pass  # the gateway may close before all of it is sent
        r = raw.read_response(timeout=30)
    assert_error(r, 413, "body_too_large", request_id="over-limit-1")
    wait_until(lambda: len(c.cut.bodies) > before and c.cut.last()["cut"], 30, 0.02,
               "the upstream exchange to be aborted")
    rec = c.cut.last()
    check(0 < rec["n"] <= MiB, "%d bytes went upstream before the limit" % rec["n"])


@t.case
def refused_after_the_response_began_is_not_client_closed(c):
    """The upstream's response streams while the body comes in; the body then
    goes over --max-body-bytes: the gateway closes the connection itself, so
    the access log says what was sent, never client_closed (nginx's 499 is
    for a client that leaves)."""
    path = os.path.join(c.st.tmpdir, "limit-access.log")
    with Raw(c.gw2.port, timeout=30) as raw:
        raw.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nX-Request-Id: began-then-413\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n10000\r\n" + BLOCK[:0x10000] + b"\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            d = raw.sock.recv(65536)
            check(d, "closed before the response head")
            head += d
        check(head.startswith(b"HTTP/1.1 200"), "the response began: %r" % head[:40])
        try:
            send_body(raw.sock, 2 * MiB, True, piece=64 * 1024)
        except OSError:
            pass  # the gateway closes once the limit is passed
        end = time.monotonic() + 30
        while time.monotonic() < end:
            try:
                if not raw.sock.recv(65536):
                    break
            except socket.timeout:
                continue
            except OSError:
                break

    def line():
        if not os.path.exists(path):
            return None
        with open(path, "rb") as f:
            got = [json.loads(x) for x in f.read().splitlines()
                   if b'"began-then-413"' in x]
        return got or None
    got = wait_until(line, 30, 0.05, "the request's access-log line")
    eq(len(got), 1, "one line: %r" % got)
    eq((got[0]["status"], got[0].get("error")), (200, "body_too_large"),
       "the status sent and why the gateway stopped (not client_closed): %r" % got[0])
    check(got[0]["bytes_out"] > 0, "the bytes written: %r" % got[0])
    check(got[0]["bytes_in"] > 0x10000, "the bytes read of the body: %r" % got[0])


def refused_mid_body(c, head, rest, status, code):
    """head and part of a body, then rest (bad bytes, or nothing: a stall):
    refused with status by the gateway, the upstream exchange aborted."""
    before = len(c.cut.bodies)
    with Raw(c.gw2.port, timeout=30) as raw:
        raw.send(head)
        wait_until(lambda: len(c.cut.bodies) > before and c.cut.last()["n"] > 0, 30, 0.02,
                   "the body to reach the upstream")
        if rest:
            raw.send(rest)
        r = raw.read_response(timeout=30)
    assert_error(r, status, code)
    wait_until(lambda: c.cut.last()["cut"], 30, 0.02, "the upstream exchange to be aborted")


@t.case
def bad_chunk_mid_stream_400(c):
    refused_mid_body(c, b"POST /cut HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     b"20000\r\n" + BLOCK[:0x20000] + b"\r\n", b"zz\r\n", 400, "bad_request")


@t.case
def stalled_body_408(c):
    """A body that stops (nothing for --header-timeout-ms): 408 header_timeout,
    as for any request, and the upstream exchange aborted."""
    refused_mid_body(c, b"POST /cut HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % MiB
                     + BLOCK[:200 * 1024], b"", 408, "header_timeout")


@t.case
def pipelined_streamed_bodies_in_order(c):
    """Two streamed bodies (Content-Length, chunked) and a GET, in one write:
    answered in order, each body whole."""
    a, b = BLOCK[:200 * 1024], BLOCK[:300 * 1024]
    with Raw(c.gw.port, timeout=30) as raw:
        raw.send(b"POST /count/a HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(a) + a
                 + b"POST /count/b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                 + b"%x\r\n" % len(b) + b + b"\r\n0\r\n\r\n"
                 + b"GET /count/c HTTP/1.1\r\nHost: x\r\n\r\n")
        for body in (a, b, b""):
            j = read_json_response(raw)
            eq(j["len"], len(body), "body length")
            eq(j["sha256"], hashlib.sha256(body).hexdigest(), "hash")


@t.case
def response_streams_while_the_body_uploads(c):
    """The upstream echoes each piece as it reads it: the client reads the
    echo of its first MiB before it sends the rest (full duplex); the
    response, begun before the request ended, closes the connection."""
    total = 8 * MiB
    with Raw(c.gw.port, timeout=30) as raw:
        raw.send(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % total)
        raw.send(BLOCK)
        wait_until(lambda: raw._fill(30) and len(raw.buf) > MiB, 60, 0,
                   "the echo of the first MiB before the rest is sent")
        send_body(raw.sock, total - MiB, False)
        while not raw.buf.endswith(b"\r\n0\r\n\r\n"):
            check(raw._fill(30), "closed after %d bytes" % len(raw.buf))
        head, _, rest = raw.buf.partition(b"\r\n\r\n")
    check(head.startswith(b"HTTP/1.1 200"), "status: %r" % head[:40])
    check(b"connection: close" in head.lower(), "connection: close: %r" % head)
    got, pos = 0, 0
    while True:
        nl = rest.index(b"\r\n", pos)
        n = int(rest[pos:nl], 16)
        if n == 0:
            break
        got += n
        pos = nl + 2 + n + 2
    eq(got, total, "bytes echoed")
    eq(c.echo.last()["complete"], True, "the upstream read the whole body")


@t.case
def slow_client_is_not_the_upstreams_timeout(c):
    """The route's timeout_ms (300) runs while the upstream is waited for, not
    while the client is: pauses before and inside the body are the client's
    body timers' (--header-timeout-ms 10000 here)."""
    size = 512 * 1024
    with Raw(c.gw.port, timeout=30) as raw:
        raw.send(b"POST /short HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
        time.sleep(1.0)  # the client pauses, longer than the route's timeout
        raw.send(BLOCK[:size // 2])
        time.sleep(1.0)
        raw.send(BLOCK[size // 2:size])
        j = read_json_response(raw)
    eq(j["len"], size, "body length")


@t.case
def streamed_body_retried_when_nothing_was_given(c):
    """A POST whose body streams: the first upstream refuses the connection
    before any of it was given away, so it is tried on the next one."""
    size = 2 * MiB
    sha = hashlib.sha256()
    with Raw(c.gw.port, timeout=30) as raw:
        raw.send(b"POST /retry HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % size)
        send_body(raw.sock, size, False, sha)
        j = read_json_response(raw)
    eq(j["len"], size, "body length")
    eq(j["sha256"], sha.hexdigest(), "hash")


@t.case
def small_bodies_still_whole(c):
    """A Content-Length body up to 64 KiB is read whole first, sent with its
    length as before; the connection stays usable for the next request."""
    with Raw(c.gw.port, timeout=30) as raw:
        for n in (0, 10, 64 * 1024):
            raw.send(b"POST /count/s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % n
                     + BLOCK[:n])
            j = read_json_response(raw)
            eq(j["len"], n, "body length")
            eq(j["sha256"], hashlib.sha256(BLOCK[:n]).hexdigest(), "hash")


if __name__ == "__main__":
    sys.exit(t.main(setup, teardown))
