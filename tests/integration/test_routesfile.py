#!/usr/bin/env python3
"""The routes file (SPEC §11): strict validation (start: exit 2 with one line naming
the file, the route and the reason; --check-config; reload: the last good table
stays), reload on SIGHUP and on change, requests in flight finishing on the table
they started with, ownership against Redis announcements (route_taken), and a
route moving from the file to the bus with no failed request."""

import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Runner, Stack, check, eq, fail, run_gateway_cli,  # noqa: E402
                     wait_until)
import upstreams as U  # noqa: E402

t = Runner()
UP = U.Upstream(name="main")
SLOW = U.Upstream(U.sleep_then(1.0), name="slow")


def good_doc(extra=()):
    return U.routes_doc(U.route("/legacy/*", [UP], methods=["GET", "POST"],
                                strip_prefix="/legacy"), *extra)


# ------------------------------------------------------------- validation

BAD = [
    # (name, document, words the one line must hold)
    ("not_json", '{"routes": [', ["line 1"]),
    ("not_object", "[]", ["not a JSON object"]),
    ("unknown_top_key", {"routes": [], "extra": 1}, ['unknown key "extra"']),
    ("routes_not_list", {"routes": {}}, ['"routes" must be a list']),
    ("unknown_route_key", U.routes_doc(dict(U.route("/a", [UP]), retries=3)),
     ["route 1 (/a)", 'unknown key "retries"']),
    ("bad_service", U.routes_doc(U.route("/a", [UP], service="Bad Name")),
     ["route 1 (/a)", '"service"']),
    ("bad_pattern", U.routes_doc(U.route("/a/*/b", [UP])), ["route 1 (/a/*/b)", '"path"']),
    ("dot_pattern", U.routes_doc(U.route("/a/{x", [UP])), ["route 1", '"path"']),
    ("bad_method", U.routes_doc(U.route("/a", [UP], methods=["get"])), ["route 1 (/a)", "method 1"]),
    ("no_methods", U.routes_doc(U.route("/a", [UP], methods=[])), ["route 1 (/a)", '"methods"']),
    ("no_upstreams", U.routes_doc(U.route("/a", [])), ["route 1 (/a)", '"upstreams"']),
    ("https_upstream", U.routes_doc(U.route("/a", ["https://127.0.0.1:1"])),
     ["route 1 (/a)", "https upstreams are not supported"]),
    ("https_upper", U.routes_doc(U.route("/a", ["HTTPS://127.0.0.1:1"])),
     ["route 1 (/a)", "https upstreams are not supported"]),
    ("not_a_url", U.routes_doc(U.route("/a", ["127.0.0.1:80"])), ["route 1 (/a)", "not an http:// URL"]),
    ("url_with_path", U.routes_doc(U.route("/a", ["http://127.0.0.1:80/x"])),
     ["route 1 (/a)", "only scheme, host and port"]),
    ("bad_port", U.routes_doc(U.route("/a", ["http://127.0.0.1:99999"])), ["route 1 (/a)", "bad port"]),
    ("user_info", U.routes_doc(U.route("/a", ["http://user:s3cret@127.0.0.1:9001"])),
     ["route 1 (/a)", "user info is not allowed in an upstream URL", "127.0.0.1:9001"]),
    ("user_only", U.routes_doc(U.route("/a", ["http://user@127.0.0.1:9001/"])),
     ["route 1 (/a)", "user info is not allowed in an upstream URL"]),
    ("upstream_twice", U.routes_doc(U.route("/a", [UP, UP])), ["route 1 (/a)", "listed twice"]),
    ("bad_timeout", U.routes_doc(U.route("/a", [UP], timeout_ms=0)), ["route 1 (/a)", '"timeout_ms"']),
    ("strip_not_prefix", U.routes_doc(U.route("/a/*", [UP], strip_prefix="/b")),
     ["route 1 (/a/*)", "not a prefix"]),
    ("strip_not_literal", U.routes_doc(U.route("/a/*", [UP], strip_prefix="/{x}")),
     ["route 1 (/a/*)", "strip_prefix"]),
    ("duplicate", U.routes_doc(U.route("/a/{id}", [UP]), U.route("/a/{other}", [UP], methods=["POST", "GET"])),
     ["route 2 (/a/{other})", "GET /a/{other} is also route 1's"]),
]


