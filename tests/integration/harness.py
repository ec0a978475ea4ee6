"""harness.py -- integration test harness for portico (Python 3.9+, stdlib only).

Every test file builds a Stack: its own real redis-server on a free port, the
real gateway (GATEWAY_BIN) on port 0, fake service instances speaking the wire
protocol (SPEC §2-§4) over that Redis, and HTTP helpers (http.client for simple
cases, a raw-socket `Raw` connection for exact bytes and pipelining).

Processes are stopped by PID only, always (try/finally and atexit). Readiness is
polled, never slept for.
"""

import atexit
import base64
import collections
import http.client as httpclient
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import uuid

HOST = "127.0.0.1"
PREFIX = "portico"
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")

_live_procs = {}          # pid -> Popen, everything we started and not yet reaped
_live_lock = threading.Lock()


def _track(p):
    with _live_lock:
        _live_procs[p.pid] = p


def _untrack(p):
    with _live_lock:
        _live_procs.pop(p.pid, None)


@atexit.register
def _kill_leftovers():
    with _live_lock:
        procs = list(_live_procs.values())
    for p in procs:
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGKILL)
            except OSError:
                pass
            try:
                p.wait(5)
            except Exception:
                pass


# --------------------------------------------------------------------------
# small utilities
# --------------------------------------------------------------------------

class TestFailure(AssertionError):
    pass


def fail(msg):
    raise TestFailure(msg)


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def eq(got, want, what="value"):
    if got != want:
        raise TestFailure("%s: got %r, want %r" % (what, got, want))


def now_ms():
    return int(time.time() * 1000)


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((HOST, 0))
        return s.getsockname()[1]
    finally:
        s.close()


def wait_until(pred, timeout=5.0, interval=0.02, msg="condition"):
    """Polls pred() until it returns a truthy value (returned) or timeout."""
    deadline = time.monotonic() + timeout
    last_exc = None
    while True:
        try:
            v = pred()
            if v:
                return v
        except TestFailure:
            raise
        except Exception as e:  # noqa: BLE001 - report the last one
            last_exc = e
        if time.monotonic() >= deadline:
            extra = " (last error: %r)" % (last_exc,) if last_exc else ""
            fail("timed out after %.1fs waiting for %s%s" % (timeout, msg, extra))
        time.sleep(interval)


_uniq_n = [0]
_uniq_lock = threading.Lock()


def uniq(stem="t"):
    """A short name unique within this process: keeps cases sharing a gateway apart."""
    with _uniq_lock:
        _uniq_n[0] += 1
        return "%s%d" % (stem, _uniq_n[0])


def tail(text, n=40):
    lines = text.splitlines()
    return "\n".join(lines[-n:])


# --------------------------------------------------------------------------
# RESP2 client
# --------------------------------------------------------------------------

class RespError(Exception):
    """An error reply (-ERR ...) from Redis."""


