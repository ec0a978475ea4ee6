#!/usr/bin/env python3
"""The echo example's /bytes/{n} route (the body benchmark's fixed-size
answer, examples/echo/bytes.c): n bytes of the bench's text whatever the
method and the request body, inline and by reference (claim check), up to
16 MiB; anything but 0..16777216 in decimal digits is a 400. And the
examples' PORTICO_CLAIM_CHECK_BYTES: the threshold the bench sets to match
the gateway's --claim-check-bytes (0: off, no claim_check announced), bad
values refused at start."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sdkutil import Procs, Stack, binary, echo, eq, example_env, procs_teardown  # noqa: E402
from harness import PREFIX, Runner, assert_error, check, wait_until  # noqa: E402

t = Runner()
ctx = {}
PATTERN = b"abcdefghijklmnopqrstuvwxyz01234\n"
MAX = 16 * 1024 * 1024


def expected(n):
    return (PATTERN * (n // 32 + 1))[:n]


def setup():
    st = Stack(gateway_args=["--timeout-ms", "30000", "--max-body-bytes", str(2 << 20)],
               name="sdk-bytes")
    ctx["procs"] = Procs()
    ctx["echo"] = ctx["procs"].add(echo(st))
    st.gw.wait_route("*", "/bytes/{n}", ctx["echo"].instance)
    return st


teardown = procs_teardown(ctx)


def set_calls(st):
    """How many SET commands Redis executed (a body stored by reference)."""
    c = st.redis.client()
    try:
        info = c.command("INFO", "commandstats").decode()
    finally:
        c.close()
    for ln in info.splitlines():
        if ln.startswith("cmdstat_set:"):
            return int(ln.split("calls=")[1].split(",")[0])
    return 0


def get_bytes(st, n, method="GET", body=None):
    r = st.gw.http(method, "/bytes/%d" % n, body=body, timeout=30)
    eq(r.status, 200, "%s /bytes/%d status" % (method, n))
    eq(r.header("content-type"), "text/plain", "content-type")
    eq(len(r.body), n, "%s /bytes/%d length" % (method, n))
    check(r.body == expected(n), "%s /bytes/%d: the bench's text" % (method, n))


@t.case
def sizes_inline_and_by_reference(st):
    # around the 32-byte pattern, the 4 KiB block the service writes in, and
    # the SDK's default claim-check threshold (65536: larger goes by reference)
    for n in (0, 1, 31, 32, 33, 4095, 4096, 4097, 65536, 65537, 1 << 20):
        get_bytes(st, n)
    ctx["echo"].assert_alive()


@t.case
def largest_size(st):
    get_bytes(st, MAX)


@t.case
def request_body_does_not_change_the_answer(st):
    get_bytes(st, 128, "POST", expected(4096))
    get_bytes(st, 4096, "POST", expected(4096))
    get_bytes(st, 100, "PUT", b"\xff\x00binary")
    get_bytes(st, 1 << 20, "POST", expected(1 << 20))
    get_bytes(st, 5, "DELETE")


@t.case
def leading_zeros_and_percent_escapes(st):
    r = st.gw.http("GET", "/bytes/0007")
    eq((r.status, r.body), (200, expected(7)), "/bytes/0007")
    r = st.gw.http("GET", "/bytes/%31%30")   # the parameter is "10"
    eq((r.status, r.body), (200, expected(10)), "/bytes/%31%30")


@t.case
def bad_sizes(st):
    for seg in ("abc", "-1", "+1", "1.5", "1e3", "0x10", "%20", "16777217", "999999999",
                "1234567890", "18446744073709551617", "12a"):
        r = st.gw.http("GET", "/bytes/" + seg)
        assert_error(r, 400, "bad_size")
    eq(st.gw.http("GET", "/bytes/").status, 404, "empty {n}: no route")
    eq(st.gw.http("GET", "/bytes/1/2").status, 404, "two segments: no route")
    ctx["echo"].assert_alive()
    get_bytes(st, 3)


def register_of(st, instance):
    """The register message instance sends after a discover."""
    sub = st.redis.client()
    try:
        sub.subscribe(PREFIX + ":register")
        c = st.redis.client()
        c.command("PUBLISH", PREFIX + ":discover", '{"v":1,"type":"discover"}')
        c.close()
        while True:
            m = sub.get_message(timeout=5)
            check(m is not None, "a register message from %s after discover" % instance)
            j = json.loads(m[1])
            if j.get("instance") == instance:
                return j
    finally:
        sub.close()


def restart_echo(st, claim):
    ctx["procs"].close()
    ctx["procs"] = Procs()
    ctx["echo"] = ctx["procs"].add(echo(st, env={"PORTICO_CLAIM_CHECK_BYTES": claim}))
    st.gw.wait_route("*", "/bytes/{n}", ctx["echo"].instance)
    # the old instance deregistered: only the new one answers
    wait_until(lambda: st.gw.route_instances("*", "/bytes/{n}") == [ctx["echo"].instance],
               10, 0.05, "only the new instance on /bytes/{n}")


@t.case
def claim_check_bytes_from_the_environment(st):
    restart_echo(st, "1000")
    eq(register_of(st, ctx["echo"].instance).get("claim_check"), True, "announced")
    before = set_calls(st)
    get_bytes(st, 1000)
    eq(set_calls(st) - before, 0, "1000 bytes inline at threshold 1000")
    get_bytes(st, 1001)
    eq(set_calls(st) - before, 1, "1001 bytes by reference at threshold 1000")


@t.case
def claim_check_off_from_the_environment(st):
    restart_echo(st, "0")
    check(not register_of(st, ctx["echo"].instance).get("claim_check"), "claim_check not announced")
    before = set_calls(st)
    get_bytes(st, 1 << 20)
    get_bytes(st, 300000, "POST", expected(300000))
    eq(set_calls(st) - before, 0, "no body by reference with the threshold off")


@t.case
def bad_claim_check_bytes_refused(st):
    for bad in ("abc", "-1", "+5", " 5", "5k", "1e3", "1073741825", "99999999999999999999999"):
        p = subprocess.run([binary("ECHO_BIN"), "--redis", st.redis.url],
                           env=example_env({"PORTICO_CLAIM_CHECK_BYTES": bad}),
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=20)
        out = p.stdout.decode(errors="replace")
        eq(p.returncode, 2, "exit code for PORTICO_CLAIM_CHECK_BYTES=%r (%s)" % (bad, out))
        check("PORTICO_CLAIM_CHECK_BYTES" in out, "names the variable: %r" % out)


if __name__ == "__main__":
    t.main(setup, teardown)
