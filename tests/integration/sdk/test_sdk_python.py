#!/usr/bin/env python3
"""examples/python/service.py (no SDK, Debian's python3-redis) through the
real gateway: GET /hello/{name}; 405 for another method; deregistration on
SIGTERM (404 at once with --route-grace-ms 0) and exit 0."""
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sdkutil import Procs, Stack, eq, json_of, python_hello  # noqa: E402
from harness import Runner, assert_error  # noqa: E402

t = Runner()
ctx = {}


def setup():
    st = Stack(gateway_args=["--route-grace-ms", "0"], name="sdk-python")
    ctx["procs"] = Procs()
    ctx["hello"] = ctx["procs"].add(python_hello(st))
    st.gw.wait_route("GET", "/hello/{name}", ctx["hello"].instance)
    return st


def teardown(st):
    try:
        ctx["procs"].close()
    finally:
        st.close()


@t.case
def hello(st):
    r = st.gw.http("GET", "/hello/world")
    eq((r.status, json_of(r)), (200, {"hello": "world"}), "GET /hello/world")
    eq(json_of(st.gw.http("GET", "/hello/caf%C3%A9"))["hello"], "caf\u00e9", "decoded param")
    assert_error(st.gw.http("POST", "/hello/x", body=b""), 405, "method_not_allowed")


@t.case
def sigterm_deregisters(st):
    ctx["hello"].stop(sig=signal.SIGTERM)
    assert_error(st.gw.http("GET", "/hello/world"), 404, "not_found")


if __name__ == "__main__":
    t.main(setup=setup, teardown=teardown)
