#!/usr/bin/env python3
"""Wire version 2 (SPEC §13, protocol.md "Wire version 2"): a service that
announces "wire":2 gets v2 requests (a one-line JSON head, "\\n", the raw
body), one that does not gets v1, both behind one gateway; raw bodies of every
byte value and JSON bodies, sizes 0, 1, 4 KiB and 1 MiB (by claim check) both
ways, byte-exact; a v1 service may reply v2; every bad v2 reply of §13 is a
502 (matchable) or dropped (not), each counted in portico_bad_replies_total;
a retry to an instance of the other version is re-encoded."""

import base64
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (PREFIX, Monitor, Runner, Service, Stack, assert_error, body_of,  # noqa: E402
                     check, eq, req_bytes, uniq, wait_until)

t = Runner()
ST = None
ALL_BYTES = bytes(range(256))
MIB = 1024 * 1024
JSON_BODY = json.dumps({"name": "Ann \u00e9", "tags": ["a\nb", "\"q\""], "n": 1}).encode()


def head_line(head):
    """A compact one-line head: no raw newline can appear in it."""
    return json.dumps(head, separators=(",", ":")).encode()


def encode_v2(head, body=b""):
    h = dict(head)
    h["v"] = 2
    if body:
        h["body_len"] = len(body)
    return head_line(h) + b"\n" + body


def decode_any(data):
    """A request in either version -> dict with _wire and _body (a v2 body must be exactly body_len)."""
    nl = data.find(b"\n")
    if nl >= 0:
        try:
            head = json.loads(data[:nl])
        except ValueError:
            head = None
        if isinstance(head, dict) and head.get("v") == 2:
            rest = data[nl + 1:]
            check("body" not in head and "body_encoding" not in head, "body in a v2 head")
            if "body_ref" in head:
                eq(rest, b"", "bytes after a claim-checked v2 head")
            else:
                eq(head.get("body_len", 0), len(rest), "body_len of a v2 request")
            head["_wire"], head["_body"] = 2, rest
            return head
    m = json.loads(data.decode("utf-8"))
    eq(m.get("v"), 1, "version of a request without a v2 head")
    m["_wire"], m["_body"] = 1, body_of(m)
    return m


class V2Service(Service):
    """A service on raw Redis that announces "wire":2 and replies v2; with
    announce=False a v1 service that takes v1 only (a v2 request is recorded
    as bad and not answered) and replies in reply_wire."""

    def __init__(self, *a, reply_wire=2, announce=True, **kw):
        extra = dict(kw.pop("extra_fields", None) or {})
        if announce:
            extra["wire"] = 2
        super().__init__(*a, extra_fields=extra, **kw)
        self.reply_wire = reply_wire
        self.announce = announce

    def _on_request(self, data):
        try:
            req = decode_any(data)
            check(self.announce or req["_wire"] == 1, "v2 to a v1 instance")
        except Exception:  # noqa: BLE001
            with self._lock:
                self.bad_messages.append(data)
            return
        with self._lock:
            self.requests.append(req)
            self.count_by_id[req.get("id")] += 1
        self._run_handler(req)

    def publish_reply(self, req, reply):
        if not isinstance(reply, dict) or self.reply_wire != 2:
            return super().publish_reply(req, reply)
        h = {k: v for k, v in reply.items() if k != "body"}
        h.setdefault("id", req["id"])
        body = reply.get("body", b"")
        body = body.encode() if isinstance(body, str) else body
        if self.claim_check and len(body) > self.claim_check_bytes:
            key = "%s:body:%s:rep" % (self.prefix, h["id"])
            self.redis_command("SET", key, body, "PX", 60000)
            h.update(body_ref=key, body_len=len(body))
            body = b""
        return self._publish(req["reply_to"], encode_v2(h, body))


def echo(req):
    return {"status": 200, "headers": [["content-type", "application/octet-stream"]],
            "body": req["_body"]}


def add(svc):
    ST.services.append(svc)
    svc.start()
    for m, p in svc.routes:
        ST.gw.wait_route(m, p, svc.instance)
    return svc


