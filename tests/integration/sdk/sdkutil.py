"""sdkutil.py -- what the SDK integration tests need on top of ../harness.py:
running the example services (C binaries and the Python example) as real
processes next to the real gateway and redis-server.

Binaries come from the environment (set by meson.build):
  GATEWAY_BIN, ECHO_BIN, USERS_BIN, ORDERS_BIN, PYTHON_EXAMPLE (service.py),
  SYSTEM_PYTHON (a python3 that has the redis module; default /usr/bin/python3),
  NODE_EXAMPLE_DIR (examples/node: service.js, package.json, package-lock.json).
"""
import fcntl
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import harness  # noqa: E402
from harness import (SANITIZER_MARKERS, Stack, check, eq, fail, tail,  # noqa: E402,F401
                     wait_until)


def binary(env_name):
    b = os.environ.get(env_name)
    if not b:
        fail("%s is not set" % env_name)
    if not os.path.exists(b):
        fail("%s=%r does not exist" % (env_name, b))
    return b


def example_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTICO_")}
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=99")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    if extra:
        env.update(extra)
    return env


class Example:
    """One example service process. start() waits for its "ready" line."""

    READY_RE = re.compile(r"ready instance=(\S+)")

    def __init__(self, stack, argv, name, env=None, redis_url=None):
        self.stack = stack
        self.argv = list(argv) + ["--redis", redis_url or stack.redis.url]
        self.name = name
        self.env = env
        self.path = os.path.join(stack.tmpdir, "%s-%d.stderr" % (name, id(self)))
        self.proc = None
        self.instance = None

    def start(self, timeout=10.0):
        err = open(self.path, "wb")
        try:
            self.proc = subprocess.Popen(self.argv, stdout=err, stderr=err,
                                         stdin=subprocess.DEVNULL, env=example_env(self.env),
                                         cwd=self.stack.tmpdir)
        finally:
            err.close()
        harness._track(self.proc)

        def ready():
            m = self.READY_RE.search(self.stderr_text())
            if m:
                return m
            if self.proc.poll() is not None:
                fail("%s exited with %s before ready:\n%s" % (
                    self.name, self.proc.returncode, tail(self.stderr_text())))
            return None
        self.instance = wait_until(ready, timeout, 0.01, "%s ready line" % self.name).group(1)
        return self

    def stderr_text(self):
        try:
            with open(self.path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def assert_alive(self):
        if not self.alive():
            fail("%s died (exit %s):\n%s" % (self.name, self.proc and self.proc.returncode,
                                             tail(self.stderr_text())))

    def send_signal(self, sig):
        os.kill(self.proc.pid, sig)

    def stop(self, sig=signal.SIGTERM, timeout=15.0, check_clean=True):
        """Signals, waits, and (by default) asserts exit 0 and no sanitizer report."""
        p = self.proc
        if p is None:
            return None
        try:
            if p.poll() is None:
                os.kill(p.pid, sig)
            try:
                rc = p.wait(timeout)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(5)
                fail("%s did not exit within %.0fs of signal %d:\n%s" % (
                    self.name, timeout, sig, tail(self.stderr_text())))
        finally:
            harness._untrack(p)
            self.proc = None
        if check_clean:
            self.check_clean(rc)
        return rc

    def check_clean(self, rc):
        text = self.stderr_text()
        for mk in SANITIZER_MARKERS:
            if mk in text:
                i = text.index(mk)
                fail("sanitizer report in %s stderr:\n%s" % (self.name, text[max(0, i - 200):i + 3000]))
        if rc != 0:
            fail("%s exit code %s (want 0):\n%s" % (self.name, rc, tail(text)))


def echo(stack, **kw):
    return Example(stack, [binary("ECHO_BIN")], "echo", **kw)


def users(stack, **kw):
    return Example(stack, [binary("USERS_BIN")], "users", **kw)


def orders(stack, **kw):
    return Example(stack, [binary("ORDERS_BIN")], "orders", **kw)


def python_hello(stack, **kw):
    py = os.environ.get("SYSTEM_PYTHON", "/usr/bin/python3")
    return Example(stack, [py, binary("PYTHON_EXAMPLE")], "hello", **kw)


def node_hi(stack, **kw):
    d = ensure_node_example()
    return Example(stack, [shutil.which("node"), os.path.join(d, "service.js")], "hi", **kw)


def node_or_skip():
    """Exits 77 (meson: skipped) when Node.js or npm is not installed."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        print("SKIP: node or npm is not installed (Debian packages nodejs npm)")
        sys.exit(77)


def ensure_node_example(timeout=300):
    """Installs the Node.js example's packages (npm ci in NODE_EXAMPLE_DIR) when
    node_modules is missing or older than package-lock.json, once: tests that run
    at the same time wait on a lock. Returns the example's directory."""
    d = binary("NODE_EXAMPLE_DIR")
    key = hashlib.sha256(os.path.realpath(d).encode()).hexdigest()[:16]
    with open(os.path.join(tempfile.gettempdir(), "portico-npm-%s.lock" % key), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = os.path.join(d, "node_modules", ".package-lock.json")
        if (not os.path.exists(stamp) or
                os.path.getmtime(stamp) < os.path.getmtime(os.path.join(d, "package-lock.json"))):
            r = subprocess.run([shutil.which("npm") or "npm", "ci", "--no-audit", "--no-fund",
                                "--loglevel=error"], cwd=d, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
            if r.returncode != 0:
                fail("npm ci in %s failed (%d):\n%s" % (d, r.returncode,
                                                        tail(r.stdout.decode(errors="replace"))))
    return d


def request_message(reply_to, **kw):
    """A request message as a gateway sends it (docs/protocol.md §3), for
    publishing straight onto an instance channel; kw replaces members."""
    m = {"v": 1, "id": str(uuid.uuid4()), "reply_to": reply_to,
         "deadline_ms": harness.now_ms() + 10000, "method": "GET", "path": "/", "query": "",
         "route": "/", "params": {}, "headers": [["x-request-id", "rid-direct-1"]],
         "remote_addr": "127.0.0.1"}
    m.update(kw)
    return m


def replies_in_order(sub, n, own, timeout=20):
    """Reads n replies from the subscribed client sub: each must arrive on the
    channel own (other channels sub listens to must stay silent, register
    heartbeats aside). Returns the decoded replies."""
    got = []
    while len(got) < n:
        msg = sub.get_message(timeout=timeout)
        if msg is None:
            fail("replies missing; got %r" % got)
        ch, data = msg
        if ch.endswith(":register") and b'"deregister"' not in data and b'"id"' not in data:
            continue  # heartbeats
        check(ch == own, "a message went to %s: %r" % (ch, data[:300]))
        got.append(json.loads(data))
    return got


class Procs:
    """Examples started by a test, stopped (and checked) together."""

    def __init__(self):
        self.items = []

    def add(self, ex):
        self.items.append(ex)
        return ex.start()

    def close(self):
        err = None
        for ex in self.items:
            if ex.proc is None:
                continue
            try:
                ex.stop()
            except AssertionError as e:
                err = err or e
        self.items = []
        if err is not None:
            raise err


def procs_teardown(ctx):
    """A test's teardown: the examples in ctx["procs"] are stopped (and
    checked), then the stack, even when a stop failed."""
    def teardown(st):
        try:
            ctx["procs"].close()
        finally:
            st.close()
    return teardown


def json_of(r):
    try:
        return r.json()
    except Exception:  # noqa: BLE001
        fail("not JSON (status %d): %r" % (r.status, r.body[:300]))
