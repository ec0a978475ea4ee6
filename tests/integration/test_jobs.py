#!/usr/bin/env python3
"""Asynchronous requests (the 202 pattern, protocol.md 6.3): a route announced
"async":true, asked with Prefer: respond-async, is recorded in Redis
(P:job:<id>) before the 202 goes out; the reply is stored there and served by
GET /_portico/jobs/<id> on any gateway on the same Redis; a job whose gateway
died answers 504 once its deadline passed, never "pending" forever; only the
submitting identity reads a job on an authenticated route (others: 404); a
malformed id is 404 without a Redis lookup; records expire (1,000 jobs leave
no key behind); the completion event is published on P:event:portico.job."""

import json
import os
import re
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (PREFIX, AuthClient, Gateway, Monitor, RespClient, Runner,  # noqa: E402
                     SecureRedis, Service, Stack, assert_error, check, eq, now_ms, req_bytes,
                     uniq, wait_until)

t = Runner()
ST = None
GW_B = None                 # a second gateway on the same Redis
ASYNC_MS = 5000             # --async-timeout-ms of the gateways of the stack
MAX_REPLY = 4096            # --max-reply-bytes of the gateways of the stack
KEY_ALICE = "key-alice-0123456789abcdef"
KEY_BOB = "key-bob-0123456789abcdef0"
POLICY = {
    "api_keys": [{"id": "alice", "key": KEY_ALICE}, {"id": "bob", "key": KEY_BOB}],
    "default": "public",
    "routes": [{"prefix": "/secure", "auth": "api_key"}],
}
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
PREFER = {"Prefer": "respond-async"}


class AsyncService(Service):
    """Announces "async":true on the routes listed in async_routes."""

    def __init__(self, *a, async_routes=(), **kw):
        self.async_routes = set(async_routes)
        super().__init__(*a, **kw)

    def register_msg(self):
        m = super().register_msg()
        for r in m["routes"]:
            if (r["method"], r["path"]) in self.async_routes:
                r["async"] = True
        return m


def service(routes, async_routes, handler=None, gw=None):
    s = AsyncService(ST.redis.port, uniq("job"), routes=routes, async_routes=async_routes,
                     handler=handler)
    ST.services.append(s)
    s.start()
    for g in (gw or [ST.gw, GW_B]):
        for m, p in routes:
            g.wait_route(m, p, s.instance)
    return s


def redis():
    return RespClient(ST.redis.port)


def job_keys():
    c = redis()
    try:
        keys, cur = [], b"0"
        while True:
            cur, batch = c.command("SCAN", cur, "MATCH", "%s:job:*" % PREFIX, "COUNT", "1000")
            keys += batch
            if cur in (b"0", "0"):
                return keys
    finally:
        c.close()


def submit(gw, path, body=b"x", headers=None, method="POST"):
    h = dict(PREFER)
    h.update(headers or {})
    r = gw.http(method, path, headers=h, body=body)
    eq(r.status, 202, "submit status (%r)" % (r,))
    j = r.json()
    check(UUID_RE.match(j.get("job", "")), "job id is a UUIDv4: %r" % (j,))
    eq(j.get("status"), "pending", "submit body status")
    eq(r.header("location"), "/_portico/jobs/" + j["job"], "Location")
    eq(r.header("preference-applied"), "respond-async", "Preference-Applied")
    eq(r.header("content-type"), "application/json", "202 content-type")
    return j["job"]


def poll_until_done(gw, job, headers=None, timeout=30.0):
    """Polls until the answer is not 202; returns it (each 202 checked)."""
    out = {}

    def done():
        r = gw.http("GET", "/_portico/jobs/" + job, headers=headers)
        if r.status == 202:
            eq(r.json(), {"job": job, "status": "pending"}, "pending body")
            eq(r.header("retry-after"), "1", "Retry-After")
            return False
        out["r"] = r
        return True
    wait_until(done, timeout, 0.05, "job %s to finish" % job)
    return out["r"]


# ------------------------------------------------------------------ cases

@t.case
def routes_show_async():
    p = "/" + uniq("ra")
    service([("POST", p), ("GET", p)], {("POST", p)})
    eq(ST.gw.route("POST", p).get("async"), True, "/routes async of the async route")
    eq(ST.gw.route("GET", p).get("async"), False, "/routes async of the other route")


