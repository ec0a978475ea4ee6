#!/usr/bin/env python3
"""examples/orders + examples/users: a service-to-service call through the
SDK (learnt from P:register, no gateway in between), the order.placed event
(delivered to the orders example's own subscriber and, in the documented
format, to any Redis subscriber), and the call's typed errors: no instance
(503), timeout (504), bad reply (502); a gone instance (PUBLISH answered 0)
is dropped and another one tried; the call's deadline is never later than
the request's and x-request-id is passed on."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sdkutil import Procs, Stack, check, eq, json_of, orders, users, procs_teardown  # noqa: E402
from harness import Runner, Service, assert_error, now_ms, wait_until  # noqa: E402

GW_TIMEOUT_MS = 2000
t = Runner()
ctx = {}


def setup():
    st = Stack(gateway_args=["--route-grace-ms", "0", "--timeout-ms", str(GW_TIMEOUT_MS)],
               name="sdk-orders")
    ctx["procs"] = Procs()
    ctx["users"] = ctx["procs"].add(users(st))
    ctx["orders"] = ctx["procs"].add(orders(st))
    st.gw.wait_route("GET", "/users/{id}", ctx["users"].instance)
    st.gw.wait_route("POST", "/orders", ctx["orders"].instance)
    return st


teardown = procs_teardown(ctx)


def post_json(st, path, obj, headers=None):
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return st.gw.http("POST", path, headers=h, body=json.dumps(obj).encode())


def place(st, user_id, path="/orders", headers=None):
    return post_json(st, path, {"user_id": user_id, "item": "book", "qty": 2}, headers)


@t.case
def place_order_calls_users_and_emits_event(st):
    sub = st.redis.client()
    sub.subscribe("portico:event:order.placed")
    try:
        uid = json_of(post_json(st, "/users", {"name": "Ada"}))["id"]
        r = place(st, uid)
        eq(r.status, 201, "order status (body %r)" % r.body)
        order = json_of(r)
        eq((order["user_id"], order["item"], order["qty"], order["user_name"]),
           (uid, "book", 2, "Ada"), "order")
        eq(json_of(st.gw.http("GET", "/orders/" + order["id"])), order, "GET /orders/{id}")
        check(order in json_of(st.gw.http("GET", "/orders"))["orders"], "listed")
        assert_error(st.gw.http("GET", "/orders/999"), 404, "not_found")
        # the event, as any Redis subscriber sees it (docs/sdk.md, event protocol)
        m = sub.get_message(timeout=5)
        check(m is not None, "no event on portico:event:order.placed")
        ev = json.loads(m[1])
        eq((ev["v"], ev["type"], ev["topic"], ev["source"], ev["instance"]),
           (1, "event", "order.placed", "orders", ctx["orders"].instance), "event envelope")
        eq(ev["data"], order, "event data")
        check(isinstance(ev["id"], str) and len(ev["id"]) == 36, "event id %r" % ev["id"])
        check(abs(ev["ts_ms"] - now_ms()) < 10000, "event ts_ms")
        # and as the orders example's own subscriber logged it
        def logged():
            evs = json_of(st.gw.http("GET", "/orders/events"))["events"]
            return [e for e in evs if e["id"] == ev["id"]]
        got = wait_until(logged, 5, 0.05, "event in GET /orders/events")
        eq((got[0]["topic"], got[0]["source"], got[0]["data"]),
           ("order.placed", "orders", order), "logged event")
    finally:
        sub.close()


@t.case
def unknown_user_and_bad_json(st):
    assert_error(place(st, "424242"), 422, "unknown_user")
    r = st.gw.http("POST", "/orders", headers={"Content-Type": "application/json"}, body=b"{x")
    assert_error(r, 400, "bad_json")
    assert_error(post_json(st, "/orders", {"item": "x"}), 400, "bad_json")


@t.case
def no_instance(st):
    ctx["users"].stop()          # SIGTERM: deregisters, exits 0
    r = place(st, "1")
    j = assert_error(r, 503, "users_unavailable")
    eq(j["message"], "no_instance", "typed error")


@t.case
def gone_instance_is_dropped_and_another_tried(st):
    # an instance that registered but listens nowhere: PUBLISH answers 0
    ghost = Service(st.redis.port, "users", routes=[("GET", "/users/{id}")])
    ghost.publish_register()
    live = st.service("users", routes=[("GET", "/users/{id}")],
                      handler=lambda req: {"status": 200,
                                           "headers": [["content-type", "application/json"]],
                                           "body": json.dumps({"id": req["params"]["id"],
                                                               "name": "Zed"})})
    try:
        for i in range(4):
            r = wait_until(lambda: (lambda x: x if x.status == 201 else None)(place(st, "7")),
                           5, 0.05, "order %d via the live instance" % i)
            eq(json_of(r)["user_name"], "Zed", "answered by the live instance")
        eq(live.n_requests(), 4, "every call reached the live instance")
        check("is gone; dropping it" in ctx["orders"].stderr_text(), "ghost not dropped")
    finally:
        live.stop()


@t.case
def timeout_deadline_and_request_id(st):
    silent = st.service("users", routes=[("GET", "/users/{id}")], handler=lambda req: None)
    try:
        # explicit call timeout (300 ms) well inside the gateway's 2000 ms
        t0 = time.monotonic()
        r = wait_until(lambda: (lambda x: x if x.status != 503 else None)(
            place(st, "5", "/orders?users_timeout_ms=300", {"X-Request-Id": "ord-rid-1"})),
            5, 0.05, "the silent users instance to be known")
        dt = time.monotonic() - t0
        j = assert_error(r, 504, "users_timeout")
        eq(j["request_id"], "ord-rid-1", "request id")
        check(dt < 1.5, "timed out after %.2fs" % dt)
        req = silent.requests[-1]
        eq(dict(req["headers"]).get("x-request-id"), "ord-rid-1", "x-request-id passed on")
        eq((req["method"], req["path"], req["route"], req["params"]),
           ("GET", "/users/5", "/users/{id}", {"id": "5"}), "call request")
        check(req["reply_to"].startswith("portico:reply:"), "reply_to %r" % req["reply_to"])
        # no call timeout: the users default (5000) is cut to the request's deadline
        t_sent = now_ms()
        r = place(st, "6")
        check(r.status == 504, "status %d" % r.status)
        req = silent.requests[-1]
        check(req["deadline_ms"] <= t_sent + GW_TIMEOUT_MS + 50,
              "call deadline %d later than the request's (~%d)" % (
                  req["deadline_ms"], t_sent + GW_TIMEOUT_MS))
        check(req["deadline_ms"] >= t_sent + GW_TIMEOUT_MS - 500, "call deadline too early")
    finally:
        silent.stop()


@t.case
def bad_reply(st):
    bad = st.service("users", routes=[("GET", "/users/{id}")],
                     handler=lambda req: {"status": 99, "headers": [], "body": ""})
    try:
        r = wait_until(lambda: (lambda x: x if x.status != 503 else None)(place(st, "1")),
                       5, 0.05, "the bad users instance to be known")
        assert_error(r, 502, "users_bad_reply")
    finally:
        bad.stop()
    ctx["orders"].assert_alive()


if __name__ == "__main__":
    t.main(setup=setup, teardown=teardown)