def v2_service(routes, handler=echo, **kw):
    base = "/" + uniq("w2")
    svc = V2Service(ST.redis.port, uniq("v2svc"), routes=[(m, base + p) for m, p in routes],
                    handler=handler, **kw)
    return add(svc), base


def v1_service(routes, handler=echo, reply_wire=1, **kw):
    base = "/" + uniq("w1")
    svc = V2Service(ST.redis.port, uniq("v1svc"), routes=[(m, base + p) for m, p in routes],
                    handler=handler, announce=False, reply_wire=reply_wire, **kw)
    return add(svc), base


def bad_replies():
    return ST.gw.metric("portico_bad_replies_total")


BODIES = [("empty", b""), ("one", b"\x00"), ("all_bytes", ALL_BYTES), ("4k", os.urandom(4096)),
          ("json", JSON_BODY), ("newlines", b"\n\n{\"v\":2}\n")]


@t.case
def v1_and_v2_services_side_by_side():
    s2, b2 = v2_service([("POST", "/e")])
    s1, b1 = v1_service([("POST", "/e")])
    for name, body in BODIES:
        for svc, base, wire in ((s2, b2, 2), (s1, b1, 1)):
            r = ST.gw.http("POST", base + "/e", body=body,
                           headers={"content-type": "application/octet-stream"})
            eq(r.status, 200, "status (%s, v%d service)" % (name, wire))
            eq(r.body, body, "body echoed byte-exact (%s, v%d service)" % (name, wire))
            rq = svc.last_request()
            eq(rq["_wire"], wire, "version the v%d service was sent (%s)" % (wire, name))
            eq(rq["_body"], body, "request body as received (%s, v%d)" % (name, wire))
    eq((s1.bad_messages, s2.bad_messages), ([], []), "undecodable requests")


@t.case
def json_body_travels_unescaped():
    """The v2 request carries the JSON body as it is: no escaping, no base64."""
    mon = Monitor(ST.redis.port)
    try:
        s2, b2 = v2_service([("POST", "/j")])
        r = ST.gw.http("POST", b2 + "/j", body=JSON_BODY, headers={"content-type": "application/json"})
        eq((r.status, r.body), (200, JSON_BODY), "JSON echoed")
        pubs = wait_until(lambda: [m for ch, m in mon.publishes(PREFIX + ":svc:" + s2.instance)],
                          5, 0.02, "the request seen by MONITOR")
        eq(len(pubs), 1, "requests published to the v2 instance")
        check(pubs[0].startswith('{"v":2,'), "a v2 head: %r" % pubs[0][:80])
        check('"body_len":%d}' % len(JSON_BODY) in pubs[0], "body_len in the head: %r" % pubs[0])
        check('"body"' not in pubs[0] and "body_encoding" not in pubs[0], "no body field")
    finally:
        mon.close()


@t.case
def long_head_small_request():
    """A head far longer than the request that made it (a 2 KB route
    pattern, 30 params with long names, a short path): the gateway cannot put
    it in front of the body where it lies, and copies the body instead;
    both ways give the same message."""
    names = ["p%02d_%s" % (i, "n" * 56) for i in range(30)]
    pattern = "/" + "/".join("{%s}" % n for n in names)
    base = "/" + uniq("lh")
    check(len(base + pattern) <= 2048, "pattern within PC_PATTERN_MAX")
    svc = add(V2Service(ST.redis.port, uniq("lhsvc"), routes=[("POST", base + pattern)],
                        handler=echo))
    for body in (ALL_BYTES, JSON_BODY, os.urandom(70000)):
        r = ST.gw.http("POST", base + "/" + "/".join(str(i) for i in range(30)), body=body)
        eq((r.status, r.body), (200, body), "echo through a long head")
        rq = svc.last_request()
        eq((rq["_wire"], rq["_body"]), (2, body), "v2 request")
        eq(rq["params"][names[29]], "29", "a param")
        check(len(head_line({k: v for k, v in rq.items() if not k.startswith("_")})) > 3000,
              "the head is long")