@t.case
def accept_on_one_poll_on_other():
    """Binary body with every byte value, status and headers stored and served on B."""
    p = "/" + uniq("bin")
    body = bytes(range(256)) * 3
    seen = []

    def h(req):
        seen.append(req)
        return {"status": 201, "headers": [["Content-Type", "application/octet-stream"],
                                           ["X-Custom", "v1"], ["X-Custom", "v2"]],
                "body": body}
    s = service([("POST", p)], {("POST", p)}, handler=h)
    sub = redis()
    sub.subscribe("%s:event:portico.job" % PREFIX)
    try:
        job = submit(ST.gw, p + "?q=1", body=b"\x00\xffpayload",
                     headers={"X-Request-Id": "client-rid-1"})
        r = poll_until_done(GW_B, job)
        eq(r.status, 201, "stored status")
        eq(r.body, body, "stored binary body")
        eq(r.header("content-type"), "application/octet-stream", "stored content-type")
        eq(r.header_all("x-custom"), ["v1", "v2"], "stored repeated header")
        eq(r.header("x-request-id"), "client-rid-1", "the submitting request's x-request-id")
        # the service got the request as a normal one: same id as the job
        s.wait_requests(1)
        req = s.last_request()
        eq(req["id"], job, "forwarded request id is the job id")
        eq(req["_body"], b"\x00\xffpayload", "forwarded body")
        eq(req["query"], "q=1", "forwarded query")
        hdrs = dict(req["headers"])
        eq(hdrs.get("x-request-id"), "client-rid-1", "client's x-request-id forwarded")
        check(req["deadline_ms"] > now_ms(), "job deadline is --async-timeout-ms away")
        # HEAD poll: same status, no body
        rh = GW_B.http("HEAD", "/_portico/jobs/" + job)
        eq(rh.status, 201, "HEAD poll status")
        # the completion event
        msg = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            m = sub.get_message(timeout=1.0)
            if m is None:
                continue
            ev = json.loads(m[1])
            if ev.get("id") == job:
                msg = ev
                break
        check(msg is not None, "completion event received")
        eq((msg["v"], msg["type"], msg["topic"], msg["source"]), (1, "event", "portico.job",
                                                                  "portico"), "event envelope")
        eq(msg["data"], {"id": job, "status": 201, "state": "done"}, "completion event data")
        check(isinstance(msg["ts_ms"], int) and isinstance(msg["instance"], str), "event fields")
        # a read does not remove it
        eq(ST.gw.http("GET", "/_portico/jobs/" + job).body, body, "second read")
        c = redis()
        ttl = c.command("PTTL", "%s:job:%s" % (PREFIX, job))
        c.close()
        check(0 < ttl <= 3600000, "done record has the job TTL: %r" % (ttl,))
    finally:
        sub.close()


@t.case
def prefer_forms():
    p = "/" + uniq("pf")
    s = service([("POST", p)], {("POST", p)})
    for v in ["respond-async", "Respond-Async", "wait=10, respond-async",
              "respond-async; foo=bar", "handling=lenient,RESPOND-ASYNC",
              'foo="a,respond-async", respond-async']:
        r = ST.gw.http("POST", p, headers={"Prefer": v}, body=b"x")
        eq(r.status, 202, "Prefer %r" % v)
    # several Prefer headers: any may hold it
    r = ST.gw.http("POST", p, headers=[("Prefer", "wait=5"), ("Prefer", "respond-async")],
                   body=b"x")
    eq(r.status, 202, "second Prefer header")
    n = s.n_requests()
    for v in ["respond-asyncx", "respond", 'foo="respond-async"', "x-respond-async", ""]:
        r = ST.gw.http("POST", p, headers={"Prefer": v}, body=b"x")
        eq(r.status, 200, "Prefer %r: served synchronously" % v)
        check(r.header("preference-applied") is None, "no Preference-Applied")
    r = ST.gw.http("POST", p, body=b"x")
    eq(r.status, 200, "no Prefer: served synchronously")
    s.wait_requests(n + 6)


