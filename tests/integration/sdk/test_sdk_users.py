#!/usr/bin/env python3
"""examples/users through the real gateway: list, create, get, update and
delete by {id}; 404 for a missing user; 400 for bad JSON and bad fields;
405 from the gateway for a method the service does not route."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sdkutil import Procs, Stack, eq, json_of, users, procs_teardown  # noqa: E402
from harness import Runner, assert_error  # noqa: E402

t = Runner()
ctx = {}


def setup():
    st = Stack(gateway_args=["--route-grace-ms", "0"], name="sdk-users")
    ctx["procs"] = Procs()
    ex = ctx["procs"].add(users(st))
    for m, p in (("GET", "/users"), ("POST", "/users"), ("GET", "/users/{id}"),
                 ("PUT", "/users/{id}"), ("DELETE", "/users/{id}")):
        st.gw.wait_route(m, p, ex.instance)
    return st


teardown = procs_teardown(ctx)


def post(st, path, obj, method="POST"):
    body = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
    return st.gw.http(method, path, headers={"Content-Type": "application/json"}, body=body)


@t.case
def crud(st):
    r = st.gw.http("GET", "/users")
    eq((r.status, json_of(r)), (200, {"users": []}), "empty list")
    r = post(st, "/users", {"name": "Ada", "email": "ada@example.org"})
    eq(r.status, 201, "create status")
    ada = json_of(r)
    eq((ada["name"], ada["email"]), ("Ada", "ada@example.org"), "created user")
    r = post(st, "/users", {"name": "Linus"})
    eq(r.status, 201, "second create")
    linus = json_of(r)
    check_ids = {ada["id"], linus["id"]}
    eq(len(check_ids), 2, "distinct ids")
    r = st.gw.http("GET", "/users")
    eq(sorted(u["id"] for u in json_of(r)["users"]), sorted(check_ids), "list")
    r = st.gw.http("GET", "/users/" + ada["id"])
    eq((r.status, json_of(r)), (200, ada), "get")
    r = post(st, "/users/" + ada["id"], {"name": "Ada L", "email": "al@example.org"}, "PUT")
    eq(r.status, 200, "update status")
    eq(json_of(r)["name"], "Ada L", "updated name")
    eq(json_of(st.gw.http("GET", "/users/" + ada["id"]))["email"], "al@example.org", "stored")
    r = st.gw.http("DELETE", "/users/" + ada["id"])
    eq((r.status, r.body), (204, b""), "delete")
    assert_error(st.gw.http("GET", "/users/" + ada["id"]), 404, "not_found")
    eq([u["id"] for u in json_of(st.gw.http("GET", "/users"))["users"]], [linus["id"]], "after delete")


@t.case
def missing_user(st):
    assert_error(st.gw.http("GET", "/users/999"), 404, "not_found")
    assert_error(post(st, "/users/999", {"name": "x"}, "PUT"), 404, "not_found")
    assert_error(st.gw.http("DELETE", "/users/999"), 404, "not_found")


@t.case
def bad_json(st):
    assert_error(post(st, "/users", b"{not json"), 400, "bad_json")
    assert_error(post(st, "/users", [1, 2]), 400, "bad_json")
    assert_error(st.gw.http("POST", "/users"), 400, "bad_json")
    assert_error(post(st, "/users", {"email": "x"}), 400, "bad_user")
    assert_error(post(st, "/users", {"name": 5}), 400, "bad_user")
    uid = json_of(post(st, "/users", {"name": "Grace"}))["id"]
    assert_error(post(st, "/users/" + uid, b"nope", "PUT"), 400, "bad_json")
    eq(json_of(st.gw.http("GET", "/users/" + uid))["name"], "Grace", "unchanged after a bad PUT")


@t.case
def method_not_routed(st):
    r = st.gw.http("PATCH", "/users/1")
    assert_error(r, 405, "method_not_allowed")


if __name__ == "__main__":
    t.main(setup=setup, teardown=teardown)
