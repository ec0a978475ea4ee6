#!/usr/bin/env python3
"""Passive outlier detection: an instance that stops answering is ejected after
--outlier-timeouts consecutive timeouts, skipped while ejected, and let back by
one probe once its ejection time is over; with every instance of a route
ejected, one is still tried."""

import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Gateway, Runner, Stack, assert_error, check, eq, uniq, wait_until  # noqa: E402

t = Runner()
ST = None
THRESHOLD = 3
TIMEOUT_MS = 300        # the services' request deadline: a frozen one costs this much


class Freezable:
    """A handler that answers with the instance's name, or not at all while frozen."""

    def __init__(self):
        self.frozen = threading.Event()
        self.svc = None

    def __call__(self, req):
        if self.frozen.is_set():
            return None
        return {"status": 200, "body": self.svc.instance}


def instance(gw, method, path, name):
    r = gw.route(method, path)
    check(r is not None, "route %s %s not listed" % (method, path))
    for i in r["instances"]:
        if i["instance"] == name:
            return i
    check(False, "instance %s not listed for %s %s: %r" % (name, method, path, r))


def pair(path):
    """Two instances of one new service on GET path; returns (svc, handler) twice."""
    name = uniq("ol")
    out = []
    for _ in range(2):
        h = Freezable()
        s = ST.service(service=name, routes=[("GET", path)], handler=h, timeout_ms=TIMEOUT_MS)
        h.svc = s
        out.append((s, h))
    return out


@t.case
def ejected_after_threshold_and_skipped():
    path = "/" + uniq("ej")
    (good, _), (bad, bad_h) = pair(path)
    bad_h.frozen.set()
    e0 = ST.gw.metric("portico_instance_ejections_total")
    codes = []
    for _ in range(4 * THRESHOLD):
        r = ST.gw.http("GET", path)
        codes.append(r.status)
        if r.status == 200:
            eq(r.body, good.instance.encode(), "a 200 comes from the healthy instance")
        else:
            assert_error(r, 504, "timeout")
    eq(codes.count(504), THRESHOLD, "504s before the frozen instance was ejected: %r" % codes)
    eq(bad.n_requests(), THRESHOLD, "requests the frozen instance received")
    i = instance(ST.gw, "GET", path, bad.instance)
    eq((i["ejected"], i["consecutive_timeouts"], i["ejections"]), (True, THRESHOLD, 1),
       "/routes of the ejected instance")
    check(i["ejected_for_s"] > 0, "ejected_for_s %r" % i["ejected_for_s"])
    g = instance(ST.gw, "GET", path, good.instance)
    eq((g["ejected"], g["consecutive_timeouts"], g["ejections"]), (False, 0, 0),
       "/routes of the healthy instance")
    eq(ST.gw.metric("portico_instance_ejections_total"), e0 + 1, "ejections counted")
    # concurrent requests too: none goes to the ejected instance
    out = []
    ths = [threading.Thread(target=lambda: out.append(ST.gw.http("GET", path).status))
           for _ in range(8)]
    for th in ths:
        th.start()
    for th in ths:
        th.join(20)
    eq(out, [200] * 8, "concurrent requests while one instance is ejected")
    eq(bad.n_requests(), THRESHOLD, "the ejected instance got nothing more")


@t.case
def every_instance_ejected_still_tried():
    path = "/" + uniq("solo")
    h = Freezable()
    solo = ST.service(service=uniq("solo"), routes=[("GET", path)], handler=h,
                      timeout_ms=TIMEOUT_MS)
    h.svc = solo
    h.frozen.set()
    for k in range(THRESHOLD):
        assert_error(ST.gw.http("GET", path), 504, "timeout")
    eq(instance(ST.gw, "GET", path, solo.instance)["ejected"], True, "ejected")
    # the only instance is ejected: it is still tried (504, not 503)
    assert_error(ST.gw.http("GET", path), 504, "timeout")
    eq(solo.n_requests(), THRESHOLD + 1, "the ejected instance was still tried")
    h.frozen.clear()
    r = ST.gw.http("GET", path)
    eq((r.status, r.body), (200, solo.instance.encode()), "answer from the recovered instance")
    i = instance(ST.gw, "GET", path, solo.instance)
    eq((i["ejected"], i["consecutive_timeouts"], i["ejected_for_s"]), (False, 0, 0),
       "a reply ends the ejection")


