#!/usr/bin/env python3
"""Asynchronous routes from the C SDK (portico_service_route_async) and the
Python example (no SDK): the route is announced "async":true and nothing
else changes for the handler; a client with Prefer: respond-async gets 202
and polls the reply; the orders example, subscribed to portico.job through
the SDK, receives the gateway's completion event (the services' own event
format, validated by the SDK)."""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sdkutil import (Procs, Stack, check, eq, json_of, orders, python_hello,  # noqa: E402
                     procs_teardown)
from harness import Runner, wait_until  # noqa: E402

t = Runner()
ctx = {}
PREFER = {"Prefer": "respond-async"}


def setup():
    st = Stack(name="sdk-jobs")
    ctx["procs"] = Procs()
    ctx["orders"] = ctx["procs"].add(orders(st))
    ctx["hello"] = ctx["procs"].add(python_hello(st))
    st.gw.wait_route("POST", "/orders/report", ctx["orders"].instance)
    st.gw.wait_route("POST", "/hello/report", ctx["hello"].instance)
    return st


teardown = procs_teardown(ctx)


def job_of(st, path):
    r = st.gw.http("POST", path, headers=PREFER, body=b"{}")
    eq(r.status, 202, "%s submitted (%r)" % (path, r))
    job = json_of(r)["job"]
    eq(r.header("location"), "/_portico/jobs/" + job, "Location")
    out = {}

    def done():
        p = st.gw.http("GET", "/_portico/jobs/" + job)
        out["r"] = p
        return p.status != 202
    wait_until(done, 20, 0.05, "job of %s done" % path)
    return job, out["r"]


@t.case
def routes_announced_async(st):
    eq(st.gw.route("POST", "/orders/report")["async"], True, "C SDK route async")
    eq(st.gw.route("POST", "/orders")["async"], False, "other C SDK route")
    eq(st.gw.route("POST", "/hello/report")["async"], True, "Python example route async")
    eq(st.gw.route("GET", "/hello/{name}")["async"], False, "other Python example route")


@t.case
def sdk_job_and_its_event(st):
    job, r = job_of(st, "/orders/report")
    eq(r.status, 200, "stored reply status")
    body = json_of(r)
    check(isinstance(body.get("orders"), int), "report body: %r" % (body,))

    def got_event():
        evs = json_of(st.gw.http("GET", "/orders/events"))["events"]
        return [e for e in evs if e["topic"] == "portico.job" and e["data"].get("id") == job]
    wait_until(got_event, 20, 0.05, "the SDK subscriber to receive portico.job")
    ev = got_event()[0]
    eq((ev["source"], ev["data"]), ("portico", {"id": job, "status": 200, "state": "done"}),
       "event as the SDK hands it over")
    # without the preference: served synchronously, as before
    r = st.gw.http("POST", "/orders/report", body=b"{}")
    eq(r.status, 200, "synchronous without Prefer")


@t.case
def python_example_job(st):
    _, r = job_of(st, "/hello/report")
    eq((r.status, json_of(r)["report"]), (200, "ready"), "Python example's stored reply")


if __name__ == "__main__":
    t.main(setup, teardown)
