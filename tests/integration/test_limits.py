#!/usr/bin/env python3
"""Connection limits: --max-connections is enforced (a connection over the cap
is closed at once and counted), and a freed slot is usable again."""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Runner, Stack, TestFailure, check, eq, req_bytes, uniq,  # noqa: E402
                     wait_until)

t = Runner()
ST = None


@t.case
def connection_cap():
    base = "/" + uniq("lim")
    ST.service(routes=[("GET", base)], handler=lambda req: {"status": 200, "body": "ok"})
    held = [ST.gw.raw() for _ in range(3)]
    try:
        for c in held:                       # each slot is really in use
            c.send(req_bytes("GET", base))
            eq(c.read_response().status, 200, "request on a held connection")
        before = ST.gw.metric("portico_connections_refused_total")
        extra = ST.gw.raw()
        try:
            extra.send(req_bytes("GET", base))
            extra.expect_eof(3)
            check(b"HTTP/1.1 200" not in extra.buf, "the connection over the cap was served")
        finally:
            extra.close()
        eq(ST.gw.metric("portico_connections_refused_total"), before + 1, "refused counter")
        held.pop().close()
        # the freed slot is usable once the gateway has seen the close
        def served():
            try:
                with ST.gw.raw(timeout=2) as c:
                    c.send(req_bytes("GET", base))
                    return c.read_response().status == 200
            except (TestFailure, OSError):
                return False            # still over the cap: closed at once
        wait_until(served, 5, msg="a new connection served after one was closed")
    finally:
        for c in held:
            c.close()
    time.sleep(0.1)


def setup():
    global ST
    ST = Stack(gateway_args=["--max-connections", "3"], name="limits")
    return ST


if __name__ == "__main__":
    t.main(setup=setup, teardown=lambda st: st.close())
