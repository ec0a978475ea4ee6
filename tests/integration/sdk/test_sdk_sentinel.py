#!/usr/bin/env python3
"""Redis Sentinel: the gateway and an SDK service (examples/echo) both on
--redis redis-sentinel://s1,s2,s3/<name>, over 1 primary + 1 replica + 3
sentinels started here (sentinel.py). Under steady keep-alive traffic from
several clients: (a) SENTINEL FAILOVER, (b) SIGKILL of the primary. Every
request is counted: each gets exactly one answer, 200 or a 503 that says why
(bus_unavailable / no_instance), in order on its connection (an answer given
twice would show up as the next request's), nothing hangs, and after the
failover requests answer 200 again, through the new primary. The failover
figures (primary lost -> sentinels switched -> first 200) are printed, not
asserted. Also: a sentinel naming a replica is not believed (ROLE); dead
sentinels listed first are passed over; a URL naming an
unknown master or only dead sentinels keeps the gateway up and answering 503
bus_unavailable; a bad sentinel URL exits 2 with one line."""
import json
import os
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sdkutil import Example, Procs, binary, check, eq, fail  # noqa: E402
from harness import (Gateway, Runner, assert_error, free_port, run_gateway_cli,  # noqa: E402
                     wait_until)
import harness  # noqa: E402
import sentinel  # noqa: E402

t = Runner()
ctx = {}


class Place:
    """What Example needs of a stack."""

    def __init__(self, tmpdir):
        self.tmpdir = tmpdir
        self.redis = None


class Traffic:
    """N clients, each on one keep-alive connection (a new one after a close),
    sending GET /echo/<client>-<n> one at a time and recording every answer as
    (sent, received, status, error code) -- or a failure that ends the client."""

    def __init__(self, port, clients=3, pause=0.005):
        self.port = port
        self.pause = pause
        self.stop_ev = threading.Event()
        self.lock = threading.Lock()
        self.results = []
        self.failures = []
        self.threads = [threading.Thread(target=self.loop, args=(i,), daemon=True)
                        for i in range(clients)]

    def start(self):
        for th in self.threads:
            th.start()
        return self

    def loop(self, i):
        raw = None
        n = 0
        try:
            while not self.stop_ev.is_set():
                if raw is None:
                    raw = harness.Raw(self.port, timeout=30)
                n += 1
                rid = "c%d-%d" % (i, n)
                sent = time.monotonic()
                raw.send("GET /echo/%s HTTP/1.1\r\nHost: t\r\nx-request-id: %s\r\n\r\n"
                         % (rid, rid))
                r = raw.read_response(timeout=30)
                got = time.monotonic()
                code = None
                if r.status == 200:
                    check(("/echo/%s" % rid) in r.body.decode(),
                          "200 for %s carries another request's answer: %r" % (rid, r.body[:200]))
                else:
                    body = json.loads(r.body)
                    code = body.get("error")
                    eq(body.get("request_id"), rid, "request_id of a %d" % r.status)
                with self.lock:
                    self.results.append((sent, got, r.status, code))
                if r.header("connection") == "close":
                    raw.close()
                    raw = None
                time.sleep(self.pause)
        except Exception as e:  # noqa: BLE001 - reported by check()
            with self.lock:
                self.failures.append("client %d: %s" % (i, e))
        finally:
            if raw is not None:
                raw.close()

    def count(self, status, after=0.0):
        with self.lock:
            return sum(1 for s, _, st, _ in self.results if st == status and s >= after)

    def first_ok_after(self, t0):
        with self.lock:
            oks = [g for s, g, st, _ in self.results if st == 200 and s >= t0]
        return min(oks) if oks else None

    def stop(self):
        self.stop_ev.set()
        for th in self.threads:
            th.join(60)
        check(not any(th.is_alive() for th in self.threads), "a client hangs")

    def check(self):
        check(not self.failures, "; ".join(self.failures))
        by = {}
        for _, _, st, code in self.results:
            by[(st, code)] = by.get((st, code), 0) + 1
        for (st, code), n in by.items():
            check(st == 200 or (st == 503 and code in ("bus_unavailable", "no_instance")),
                  "%d answers %d %s (every answer: %r)" % (n, st, code, by))
        return by