@t.case
def job_id_is_the_request_id():
    """Without a client x-request-id the one the gateway makes up is the job's
    id (Location's), the 202's x-request-id and the forwarded request's id;
    a client's own x-request-id (not unique, not a UUID) is kept in the
    headers but the job gets a UUID of its own."""
    p = "/" + uniq("rid")
    s = service([("POST", p)], {("POST", p)})
    r = ST.gw.http("POST", p, headers=PREFER, body=b"x")
    eq(r.status, 202, "submit")
    job = r.json()["job"]
    check(UUID_RE.match(job), "job id is a UUIDv4: %r" % job)
    eq(r.header("x-request-id"), job, "the 202's x-request-id is the job id")
    eq(r.header("location"), "/_portico/jobs/" + r.header("x-request-id"), "Location")
    s.wait_requests(1)
    req = s.last_request()
    eq(req["id"], job, "forwarded id")
    eq(dict(req["headers"]).get("x-request-id"), job, "forwarded x-request-id")
    r = ST.gw.http("POST", p, headers=dict(PREFER, **{"X-Request-Id": "mine-1"}), body=b"x")
    eq(r.status, 202, "submit with a client x-request-id")
    eq(r.header("x-request-id"), "mine-1", "the client's x-request-id comes back")
    check(UUID_RE.match(r.json()["job"]), "the job id is still a UUIDv4: %r" % (r.json(),))
    eq(poll_until_done(ST.gw, job).status, 200, "the first job is done")


@t.case
def prefer_on_plain_route():
    p = "/" + uniq("pl")
    s = service([("POST", p)], set())
    before = len(job_keys())
    r = ST.gw.http("POST", p, headers=PREFER, body=b"x")
    eq(r.status, 200, "Prefer on a route not announced async")
    check(r.header("preference-applied") is None, "no Preference-Applied")
    eq(s.n_requests(), 1, "served once")
    eq(len(job_keys()), before, "no job recorded")


@t.case
def job_errors_are_stored():
    """A reply over --max-reply-bytes: stored 502; a service that never
    answers: 504 at the job's deadline."""
    p = "/" + uniq("big")
    q = "/" + uniq("hang")
    service([("POST", p)], {("POST", p)},
            handler=lambda req: {"status": 200, "body": "y" * (MAX_REPLY + 1)})
    service([("POST", q)], {("POST", q)}, handler=lambda req: None)
    big = submit(ST.gw, p)
    hang = submit(ST.gw, q)
    r = poll_until_done(GW_B, big)
    assert_error(r, 502, "bad_reply")
    r = poll_until_done(GW_B, hang, timeout=ASYNC_MS / 1000 + 30)
    assert_error(r, 504, "timeout")
    # a poll past the deadline answers 504 from the record alone; the
    # accepting gateway stores its own 504 when its deadline timer fires
    c = redis()
    wait_until(lambda: c.command("HGET", "%s:job:%s" % (PREFIX, hang), "state") == b"done", 10,
               0.05, "504 stored as done")
    c.close()
    wait_until(lambda: ST.gw.metric("portico_jobs_total", result="timeout") >= 1, 10, 0.05,
               "timeout counted")
    check(ST.gw.metric("portico_jobs_total", result="failed") >= 1, "502 counted failed")
    check(ST.gw.metric("portico_jobs_total", result="completed") >= 1, "completed counted")
    check(ST.gw.metric("portico_jobs_total", result="accepted") >= 3, "accepted counted")


@t.case
def streamed_reply_to_a_job():
    """A job keeps one reply message: a streamed reply ("more":true) is
    refused at its first message, 502 stored and cancel published."""
    p = "/" + uniq("strm")
    s = service([("POST", p)], {("POST", p)},
                handler=lambda req: {"status": 200, "body": "part 1", "more": True})
    job = submit(ST.gw, p)
    r = poll_until_done(GW_B, job)
    assert_error(r, 502, "bad_reply")

    def cancelled():
        with s._lock:
            return any(m.get("id") == job and m.get("cancel") is True for m in s.requests)
    wait_until(cancelled, 10, 0.02, "cancel published to the service")


