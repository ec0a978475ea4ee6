#!/usr/bin/env python3
"""Signed registration through the SDK (SPEC §3): a gateway started with
--registration-secret-file accepts the routes of an example service given the
same secret (--registration-secret-file), refuses one without it or with
another secret (counted as unsigned / bad_signature), a signed deregister
on SIGTERM removes the route at once, and SDK callers read signed register
messages (orders calls users). The examples without the SDK (Python, Node.js)
sign the same way (with --registration-secret-file or
PORTICO_REGISTRATION_SECRET_FILE)."""
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sdkutil import (Example, Procs, Stack, echo, ensure_node_example, eq, orders,  # noqa: E402
                     python_hello, users, procs_teardown)
from harness import Runner, wait_until  # noqa: E402

t = Runner()
ctx = {}


def write(st, name, text):
    path = os.path.join(st.tmpdir, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def setup():
    st = Stack(start_gateway=False, name="sdk-signed")
    ctx["good"] = write(st, "secret", "  a-shared-registration-secret-0123456789\n")
    ctx["bad"] = write(st, "other", "another-secret-that-is-not-the-gateways")
    st.start_gateway(["--registration-secret-file", ctx["good"], "--route-grace-ms", "0"])
    ctx["procs"] = Procs()
    return st


teardown = procs_teardown(ctx)


@t.case
def signed_service_is_accepted(st):
    svc = ctx["procs"].add(echo(st, env={"PORTICO_REGISTRATION_SECRET_FILE": ctx["good"]}))
    st.gw.wait_route("*", "/echo/*", svc.instance)
    eq(st.gw.http("GET", "/echo/signed").status, 200, "request to the signed service")
    svc.stop()
    wait_until(lambda: st.gw.http("GET", "/echo/signed").status == 404, 5,
               msg="route gone after the signed deregister")


@t.case
def unsigned_and_wrongly_signed_are_refused(st):
    before_u = st.gw.metric("portico_registrations_total", result="unsigned") or 0
    before_b = st.gw.metric("portico_registrations_total", result="bad_signature") or 0
    ctx["procs"].add(echo(st, env={"PORTICO_REGISTRATION_SECRET_FILE": ""}))
    ctx["procs"].add(echo(st, env={"PORTICO_REGISTRATION_SECRET_FILE": ctx["bad"]}))
    wait_until(lambda: (st.gw.metric("portico_registrations_total", result="unsigned") or 0)
               > before_u, 5, msg="unsigned register counted")
    wait_until(lambda: (st.gw.metric("portico_registrations_total", result="bad_signature") or 0)
               > before_b, 5, msg="badly signed register counted")
    eq(st.gw.http("GET", "/echo/x").status, 404, "no route from unsigned or forged services")


@t.case
def calls_between_signed_services(st):
    """An SDK caller reads signed register messages too: orders finds users."""
    env = {"PORTICO_REGISTRATION_SECRET_FILE": ctx["good"]}
    u = ctx["procs"].add(users(st, env=env))
    o = ctx["procs"].add(orders(st, env=env))
    st.gw.wait_route("POST", "/users", u.instance)
    st.gw.wait_route("POST", "/orders", o.instance)
    r = st.gw.http("POST", "/users", headers={"Content-Type": "application/json"},
                   body=b'{"name":"Ada"}')
    eq(r.status, 201, "create a user")
    uid = __import__("json").loads(r.body)["id"]
    r = st.gw.http("POST", "/orders", headers={"Content-Type": "application/json"},
                   body=('{"user_id":"%s","item":"book"}' % uid).encode())
    eq(r.status, 201, "order placed through a service-to-service call (%r)" % r.body[:200])


def check_example_signs(st, make, method, pattern, path):
    """make(secret_file) -> an Example: refused with the wrong secret, accepted
    with the right one, its signed deregister removes the route at once."""
    before = st.gw.metric("portico_registrations_total", result="bad_signature") or 0
    ctx["procs"].add(make(ctx["bad"]))
    wait_until(lambda: (st.gw.metric("portico_registrations_total", result="bad_signature") or 0)
               > before, 5, msg="badly signed register counted")
    eq(st.gw.http("GET", path).status, 404, "no route from a wrongly signed " + pattern)
    svc = ctx["procs"].add(make(ctx["good"]))
    st.gw.wait_route(method, pattern, svc.instance)
    eq(st.gw.http(method, path).status, 200, "request to the signed " + pattern)
    svc.stop()
    wait_until(lambda: st.gw.http(method, path).status == 404, 5,
               msg="route gone after the signed deregister of " + pattern)


@t.case
def python_example_signs(st):
    check_example_signs(st, lambda f: python_hello(
        st, env={"PORTICO_REGISTRATION_SECRET_FILE": f}), "GET", "/hello/{name}", "/hello/x")


@t.case
def node_example_signs(st):
    node = shutil.which("node")
    if node is None or shutil.which("npm") is None:
        print("node or npm is not installed: the Node.js example is not checked")
        return
    js = os.path.join(ensure_node_example(), "service.js")
    check_example_signs(st, lambda f: Example(st, [node, js, "--registration-secret-file", f], "hi"),
                        "GET", "/hi/{name}", "/hi/x")


if __name__ == "__main__":
    t.main(setup=setup, teardown=teardown)