def setup():
    tmpdir = tempfile.mkdtemp(prefix="portico-it-sentinel-")
    ctx["tmpdir"] = tmpdir
    s = ctx["set"] = sentinel.SentinelSet(tmpdir).start()
    gw = ctx["gw"] = Gateway(tmpdir, s.url, ["--log-level", "debug"])
    gw.start()
    gw.wait_healthy(20)
    ctx["procs"] = Procs()
    ex = ctx["echo"] = ctx["procs"].add(
        Example(Place(tmpdir), [binary("ECHO_BIN")], "echo", redis_url=s.url))
    gw.wait_route("*", "/echo/*", ex.instance, timeout=20)
    wait_until(lambda: gw.http("GET", "/echo/warm").status == 200, 20, 0.05, "a first 200")
    return ctx


def teardown(c):
    try:
        try:
            c["procs"].close()
        finally:
            c["gw"].stop()
    finally:
        c["set"].stop()


def through_failover(c, act, what):
    """Steady traffic; act() loses the primary; wait for the sentinels to name a
    new one and for 200s again; every answer counted."""
    s, gw = c["set"], c["gw"]
    old = s.primary_port()
    marks = (len(gw.stderr_text()), len(c["echo"].stderr_text()))
    seen, close_watch = s.watch_switch()
    tr = Traffic(gw.port).start()
    try:
        wait_until(lambda: tr.count(200) >= 30, 30, 0.02, "steady 200s before the %s" % what)
        t0 = time.monotonic()
        act(s.node(old))
        wait_until(lambda: s.primary_port() != old, 60, 0.05, "a new primary after the %s" % what)
        wait_until(lambda: seen, 30, 0.05, "+switch-master after the %s" % what)
        t_switch = seen[0][0]
        wait_until(lambda: tr.count(200, after=t_switch) >= 30, 60, 0.05,
                   "200s again after the %s" % what)
        first = tr.first_ok_after(t0 + 0.001)
    finally:
        tr.stop()
        close_watch()
    by = tr.check()
    new = s.primary_port()
    check(new != old, "the primary did not change")
    check(s.node(new).role() == "master", "the new primary is no primary")
    # the 200s after the switch went through the new primary: the gateway and
    # the service are its clients now
    names = s.node(new).client().command("CLIENT", "LIST").decode()
    check(names.count("cmd=subscribe") + names.count("cmd=publish") + names.count("cmd=ping") >= 2,
          "no portico connection on the new primary:\n%s" % names)
    c["echo"].assert_alive()
    gw.assert_alive()
    # both heard the switch on their own sentinel connection (and followed it)
    want = "+switch-master %s 127.0.0.1:%d -> 127.0.0.1:%d" % (sentinel.MASTER, old, new)
    wait_until(lambda: want in gw.stderr_text()[marks[0]:], 20, 0.05,
               "the gateway to log %r" % want)
    wait_until(lambda: want in c["echo"].stderr_text()[marks[1]:], 20, 0.05,
               "the SDK service to log %r" % want)
    # first 200 among requests sent after the loss (any may have been in flight)
    oks_after = [g for snt, g, st, _ in tr.results if st == 200 and snt >= t_switch]
    print("# %s: %d answers %r; switch %.2f s after the loss, first 200 sent after the switch "
          "%.2f s after it" % (what, len(tr.results), by, t_switch - t0,
                               (min(oks_after) - t_switch) if oks_after else -1))
    return old, new, first