@t.case
def identity_checks():
    p = "/secure/" + uniq("rep")
    service([("POST", p)], {("POST", p)},
            handler=lambda req: {"status": 200, "body": "for " + dict(req["headers"]).get(
                "x-auth-key-id", "?")})
    # unauthenticated submit: refused as usual, before anything is recorded
    r = ST.gw.http("POST", p, headers=PREFER, body=b"x")
    eq(r.status, 401, "submit without a key")
    job = submit(ST.gw, p, headers={"X-API-Key": KEY_ALICE})
    r = poll_until_done(GW_B, job, headers={"X-API-Key": KEY_ALICE})
    eq((r.status, r.body), (200, b"for alice"), "alice reads her job")
    for what, h in [("bob", {"X-API-Key": KEY_BOB}), ("no key", {}),
                    ("bad key", {"X-API-Key": "not-a-key-0123456789"}),
                    ("two keys", [("X-API-Key", KEY_ALICE), ("X-API-Key", KEY_ALICE)])]:
        for g in (ST.gw, GW_B):
            r = g.http("GET", "/_portico/jobs/" + job, headers=h)
            assert_error(r, 404, "not_found")
            check(r.header("www-authenticate") is None, "%s: no challenge" % what)
    # a public job is readable by anyone with the id
    q = "/" + uniq("pub")
    service([("POST", q)], {("POST", q)})
    job = submit(ST.gw, q)
    eq(poll_until_done(GW_B, job, headers={"X-API-Key": KEY_BOB}).status, 200,
       "public job, any caller")


@t.case
def malformed_ids_never_reach_redis():
    mon = Monitor(ST.redis.port)
    try:
        good = "0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9"
        bad = ["", "nope", good.upper(), good[:-1], good + "0", good + "/x",
               "0b7c2f0e-5c1c-1d3f-9a57-3c1f4bb1e2a9",      # version 1
               "0b7c2f0e-5c1c-4d3f-7a57-3c1f4bb1e2a9",      # not the RFC 4122 variant
               "0b7c2f0e5c1c4d3f9a573c1f4bb1e2a9xxxx", "%30b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9",
               "../jobs/" + good, "0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2ag"]
        for b in bad:
            for g in (ST.gw, GW_B):
                assert_error(g.http("GET", "/_portico/jobs/" + b), 404, "not_found")
        assert_error(ST.gw.http("GET", "/_portico/jobs"), 404, "not_found")
        # the sentinel: a well-formed unknown id is looked up
        assert_error(ST.gw.http("GET", "/_portico/jobs/" + good), 404, "not_found")
        wait_until(lambda: any(good in " ".join(c) for c in mon.commands()), 5, 0.02,
                   "the sentinel lookup in MONITOR")
        looked = [c for c in mon.commands() if any(":job:" in a for a in c)]
        eq(len(looked), 1, "job lookups in Redis (%r)" % (looked,))
        eq(looked[0][0].upper(), "HMGET", "lookup command")
    finally:
        mon.close()


@t.case
def other_methods_405():
    good = "0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9"
    for m in ["POST", "PUT", "DELETE", "PATCH"]:
        r = ST.gw.http(m, "/_portico/jobs/" + good, body=b"")
        assert_error(r, 405, "method_not_allowed")
        eq(r.header("allow"), "GET, HEAD", "Allow")


@t.case
def polls_are_rate_limited():
    """Each poll costs a Redis lookup: polls fall under the rate limit like a
    route /_portico/jobs/{id} (here the default rule of the flags)."""
    gw_f = Gateway(ST.tmpdir, ST.redis.url, ["--ratelimit-rps", "1", "--ratelimit-burst", "2"],
                   name="gateway-f")
    gw_f.start()
    try:
        gw_f.wait_healthy()
        path = "/_portico/jobs/0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9"
        codes = [gw_f.http("GET", path).status for _ in range(3)]
        eq(codes[:2], [404, 404], "within the burst")
        r = gw_f.http("GET", path)
        assert_error(r, 429, "rate_limited")
        check(r.header("retry-after") is not None, "429 has Retry-After")
    finally:
        gw_f.stop()


