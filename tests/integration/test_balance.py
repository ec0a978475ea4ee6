#!/usr/bin/env python3
"""Load balancing (SPEC §5): least requests in flight, ties round-robin; every
request handled exactly once by exactly one instance."""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Runner, Stack, check, eq, uniq, wait_until  # noqa: E402

t = Runner()
ST = None


def pair(routes, handler_fn=None, n=2):
    name = uniq("lb")
    base = "/" + name
    svcs = []
    for i in range(n):
        holder = []

        def h(req, holder=holder):
            if handler_fn:
                handler_fn(req)
            return {"status": 200, "body": holder[0].instance}
        s = ST.service(service=name, routes=[(m, base + p) for m, p in routes], handler=h)
        holder.append(s)
        svcs.append(s)
    return svcs, base


def check_exactly_once(svcs, n):
    ids = {}
    for s in svcs:
        eq(s.duplicates(), {}, "duplicate deliveries to %s" % s.instance)
        for rq in s.requests:
            check(rq["id"] not in ids, "request %s delivered to two instances" % rq["id"])
            ids[rq["id"]] = s.instance
    eq(len(ids), n, "requests delivered in all")


@t.case
def sequential_round_robin():
    svcs, b = pair([("GET", "/rr")])
    counts = {s.instance: 0 for s in svcs}
    last = None
    for i in range(40):
        r = ST.gw.http("GET", b + "/rr")
        eq(r.status, 200, "status")
        inst = r.body.decode()
        check(inst in counts, "unknown instance %r" % inst)
        check(inst != last, "request %d went to %s twice in a row (ties must round-robin)" % (i, inst))
        last = inst
        counts[inst] += 1
    eq(sorted(counts.values()), [20, 20], "split of 40 sequential requests")
    for s in svcs:
        eq(s.n_requests(), counts[s.instance], "service-side count of %s" % s.instance)
    check_exactly_once(svcs, 40)
    for s in svcs:
        s.stop()


@t.case
def concurrent_even_and_exactly_once():
    svcs, b = pair([("GET", "/cc/{n}")], handler_fn=lambda req: time.sleep(0.02))
    results = []
    lock = threading.Lock()

    def worker(k):
        for j in range(10):
            r = ST.gw.http("GET", "%s/cc/%d" % (b, k * 100 + j))
            with lock:
                results.append((r.status, r.body.decode()))
    th = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for x in th:
        x.start()
    for x in th:
        x.join(30)
    eq(len(results), 60, "responses")
    check(all(st == 200 for st, _ in results), "non-200: %r" % [r for r in results if r[0] != 200])
    per = [sum(1 for _, i in results if i == s.instance) for s in svcs]
    check(min(per) >= 20, "uneven split %r" % per)
    check_exactly_once(svcs, 60)
    for s in svcs:
        s.stop()


@t.case
def least_in_flight():
    release = threading.Event()

    def h(req):
        if req["path"].endswith("/slow"):
            release.wait(10)
    svcs, b = pair([("GET", "/lif/{x}")], handler_fn=h)
    out = []
    th = threading.Thread(target=lambda: out.append(ST.gw.http("GET", b + "/lif/slow")))
    th.start()
    wait_until(lambda: sum(s.n_requests() for s in svcs) == 1, 5, msg="slow request delivered")
    stuck = [s for s in svcs if s.n_requests() == 1][0]
    free = [s for s in svcs if s is not stuck][0]
    # /routes shows the in-flight count
    ins = {i["instance"]: i for i in ST.gw.route("GET", b + "/lif/{x}")["instances"]}
    eq(ins[stuck.instance]["inflight"], 1, "inflight of the busy instance")
    eq(ins[free.instance]["inflight"], 0, "inflight of the idle instance")
    try:
        for i in range(6):
            r = ST.gw.http("GET", "%s/lif/f%d" % (b, i))
            eq((r.status, r.body), (200, free.instance.encode()),
               "request %d must go to the instance with nothing in flight" % i)
    finally:
        release.set()
        th.join(10)
    eq(out[0].status, 200, "slow request completed")
    eq(stuck.n_requests(), 1, "busy instance got nothing new")
    check_exactly_once(svcs, 7)
    for s in svcs:
        s.stop()


def setup():
    global ST
    ST = Stack(name="balance")
    return ST


if __name__ == "__main__":
    t.main(setup=setup, teardown=lambda st: st.close())