@t.case
def one_mib_by_claim_check_both_versions():
    big = os.urandom(MIB)
    s2, b2 = v2_service([("PUT", "/big")], claim_check=True)
    s1, b1 = v1_service([("PUT", "/big")], claim_check=True)
    before = ST.gw.metric("portico_claim_checks_total", direction="request", result="stored")
    for svc, base, wire in ((s2, b2, 2), (s1, b1, 1)):
        r = ST.gw.http("PUT", base + "/big", body=big, timeout=60)
        eq(r.status, 200, "status (v%d)" % wire)
        check(r.body == big, "1 MiB echoed byte-exact (v%d, %d bytes back)" % (wire, len(r.body)))
        rq = svc.last_request()
        eq(rq["_wire"], wire, "version (v%d)" % wire)
        check("body_ref" in rq and rq["body_len"] == MIB, "claim-checked request (v%d)" % wire)
    eq(ST.gw.metric("portico_claim_checks_total", direction="request", result="stored") - before,
       2.0, "request bodies stored")
    c = ST.redis.client()
    try:
        wait_until(lambda: c.command("KEYS", PREFIX + ":body:*") == [], 5, 0.05, "no body key left")
    finally:
        c.close()


@t.case
def v1_service_may_reply_v2():
    """A service that announced nothing gets v1 and may still answer v2."""
    def reply_v2(req):
        return encode_v2({"id": req["id"], "status": 201,
                          "headers": [["content-type", "application/octet-stream"]]},
                         ALL_BYTES + req["_body"])
    s1, b1 = v1_service([("POST", "/r")], handler=reply_v2)
    r = ST.gw.http("POST", b1 + "/r", body=b"tail")
    eq((r.status, r.body), (201, ALL_BYTES + b"tail"), "v2 reply to a v1 request")
    eq(r.header("content-type"), "application/octet-stream", "content-type")
    eq(s1.last_request()["_wire"], 1, "the request was v1")
    # and an empty one: the head and its newline only
    s1b, b1b = v1_service([("GET", "/n")], handler=lambda req: head_line(
        {"v": 2, "id": req["id"], "status": 204}) + b"\n")
    r = ST.gw.http("GET", b1b + "/n")
    eq((r.status, r.body), (204, b""), "v2 reply without a body")


@t.case
def v2_service_may_reply_v1():
    s2, b2 = v2_service([("POST", "/o")], reply_wire=1)
    r = ST.gw.http("POST", b2 + "/o", body=ALL_BYTES)
    eq((r.status, r.body), (200, ALL_BYTES), "v1 reply to a v2 request")
    eq(s2.last_request()["_wire"], 2, "the request was v2")


# Bad replies (SPEC §13): each made from the request it answers.
def head(req, **kw):
    h = {"v": 2, "id": req["id"], "status": 200, "headers": []}
    h.update(kw)
    return head_line(h)


BAD_MATCHABLE = [
    ("no_newline", lambda q: head(q)),
    ("no_newline_with_len", lambda q: head(q, body_len=3)),
    ("no_newline_body_follows", lambda q: head(q, body_len=5) + b"hello"),
    ("no_newline_body_with_newline", lambda q: head(q, body_len=5) + b"he\nlo"),
    ("len_short", lambda q: head(q, body_len=5) + b"\nabc"),
    ("len_long", lambda q: head(q, body_len=2) + b"\nabc"),
    ("len_absent", lambda q: head(q) + b"\nabc"),
    ("len_negative", lambda q: head(q, body_len=-1) + b"\n"),
    ("body_field", lambda q: head(q, body="abc") + b"\n"),
    ("body_field_and_len", lambda q: head(q, body="abc", body_len=3) + b"\nabc"),
    ("body_encoding", lambda q: head(q, body_encoding="base64", body_len=4) + b"\naGk="),
    ("ref_then_bytes", lambda q: head(q, body_ref="%s:body:%s:rep" % (PREFIX, q["id"]),
                                      body_len=3) + b"\nabc"),
]


