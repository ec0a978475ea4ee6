#!/usr/bin/env python3
"""Redis restart: the SDK services reconnect with backoff, subscribe again and
re-register (routes come back through the gateway), the caller relearns its
targets (service-to-service call works again) and event subscriptions are
renewed. Then a clean SIGTERM exit for each, under ASan without leaks."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sdkutil import Procs, Stack, check, echo, eq, json_of, orders, users  # noqa: E402
from harness import Runner, wait_until  # noqa: E402

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


def teardown(st):
    try:
        ctx["procs"].close()
    finally:
        st.close()


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


if __name__ == "__main__":
    t.main(setup=setup, teardown=teardown)
