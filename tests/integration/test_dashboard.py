#!/usr/bin/env python3
"""The dashboard (GET / on the admin listener) in a real headless browser, and
the admin JSON it reads (GET /stats).

Debian's chromium, driven by tests/browser/driver.js (playwright-core from npm,
`npm ci` there when needed; no browser is downloaded). The gateway holds 1,000
routes of 500 instances (100 services of 5 instances, 10 routes each), announced
on P:register before the page opens. Checked: the page and its headers (CSP,
ETag/304); no console error and no failed request all along; a route a test
service announces afterwards shows up (found with the filter box); test traffic
moves the request counters, rates and percentiles; the filter box filters and
the "N more" line caps the rows; a route pattern made of HTML and quotes is
shown as text (nothing of it runs or becomes an element). A screenshot is saved
as BUILD_ROOT/dashboard.png.

Not skipped when chromium, node or npm is missing: the test command installs
them (scripts/lib/common.sh), so a missing one is a failure."""

import fcntl
import hashlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (PREFIX, RespClient, Runner, Stack, _track, _untrack, check,  # noqa: E402
                     eq, fail, http, now_ms, tail, wait_until)

HERE = os.path.dirname(os.path.abspath(__file__))
BROWSER_DIR = os.path.join(os.path.dirname(HERE), "browser")
BUILD_ROOT = os.environ.get("BUILD_ROOT") or tempfile.gettempdir()
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

N_SERVICES, N_INST, N_ROUTES = 100, 5, 10   # 1,000 routes, 500 instances
WORDS = ["users", "orders", "billing", "catalog", "search", "inventory", "payments",
         "shipping", "reviews", "accounts"]
XSS_PATTERN = "/xss/<script>window.__pwned=1</script>/\"q'<img src=x onerror=window.__pwned=2>&amp;"
WAIT = 90.0   # generous: a loaded 2-core machine, an ASan gateway

t = Runner()
ctx = {}


# --------------------------------------------------------------------------
# the browser
# --------------------------------------------------------------------------

def require_tools():
    """Fails (never skips) when what the test command installs is missing."""
    missing = [what for what, ok in (
        ("chromium (Debian package chromium)", os.access(CHROMIUM, os.X_OK)),
        ("node (Debian package nodejs)", shutil.which("node") is not None),
        ("npm (Debian package npm)", shutil.which("npm") is not None)) if not ok]
    if missing:
        print("FAIL setup: missing %s; scripts/test.sh installs them" % ", ".join(missing))
        sys.exit(1)