@t.case
def bad_v2_replies_are_502_and_counted():
    for name, make in BAD_MATCHABLE:
        s2, b2 = v2_service([("GET", "/b")], handler=make)
        n0 = bad_replies()
        r = ST.gw.http("GET", b2 + "/b")
        assert_error(r, 502, "bad_reply")
        eq(bad_replies() - n0, 1.0, "bad replies counted (%s)" % name)
        s2.stop()


@t.case
def unmatchable_v2_replies_are_dropped_and_counted():
    """A head that is not JSON names no request: dropped, counted; the request times out."""
    cases = [("head_not_json", lambda q: b'{"v":2,"id":"%s","status":200\nabc' % q["id"].encode()),
             ("head_garbage", lambda q: b"v=2 id=%s\n{}" % q["id"].encode()),
             ("v3_head", lambda q: head(q, v=3, body_len=3) + b"\nabc")]
    for name, make in cases:
        s2, b2 = v2_service([("GET", "/u")], handler=make, timeout_ms=1000)
        n0 = bad_replies()
        late0 = ST.gw.metric("portico_late_replies_total")
        r = ST.gw.http("GET", b2 + "/u")
        assert_error(r, 504, "timeout")
        eq(bad_replies() - n0, 1.0, "dropped reply counted (%s)" % name)
        eq(ST.gw.metric("portico_late_replies_total") - late0, 0.0, "not late (%s)" % name)
        s2.stop()


@t.case
def retry_to_other_version_is_reencoded():
    """One route, a v2 and a v1 instance: a PUBLISH answered 0 by the first
    pick sends the request to the other, in the other's version."""
    base = "/" + uniq("mix")
    name = uniq("mixsvc")
    got = []

    def rec(req):
        got.append(req["_wire"])
        return echo(req)
    a = add(V2Service(ST.redis.port, name, routes=[("POST", base + "/m")], handler=rec))
    b = add(V2Service(ST.redis.port, name, routes=[("POST", base + "/m")], handler=rec,
                      announce=False, reply_wire=1))
    for i in range(8):  # least in flight, then round robin: both are picked
        body = ALL_BYTES + str(i).encode()
        r = ST.gw.http("POST", base + "/m", body=body)
        eq((r.status, r.body), (200, body), "echo %d" % i)
    eq({x["_wire"] for x in a.requests}, {2}, "the v2 instance got v2 only")
    eq({x["_wire"] for x in b.requests}, {1}, "the v1 instance got v1 only")
    # a silent unsubscribe of the v2 instance: its PUBLISH answers 0, the v1
    # one is tried next with the same request re-encoded in v1
    a.stop(deregister=False)
    n_b = b.n_requests()
    for i in range(4):
        body = JSON_BODY + str(i).encode()
        r = ST.gw.http("POST", base + "/m", body=body)
        eq((r.status, r.body), (200, body), "after the v2 instance left %d" % i)
    eq(b.bad_messages, [], "undecodable requests at the v1 instance")
    check(n_b + 4 == b.n_requests(), "the v1 instance took the 4 requests after")


def stream_msgs(req, parts):
    """The messages of a stream answering req: a first message (v2, raw
    body) and one continuation per part; each part is (wire, body, more)."""
    first = encode_v2({"id": req["id"], "status": 200, "more": True,
                       "headers": [["content-type", "application/octet-stream"]]}, ALL_BYTES)
    out = [first]
    for seq, (wire, body, more) in enumerate(parts, 1):
        h = {"id": req["id"], "seq": seq, "more": more}
        if wire == 2:
            out.append(encode_v2(h, body))
        else:
            h.update(v=1, body=base64.b64encode(body).decode(), body_encoding="base64")
            out.append(json.dumps(h).encode())
    return out


def streams(result):
    return ST.gw.metric("portico_streams_total", result=result)


