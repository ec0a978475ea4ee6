#!/usr/bin/env python3
"""redis-cluster:// done wrong: bad URLs are refused at start with one line;
a cluster URL that names a plain redis-server (cluster support disabled) or
nothing at all leaves the gateway running with the bus down (503
bus_unavailable at once, /health degraded, the reason in the log), and it
comes up on its own once the seed list reaches a real cluster node."""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HOST, Gateway, Redis, Runner, assert_error, check, eq,  # noqa: E402
                     free_port, run_gateway_cli, wait_until)
import cluster as clustermod  # noqa: E402

t = Runner()


@t.case
def bad_urls():
    for url, why in [("redis-cluster://", "empty host"),
                     ("redis-cluster://h:1,", "empty host"),
                     ("redis-cluster://h:1/2", "no database"),
                     ("redis-cluster://h:70000", "bad port"),
                     ("redis-cluster://" + ",".join("h%d" % i for i in range(17)), "too many")]:
        rc, out, err = run_gateway_cli(["--redis", url, "--check-config"])
        check(rc != 0, "accepted %r" % url)
        check(why in err, "reason for %r: %r" % (url, err[-300:]))
        eq(len([ln for ln in err.splitlines() if ln.strip()]), 1, "one line for %r" % url)


def degraded(gw, reason):
    wait_until(lambda: reason in gw.stderr_text(), 15, 0.05, "%r in the log" % reason)
    st, _, body = gw.admin_get("/health")
    eq(st, 503, "/health status")
    eq(body.get("redis"), "down", "/health redis")
    assert_error(gw.http("GET", "/anything"), 503, "bus_unavailable")


@t.case
def not_a_cluster():
    tmp = tempfile.mkdtemp(prefix="portico-clcfg-")
    plain = Redis(tmp).start()
    gw = None
    try:
        gw = Gateway(tmp, "redis-cluster://%s:%d" % (HOST, plain.port),
                     ["--log-level", "debug"]).start()
        degraded(gw, "cluster support disabled")
        gw.assert_alive()
    finally:
        if gw is not None:
            gw.stop()
        plain.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@t.case
def dead_seed_then_live_one():
    """The first seed answers nothing, the second is a cluster node: the
    client tries the seeds in turn and comes up."""
    tmp = tempfile.mkdtemp(prefix="portico-clcfg-")
    cl = clustermod.Cluster(tmp, primaries=3, replicas=0)
    gw = None
    try:
        cl.start()
        url = "redis-cluster://%s:%d,%s:%d" % (HOST, free_port(), HOST, cl.nodes[1].port)
        gw = Gateway(tmp, url).start()
        gw.wait_healthy(30)
        eq(gw.admin_get("/health")[0], 200, "/health")
    finally:
        if gw is not None:
            gw.stop()
        cl.close()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    t.main()