@t.case
def probe_lets_it_back():
    """A second gateway on the same Redis with a short base ejection time."""
    gw = Gateway(ST.tmpdir, ST.redis.url, ["--outlier-ejection-ms", "200",
                                           "--outlier-timeouts", str(THRESHOLD)],
                 name="gateway-probe")
    try:
        gw.start()
        gw.wait_healthy()
        path = "/" + uniq("pr")
        (good, _), (bad, bad_h) = pair(path)
        gw.wait_route("GET", path, bad.instance)
        gw.wait_route("GET", path, good.instance)
        bad_h.frozen.set()

        def eject():
            n = 0
            while not instance(gw, "GET", path, bad.instance)["ejected"]:
                gw.http("GET", path)
                n += 1
                check(n <= 2 * THRESHOLD + 2, "not ejected after %d requests" % n)

        def ejection_over():
            wait_until(lambda: instance(gw, "GET", path, bad.instance)["ejected_for_s"] == 0,
                       20, msg="the ejection time to run out")

        eject()
        eq(instance(gw, "GET", path, bad.instance)["ejections"], 1, "first ejection")
        ejection_over()
        # still frozen: the probe times out and ejects it again, for longer
        n0 = bad.n_requests()
        assert_error(gw.http("GET", path), 504, "timeout")
        eq(bad.n_requests(), n0 + 1, "the probe went to the ejected instance")
        i = instance(gw, "GET", path, bad.instance)
        eq((i["ejected"], i["ejections"]), (True, 2), "ejected again after a failed probe")
        eq(gw.http("GET", path).body, good.instance.encode(), "traffic stays on the healthy one")
        ejection_over()
        bad_h.frozen.clear()
        r = gw.http("GET", path)
        eq((r.status, r.body), (200, bad.instance.encode()), "the probe is answered")
        i = instance(gw, "GET", path, bad.instance)
        eq((i["ejected"], i["consecutive_timeouts"], i["ejections"]), (False, 0, 2),
           "back in rotation after the probe")
        seen = set()
        for _ in range(6):
            seen.add(gw.http("GET", path).body)
        eq(seen, {good.instance.encode(), bad.instance.encode()}, "both instances serve again")
        eq(gw.metric("portico_instance_ejections_total"), 2, "ejections counted")
    finally:
        gw.stop()


@t.case
def detection_off():
    gw = Gateway(ST.tmpdir, ST.redis.url, ["--outlier-timeouts", "0"], name="gateway-off")
    try:
        gw.start()
        gw.wait_healthy()
        path = "/" + uniq("off")
        (good, _), (bad, bad_h) = pair(path)
        gw.wait_route("GET", path, bad.instance)
        gw.wait_route("GET", path, good.instance)
        bad_h.frozen.set()
        codes = [gw.http("GET", path).status for _ in range(4 * THRESHOLD)]
        eq(codes.count(504), 2 * THRESHOLD, "with --outlier-timeouts 0 nothing is ejected")
        i = instance(gw, "GET", path, bad.instance)
        eq((i["ejected"], i["consecutive_timeouts"]), (False, 2 * THRESHOLD),
           "timeouts still counted")
    finally:
        gw.stop()


@t.case
def bad_flags():
    from harness import run_gateway_cli
    for args in (["--outlier-timeouts", "-1"], ["--outlier-timeouts", "1001"],
                 ["--outlier-ejection-ms", "0"], ["--outlier-ejection-ms", "x"]):
        rc, _, err = run_gateway_cli(args)
        eq(rc, 2, "exit status for %r" % args)
        check(args[0] in err, "error names the flag: %r" % err)


def setup():
    global ST
    ST = Stack(gateway_args=["--outlier-ejection-ms", "600000"], name="outlier")
    return ST


if __name__ == "__main__":
    t.main(setup=setup, teardown=lambda st: st.close())