@t.case
def v2_stream_reaches_the_client():
    """A streamed reply in v2 ("more"/"seq" in the head, raw bodies after
    it), a v1 continuation in the middle (each message is read on its own),
    an empty v2 last message: the client gets every byte, chunked."""
    parts = [(2, JSON_BODY + b"\n\n", True), (1, b"\x00\xff mixed", True),
             (2, b"\n{\"v\":2}\n", True), (2, b"", False)]

    def streamer(req):
        if req.get("cancel"):
            return None
        for m in stream_msgs(req, parts):
            svc._publish(req["reply_to"], m)
        return None
    svc, base = v2_service([("GET", "/s")], handler=streamer)
    c0, b0 = streams("completed"), bad_replies()
    r = ST.gw.http("GET", base + "/s", check_frame=False)
    eq(r.status, 200, "status")
    eq(r.header("transfer-encoding"), "chunked", "chunked")
    eq(r.body, ALL_BYTES + b"".join(p[1] for p in parts), "the stream's bytes")
    eq([x["_wire"] for x in svc.requests], [2], "the request was v2")
    wait_until(lambda: streams("completed") == c0 + 1, 10, msg="completed counted")
    eq(bad_replies(), b0, "no bad reply")


@t.case
def bad_v2_continuation_aborts_the_stream():
    """A v2 continuation whose body_len disagrees with its bytes: the
    stream is cut short (bad_message), and the instance gets a cancel."""
    def streamer(req):
        if req.get("cancel"):
            return None
        first, nxt = stream_msgs(req, [(2, b"abc", True)])
        svc._publish(req["reply_to"], first)
        svc._publish(req["reply_to"], nxt[:-1])  # body_len 3, 2 bytes follow
        return None
    svc, base = v2_service([("GET", "/s")], handler=streamer)
    a0 = streams("bad_message")
    c = ST.gw.raw()
    c.send(req_bytes("GET", base + "/s"))
    while not c.eof:
        try:
            if not c._fill(10):
                break
        except OSError:
            break
    check(c.buf.startswith(b"HTTP/1.1 200 "), "the head went out: %r" % c.buf[:60])
    check(not c.buf.endswith(b"0\r\n\r\n"), "no last chunk: %r" % c.buf[-20:])
    c.close()
    wait_until(lambda: streams("bad_message") == a0 + 1, 10, msg="bad_message counted")
    wait_until(lambda: [x for x in svc.requests if x.get("cancel")], 10, msg="cancel")


@t.case
def cancel_follows_the_instance_version():
    """The cancel goes in the instance's version (SPEC §13: stream messages
    follow the rule): a v2 head with nothing after its newline to an
    instance that announced "wire":2, version 1 to one that did not
    (protocol.md 4.2, 4.3)."""
    for make, wire in ((v2_service, 2), (v1_service, 1)):
        holder = []

        def streamer(req):
            if not req.get("cancel"):
                holder[0]._publish(req["reply_to"], stream_msgs(req, [])[0])
            return None
        svc, base = make([("GET", "/s")], handler=streamer)
        holder.append(svc)
        g0 = streams("client_gone")
        c = ST.gw.raw()
        c.send(req_bytes("GET", base + "/s"))
        while b"\r\n\r\n" not in c.buf:
            check(c._fill(10), "closed before the head")
        c.close()
        wait_until(lambda: [x for x in svc.requests if x.get("cancel")], 10, msg="cancel")
        req, cancel = svc.requests[0], [x for x in svc.requests if x.get("cancel")][0]
        eq((req["_wire"], cancel["_wire"]), (wire, wire), "request and cancel in v%d" % wire)
        eq({k: v for k, v in cancel.items() if not k.startswith("_")},
           {"v": wire, "id": req["id"], "cancel": True}, "the v%d cancel message" % wire)
        eq(cancel.get("_body", b""), b"", "nothing after the cancel (v%d)" % wire)
        eq(streams("client_gone"), g0 + 1, "client_gone counted (v%d)" % wire)


def setup():
    global ST
    ST = Stack(name="wire2")
    return ST


if __name__ == "__main__":
    t.main(setup=setup, teardown=lambda st: st.close())