def run_bad(name, doc, words, flag, absent=()):
    d = tempfile.mkdtemp(prefix="portico-rf-")
    try:
        f = os.path.join(d, "routes.json")
        U.write_json(f, doc)
        rc, out, err = run_gateway_cli(flag + ["--routes-file", f, "--listen", "127.0.0.1:0",
                                               "--admin", "127.0.0.1:0",
                                               "--redis", "redis://127.0.0.1:1"])
        eq(rc, 2, "%s: exit status (stderr %r)" % (name, err))
        eq(out, "", "%s: stdout" % name)
        eq(err.count("\n"), 1, "%s: one line: %r" % (name, err))
        check(f in err, "%s: the line names the file: %r" % (name, err))
        for w in words:
            check(w in err, "%s: %r not in %r" % (name, w, err))
        for w in absent:
            check(w not in err, "%s: %r in %r" % (name, w, err))
    finally:
        shutil.rmtree(d, ignore_errors=True)


@t.case
def bad_files_refused_at_start():
    for name, doc, words in BAD:
        run_bad(name, doc, words, [])


@t.case
def user_info_not_echoed():
    """A password in an upstream URL is refused without being printed."""
    name, doc, words = [b for b in BAD if b[0] == "user_info"][0]
    run_bad(name, doc, words, [], absent=["s3cret", "user:"])


@t.case
def check_config_validates_the_routes_file():
    for name, doc, words in BAD[:6]:
        run_bad(name, doc, words, ["--check-config"])
    d = tempfile.mkdtemp(prefix="portico-rf-")
    try:
        f = os.path.join(d, "routes.json")
        U.write_json(f, good_doc())
        rc, out, err = run_gateway_cli(["--check-config", "--routes-file", f])
        eq((rc, out, err), (0, "configuration ok\n", ""), "a good file")
        rc, out, err = run_gateway_cli(["--check-config", "--routes-file", f + ".missing"])
        eq(rc, 2, "a missing file")
        check(f + ".missing" in err, "names the file: %r" % err)
    finally:
        shutil.rmtree(d, ignore_errors=True)


# ------------------------------------------------------------- running

class Ctx:
    pass


def setup():
    c = Ctx()
    c.st = Stack(name="routesfile", start_gateway=False)
    c.rf = os.path.join(c.st.tmpdir, "routes.json")
    U.write_json(c.rf, good_doc([U.route("/slow", [SLOW])]))
    c.st.start_gateway(["--routes-file", c.rf])
    c.gw = c.st.gw
    return c


def teardown(c):
    c.st.stop_gateway()
    c.st.redis.stop()


def reloads(c, result):
    return c.gw.metric("portico_config_reloads_total", result=result)


@t.case
def served_from_the_file(c):
    r = c.gw.http("GET", "/legacy/x")
    eq(r.json()["target"], "/x", "strip_prefix")
    r = c.gw.http("DELETE", "/legacy/x")
    eq(r.status, 405, "method not in the file")


@t.case
def sighup_bad_file_keeps_last_good(c):
    err0 = reloads(c, "error")
    U.write_json(c.rf, U.routes_doc(U.route("/legacy/*", ["ftp://x"])))
    c.gw.signal(signal.SIGHUP)
    wait_until(lambda: reloads(c, "error") >= err0 + 1, 10, msg="reload refused and counted")
    check("routes file %s" % c.rf in c.gw.stderr_text(), "the log names the file")
    eq(c.gw.http("GET", "/legacy/x").status, 200, "the last good table serves")