@t.case
def gateway_killed_mid_job():
    """The accepting gateway dies (SIGKILL): polls on the other answer 202
    before the record's deadline and 504 after it, never pending forever."""
    p = "/" + uniq("kill")
    gw_c = Gateway(ST.tmpdir, ST.redis.url, ["--async-timeout-ms", "3000"], name="gateway-c")
    gw_c.start()
    try:
        gw_c.wait_healthy()
        s = service([("POST", p)], {("POST", p)}, handler=lambda req: None,
                    gw=[gw_c, GW_B])
        job = submit(gw_c, p)
        s.wait_requests(1)
        os.kill(gw_c.pid, signal.SIGKILL)
        gw_c.proc.wait(10)
    finally:
        if gw_c.proc.poll() is None:
            gw_c.stop(check_clean=False)
    c = redis()
    deadline = int(c.command("HGET", "%s:job:%s" % (PREFIX, job), "deadline"))
    eq(c.command("HGET", "%s:job:%s" % (PREFIX, job), "state"), b"pending", "left pending")
    c.close()
    statuses = []

    def ended():
        before = now_ms()
        r = GW_B.http("GET", "/_portico/jobs/" + job)
        after = now_ms()
        statuses.append(r.status)
        if after < deadline:
            eq(r.status, 202, "poll before the deadline")
        elif before >= deadline:
            assert_error(r, 504, "timeout")
        return r.status == 504
    wait_until(ended, 60, 0.1, "504 after the deadline")
    check(statuses.count(504) == 1 and statuses[-1] == 504, "polls: %r" % (statuses,))


@t.case
def thousand_jobs_expire():
    """1,000 jobs (answered, and never answered) on a gateway with tiny TTLs:
    every record expires."""
    gw_d = Gateway(ST.tmpdir, ST.redis.url, ["--async-timeout-ms", "1000", "--job-ttl-ms", "200"],
                   name="gateway-d")
    gw_d.start()
    try:
        gw_d.wait_healthy()
        p, q = "/" + uniq("ok"), "/" + uniq("never")
        service([("POST", p)], {("POST", p)}, gw=[gw_d])
        service([("POST", q)], {("POST", q)}, handler=lambda req: None, gw=[gw_d])
        accepted = []
        errors = []

        def client(paths):
            try:
                with gw_d.raw() as raw:
                    for path in paths:
                        raw.send(req_bytes("POST", path, [("Prefer", "respond-async")], b"x"))
                        r = raw.read_response()
                        if r.status != 202:
                            errors.append(r)
                        else:
                            accepted.append(r.json()["job"])
            except Exception as e:  # noqa: BLE001
                errors.append(e)
        threads = [threading.Thread(target=client, args=([p, q] * 125,)) for _ in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        eq(errors, [], "every job accepted")
        eq(len(set(accepted)), 1000, "distinct job ids")
        wait_until(lambda: gw_d.metric("portico_jobs_total", result="completed") +
                   gw_d.metric("portico_jobs_total", result="timeout") >= 1000, 60, 0.2,
                   "every job ended")
        wait_until(lambda: not job_keys_of(accepted), 60, 0.2, "every job record expired")
        eq(gw_d.metric("portico_jobs_total", result="lost"), 0, "nothing lost")
    finally:
        gw_d.stop()


@t.case
def drain_with_jobs_in_flight():
    """SIGTERM: a job in flight holds the drain like any request (up to its
    deadline); a second signal exits at once, cleanly, the job left pending
    in its record (504 once its deadline passes)."""
    p = "/" + uniq("drain")
    gw_e = Gateway(ST.tmpdir, ST.redis.url, ["--async-timeout-ms", "60000"], name="gateway-e")
    gw_e.start()
    try:
        gw_e.wait_healthy()
        s = service([("POST", p)], {("POST", p)}, handler=lambda req: None, gw=[gw_e])
        job = submit(gw_e, p)
        s.wait_requests(1)
        gw_e.signal(signal.SIGTERM)
        wait_until(lambda: "draining (1 in flight)" in gw_e.stderr_text(), 10, 0.02,
                   "the drain to start")
        check(gw_e.proc.poll() is None, "a job in flight holds the drain")
        gw_e.signal(signal.SIGTERM)
        rc = gw_e.wait_exit(15)
        gw_e.check_clean_exit(rc)
    finally:
        if gw_e.proc.poll() is None:
            gw_e.stop(check_clean=False)
    r = GW_B.http("GET", "/_portico/jobs/" + job)
    eq(r.status, 202, "left pending until its deadline")


@t.case
def acl_recipe_allows_jobs():
    """examples/acl/portico.acl: the gateway user may write and read job
    records and publish their completion; a service user reads no record."""
    import shutil
    import tempfile
    acl = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                        "examples", "acl", "portico.acl"))
    tmp = tempfile.mkdtemp(prefix="portico-it-jobs-acl-")
    shutil.copy(acl, os.path.join(tmp, "portico.acl"))
    gw_auth = {"user": "portico-gateway", "password": "CHANGE-ME-gateway"}
    svc_auth = {"user": "svc-users", "password": "CHANGE-ME-users"}
    red = SecureRedis(tmp, extra=["--aclfile", os.path.join(tmp, "portico.acl")], auth=gw_auth)
    red.start()
    gw = svc = None
    try:
        gw = Gateway(tmp, "redis://%s:%s@127.0.0.1:%d" % (gw_auth["user"], gw_auth["password"],
                                                           red.port), name="gateway-acl")
        gw.start()
        gw.wait_healthy()

        class AclService(AsyncService):
            def _client(self):
                return AuthClient(port=red.port, **svc_auth)
        p = "/users/report"
        svc = AclService(red.port, "users", instance="users-" + uniq("a"),
                         routes=[("POST", p)], async_routes={("POST", p)})
        svc.start()
        gw.wait_route("POST", p, svc.instance)
        sub = AuthClient(port=red.port, **svc_auth)
        job = submit(gw, p)
        r = poll_until_done(gw, job)
        eq(r.status, 200, "job done through the ACL-locked bus")
        eq(gw.metric("portico_jobs_total", result="completed"), 1, "completed, not lost")
        eq(gw.metric("portico_jobs_total", result="lost"), 0, "nothing lost")
        try:
            sub.command("HGETALL", "%s:job:%s" % (PREFIX, job))
            fail = True
        except Exception:  # noqa: BLE001
            fail = False
        check(not fail, "a service user cannot read job records")
        sub.close()
    finally:
        if svc:
            svc.stop()
        if gw:
            gw.stop()
        red.stop(kill=True)
        shutil.rmtree(tmp, ignore_errors=True)


