#!/usr/bin/env python3
"""Redis restart: the SDK services reconnect on the shared schedule (backoff.h:
attempts 100..200 ms apart through a short outage), subscribe again and
re-register (routes come back through the gateway), the caller relearns its
targets (service-to-service call works again) and event subscriptions are
renewed. Then a clean SIGTERM exit for each, under ASan without leaks."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sdkutil import (Procs, Stack, check, echo, eq, json_of, orders, users,  # noqa: E402
                     procs_teardown)
from harness import Runner, wait_until  # noqa: E402
from backoff_schedule import check_schedule, retries, wait_retries  # noqa: E402

t = Runner()
ctx = {}


def setup():
    st = Stack(gateway_args=["--route-grace-ms", "0"], name="sdk-reconnect")
    p = ctx["procs"] = Procs()
    ctx["echo"] = p.add(echo(st))
    ctx["users"] = p.add(users(st))
    ctx["orders"] = p.add(orders(st))
    st.gw.wait_route("POST", "/orders", ctx["orders"].instance)
    st.gw.wait_route("GET", "/users/{id}", ctx["users"].instance)
    st.gw.wait_route("*", "/echo/*", ctx["echo"].instance)
    return st


teardown = procs_teardown(ctx)


def wait_registered_again(exs, marks):
    """Until each example has registered again since its mark (it is
    subscribed to its own channel by then). The gateway keeps listing its
    instances through an outage, so a listed route does not mean the
    instance can take a request yet."""
    for ex, mark in zip(exs, marks):
        wait_until(lambda: "registered " in ex.stderr_text()[mark:], 10, 0.02,
                   "%s registered again" % ex.name)


def place(st, uid):
    return st.gw.http("POST", "/orders", headers={"Content-Type": "application/json"},
                      body=json.dumps({"user_id": uid, "item": "pen"}).encode())


@t.case
def restart_redis(st):
    eq(st.gw.http("GET", "/echo/before").status, 200, "before")
    st.redis.restart(kill=True)   # same port, empty
    st.gw.wait_healthy(10)
    # The gateway keeps the instances it knew across the restart, so /routes
    # lists them before the services are back: wait until each one has
    # registered again (subscribed first), not just for its route.
    for ex in (ctx["echo"], ctx["users"], ctx["orders"]):
        wait_until(lambda: ex.stderr_text().count("registered ") >= 2, 10, 0.05,
                   "%s registered again" % ex.name)
    for inst, m, p in ((ctx["echo"].instance, "*", "/echo/*"),
                       (ctx["users"].instance, "GET", "/users/{id}"),
                       (ctx["orders"].instance, "POST", "/orders")):
        st.gw.wait_route(m, p, inst, timeout=10)
    eq(st.gw.http("GET", "/echo/after").status, 200, "echo after the restart")
    uid = json_of(st.gw.http("POST", "/users", headers={"Content-Type": "application/json"},
                             body=b'{"name":"Re"}'))["id"]
    r = wait_until(lambda: (lambda x: x if x.status == 201 else None)(place(st, uid)),
                   10, 0.1, "orders -> users call after the restart")
    order = json_of(r)
    wait_until(lambda: any(e["data"].get("id") == order["id"] for e in
                           json_of(st.gw.http("GET", "/orders/events"))["events"]),
               5, 0.05, "the event after the restart")
    for ex in (ctx["echo"], ctx["users"], ctx["orders"]):
        ex.assert_alive()
        check(ex.stderr_text().count("registered ") >= 2, "%s did not re-register" % ex.name)


@t.case
def short_outage_fast_schedule(st):
    """Redis down for a dozen attempts of a service (~1.8 s at the schedule's
    pace; 16 s for as many with the old 100 ms doubling), then back on the
    same port: each attempt was at most 200 ms after the one before (read
    from the service's debug log, one line per attempt with its number and
    delay), the last one connected, and the service registered again."""
    ex = ctx["procs"].add(echo(st, env={"PORTICO_DEBUG": "1"}))
    st.gw.wait_route("*", "/echo/*", ex.instance)
    exs = (ctx["echo"], ctx["users"], ctx["orders"], ex)
    marks = [len(e.stderr_text()) for e in exs]
    mark = marks[-1]
    st.redis.stop(kill=True)
    wait_retries(ex.stderr_text, mark, 12, "echo, Redis down", timeout=30)
    st.redis.start()          # same port, empty
    st.gw.wait_healthy(10)
    wait_registered_again(exs, marks)
    st.gw.wait_route("*", "/echo/*", ex.instance, timeout=10)
    eq(st.gw.http("GET", "/echo/back").status, 200, "echo after the outage")
    text = ex.stderr_text()[mark:]
    rs = retries(text)
    check_schedule(rs, "echo outage")
    check(len(rs) >= 12, "retries logged: %r" % rs)   # attempts 0..29: 100..200 ms
    last = text.rindex("redis: retry %d in" % rs[-1][0])
    check(text.find("redis: connected", last) > last, "connected after the last logged retry")
    check(text.find("registered ", last) > last, "registered again after the outage")
    ex.assert_alive()


if __name__ == "__main__":
    t.main(setup=setup, teardown=teardown)