@t.case
def sighup_good_file_swaps(c):
    ok0 = reloads(c, "ok")
    U.write_json(c.rf, good_doc([U.route("/slow", [SLOW]), U.route("/added", [UP])]))
    c.gw.signal(signal.SIGHUP)
    wait_until(lambda: reloads(c, "ok") >= ok0 + 1, 10, msg="reload")
    eq(c.gw.http("GET", "/added").json()["target"], "/added", "new route")


@t.case
def scheme_in_any_case(c):
    """RFC 3986 3.1: the scheme is case-insensitive; /routes shows the
    canonical http:// URL."""
    ok0 = reloads(c, "ok")
    up = UP.url.replace("http://", "HTTP://")
    U.write_json(c.rf, good_doc([U.route("/slow", [SLOW]), U.route("/upper", [up]),
                                 U.route("/mixed", [UP.url.replace("http://", "hTtP://")])]))
    c.gw.signal(signal.SIGHUP)
    wait_until(lambda: reloads(c, "ok") >= ok0 + 1, 10, msg="reload of HTTP:// upstreams")
    for path in ("/upper", "/mixed"):
        eq(c.gw.http("GET", path).json()["target"], path, "served (%s)" % path)
        eq([u["url"] for u in c.gw.route("GET", path)["upstreams"]], [UP.url],
           "canonical URL in /routes (%s)" % path)
    U.write_json(c.rf, good_doc([U.route("/slow", [SLOW])]))
    c.gw.signal(signal.SIGHUP)
    wait_until(lambda: reloads(c, "ok") >= ok0 + 2, 10, msg="reload back")


@t.case
def change_on_disk_reloads_without_signal(c):
    U.write_json(c.rf, good_doc([U.route("/slow", [SLOW]), U.route("/ondisk", [UP])]))
    wait_until(lambda: c.gw.route("GET", "/ondisk") is not None, 15, msg="picked up from disk")
    eq(c.gw.http("GET", "/ondisk").status, 200, "served")
    err0 = reloads(c, "error")
    with open(c.rf, "w") as f:
        f.write("{broken")
    wait_until(lambda: reloads(c, "error") >= err0 + 1, 15, msg="broken file refused")
    eq(c.gw.http("GET", "/ondisk").status, 200, "the last good table stays")
    U.write_json(c.rf, good_doc([U.route("/slow", [SLOW])]))


@t.case
def refused_file_reported_once(c):
    """An invalid edit then SIGHUP is one error (the reload's), not another
    from the watch a second later; a later edit, invalid or good, is still
    read by the watch."""
    def said(word):
        return sum(1 for ln in c.gw.stderr_text().splitlines() if word in ln)
    err0 = reloads(c, "error")
    U.write_json(c.rf, U.routes_doc(U.route("/legacy/*", ["ftp://once"])))
    c.gw.signal(signal.SIGHUP)
    wait_until(lambda: reloads(c, "error") >= err0 + 1, 10, msg="reload refused")
    time.sleep(2.5)  # two turns of the watch
    eq(reloads(c, "error") - err0, 1, "refused once")
    eq(said("ftp://once"), 1, "reported once")
    U.write_json(c.rf, U.routes_doc(U.route("/legacy/*", ["ftp://twice"])))
    wait_until(lambda: reloads(c, "error") >= err0 + 2, 10, msg="a new invalid edit refused")
    time.sleep(2.5)
    eq(reloads(c, "error") - err0, 2, "that one once too")
    eq(said("ftp://twice"), 1, "reported once")
    U.write_json(c.rf, good_doc([U.route("/slow", [SLOW]), U.route("/afterbad", [UP])]))
    wait_until(lambda: c.gw.route("GET", "/afterbad") is not None, 15, msg="a good edit read")
    eq(c.gw.http("GET", "/afterbad").status, 200, "served")
    eq(reloads(c, "error") - err0, 2, "no error since")