@t.case
def sentinel_answer_checked_with_role(c):
    """A sentinel that names a replica (here one monitoring the replica under
    the name "decoy") is not believed: ROLE says slave, the gateway stays
    down (503 bus_unavailable, /health 503) and says why."""
    s = c["set"]
    prim = s.primary_port()
    replica = [n for n in s.nodes if n.port != prim][0]
    eq(replica.role(), "slave", "the replica's role")
    decoy = sentinel.Sentinel(c["tmpdir"], 9, replica.port, 60000, 180000, name="decoy",
                              quorum=1).start()
    gw = None
    try:
        wait_until(lambda: int(decoy.command("SENTINEL", "get-master-addr-by-name", "decoy")[1])
                   == replica.port, 10, 0.05, "the decoy sentinel to name the replica")
        gw = Gateway(c["tmpdir"], "redis-sentinel://127.0.0.1:%d/decoy" % decoy.port,
                     ["--log-level", "debug"], name="gw-decoy")
        gw.start()
        want = "127.0.0.1:%d is not a primary (ROLE slave)" % replica.port
        wait_until(lambda: want in gw.stderr_text(), 20, 0.05, "the gateway to log %r" % want)
        assert_error(gw.http("GET", "/echo/x"), 503, "bus_unavailable")
        eq(gw.admin_get("/health")[0], 503, "/health while only a replica is named")
        check("redis up" not in gw.stderr_text(), "the gateway came up on a replica")
    finally:
        if gw is not None:
            gw.stop()
        decoy.stop()


@t.case
def sentinel_failover_command(c):
    """(a) SENTINEL FAILOVER under traffic."""
    through_failover(c, lambda node: c["set"].failover(), "SENTINEL FAILOVER")
    c["set"].wait_ready(60)  # the old primary is a synced replica again


@t.case
def sentinel_kill_primary(c):
    """(b) SIGKILL of the primary under traffic; the SDK service follows too."""
    mark = len(c["echo"].stderr_text())
    through_failover(c, lambda node: node.stop(kill=True), "SIGKILL of the primary")
    wait_until(lambda: "registered " in c["echo"].stderr_text()[mark:], 20, 0.05,
               "the service registered again through the new primary")


@t.case
def sentinel_unknown_master_answers_503():
    """A master name no sentinel knows, and sentinels that are all down: the
    gateway starts, stays up, answers 503 bus_unavailable, /health 503."""
    tmpdir = ctx["tmpdir"]
    s = ctx["set"]
    urls = [s.url.rsplit("/", 1)[0] + "/no-such-master",
            "redis-sentinel://127.0.0.1:%d,127.0.0.1:%d/m" % (free_port(), free_port())]
    for url in urls:
        gw = Gateway(tmpdir, url, ["--log-level", "debug"], name="gw-nomaster")
        gw.start()
        try:
            wait_until(lambda: "no sentinel named a primary" in gw.stderr_text(), 20, 0.05,
                       "the gateway to say why (%s)" % url)
            assert_error(gw.http("GET", "/echo/x"), 503, "bus_unavailable")
            eq(gw.admin_get("/health")[0], 503, "/health with no primary")
        finally:
            gw.stop()


@t.case
def sentinel_dead_sentinels_first():
    """Sentinels that refuse connections, listed first, are passed over: a
    gateway on that URL comes up on the primary the live ones name and
    answers 200 through it."""
    s = ctx["set"]
    live = s.url[len("redis-sentinel://"):]
    url = "redis-sentinel://127.0.0.1:%d,127.0.0.1:%d,%s" % (free_port(), free_port(), live)
    gw = Gateway(ctx["tmpdir"], url, ["--log-level", "debug"], name="gw-deadfirst")
    gw.start()
    try:
        gw.wait_healthy(20)
        wait_until(lambda: gw.http("GET", "/echo/y").status == 200, 20, 0.05,
                   "a 200 through the gateway whose first sentinels are dead")
        check("Connection refused" in gw.stderr_text(), "the dead sentinels were not tried first")
    finally:
        gw.stop()


@t.case
def sentinel_bad_urls_exit_2():
    for url in ("redis-sentinel://127.0.0.1:1", "redis-sentinel://127.0.0.1:1,/m",
                "redis-sentinel://h/m/x", "redis-sentinel://a,b,c,d,e,f,g,h,i/m"):
        rc, out, err = run_gateway_cli(["--redis", url, "--check-config"])
        eq(rc, 2, "exit status for %s" % url)
        eq(len(err.strip().splitlines()), 1, "one line for %s: %r" % (url, err))


if __name__ == "__main__":
    t.main(setup=setup, teardown=teardown)
