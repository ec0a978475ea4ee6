#!/usr/bin/env python3
"""W3C Trace Context through the gateway (protocol.md §8.2): a valid client
traceparent goes on with the same trace-id and flags and a new parent-id;
without one, or with an invalid one, the gateway starts a trace (flags 01);
tracestate passes only with a valid traceparent; the access log names the
trace."""

import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Runner, Stack, check, eq, wait_until  # noqa: E402

t = Runner()
ST = None
SVC = None
LOG = None
TID = "4bf92f3577b34da6a3ce929d0e0e4736"
PID = "00f067aa0ba902b7"
TP_RE = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def sent(headers, rid):
    """The traceparent and tracestate values the service received."""
    headers = dict(headers or {})
    headers["X-Request-Id"] = rid
    r = ST.gw.http("GET", "/tr", headers=headers)
    eq(r.status, 200, "status")
    req = [q for q in SVC.requests if dict(q["headers"]).get("x-request-id") == rid][-1]
    tps = [v for k, v in req["headers"] if k == "traceparent"]
    tss = [v for k, v in req["headers"] if k == "tracestate"]
    eq(len(tps), 1, "exactly one traceparent sent on")
    check(len(tss) <= 1, "at most one tracestate")
    m = TP_RE.match(tps[0])
    check(m is not None, "a valid version-00 traceparent: %r" % tps[0])
    check(m.group(1) != "0" * 32 and m.group(2) != "0" * 16, "ids not all zero")
    return m.group(1), m.group(2), m.group(3), (tss[0] if tss else None)


def logged_trace(rid):
    def find():
        try:
            with open(LOG) as f:
                for ln in f:
                    if ln.endswith("\n"):
                        j = json.loads(ln)
                        if j.get("request_id") == rid:
                            return j
        except FileNotFoundError:
            pass
        return None
    return wait_until(find, 10, msg="log line %s" % rid).get("trace_id")


@t.case
def valid_traceparent_continued():
    tid, pid, flags, ts = sent({"traceparent": "00-%s-%s-01" % (TID, PID),
                                "tracestate": "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7"},
                               "tr-valid")
    eq(tid, TID, "same trace-id")
    check(pid != PID, "a new parent-id")
    eq(flags, "01", "flags kept")
    eq(ts, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7", "tracestate passed on")
    eq(logged_trace("tr-valid"), TID, "trace_id in the access log")
    # flags other than 01 kept too
    eq(sent({"traceparent": "00-%s-%s-00" % (TID, PID)}, "tr-flags00")[2], "00", "flags 00")


@t.case
def new_parent_each_request():
    a = sent({"traceparent": "00-%s-%s-01" % (TID, PID)}, "tr-p1")
    b = sent({"traceparent": "00-%s-%s-01" % (TID, PID)}, "tr-p2")
    check(a[1] != b[1], "two requests, two parent-ids")


@t.case
def absent_starts_a_trace():
    tid, pid, flags, ts = sent({}, "tr-none")
    eq(flags, "01", "flags 01")
    eq(ts, None, "no tracestate")
    eq(logged_trace("tr-none"), tid, "logged trace is the one started")
    other = sent({}, "tr-none2")[0]
    check(other != tid, "each request its own trace")


@t.case
def invalid_starts_a_trace():
    bad = ["00-%s-%s-01" % (TID.upper(), PID),           # upper-case hex
           "00-%s-%s-01" % ("0" * 32, PID),              # all-zero trace-id
           "00-%s-%s-01" % (TID, "0" * 16),              # all-zero parent-id
           "ff-%s-%s-01" % (TID, PID),                   # version ff
           "00-%s-%s-01-extra" % (TID, PID),             # version 00 with more
           "00-%s-%s" % (TID, PID),                      # no flags
           "garbage"]
    for i, v in enumerate(bad):
        tid, _, flags, ts = sent({"traceparent": v, "tracestate": "a=1"}, "tr-bad-%d" % i)
        check(tid != TID.lower(), "%r: a new trace" % v)
        eq(flags, "01", "%r: flags 01" % v)
        eq(ts, None, "%r: tracestate dropped with an invalid traceparent" % v)
        eq(logged_trace("tr-bad-%d" % i), tid, "%r: logged the new trace" % v)


@t.case
def future_version_read_by_00_rules():
    tid, pid, flags, _ = sent({"traceparent": "cc-%s-%s-01-future" % (TID, PID)}, "tr-future")
    eq((tid, flags), (TID, "01"), "trace continued, sent on as version 00")


@t.case
def not_forwarded_logs_client_trace():
    r = ST.gw.http("GET", "/no-route", headers={"traceparent": "00-%s-%s-01" % (TID, PID),
                                                 "X-Request-Id": "tr-404"})
    eq(r.status, 404, "status")
    eq(logged_trace("tr-404"), TID, "the client's trace in the log")
    r = ST.gw.http("GET", "/no-route", headers={"X-Request-Id": "tr-404b"})
    eq(logged_trace("tr-404b"), None, "no trace: none logged")


def setup():
    global ST, SVC, LOG
    ST = Stack(name="trace", start_gateway=False)
    LOG = os.path.join(ST.tmpdir, "access.log")
    ST.start_gateway(["--access-log", LOG])
    SVC = ST.service(service="tr", routes=[("GET", "/tr")])
    return ST


if __name__ == "__main__":
    t.main(setup=setup, teardown=lambda st: st.close())
