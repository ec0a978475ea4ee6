#!/usr/bin/env python3
"""W3C trace context through the SDK (examples/orders, C): a handler's
portico_call and portico_event_publish continue the request's trace as child
spans (same trace-id and flags, a new parent-id each), with the client's
tracestate as received (as the gateway passed it on); a request without a
traceparent gets the gateway's new trace, which the service continues, and no
tracestate is made up; an event's traceparent and tracestate are given to its
subscribers (portico_event_traceparent, portico_event_tracestate)."""
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sdkutil import Procs, Stack, check, eq, json_of, orders  # noqa: E402
from harness import Runner, Service, wait_until  # noqa: E402

t = Runner()
ctx = {}
TID = "4bf92f3577b34da6a3ce929d0e0e4736"
PID = "00f067aa0ba902b7"
# two members, with the spaces the gateway trims when it passes it on
TS_SENT, TS = "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"
TP_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def users_handler(req):
    uid = (req.get("params") or {}).get("id")
    return {"status": 200, "headers": [["content-type", "application/json"]],
            "body": json.dumps({"id": uid, "name": "Ada"})}


def setup():
    st = Stack(name="sdk-trace")
    ctx["procs"] = Procs()
    ctx["users"] = Service(st.redis.port, "users", routes=[("GET", "/users/{id}")],
                           handler=users_handler)
    ctx["users"].start()
    ctx["orders"] = ctx["procs"].add(orders(st))
    st.gw.wait_route("GET", "/users/{id}", ctx["users"].instance)
    st.gw.wait_route("POST", "/orders", ctx["orders"].instance)
    return st


def teardown(st):
    try:
        ctx["users"].stop(deregister=False)
        ctx["procs"].close()
    finally:
        st.close()


def place(st, rid, headers):
    h = {"Content-Type": "application/json", "X-Request-Id": rid}
    h.update(headers)
    r = st.gw.http("POST", "/orders", headers=h,
                   body=json.dumps({"user_id": "7", "item": "book", "qty": 1}).encode())
    eq(r.status, 201, "order placed (%r)" % r.body)
    return json_of(r)


def call_headers(rid, name):
    """The values of header name on the call to users for request rid."""
    reqs = [q for q in ctx["users"].requests if dict(q["headers"]).get("x-request-id") == rid]
    eq(len(reqs), 1, "one call to users for %s" % rid)
    return [v for k, v in reqs[0]["headers"] if k == name]


def call_traceparent(rid):
    tps = call_headers(rid, "traceparent")
    eq(len(tps), 1, "one traceparent on the call")
    m = TP_RE.match(tps[0])
    check(m is not None, "valid traceparent %r" % tps[0])
    return m.groups()


def event_message(sub):
    m = sub.get_message(timeout=5)
    check(m is not None, "no event")
    return json.loads(m[1])


def event_traceparent(ev):
    mt = TP_RE.match(ev.get("traceparent", ""))
    check(mt is not None, "event traceparent %r" % ev.get("traceparent"))
    return ev["id"], mt.groups()


def logged_event(st, evid):
    """The orders example's own subscriber's record of event evid."""
    def logged():
        evs = json_of(st.gw.http("GET", "/orders/events"))["events"]
        return [e for e in evs if e["id"] == evid]
    return wait_until(logged, 5, 0.05, "event in GET /orders/events")[0]


@t.case
def call_and_event_continue_the_trace(st):
    sub = st.redis.client()
    sub.subscribe("portico:event:order.placed")
    try:
        place(st, "sdk-tr-1", {"traceparent": "00-%s-%s-01" % (TID, PID),
                               "tracestate": TS_SENT})
        tid, pid, flags = call_traceparent("sdk-tr-1")
        eq((tid, flags), (TID, "01"), "the call is in the client's trace")
        check(pid != PID, "a new span for the call")
        eq(call_headers("sdk-tr-1", "tracestate"), [TS], "the call carries the tracestate")
        ev = event_message(sub)
        evid, (etid, epid, eflags) = event_traceparent(ev)
        eq((etid, eflags), (TID, "01"), "the event is in the trace")
        check(epid not in (PID, pid), "a span of its own for the event")
        eq(ev.get("tracestate"), TS, "the event carries the tracestate")
        # the subscriber (the orders example's own) was given both
        got = logged_event(st, evid)
        eq(got["traceparent"], "00-%s-%s-%s" % (etid, epid, eflags), "portico_event_traceparent")
        eq(got["tracestate"], TS, "portico_event_tracestate")
    finally:
        sub.close()


@t.case
def no_tracestate_invented(st):
    """A trace without tracestate, or a tracestate without a valid traceparent
    (dropped by the gateway: W3C), goes on without one."""
    sub = st.redis.client()
    sub.subscribe("portico:event:order.placed")
    try:
        for rid, headers in (("sdk-tr-nots", {"traceparent": "00-%s-%s-01" % (TID, PID)}),
                             ("sdk-tr-badtp", {"traceparent": "00-%s-%s-0X" % (TID, PID),
                                               "tracestate": TS_SENT})):
            place(st, rid, headers)
            tid = call_traceparent(rid)[0]
            eq(call_headers(rid, "tracestate"), [], "%s: no tracestate on the call" % rid)
            ev = event_message(sub)
            eq(event_traceparent(ev)[1][0], tid, "%s: the event is in the call's trace" % rid)
            check("tracestate" not in ev, "%s: no tracestate in the event: %r" % (rid, ev))
            eq(logged_event(st, ev["id"])["tracestate"], "", "%s: portico_event_tracestate" % rid)
    finally:
        sub.close()


@t.case
def flags_kept(st):
    place(st, "sdk-tr-2", {"traceparent": "00-%s-%s-00" % (TID, PID)})
    eq(call_traceparent("sdk-tr-2")[2], "00", "flags 00 kept by the SDK")


@t.case
def gateway_trace_continued(st):
    place(st, "sdk-tr-3", {})
    tid, _, flags = call_traceparent("sdk-tr-3")
    check(tid != TID and flags == "01", "the gateway's new trace, continued: %s" % tid)
    place(st, "sdk-tr-4", {})
    check(call_traceparent("sdk-tr-4")[0] != tid, "another request, another trace")


if __name__ == "__main__":
    t.main(setup=setup, teardown=teardown)