def job_keys_of(ids):
    want = set("%s:job:%s" % (PREFIX, i) for i in ids)
    return [k for k in job_keys() if k.decode() in want]


@t.case
def record_not_written():
    """Redis refuses the record (out of memory): 503 bus_unavailable, nothing
    forwarded; Redis down: 503 as for every request."""
    p = "/" + uniq("oom")
    s = service([("POST", p)], {("POST", p)})
    c = redis()
    try:
        c.command("CONFIG", "SET", "maxmemory-policy", "noeviction")
        c.command("CONFIG", "SET", "maxmemory", "1")
        r = ST.gw.http("POST", p, headers=PREFER, body=b"x")
        assert_error(r, 503, "bus_unavailable")
    finally:
        c.command("CONFIG", "SET", "maxmemory", "0")
        c.close()
    check(ST.gw.metric("portico_jobs_total", result="refused") >= 1, "refused counted")
    eq(s.n_requests(), 0, "nothing forwarded")
    ST.redis.stop()
    try:
        wait_until(lambda: ST.gw.admin_get("/health")[0] == 503, 10, 0.05, "bus down")
        r = ST.gw.http("POST", p, headers=PREFER, body=b"x")
        assert_error(r, 503, "bus_unavailable")
        r = ST.gw.http("GET", "/_portico/jobs/0b7c2f0e-5c1c-4d3f-9a57-3c1f4bb1e2a9")
        assert_error(r, 503, "bus_unavailable")
    finally:
        ST.redis.start()
    eq(s.n_requests(), 0, "nothing forwarded")


def setup():
    global ST, GW_B
    st = Stack(start_gateway=False, name="jobs")
    with open(os.path.join(st.tmpdir, "auth.json"), "w") as f:
        json.dump(POLICY, f)
    args = ["--auth-file", os.path.join(st.tmpdir, "auth.json"), "--auth-fail-limit", "0",
            "--async-timeout-ms", str(ASYNC_MS), "--max-reply-bytes", str(MAX_REPLY)]
    st.start_gateway(args)
    GW_B = Gateway(st.tmpdir, st.redis.url, args, name="gateway-b")
    GW_B.start()
    GW_B.wait_healthy()
    ST = st
    return st


def teardown(st):
    try:
        GW_B.stop()
    finally:
        st.close()


if __name__ == "__main__":
    t.main(setup, teardown)