class RespClient:
    """A tiny blocking RESP2 client. Not thread-safe: one user thread each."""

    def __init__(self, port, host=HOST, timeout=5.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = b""
        self.subscribed = False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    @staticmethod
    def encode(args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, str):
                a = a.encode()
            elif isinstance(a, int):
                a = str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        return b"".join(out)

    def _fill(self):
        d = self.sock.recv(65536)
        if not d:
            raise ConnectionError("redis closed the connection")
        self.buf += d

    def _line(self):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line, self.buf = self.buf[:i], self.buf[i + 2:]
                return line
            self._fill()

    def _exact(self, n):
        if len(self.buf) < n + 2:  # large values: one growing buffer, not n/64k copies
            out = bytearray(self.buf)
            while len(out) < n + 2:
                d = self.sock.recv(max(65536, min(n + 2 - len(out), 4 << 20)))
                if not d:
                    raise ConnectionError("redis closed the connection")
                out += d
            self.buf = bytes(out[n + 2:])
            return bytes(out[:n])
        d, self.buf = self.buf[:n], self.buf[n + 2:]
        return d

    def read_reply(self):
        line = self._line()
        t, rest = line[:1], line[1:]
        if t == b"+":
            return rest.decode()
        if t == b"-":
            raise RespError(rest.decode())
        if t == b":":
            return int(rest)
        if t == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if t == b"*":
            n = int(rest)
            if n < 0:
                return None
            items = []
            for _ in range(n):
                try:
                    items.append(self.read_reply())
                except RespError as e:
                    items.append(e)
            return items
        raise ConnectionError("bad RESP type byte %r" % (line[:20],))

    def command(self, *args):
        self.sock.settimeout(self.timeout)
        self.sock.sendall(self.encode(args))
        return self.read_reply()

    def publish(self, channel, data):
        """PUBLISH; returns the number of receivers."""
        return self.command("PUBLISH", channel, data)

    def subscribe(self, *channels):
        self.sock.settimeout(self.timeout)
        self.sock.sendall(self.encode(("SUBSCRIBE",) + tuple(channels)))
        for _ in channels:
            r = self.read_reply()
            if not (isinstance(r, list) and r and r[0] == b"subscribe"):
                raise ConnectionError("unexpected SUBSCRIBE answer %r" % (r,))
        self.subscribed = True

    def get_message(self, timeout=None):
        """Next pub/sub message as (channel str, data bytes); None on timeout.
        Raises ConnectionError when Redis goes away."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            if not self.buf:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                r, _, _ = select.select([self.sock], [], [], left)
                if not r:
                    return None
            self.sock.settimeout(self.timeout)
            msg = self.read_reply()
            if isinstance(msg, list) and len(msg) == 3 and msg[0] == b"message":
                return msg[1].decode(), msg[2]
            # confirmations of later (un)subscribes etc.: skip
            if deadline is not None and time.monotonic() >= deadline and not self.buf:
                return None


# --------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------

def redis_binary():
    b = os.environ.get("REDIS_SERVER") or shutil.which("redis-server")
    if not b:
        fail("redis-server not found (set REDIS_SERVER or put it on PATH)")
    return b


class Redis:
    """A private redis-server: start / stop (optionally SIGKILL) / restart on the same port."""

    def __init__(self, tmpdir, port=None):
        self.dir = os.path.join(tmpdir, "redis")
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or free_port()
        self.proc = None
        self.starts = 0

    @property
    def url(self):
        return "redis://%s:%d" % (HOST, self.port)

    def start(self, timeout=10.0):
        check(self.proc is None, "redis already running")
        self.starts += 1
        log = open(os.path.join(self.dir, "redis-%d.log" % self.starts), "wb")
        try:
            self.proc = subprocess.Popen(
                [redis_binary(), "--port", str(self.port), "--bind", HOST,
                 "--save", "", "--appendonly", "no", "--dir", self.dir,
                 "--daemonize", "no", "--protected-mode", "no"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.dir)
        finally:
            log.close()
        _track(self.proc)

        def ping():
            if self.proc.poll() is not None:
                fail("redis-server exited with %s at start (port %d taken?): %s" % (
                    self.proc.returncode, self.port, self.log_text()[-2000:]))
            c = RespClient(self.port, timeout=1.0)
            try:
                return c.command("PING") == "PONG"
            finally:
                c.close()
        wait_until(ping, timeout, 0.01, "redis-server on port %d to answer PING" % self.port)
        return self

    def log_text(self):
        p = os.path.join(self.dir, "redis-%d.log" % self.starts)
        try:
            with open(p, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, kill=False):
        p, self.proc = self.proc, None
        if p is None:
            return
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGKILL if kill else signal.SIGTERM)
            except OSError:
                pass
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(5)
        _untrack(p)

    def restart(self, kill=False):
        self.stop(kill=kill)
        self.start()

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def client(self, timeout=5.0):
        return RespClient(self.port, timeout=timeout)


# --------------------------------------------------------------------------
# HTTP helpers
# --------------------------------------------------------------------------

class Response:
    """status, reason, headers [(lower name, value)], body bytes."""

    def __init__(self, status, reason, headers, body, version="HTTP/1.1", raw=b""):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.version = version
        self.raw = raw

    def header(self, name):
        name = name.lower()
        for k, v in self.headers:
            if k == name:
                return v
        return None

    def header_all(self, name):
        name = name.lower()
        return [v for k, v in self.headers if k == name]

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except Exception as e:  # noqa: BLE001
            fail("body is not JSON (%s): %r" % (e, self.body[:300]))

    def __repr__(self):
        return "<Response %d %r body=%r>" % (self.status, self.headers, self.body[:200])


def check_framing(r, head=False):
    """Contract: every response has x-request-id and content-length (a HEAD's
    only when the service gave the GET's); never chunked; HEAD, 204 and 304
    carry no body."""
    check(r.header("transfer-encoding") is None,
          "response must not be chunked: %r" % (r.headers,))
    rid = r.header("x-request-id")
    check(rid is not None and 1 <= len(rid) <= 128,
          "response lacks a valid x-request-id: %r" % (r.headers,))
    cls = r.header_all("content-length")
    check(len(cls) <= 1, "several content-length headers: %r" % (cls,))
    if r.status in (204, 304):
        check(cls in ([], ["0"]), "%d with content-length %r" % (r.status, cls))
        eq(r.body, b"", "%d body" % r.status)
    else:
        # a HEAD's content-length is the GET's (RFC 9110 8.6): none when the
        # service did not give it
        check(len(cls) == 1 or head, "response without content-length: %r" % (r.headers,))
        if head:
            eq(r.body, b"", "HEAD response body")
        else:
            eq(int(cls[0]), len(r.body), "content-length vs body length")


def http(port, method, path, headers=None, body=None, timeout=10.0, check_frame=True):
    """One request on a fresh http.client connection; returns a Response."""
    c = httpclient.HTTPConnection(HOST, port, timeout=timeout)
    try:
        c.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        hdrs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
        if not any(k.lower() == "host" for k, _ in hdrs):
            c.putheader("Host", "test.local")
        if body is not None and not any(k.lower() in ("content-length", "transfer-encoding")
                                        for k, _ in hdrs):
            c.putheader("Content-Length", str(len(body)))
        for k, v in hdrs:
            c.putheader(k, v)
        c.endheaders(body)
        resp = c.getresponse()
        data = resp.read()
        r = Response(resp.status, resp.reason,
                     [(k.lower(), v) for k, v in resp.getheaders()], data,
                     "HTTP/1.1" if resp.version == 11 else "HTTP/1.0")
    finally:
        c.close()
    if check_frame:
        check_framing(r, head=(method == "HEAD"))
    return r


class Raw:
    """A raw TCP connection to a listener: exact bytes in, parsed responses out."""

    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.timeout = timeout
        self.buf = b""
        self.eof = False

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def _fill(self, timeout=None):
        self.sock.settimeout(self.timeout if timeout is None else timeout)
        try:
            d = self.sock.recv(65536)
        except ConnectionResetError:
            d = b""
        if not d:
            self.eof = True
            return False
        self.buf += d
        return True

    def read_response(self, head=False, timeout=None):
        """Reads exactly one response (content-length framed). Asserts framing."""
        t_end = time.monotonic() + (self.timeout if timeout is None else timeout)
        while b"\r\n\r\n" not in self.buf:
            left = t_end - time.monotonic()
            if left <= 0:
                fail("no complete response head within timeout; got %r" % (self.buf[:300],))
            try:
                if not self._fill(left):
                    fail("connection closed before a full response head; got %r"
                         % (self.buf[:300],))
            except socket.timeout:
                fail("no complete response head within timeout; got %r" % (self.buf[:300],))
        i = self.buf.index(b"\r\n\r\n")
        head_bytes, self.buf = self.buf[:i + 4], self.buf[i + 4:]
        lines = head_bytes[:-4].split(b"\r\n")
        m = re.match(rb"^(HTTP/1\.[01]) (\d{3}) ?(.*)$", lines[0])
        check(m is not None, "bad status line %r" % (lines[0],))
        version, status, reason = m.group(1).decode(), int(m.group(2)), m.group(3).decode("latin-1")
        headers = []
        for ln in lines[1:]:
            check(b":" in ln and not ln[:1].isspace(), "bad header line %r" % (ln,))
            k, v = ln.split(b":", 1)
            headers.append((k.decode("latin-1").lower(), v.strip(b" \t").decode("latin-1")))
        r = Response(status, reason, headers, b"", version)
        te = r.header("transfer-encoding")
        check(te is None, "chunked/transfer-encoded response: %r" % (headers,))
        if head or status in (204, 304) or 100 <= status < 200:
            n = 0
        else:
            cl = r.header("content-length")
            check(cl is not None and cl.isdigit(), "no valid content-length: %r" % (headers,))
            n = int(cl)
        while len(self.buf) < n:
            left = t_end - time.monotonic()
            try:
                if left <= 0 or not self._fill(max(left, 0.01)):
                    fail("connection closed/timed out inside a body (%d of %d bytes)"
                         % (len(self.buf), n))
            except socket.timeout:
                fail("timed out inside a body (%d of %d bytes)" % (len(self.buf), n))
        r.body, self.buf = self.buf[:n], self.buf[n:]
        r.raw = head_bytes + r.body
        check_framing(r, head=head)
        return r

    def expect_eof(self, timeout=3.0):
        """Asserts the peer closes within timeout, sending nothing more."""
        t_end = time.monotonic() + timeout
        while not self.eof:
            left = t_end - time.monotonic()
            if left <= 0:
                fail("connection still open after %.1fs (expected close)" % timeout)
            try:
                self._fill(left)
            except socket.timeout:
                fail("connection still open after %.1fs (expected close)" % timeout)
            except OSError:
                self.eof = True
        eq(self.buf, b"", "bytes after the last response before close")

    def expect_quiet(self, duration=0.3):
        """Asserts nothing arrives and the connection stays open for duration."""
        try:
            got = self._fill(duration)
        except socket.timeout:
            return
        if not got:
            fail("connection closed unexpectedly")
        fail("unexpected bytes: %r" % (self.buf[:200],))


def req_bytes(method, path, headers=(), body=b"", version="HTTP/1.1", host="test.local"):
    """Builds request bytes; adds Host (unless given or host None) and Content-Length
    when body is non-empty and no framing header is given."""
    h = list(headers)
    names = [k.lower() for k, _ in h]
    if host is not None and "host" not in names:
        h.insert(0, ("Host", host))
    if body and "content-length" not in names and "transfer-encoding" not in names:
        h.append(("Content-Length", str(len(body))))
    out = "%s %s %s\r\n" % (method, path, version)
    out += "".join("%s: %s\r\n" % (k, v) for k, v in h)
    out += "\r\n"
    return out.encode("latin-1") + (body if isinstance(body, bytes) else body.encode())


def assert_error(r, status, code, request_id=None):
    """Contract error response: exact status, application/json, error/message/request_id."""
    eq(r.status, status, "status (body %r)" % (r.body[:200],))
    eq(r.header("content-type"), "application/json", "error content-type")
    j = r.json()
    check(isinstance(j, dict), "error body not an object: %r" % (j,))
    eq(j.get("error"), code, "error code (body %r)" % (j,))
    check(isinstance(j.get("message"), str) and j["message"] != "",
          "error body lacks a message: %r" % (j,))
    eq(j.get("request_id"), r.header("x-request-id"), "error request_id vs x-request-id")
    if request_id is not None:
        eq(j.get("request_id"), request_id, "request_id")
    return j


# --------------------------------------------------------------------------
# Gateway
# --------------------------------------------------------------------------

def gateway_binary():
    b = os.environ.get("GATEWAY_BIN")
    if not b:
        fail("GATEWAY_BIN is not set (path to the built portico binary)")
    if not os.access(b, os.X_OK):
        fail("GATEWAY_BIN %r is not an executable file" % b)
    return b


def gateway_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTICO_")}
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=99")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    if extra:
        env.update(extra)
    return env


def run_gateway_cli(args, env=None, timeout=20):
    """Runs the binary to completion (for --help, bad flags); returns (rc, stdout, stderr)."""
    p = subprocess.Popen([gateway_binary()] + list(args), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=gateway_env(env))
    _track(p)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        fail("portico %r did not exit within %ds" % (args, timeout))
    finally:
        _untrack(p)
    return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


class Gateway:
    """The real gateway. start() waits for the ready line; stop() checks a clean exit."""

    # listen=off with --tls-listen; " tls=HOST:PORT" follows the gateway id
    READY_RE = re.compile(
        r"listen=(\S+?)(?::(\d+))?\s+admin=(\S+):(\d+)\s+gateway_id=([0-9a-fA-F-]{36})")
    TLS_RE = re.compile(r"\stls=(\S+):(\d+)")

    def __init__(self, tmpdir, redis_url, args=(), env=None, name="gateway", base_args=True):
        self.tmpdir = tmpdir
        self.redis_url = redis_url
        self.args = list(args)
        self.env = env
        self.base_args = base_args
        self.stderr_path = os.path.join(tmpdir, "%s.stderr" % name)
        self.stdout_path = os.path.join(tmpdir, "%s.stdout" % name)
        self.proc = None
        self.port = self.admin_port = self.tls_port = None
        self.gateway_id = None
        self.ready_line = None

    @property
    def pid(self):
        return self.proc.pid if self.proc else None

    @property
    def reply_channel(self):
        return "%s:reply:%s" % (PREFIX, self.gateway_id)

    def stderr_text(self):
        try:
            with open(self.stderr_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def argv(self):
        a = [gateway_binary()]
        if self.base_args:
            a += ["--listen", "%s:0" % HOST, "--admin", "%s:0" % HOST, "--redis", self.redis_url]
        return a + self.args

    def start(self, timeout=15.0):
        err = open(self.stderr_path, "wb")
        out = open(self.stdout_path, "wb")
        try:
            self.proc = subprocess.Popen(self.argv(), stdout=out, stderr=err,
                                         stdin=subprocess.DEVNULL, env=gateway_env(self.env),
                                         cwd=self.tmpdir)
        finally:
            err.close()
            out.close()
        _track(self.proc)

        def ready():
            text = self.stderr_text()
            for line in text.splitlines():
                if "ready" in line:
                    m = self.READY_RE.search(line)
                    if not m:
                        fail("ready line not in the contract format: %r" % line)
                    return line, m
            if self.proc.poll() is not None:
                fail("gateway exited with %s before ready; stderr:\n%s" % (
                    self.proc.returncode, tail(text)))
            return None
        line, m = wait_until(ready, timeout, 0.01, "the gateway ready line")
        self.ready_line = line
        self.port = int(m.group(2)) if m.group(2) else None  # None: --listen off
        self.admin_port = int(m.group(4))
        self.gateway_id = m.group(5).lower()
        mt = self.TLS_RE.search(line)
        self.tls_port = int(mt.group(2)) if mt else None
        # loopback only: 127.0.0.1, or [::1] for a test that asked for IPv6
        check(m.group(1) in (HOST, "[::1]", "off") and m.group(3) == HOST,
              "ready line hosts: %r" % line)
        check(self.port != 0 and self.admin_port != 0 and self.tls_port != 0,
              "ready line has port 0: %r" % line)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def assert_alive(self):
        if self.proc is None:
            fail("gateway not started")
        if self.proc.poll() is not None:
            fail("gateway died (exit %s); stderr tail:\n%s" % (
                self.proc.returncode, tail(self.stderr_text())))

    def sanitizer_report(self):
        text = self.stderr_text()
        for mk in SANITIZER_MARKERS:
            if mk in text:
                i = text.index(mk)
                return text[max(0, i - 200):i + 3000]
        return None

    def signal(self, sig):
        os.kill(self.proc.pid, sig)

    def wait_exit(self, timeout=15.0):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout=15.0, check_clean=True):
        """SIGTERM, wait, then assert exit 0 and no sanitizer report."""
        p = self.proc
        if p is None:
            return None
        try:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
            try:
                rc = p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(5)
                if check_clean:
                    fail("gateway did not exit within %.0fs of SIGTERM; stderr tail:\n%s"
                         % (timeout, tail(self.stderr_text())))
                return None
        finally:
            _untrack(p)
        if check_clean:
            self.check_clean_exit(rc)
        return rc

    def check_clean_exit(self, rc):
        rep = self.sanitizer_report()
        if rep:
            fail("sanitizer report in gateway stderr:\n%s" % rep)
        if rc != 0:
            fail("gateway exit code %s (want 0); stderr tail:\n%s" % (rc, tail(self.stderr_text())))

    # ---- HTTP ----
    def http(self, method, path, headers=None, body=None, timeout=10.0, check_frame=True):
        self.assert_alive()
        try:
            return http(self.port, method, path, headers, body, timeout, check_frame)
        except (OSError, httpclient.HTTPException) as e:
            self.assert_alive()
            fail("HTTP %s %s failed: %r" % (method, path, e))

    def raw(self, timeout=10.0):
        self.assert_alive()
        return Raw(self.port, timeout)

    def admin_get(self, path, timeout=10.0):
        """(status, headers, json-or-text)."""
        self.assert_alive()
        try:
            r = http(self.admin_port, "GET", path, timeout=timeout, check_frame=False)
        except (OSError, httpclient.HTTPException) as e:
            self.assert_alive()
            fail("admin GET %s failed: %r" % (path, e))
        ct = (r.header("content-type") or "")
        body = r.body.decode("utf-8", "replace")
        if ct.startswith("application/json"):
            body = r.json()
        return r.status, r.headers, body

    def routes(self):
        st, _, j = self.admin_get("/routes")
        eq(st, 200, "GET /routes status")
        check(isinstance(j, dict) and isinstance(j.get("routes"), list),
              "/routes body shape: %r" % (j,))
        return j["routes"]

    def route(self, method, pattern):
        for r in self.routes():
            if r.get("method") == method and r.get("pattern") == pattern:
                return r
        return None

    def route_instances(self, method, pattern):
        r = self.route(method, pattern)
        return None if r is None else [i.get("instance") for i in r.get("instances", [])]

    def wait_route(self, method, pattern, instance=None, timeout=5.0):
        """Waits until (method, pattern) is listed (with instance live, if given)."""
        def ok():
            ins = self.route_instances(method, pattern)
            return ins is not None and (instance is None or instance in ins)
        wait_until(ok, timeout, 0.02, "route %s %s%s in /routes" % (
            method, pattern, "" if instance is None else " with instance " + instance))

    def wait_no_instance(self, instance, timeout=5.0):
        def gone():
            for r in self.routes():
                for i in r.get("instances", []):
                    if i.get("instance") == instance:
                        return False
            return True
        wait_until(gone, timeout, 0.02, "instance %s to leave /routes" % instance)

    def wait_healthy(self, timeout=10.0):
        wait_until(lambda: self.admin_get("/health")[0] == 200, timeout, 0.02,
                   "GET /health to answer 200")

    def metrics(self):
        st, hdrs, text = self.admin_get("/metrics")
        eq(st, 200, "GET /metrics status")
        return parse_metrics(text if isinstance(text, str) else json.dumps(text))

    def metric(self, name, **labels):
        """Value of one sample; 0.0 when absent (counters not yet incremented)."""
        m = self.metrics()
        return m.get((name, frozenset(labels.items())), 0.0)


_METRIC_RE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\d+)?$')
_LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def parse_metrics(text):
    """Prometheus text -> {(name, frozenset(labels)): float}. Fails on a malformed line."""
    out = {}
    for ln in text.splitlines():
        if not ln.strip() or ln.startswith("#"):
            continue
        m = _METRIC_RE.match(ln)
        check(m is not None, "malformed metrics line %r" % ln)
        labels = frozenset(_LABEL_RE.findall(m.group(3) or ""))
        v = m.group(4)
        try:
            val = float(v)
        except ValueError:
            fail("bad metric value in %r" % ln)
        out[(m.group(1), labels)] = val
    return out


# --------------------------------------------------------------------------
# fake service instance
# --------------------------------------------------------------------------

def hwm_kb(pid):
    """The process' peak resident set (VmHWM), in KiB."""
    with open("/proc/%d/status" % pid) as f:
        for ln in f:
            if ln.startswith("VmHWM:"):
                return int(ln.split()[1])
    raise AssertionError("no VmHWM")


def reset_hwm(pid):
    """Peak RSS back to the current RSS (Linux >= 4.0)."""
    with open("/proc/%d/clear_refs" % pid, "w") as f:
        f.write("5")


def concurrent_peak_kb(pid, fn, n, timeout):
    """Runs fn(0) .. fn(n - 1) at once in threads and returns (the growth of
    pid's peak RSS meanwhile in KiB, whether every thread finished within
    timeout seconds)."""
    reset_hwm(pid)
    base_kb = hwm_kb(pid)
    th = [threading.Thread(target=fn, args=(i,)) for i in range(n)]
    for x in th:
        x.start()
    for x in th:
        x.join(timeout)
    return hwm_kb(pid) - base_kb, not any(x.is_alive() for x in th)


def body_keys(st):
    """Every claim-check body key left in st's Redis (SCAN, not KEYS)."""
    c = st.redis.client()
    try:
        out, cur = [], b"0"
        while True:
            cur, keys = c.command("SCAN", cur, "MATCH", PREFIX + ":body:*", "COUNT", 1000)
            out += keys
            if cur in (b"0", "0"):
                return out
    finally:
        c.close()


def sanitized(pid):
    """True for a gateway built with AddressSanitizer: its RSS says nothing
    (freed memory is quarantined), so RSS bounds are not checked."""
    with open("/proc/%d/maps" % pid) as f:
        return "asan" in f.read()


def default_handler(req):
    """Echo: 200 JSON describing what arrived."""
    return {"status": 200, "headers": [["content-type", "application/json"]],
            "body": json.dumps({"path": req.get("path"), "method": req.get("method"),
                                "params": req.get("params"), "query": req.get("query"),
                                "route": req.get("route")})}


def body_of(msg):
    """Decoded body bytes of a request/reply dict per SPEC §4."""
    b = msg.get("body")
    if b is None:
        return b""
    if msg.get("body_encoding") == "base64":
        return base64.b64decode(b, validate=True)
    return b.encode("utf-8")


class Service:
    """A fake service instance speaking SPEC §3-§4 over Redis, with threads.

    handler(req_dict) -> reply dict (v and id filled in when absent), raw bytes
    (published as is), or None (no reply). Each request runs in its own thread.
    `routes` is a list of (method, path). Every received request is recorded."""

    def __init__(self, redis_port, service, instance=None, routes=(("GET", "/"),),
                 ttl_ms=10000, timeout_ms=None, handler=None, prefix=PREFIX,
                 heartbeat=True, register_on_start=True, register_on_reconnect=True,
                 extra_fields=None, channel=None, claim_check=False,
                 claim_check_bytes=65536):
        self.redis_port = redis_port
        # claim check (protocol.md 3.1/4.1): announced in the register
        # message; request bodies by reference are fetched (GETDEL) before the
        # handler runs, reply bodies over claim_check_bytes are stored (SET PX)
        # and referenced
        self.claim_check = claim_check
        self.claim_check_bytes = claim_check_bytes
        self.service = service
        self.instance = instance or "%s-%s" % (service, uuid.uuid4().hex[:8])
        self.routes = [tuple(r) for r in routes]
        self.ttl_ms = ttl_ms
        self.timeout_ms = timeout_ms
        self.handler = handler or default_handler
        self.prefix = prefix
        self.channel = channel or "%s:svc:%s" % (prefix, self.instance)
        self.heartbeat = heartbeat
        self.register_on_start = register_on_start
        self.register_on_reconnect = register_on_reconnect
        self.extra_fields = extra_fields or {}
        self.requests = []                 # decoded request dicts, arrival order
        self.recv_times = []               # time.time() of each arrival
        self.count_by_id = collections.Counter()
        self.bad_messages = []             # undecodable bytes received on our channel
        self.missing_bodies = 0            # body_ref requests whose key was gone
        self.discovers = 0
        self.registers_sent = 0
        self.connects = 0
        self.handler_errors = []
        self._lock = threading.Lock()
        self._pub = None
        self._pub_lock = threading.Lock()
        self._stop = threading.Event()
        self._hb_paused = threading.Event()
        self._subscribed = threading.Event()
        self._threads = []
        self._workers = []
        self._sub = None

    # ---- messages ----
    def register_msg(self):
        m = {"v": 1, "type": "register", "service": self.service, "instance": self.instance,
             "channel": self.channel, "ttl_ms": self.ttl_ms, "ts_ms": now_ms(),
             "routes": [{"method": mth, "path": p} for mth, p in self.routes]}
        if self.timeout_ms is not None:
            m["timeout_ms"] = self.timeout_ms
        if self.claim_check:
            m["claim_check"] = True
        m.update(self.extra_fields)
        return m

    def deregister_msg(self):
        return {"v": 1, "type": "deregister", "service": self.service,
                "instance": self.instance}

    def _publish(self, channel, data):
        if isinstance(data, (dict, list)):
            data = json.dumps(data)
        with self._pub_lock:
            for attempt in range(2):
                try:
                    if self._pub is None:
                        self._pub = self._client()
                    return self._pub.publish(channel, data)
                except (OSError, ConnectionError, RespError):
                    if self._pub:
                        self._pub.close()
                    self._pub = None
            return None   # Redis down: lost, as a real service's publish would be

    def redis_command(self, *args):
        """One command on a connection of its own (bytes arguments allowed)."""
        c = self._client()
        try:
            return c.command(*args)
        finally:
            c.close()

    def publish_register(self):
        r = self._publish("%s:register" % self.prefix, self.register_msg())
        with self._lock:
            self.registers_sent += 1
        return r

    def publish_deregister(self):
        return self._publish("%s:register" % self.prefix, self.deregister_msg())

    def publish_raw(self, data):
        """Raw bytes (or a dict) on P:register."""
        return self._publish("%s:register" % self.prefix, data)

    def publish_reply(self, req, reply):
        """Publishes a reply dict (v/id filled when absent) or raw bytes on req's reply_to."""
        if isinstance(reply, dict):
            reply = dict(reply)
            reply.setdefault("v", 1)
            reply.setdefault("id", req.get("id"))
            b = reply.get("body")
            if isinstance(b, str):
                b = b.encode("utf-8")
            if (self.claim_check and isinstance(b, bytes) and len(b) > self.claim_check_bytes
                    and "body_ref" not in reply):
                key = "%s:body:%s:rep" % (self.prefix, reply["id"])
                self.redis_command("SET", key, b, "PX", 60000)
                del reply["body"]
                reply["body_ref"] = key
                reply["body_len"] = len(b)
            elif isinstance(reply.get("body"), bytes):
                b = reply["body"]
                try:
                    reply["body"] = b.decode("utf-8")
                except UnicodeDecodeError:
                    reply["body"] = base64.b64encode(b).decode()
                    reply["body_encoding"] = "base64"
        return self._publish(req["reply_to"], reply)

    # ---- lifecycle ----
    def start(self, wait=True):
        t = threading.Thread(target=self._sub_loop, name="svc-sub-" + self.instance, daemon=True)
        t.start()
        self._threads.append(t)
        if self.heartbeat:
            h = threading.Thread(target=self._hb_loop, name="svc-hb-" + self.instance,
                                 daemon=True)
            h.start()
            self._threads.append(h)
        if wait:
            if not self._subscribed.wait(10):
                fail("service %s could not subscribe" % self.instance)
        return self

    def _client(self):
        """A new Redis connection for this service (subclasses add auth)."""
        return RespClient(self.redis_port, timeout=5.0)

    def _sub_loop(self):
        first = True
        while not self._stop.is_set():
            try:
                sub = self._client()
            except (OSError, ConnectionError, RespError):
                time.sleep(0.02)
                continue
            try:
                self._sub = sub
                sub.subscribe(self.channel, "%s:discover" % self.prefix)
                with self._lock:
                    self.connects += 1
                self._subscribed.set()
                if (first and self.register_on_start) or (not first and self.register_on_reconnect):
                    self.publish_register()
                first = False
                while not self._stop.is_set():
                    m = sub.get_message(timeout=0.1)
                    if m is None:
                        continue
                    ch, data = m
                    if ch == "%s:discover" % self.prefix:
                        with self._lock:
                            self.discovers += 1
                        if not self._hb_paused.is_set():
                            self.publish_register()
                    elif ch == self.channel:
                        self._on_request(data)
            except (OSError, ConnectionError, RespError):
                time.sleep(0.02)
            finally:
                sub.close()
                self._sub = None

    def _on_request(self, data):
        try:
            req = json.loads(data.decode("utf-8"))
            req["_body"] = body_of(req)
        except Exception:  # noqa: BLE001
            with self._lock:
                self.bad_messages.append(data)
            return
        with self._lock:
            self.requests.append(req)
            self.recv_times.append(time.time())
            self.count_by_id[req.get("id")] += 1
        w = threading.Thread(target=self._run_handler, args=(req,), daemon=True)
        with self._lock:
            self._workers.append(w)
        w.start()

    def _run_handler(self, req):
        if "body_ref" in req:
            got = self.redis_command("GETDEL", req["body_ref"])
            if got is None or len(got) != req.get("body_len"):
                # missing or expired: answered as a bad request (protocol.md 3.1)
                with self._lock:
                    self.missing_bodies += 1
                self.publish_reply(req, {"status": 400, "headers": [],
                                         "body": "request body missing"})
                return
            req["_body"] = got
        try:
            reply = self.handler(req)
        except Exception:  # noqa: BLE001
            with self._lock:
                self.handler_errors.append(traceback.format_exc())
            return
        if reply is not None and not self._stop.is_set():
            self.publish_reply(req, reply)

    def _hb_loop(self):
        period = max(self.ttl_ms / 3.0, 50) / 1000.0
        while not self._stop.wait(period):
            if not self._hb_paused.is_set() and self._subscribed.is_set():
                self.publish_register()

    def pause_heartbeat(self):
        """Stops heartbeats and answers to discover (the instance goes silent)."""
        self._hb_paused.set()

    def resume_heartbeat(self):
        self._hb_paused.clear()

    def stop(self, deregister=True):
        if self._stop.is_set():
            return
        self._hb_paused.set()
        if deregister:
            self.publish_deregister()
        self._stop.set()
        for t in self._threads:
            t.join(5)
        with self._lock:
            workers = list(self._workers)
        for w in workers:
            w.join(5)
        with self._pub_lock:
            if self._pub:
                self._pub.close()
                self._pub = None

    # ---- inspection ----
    def n_requests(self):
        with self._lock:
            return len(self.requests)

    def wait_requests(self, n, timeout=5.0):
        wait_until(lambda: self.n_requests() >= n, timeout, 0.01,
                   "%s to receive %d request(s) (has %d)" % (self.instance, n, self.n_requests()))
        with self._lock:
            return list(self.requests)

    def last_request(self):
        with self._lock:
            check(self.requests, "%s received no request" % self.instance)
            return self.requests[-1]

    def duplicates(self):
        with self._lock:
            return {k: v for k, v in self.count_by_id.items() if v != 1}

    def check_no_errors(self):
        with self._lock:
            if self.handler_errors:
                fail("service handler raised:\n" + self.handler_errors[0])


# --------------------------------------------------------------------------
# Stack: one redis + one gateway + services, cleaned up together
# --------------------------------------------------------------------------

class AuthClient(RespClient):
    """RespClient over TCP or a unix socket that sends AUTH first (when given)."""

    def __init__(self, port=None, user=None, password=None, unix=None, timeout=5.0):
        if unix:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            s.connect(unix)
        else:
            s = socket.create_connection((HOST, port), timeout=timeout)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = s
        self.timeout = timeout
        self.buf = b""
        self.subscribed = False
        if password is not None:
            r = self.command(*(("AUTH", user, password) if user else ("AUTH", password)))
            if r != "OK":
                raise ConnectionError("AUTH answered %r" % (r,))


class SecureRedis(Redis):
    """A private redis-server with extra options (requirepass, aclfile, unixsocket);
    readiness is checked with the given admin credentials."""

    def __init__(self, tmpdir, extra=(), unix=None, auth=None, tcp=True):
        super().__init__(tmpdir, port=None if tcp else 0)
        self.extra = list(extra)
        self.unix = unix
        self.auth = auth or {}
        self.tcp = tcp

    def conn(self, **auth):
        """kwargs for AuthClient to reach this server."""
        d = {"unix": self.unix} if not self.tcp else {"port": self.port}
        d.update(auth)
        return d

    def start(self, timeout=10.0):
        self.starts += 1
        log = open(os.path.join(self.dir, "redis-%d.log" % self.starts), "wb")
        args = [redis_binary(), "--port", str(self.port if self.tcp else 0), "--bind", HOST,
                "--save", "", "--appendonly", "no", "--dir", self.dir, "--daemonize", "no",
                "--protected-mode", "no"] + self.extra
        if self.unix:
            args += ["--unixsocket", self.unix, "--unixsocketperm", "700"]
        try:
            self.proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.dir)
        finally:
            log.close()
        _track(self.proc)

        def ping():
            if self.proc.poll() is not None:
                fail("redis-server exited with %s at start: %s" % (
                    self.proc.returncode, self.log_text()[-2000:]))
            c = AuthClient(timeout=1.0, **self.conn(**self.auth))
            try:
                return c.command("PING") == "PONG"
            finally:
                c.close()
        wait_until(ping, timeout, 0.01, "redis-server to answer PING")
        return self


class Stack:
    def __init__(self, gateway_args=(), env=None, start_gateway=True, name="stack"):
        self.tmpdir = tempfile.mkdtemp(prefix="portico-it-%s-" % name)
        self.redis = Redis(self.tmpdir)
        self.services = []
        self.gw = None
        self._n_gw = 0
        try:
            self.redis.start()
            if start_gateway:
                self.start_gateway(gateway_args, env)
        except BaseException:
            if self.gw is not None:
                self.gw.stop(check_clean=False)
            self.redis.stop(kill=True)
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            raise

    def start_gateway(self, args=(), env=None, wait_healthy=True):
        self._n_gw += 1
        self.gw = Gateway(self.tmpdir, self.redis.url, args, env, name="gateway%d" % self._n_gw)
        self.gw.start()
        if wait_healthy:
            self.gw.wait_healthy()
        return self.gw

    def service(self, service=None, routes=(("GET", "/"),), start=True, wait_route=True,
                **kw):
        s = Service(self.redis.port, service or uniq("svc"), routes=routes, **kw)
        self.services.append(s)
        if start:
            s.start()
            if wait_route and self.gw is not None and kw.get("register_on_start", True):
                for m, p in s.routes:
                    self.gw.wait_route(m, p, s.instance)
        return s

    def stop_gateway(self, check_clean=True):
        gw, self.gw = self.gw, None
        if gw is not None:
            return gw.stop(check_clean=check_clean)

    def close(self):
        """Stops everything; raises TestFailure if the gateway did not exit cleanly."""
        err = None
        try:
            for s in self.services:
                try:
                    s.stop(deregister=False)
                except Exception:  # noqa: BLE001
                    pass
            try:
                self.stop_gateway()
            except TestFailure as e:
                err = e
        finally:
            self.redis.stop(kill=True)
            if err is None and not os.environ.get("PORTICO_IT_KEEP"):
                shutil.rmtree(self.tmpdir, ignore_errors=True)
            elif err is not None:
                sys.stdout.write("# kept %s for inspection\n" % self.tmpdir)
        if err is not None:
            raise err


# --------------------------------------------------------------------------
# case runner
# --------------------------------------------------------------------------

class Runner:
    """Named cases: prints `ok <name>` / `FAIL <name>: reason`; exit 1 if any failed.

    setup() returns a context (usually a Stack) passed to cases that take an
    argument; teardown(ctx) runs at the end as its own case ("teardown")."""

    def __init__(self):
        self.cases = []
        self.failed = []

    def case(self, fn):
        self.cases.append(fn)
        return fn

    def _run_one(self, name, fn, *args):
        t0 = time.monotonic()
        try:
            fn(*args)
        except TestFailure as e:
            self._fail(name, str(e))
            return False
        except Exception:  # noqa: BLE001
            self._fail(name, "unexpected exception:\n" + traceback.format_exc())
            return False
        print("ok %s (%.2fs)" % (name, time.monotonic() - t0))
        sys.stdout.flush()
        return True

    def _fail(self, name, reason):
        self.failed.append(name)
        print("FAIL %s: %s" % (name, reason))
        sys.stdout.flush()

    def main(self, setup=None, teardown=None, only=None):
        only = only or [a for a in sys.argv[1:] if not a.startswith("-")]
        ctx = None
        if setup is not None:
            try:
                ctx = setup()
            except Exception as e:  # noqa: BLE001
                msg = str(e) if isinstance(e, TestFailure) else traceback.format_exc()
                self._fail("setup", msg)
                _kill_leftovers()
                sys.exit(1)
        try:
            for fn in self.cases:
                name = fn.__name__
                if only and name not in only:
                    continue
                gw = getattr(ctx, "gw", None)
                if gw is not None and not gw.alive():
                    self._fail(name, "skipped: gateway is dead (exit %s); stderr tail:\n%s" % (
                        gw.proc.returncode, tail(gw.stderr_text())))
                    continue
                if fn.__code__.co_argcount:
                    self._run_one(name, fn, ctx)
                else:
                    self._run_one(name, fn)
        finally:
            if teardown is not None:
                self._run_one("teardown", teardown, ctx)
            _kill_leftovers()
        n = len([c for c in self.cases if not only or c.__name__ in only])
        print("# %d case(s), %d failed%s" % (n, len(self.failed),
              (": " + ", ".join(self.failed)) if self.failed else ""))
        sys.exit(1 if self.failed else 0)


def run_cases(runner, gateway_args=(), env=None, name="t"):
    """The usual shape: one shared Stack for every case of a file."""
    runner.main(setup=lambda: Stack(gateway_args, env, name=name),
                teardown=lambda st: st.close())


# --------------------------------------------------------------------------
# MONITOR: what the gateway really sends to Redis
# --------------------------------------------------------------------------

_MON_ARG_RE = re.compile(r'"((?:[^"\\]|\\.)*)"')


class Monitor:
    """Records every command Redis executes (MONITOR), in a thread."""

    def __init__(self, redis_port):
        self.c = RespClient(redis_port, timeout=5.0)
        eq(self.c.command("MONITOR"), "OK", "MONITOR answer")
        self.lines = []
        self._lock = threading.Lock()
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    def _loop(self):
        while True:
            try:
                self.c.sock.settimeout(None)
                ln = self.c.read_reply()
            except (OSError, ConnectionError, RespError, ValueError):
                return
            if isinstance(ln, str):
                with self._lock:
                    self.lines.append(ln)

    def commands(self):
        """[(args...)] with args unescaped as far as the tests need (quotes only)."""
        with self._lock:
            lines = list(self.lines)
        out = []
        for ln in lines:
            args = [a.replace('\\"', '"') for a in _MON_ARG_RE.findall(ln)]
            out.append(tuple(args))
        return out

    def publishes(self, channel_prefix=""):
        return [(a[1], a[2]) for a in self.commands()
                if len(a) >= 3 and a[0].upper() == "PUBLISH" and a[1].startswith(channel_prefix)]

    def close(self):
        self.c.close()