@t.case
def in_flight_finishes_on_its_table(c):
    """A slow request started before the route leaves the file still gets its answer."""
    res = {}
    n0 = SLOW.count()

    def go():
        res["r"] = c.gw.http("GET", "/slow", timeout=30)
    th = threading.Thread(target=go)
    th.start()
    wait_until(lambda: SLOW.count() > n0, 10, msg="request at the upstream")
    ok0 = reloads(c, "ok")
    U.write_json(c.rf, U.routes_doc(U.route("/other/*", ["http://127.0.0.1:9"])))
    c.gw.signal(signal.SIGHUP)
    wait_until(lambda: reloads(c, "ok") >= ok0 + 1, 10, msg="reload")
    th.join(30)
    eq(res["r"].status, 200, "the request in flight")
    U.write_json(c.rf, good_doc([U.route("/slow", [SLOW])]))
    c.gw.signal(signal.SIGHUP)
    wait_until(lambda: c.gw.route("GET", "/legacy/*") is not None and
               not c.gw.route("GET", "/legacy/*")["released"], 10, msg="file back")


@t.case
def announcement_of_a_file_route_refused(c):
    taken0 = c.gw.metric("portico_registrations_total", result="route_taken")
    svc = c.st.service("legacy", routes=[("GET", "/legacy/*"), ("GET", "/busonly")],
                       wait_route=False)
    try:
        c.gw.wait_route("GET", "/busonly", svc.instance)
        wait_until(lambda: c.gw.metric("portico_registrations_total", result="route_taken") > taken0,
                   10, msg="route_taken counted")
        r = c.gw.route("GET", "/legacy/*")
        eq(r.get("kind"), "http", "still the file's")
        eq(c.gw.http("GET", "/legacy/q").json()["target"], "/q", "served by the upstream")
    finally:
        svc.stop()


@t.case
def migrate_file_route_to_bus_without_failures(c):
    """The documented migration: the bus service runs (its claim refused), the route
    leaves the file, the bus takes it; a load running throughout never fails."""
    svc = c.st.service("legacy", routes=[("GET", "/legacy/*")], wait_route=False)
    statuses, stop = [], threading.Event()

    def load():
        while not stop.is_set():
            r = c.gw.http("GET", "/legacy/m", check_frame=False)
            statuses.append((r.status, r.header("content-type")))
    th = threading.Thread(target=load)
    th.start()
    try:
        wait_until(lambda: len(statuses) >= 20, 20, msg="load running")
        U.write_json(c.rf, U.routes_doc(U.route("/slow", [SLOW])))
        c.gw.signal(signal.SIGHUP)
        c.gw.wait_route("GET", "/legacy/*", svc.instance, timeout=15)
        n = len(statuses)
        wait_until(lambda: len(statuses) >= n + 20, 20, msg="load after the move")
    finally:
        stop.set()
        th.join(30)
        svc.stop()
    bad = [s for s in statuses if s[0] != 200]
    eq(bad, [], "failed requests during the move")
    check(any(s[1] == "application/json" and True for s in statuses), "answers seen")
    check(len(svc.requests) >= 20, "the bus service took the route (%d)" % len(svc.requests))


if __name__ == "__main__":
    only = [a for a in sys.argv[1:] if not a.startswith("-")]
    t2 = Runner()
    static = 3  # the cases before "running": no stack of their own
    for fn in t.cases[:static]:
        t2.cases.append(fn)
    rc = 0
    if not only or any(fn.__name__ in only for fn in t.cases[:static]):
        try:
            t2.main(None, None)
        except SystemExit as e:
            rc = e.code or 0
    t.cases = t.cases[static:]
    if not only or any(fn.__name__ in only for fn in t.cases):
        try:
            t.main(setup, teardown)
        except SystemExit as e:
            rc = rc or e.code or 0
    sys.exit(rc)
