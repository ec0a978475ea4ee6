#!/usr/bin/env python3
"""failover.py -- Sentinel failover timing (scripts/bench.sh --sentinel-failover).

Starts (on free loopback ports, through tests/integration/sentinel.py) one
primary, one replica and three sentinels (down-after-milliseconds
--down-after-ms, failover-timeout 3000), the gateway and one echo service,
both on the redis-sentinel:// URL. One client sends GET /echo/<n> on a
keep-alive connection, one at a time (2 ms apart). Each repetition:
SIGKILL of the primary at t0 (then SENTINEL FAILOVER for the `command` kind),
and from the client's own clock:
  switch_s   t0 -> the +switch-master the sentinels publish (watched on one
             sentinel): the sentinels' failover time;
  first_ok_s t0 -> the first 200 received for a request sent after t0;
  extra_s    first_ok_s - switch_s (the target: <= 1 s);
  ok_after_switch_s  the switch -> the first 200 for a request sent after it
             (with SENTINEL FAILOVER the old primary serves until it is
             demoted, so first_ok_s alone says little);
  n503, errors  503s and failed reads during the repetition.
The killed node is started again (the sentinels make it a replica) before
the next repetition. Prints one JSON object; every answer is counted
(200/503/other).

  failover.py --gateway BIN --echo BIN [--reps N] [--down-after-ms MS]
"""
import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "..", "tests", "integration"))
sys.path.insert(0, os.path.join(here, "..", "..", "tests", "integration", "sdk"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gateway", required=True)
    ap.add_argument("--echo", required=True)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--down-after-ms", type=int, default=1000)
    a = ap.parse_args()
    a.gateway, a.echo = os.path.abspath(a.gateway), os.path.abspath(a.echo)
    os.environ["GATEWAY_BIN"] = a.gateway
    os.environ["ECHO_BIN"] = a.echo
    import harness
    import sentinel
    from sdkutil import Example

    class Place:
        def __init__(self, tmpdir):
            self.tmpdir, self.redis = tmpdir, None

    tmpdir = tempfile.mkdtemp(prefix="portico-bench-failover-")
    s = sentinel.SentinelSet(tmpdir, down_after_ms=a.down_after_ms).start()
    gw = ex = None
    results = []
    counts = {}
    lock = threading.Lock()
    stop = threading.Event()

    def client():
        raw, n = None, 0
        while not stop.is_set():
            try:
                if raw is None:
                    raw = harness.Raw(gw.port, timeout=30)
                n += 1
                sent = time.monotonic()
                raw.send("GET /echo/%d HTTP/1.1\r\nHost: b\r\n\r\n" % n)
                r = raw.read_response(timeout=30)
                with lock:
                    results.append((sent, time.monotonic(), r.status))
                    counts[r.status] = counts.get(r.status, 0) + 1
                if r.header("connection") == "close":
                    raw.close()
                    raw = None
            except Exception:  # noqa: BLE001 - counted, then a new connection
                with lock:
                    counts["error"] = counts.get("error", 0) + 1
                if raw is not None:
                    raw.close()
                raw = None
            time.sleep(0.002)

    try:
        gw = harness.Gateway(tmpdir, s.url, ["--log-level", "warn"])
        gw.start()
        gw.wait_healthy(20)
        ex = Example(Place(tmpdir), [a.echo], "echo", redis_url=s.url).start()
        harness.wait_until(lambda: gw.http("GET", "/echo/w").status == 200, 30, 0.05, "a 200")
        th = threading.Thread(target=client, daemon=True)
        th.start()
        reps = []
        for kind in ["kill"] * a.reps + ["command"] * a.reps:
            s.wait_ready(120)
            time.sleep(1.0)  # steady traffic first
            old = s.primary()
            seen, close_watch = s.watch_switch()
            with lock:
                before = dict(counts)
            t0 = time.monotonic()
            if kind == "kill":
                old.stop(kill=True)
            else:
                s.failover()
            harness.wait_until(lambda: seen, 60, 0.01, "+switch-master")

            def first_ok():
                with lock:
                    oks = [g for snt, g, st in results if st == 200 and snt > t0]
                return min(oks) if oks else None
            harness.wait_until(first_ok, 60, 0.01, "a 200 after the failover")
            ok = first_ok()
            sw = seen[0][0]

            def ok_after_switch():
                with lock:
                    oks = [g for snt, g, st in results if st == 200 and snt > sw]
                return min(oks) if oks else None
            harness.wait_until(ok_after_switch, 60, 0.01, "a 200 sent after the switch")
            ok_sw = ok_after_switch()
            time.sleep(1.0)
            close_watch()
            with lock:
                n503 = counts.get(503, 0) - before.get(503, 0)
                nerr = counts.get("error", 0) - before.get("error", 0)
            reps.append({"kind": kind, "switch_s": round(sw - t0, 3),
                         "first_ok_s": round(ok - t0, 3), "extra_s": round(ok - sw, 3),
                         "ok_after_switch_s": round(ok_sw - sw, 3), "n503": n503,
                         "errors": nerr})
            print("[failover] %s" % json.dumps(reps[-1]), file=sys.stderr)
            if kind == "kill":
                old.start()  # back as a replica once the sentinels reconfigure it
        stop.set()
        th.join(60)
        out = {"down_after_ms": a.down_after_ms, "failover_timeout_ms": 3000, "reps": reps,
               "answers": {str(k): v for k, v in counts.items()}}
        for kind in ("kill", "command"):
            k = [r for r in reps if r["kind"] == kind]
            if k:
                out[kind] = {f: statistics.median(r[f] for r in k)
                             for f in ("switch_s", "first_ok_s", "extra_s",
                                       "ok_after_switch_s", "n503")}
                out[kind]["max_extra_s"] = max(r["extra_s"] for r in k)
        print(json.dumps(out, indent=1))
    finally:
        stop.set()
        if ex is not None:
            ex.stop(check_clean=False)
        if gw is not None:
            gw.stop(check_clean=False)
        s.stop()


if __name__ == "__main__":
    main()