def npm_ci(timeout=300):
    """npm ci in tests/browser when node_modules is missing or older than the
    lock file, once: tests running at the same time wait on a lock."""
    key = hashlib.sha256(os.path.realpath(BROWSER_DIR).encode()).hexdigest()[:16]
    with open(os.path.join(tempfile.gettempdir(), "portico-npm-%s.lock" % key), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = os.path.join(BROWSER_DIR, "node_modules", ".package-lock.json")
        if (not os.path.exists(stamp) or os.path.getmtime(stamp) <
                os.path.getmtime(os.path.join(BROWSER_DIR, "package-lock.json"))):
            r = subprocess.run([shutil.which("npm"), "ci", "--no-audit", "--no-fund",
                                "--loglevel=error"], cwd=BROWSER_DIR, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)
            if r.returncode != 0:
                fail("npm ci in %s failed (%d):\n%s" % (BROWSER_DIR, r.returncode,
                                                        tail(r.stdout.decode(errors="replace"))))


class Browser:
    """driver.js in a child process: one JSON command per line, one answer per line."""

    def __init__(self, tmpdir):
        self.err_path = os.path.join(tmpdir, "browser.stderr")
        err = open(self.err_path, "wb")
        try:
            self.proc = subprocess.Popen(
                [shutil.which("node"), os.path.join(BROWSER_DIR, "driver.js")], cwd=BROWSER_DIR,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err,
                env=dict(os.environ, CHROMIUM=CHROMIUM))
        finally:
            err.close()
        _track(self.proc)
        self.buf = b""

    def stderr_text(self):
        with open(self.err_path, "r", errors="replace") as f:
            return f.read()

    def call(self, op, timeout=WAIT + 60, **kw):
        kw["op"] = op
        self.proc.stdin.write((json.dumps(kw) + "\n").encode())
        self.proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                fail("browser: no answer to %s within %.0fs" % (op, timeout))
            r, _, _ = select.select([self.proc.stdout], [], [], left)
            if r:
                chunk = os.read(self.proc.stdout.fileno(), 65536)
                if not chunk:
                    fail("browser driver exited (%s); stderr:\n%s" % (
                        self.proc.poll(), tail(self.stderr_text())))
                self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        ans = json.loads(line)
        if not ans.get("ok"):
            fail("browser %s failed: %s" % (op, ans.get("error")))
        return ans.get("value")

    def eval(self, js):
        return self.call("eval", js=js)

    def wait(self, js, what, timeout=WAIT):
        """The value of js once truthy (polled in the page every 100 ms)."""
        try:
            return self.call("wait", js=js, timeout_ms=int(timeout * 1000), timeout=timeout + 60)
        except AssertionError as e:
            fail("waiting for %s: %s" % (what, e))

    def close(self):
        try:
            if self.proc.poll() is None:
                self.call("close", timeout=60)
                self.proc.wait(30)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(10)
            _untrack(self.proc)


# --------------------------------------------------------------------------
# the registry: 1,000 routes of 500 instances
# --------------------------------------------------------------------------

def bulk_register(redis_port):
    c = RespClient(redis_port)
    try:
        for s in range(N_SERVICES):
            svc = "%s-%02d" % (WORDS[s % len(WORDS)], s // len(WORDS))
            routes = [{"method": "GET" if k % 3 else "POST",
                       "path": "/%s/v%d/%s" % (svc, s % 3 + 1, "{id}/items/%d" % k)}
                      for k in range(N_ROUTES)]
            for i in range(N_INST):
                inst = "%s-%d" % (svc, i)
                c.publish("%s:register" % PREFIX, json.dumps({
                    "v": 1, "type": "register", "service": svc, "instance": inst,
                    "channel": "%s:svc:%s" % (PREFIX, inst), "ttl_ms": 300000,
                    "ts_ms": now_ms(), "routes": routes}))
    finally:
        c.close()


def setup():
    require_tools()
    npm_ci()
    st = Stack(name="dashboard")
    try:
        bulk_register(st.redis.port)
        wait_until(lambda: st.gw.admin_get("/health")[2]["instances"] >= N_SERVICES * N_INST,
                   WAIT, 0.1, "500 bulk instances registered")
        eq(st.gw.admin_get("/health")[2]["routes"], N_SERVICES * N_ROUTES, "bulk routes")
        ctx["browser"] = Browser(st.tmpdir)
    except BaseException:
        st.close()
        raise
    return st


def teardown(st):
    try:
        b = ctx.get("browser")
        if b is not None:
            b.close()
    finally:
        st.close()


def loaded_page():
    """The browser, once page_loads has passed (else fail at once, not by timeouts)."""
    if not ctx.get("loaded"):
        fail("the dashboard did not load (see page_loads)")
    return ctx["browser"]


def page_num(b, elem_id):
    """A number shown on the page ("—" before there is one: None)."""
    text = b.eval("document.getElementById(%s).textContent" % json.dumps(elem_id))
    try:
        return float(text)
    except ValueError:
        return None


def refreshes(b):
    return int(b.eval("Number(document.body.dataset.refreshes || 0)"))


def wait_refreshes(b, n, what):
    """Until the page has refreshed n more times than now (new data on it)."""
    start = refreshes(b)
    b.wait("Number(document.body.dataset.refreshes || 0) >= %d" % (start + n), what)


# --------------------------------------------------------------------------
# cases
# --------------------------------------------------------------------------

@t.case
def stats_json(st):
    """GET /stats: the shape scripts rely on, and counters that follow traffic."""
    s0 = st.gw.admin_get("/stats")[2]
    eq(sorted(s0), ["connections", "duration", "inflight", "instances", "requests", "routes", "time_ms",
                    "workers"], "keys")
    eq(sorted(s0["requests"]), ["1xx", "2xx", "3xx", "4xx", "5xx", "total"], "request keys")
    d = s0["duration"]
    eq(sorted(d), ["count", "cumulative", "le_s", "p50_s", "p99_s", "sum_s"], "duration keys")
    eq(len(d["le_s"]), 14, "bounds")
    eq(len(d["cumulative"]), 15, "buckets (+Inf last)")
    eq(d["cumulative"][-1], d["count"], "+Inf bucket is the count")
    eq((s0["instances"], s0["routes"], s0["workers"]), (500, 1000, 1), "gauges")
    for _ in range(3):
        eq(st.gw.http("GET", "/no/such/route").status, 404, "404")
    s1 = st.gw.admin_get("/stats")[2]
    eq(s1["requests"]["4xx"] - s0["requests"]["4xx"], 3, "4xx counted")
    eq(s1["requests"]["total"] - s0["requests"]["total"], 3, "total counted")
    eq(s1["duration"]["count"] - d["count"], 3, "durations counted")
    check(all(a <= b for a, b in zip(s1["duration"]["cumulative"],
                                     s1["duration"]["cumulative"][1:])), "cumulative")
    check(s1["duration"]["p50_s"] is not None and 0 < s1["duration"]["p50_s"] <= 10, "p50")
    check(s1["duration"]["p50_s"] <= s1["duration"]["p99_s"], "p50 <= p99")
    check(s1["time_ms"] >= s0["time_ms"], "time_ms monotonic")
    # admin requests are not counted: the dashboard's refreshes do not show up
    st.gw.admin_get("/routes")
    eq(st.gw.admin_get("/stats")[2]["requests"], s1["requests"], "admin requests not counted")


@t.case
def page_headers(st):
    r = http(st.gw.admin_port, "GET", "/")
    eq(r.status, 200, "status")
    eq(r.header("content-type"), "text/html; charset=utf-8", "content-type")
    csp = r.header("content-security-policy") or ""
    for part in ("default-src 'none'", "connect-src 'self'", "frame-ancestors 'none'",
                 "script-src 'sha256-", "style-src 'sha256-"):
        check(part in csp, "CSP %r lacks %r" % (csp, part))
    check("unsafe-inline" not in csp and "unsafe-eval" not in csp, "CSP %r" % csp)
    eq((r.header("x-content-type-options"), r.header("x-frame-options"),
        r.header("cache-control")), ("nosniff", "DENY", "no-cache"), "headers")
    body = r.body.decode("utf-8")
    check(body.startswith("<!DOCTYPE html>") and "</html>" in body, "an HTML page")
    for ext in ("src=\"http", "href=\"http", "src='http", "@import", "url("):
        check(ext not in body, "the page loads nothing from outside (%r)" % ext)
    etag = r.header("etag")
    check(etag and etag.startswith('"') and etag.endswith('"'), "etag %r" % etag)
    r2 = http(st.gw.admin_port, "GET", "/", headers={"If-None-Match": etag})
    eq((r2.status, r2.body, r2.header("etag")), (304, b"", etag), "304 for the same ETag")
    r3 = http(st.gw.admin_port, "GET", "/", headers={"If-None-Match": '"other", W/' + etag})
    eq(r3.status, 304, "304 for a list holding the weak form")
    eq(http(st.gw.admin_port, "GET", "/", headers={"If-None-Match": "*"}).status, 304, "*")
    for bad in ('"other"', etag[1:-1], etag[:-1], etag + "x", ",,, ,", "W/", '"', "",
                etag.upper() if etag != etag.upper() else etag + '"', "\t" + etag[2:]):
        r5 = http(st.gw.admin_port, "GET", "/", headers={"If-None-Match": bad})
        eq((r5.status, len(r5.body)), (200, len(r.body)), "If-None-Match %r" % bad)
    eq(http(st.gw.admin_port, "GET", "/?refresh=1").status, 200, "a query is ignored")
    eq(http(st.gw.admin_port, "GET", "//").status, 404, "//")
    r4 = http(st.gw.admin_port, "HEAD", "/")
    eq((r4.status, r4.body, r4.header("content-length")),
       (200, b"", str(len(r.body))), "HEAD")
    eq(http(st.gw.admin_port, "POST", "/", body=b"x").status, 405, "POST")
    eq(http(st.gw.admin_port, "GET", "/index.html").status, 404, "only / is the page")


@t.case
def page_loads(st):
    b = ctx["browser"]
    ans = b.call("open", url="http://127.0.0.1:%d/" % st.gw.admin_port)
    eq(ans["status"], 200, "page status")
    b.wait("Number(document.body.dataset.refreshes || 0) >= 1", "the first refresh")
    eq(page_num(b, "nroutes"), 1000.0, "routes card")
    eq(page_num(b, "ninstances"), 500.0, "instances card")
    check(b.eval("document.getElementById('status').textContent") == "ok", "status ok")
    # 1,000 routes: 200 rows, the rest counted
    eq(b.eval("document.querySelectorAll('#routes-body tr').length"), 200, "rows capped")
    eq(b.eval("document.getElementById('routes-more').textContent"),
       "800 more — refine the filter", "more line (routes)")
    eq(b.eval("document.getElementById('instances-more').textContent"),
       "300 more — refine the filter", "more line (instances)")
    ctx["loaded"] = True


@t.case
def announced_route_appears(st):
    b = loaded_page()
    svc = st.service(service="fresh", instance="fresh-1",
                     routes=[("GET", "/fresh/hello"), ("POST", "/fresh/{id}/items")])
    ctx["fresh"] = svc
    b.call("fill", selector="#filter", text="fresh")
    rows = b.wait("""(() => { const r = [...document.querySelectorAll('#routes-body tr')]
                      .map(tr => [...tr.children].map(td => td.textContent));
                      return r.length === 2 ? r : null; })()""",
                  "the announced routes in the page")
    eq(sorted((r[0], r[1], r[2], r[3]) for r in rows),
       [("GET", "/fresh/hello", "fresh", "1"), ("POST", "/fresh/{id}/items", "fresh", "1")],
       "announced routes")
    inst = b.wait("""(() => { const r = [...document.querySelectorAll('#instances-body tr')]
                      .map(tr => [...tr.children].map(td => td.textContent));
                      return r.length === 1 ? r[0] : null; })()""", "the instance")
    eq((inst[0], inst[1], inst[4]), ("fresh-1", "fresh", "2"), "instance row")


@t.case
def traffic_moves_numbers(st):
    b = loaded_page()
    total0 = page_num(b, "total") or 0
    seen = {}

    def moved():
        for _ in range(5):
            eq(st.gw.http("GET", "/fresh/hello").status, 200, "traffic")
        eq(st.gw.http("GET", "/fresh/nothing/here").status, 404, "a 404")
        for k in ("rps", "rate-2xx", "rate-4xx", "total"):
            v = page_num(b, k)
            if v is not None and v > (total0 if k == "total" else 0):
                seen[k] = v
        for k in ("p50", "p99"):
            text = b.eval("document.getElementById(%s).textContent" % json.dumps(k))
            if text != "—":
                seen[k] = text
        return len(seen) == 6
    wait_until(moved, WAIT, 0.2, "request numbers to move on the page")
    check(seen["total"] >= total0 + 6, "total %r" % seen)


@t.case
def filter_filters(st):
    b = loaded_page()
    b.call("fill", selector="#filter", text="billing-03")
    b.wait("document.querySelectorAll('#routes-body tr').length === 10", "10 billing-03 routes")
    eq(b.eval("[...document.querySelectorAll('#routes-body tr td:nth-child(3)')]"
              ".every(td => td.textContent === 'billing-03')"), True, "only billing-03")
    eq(b.eval("document.querySelectorAll('#instances-body tr').length"), 5, "its 5 instances")
    eq(b.eval("document.getElementById('routes-more').textContent"), "", "no more line")
    # by instance id, case-insensitive
    b.call("fill", selector="#filter", text="BILLING-03-4")
    b.wait("document.querySelectorAll('#instances-body tr').length === 1", "one instance")
    b.call("fill", selector="#filter", text="no such thing at all")
    b.wait("document.querySelectorAll('#routes-body tr').length === 0", "nothing matches")
    # still filtered after a refresh brings new data
    wait_refreshes(b, 2, "two refreshes")
    eq(b.eval("document.querySelectorAll('#routes-body tr').length"), 0, "filter kept")
    b.call("fill", selector="#filter", text="")
    b.wait("document.querySelectorAll('#routes-body tr').length === 200", "every route back")
    # a click on a service name filters by it (one listener on the tables)
    b.eval("[...document.querySelectorAll('#routes-body td.svc')]"
           ".find(td => td.textContent === 'billing-07').click()")
    eq(b.eval("document.getElementById('filter').value"), "billing-07", "filter set by a click")
    b.wait("document.querySelectorAll('#routes-body tr').length === 10", "billing-07's routes")
    b.call("fill", selector="#filter", text="")


@t.case
def markup_in_a_route_is_text(st):
    b = loaded_page()
    svc = st.service(service="xss", instance="xss-1", routes=[("GET", XSS_PATTERN)])
    ctx["xss"] = svc
    b.call("fill", selector="#filter", text="/xss/")
    cell = b.wait("""(() => { const td = [...document.querySelectorAll('#routes-body td.path')];
                      return td.length === 1 && td[0].textContent.startsWith('/xss/') ?
                             td[0].textContent : null; })()""", "the xss route alone")
    eq(cell, XSS_PATTERN, "shown as text, exactly")
    eq(b.eval("typeof window.__pwned"), "undefined", "nothing of it ran")
    eq(b.eval("document.querySelectorAll('#routes-body img, #routes-body script').length"), 0,
       "no element made of it")


@t.case
def screenshot_and_no_problems(st):
    b = loaded_page()
    # a picture with traffic on it: keep some going over a few refreshes
    b.call("fill", selector="#filter", text="")
    deadline = time.monotonic() + WAIT
    start = refreshes(b)
    while refreshes(b) < start + 3 and time.monotonic() < deadline:
        for _ in range(5):
            st.gw.http("GET", "/fresh/hello")
    b.wait("document.querySelectorAll('#routes-body tr').length === 200", "rows")
    path = os.path.join(BUILD_ROOT, "dashboard.png")
    b.call("screenshot", path=path)
    check(os.path.getsize(path) > 10000, "screenshot %s" % path)
    print("# screenshot: %s" % path)
    problems = b.call("problems")
    eq(problems, [], "console errors, page errors, failed requests")
    st.gw.assert_alive()


if __name__ == "__main__":
    t.main(setup=setup, teardown=teardown)
