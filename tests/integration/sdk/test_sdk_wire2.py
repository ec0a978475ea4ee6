#!/usr/bin/env python3
"""The SDK and wire version 2 (SPEC §13, docs/sdk.md): an SDK service
announces "wire":2 and gets v2 requests from the gateway; it answers each
request in that request's version (v1 and v2 published straight onto its
channel, bodies of every byte value); a bad v2 request (head not JSON, no
newline, body_len disagreeing with the bytes, a body field in the head) is
dropped, and the next good one answered; portico_call speaks v2 to an SDK
(v2) instance and v1 to a service that announced nothing; a v1 caller
calling an SDK service gets a v1 reply."""
import base64
import json
import os
import sys
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sdkutil import (Procs, Stack, check, echo, eq, json_of, orders, request_message,  # noqa: E402
                     users, procs_teardown)
from harness import Monitor, Runner, Service, now_ms, wait_until  # noqa: E402

t = Runner()
ctx = {}
ALL_BYTES = bytes(range(256))
JSON_BODY = json.dumps({"name": "Ann \u00e9", "list": ["a\nb", "\"q\""]}).encode()


def setup():
    st = Stack(gateway_args=["--route-grace-ms", "0", "--timeout-ms", "3000"], name="sdk-wire2")
    ctx["procs"] = Procs()
    ctx["echo"] = ctx["procs"].add(echo(st))
    st.gw.wait_route("*", "/echo/*", ctx["echo"].instance)
    return st


teardown = procs_teardown(ctx)


def split_v2(data):
    """(head dict, body bytes) of a v2 message; fails on anything else."""
    nl = data.find(b"\n")
    check(nl > 0, "a v2 message has a newline: %r" % data[:200])
    head = json.loads(data[:nl])
    eq(head.get("v"), 2, "v of the head")
    rest = data[nl + 1:]
    eq(head.get("body_len", 0), len(rest), "body_len against the bytes that follow")
    check("body" not in head and "body_encoding" not in head, "no body in a v2 head")
    return head, rest


def v2_request(reply_to, body=b"", **kw):
    m = request_message(reply_to, **kw)
    m["v"] = 2
    if body:
        m["body_len"] = len(body)
    return json.dumps(m, separators=(",", ":")).encode() + b"\n" + body, m["id"]


def published(mon, prefix, n):
    """The messages PUBLISHed on channels starting with prefix, once MONITOR's
    thread has read at least n of them."""
    def got():
        ms = [m for ch, m in mon.publishes(prefix)]
        return ms if len(ms) >= n else None
    return wait_until(got, 5, 0.02, "%d PUBLISH on %s* seen by MONITOR" % (n, prefix))


def reply_sub(st):
    ch = "portico:reply:" + str(uuid.uuid4())
    sub = st.redis.client()
    sub.subscribe(ch)
    return sub, ch


def next_reply(sub):
    m = sub.get_message(timeout=10)
    check(m is not None, "no reply")
    return m[1]


@t.case
def registers_with_wire_2(st):
    sub = st.redis.client()
    sub.subscribe("portico:register")
    try:
        st.redis.client().publish("portico:discover", '{"v":1,"type":"discover"}')
        while True:
            m = sub.get_message(timeout=10)
            check(m is not None, "no register message after discover")
            reg = json.loads(m[1])
            if reg.get("instance") == ctx["echo"].instance:
                break
        eq((reg["v"], reg["type"], reg.get("wire")), (1, "register", 2), "register message")
    finally:
        sub.close()


@t.case
def gateway_speaks_v2_to_the_sdk(st):
    mon = Monitor(st.redis.port)
    try:
        r = st.gw.http("POST", "/echo/j", body=JSON_BODY,
                       headers={"content-type": "application/json"})
        eq(r.status, 200, "status")
        got = json_of(r)
        eq((got["body"], got["body_length"]), (JSON_BODY.decode(), len(JSON_BODY)), "body seen")
        r = st.gw.http("PUT", "/echo/b", body=ALL_BYTES * 16)
        eq((r.status, json_of(r)["body_length"]), (200, 4096), "binary body length seen")
        r = st.gw.http("GET", "/echo/e")
        eq((r.status, json_of(r)["body_length"]), (200, 0), "no body")
        # MONITOR's lines are read by a thread: wait for them
        to_svc = published(mon, "portico:svc:" + ctx["echo"].instance, 3)
        eq(len(to_svc), 3, "requests published")
        check(all(m.startswith('{"v":2,') for m in to_svc), "v2 requests: %r" % to_svc[0][:60])
        replies = published(mon, "portico:reply:", 3)
        eq(len(replies), 3, "replies published")
        check(all(m.startswith('{"v":2,') for m in replies), "v2 replies: %r" % [
            m[:40] for m in replies])
    finally:
        mon.close()


@t.case
def replies_in_the_request_version(st):
    sub, ch = reply_sub(st)
    pub = st.redis.client()
    svc_ch = "portico:svc:" + ctx["echo"].instance
    try:
        for body in (b"", b"\x00", ALL_BYTES, JSON_BODY, os.urandom(5000)):
            # v1: base64 in the JSON; the reply comes back v1
            m = request_message(ch, method="POST", path="/echo/v1", route="/echo/*",
                                params={"*": "v1"})
            if body:
                m.update(body=base64.b64encode(body).decode(), body_encoding="base64")
            eq(pub.publish(svc_ch, json.dumps(m)), 1, "receivers")
            rep = json.loads(next_reply(sub))
            eq((rep["v"], rep["id"], rep["status"]), (1, m["id"], 200), "v1 reply")
            eq(json.loads(rep["body"])["body_length"], len(body), "v1 body length seen")
            # v2: raw; the reply comes back v2
            data, rid = v2_request(ch, body, method="POST", path="/echo/v2", route="/echo/*",
                                   params={"*": "v2"})
            eq(pub.publish(svc_ch, data), 1, "receivers")
            head, rbody = split_v2(next_reply(sub))
            eq((head["id"], head["status"]), (rid, 200), "v2 reply")
            seen = json.loads(rbody)
            eq(seen["body_length"], len(body), "v2 body length seen")
            if body == JSON_BODY:
                eq(seen["body"], JSON_BODY.decode(), "JSON body seen as sent")
    finally:
        sub.close()
        pub.close()


@t.case
def bad_v2_requests_are_dropped(st):
    sub, ch = reply_sub(st)
    pub = st.redis.client()
    svc_ch = "portico:svc:" + ctx["echo"].instance
    good, _ = v2_request(ch, b"x", path="/echo/x", route="/echo/*", params={"*": "x"})
    line = good.split(b"\n")[0]
    bads = [
        ("head_not_json", line[:-5] + b"\nx"),
        ("no_newline", line),
        ("len_short", line.replace(b'"body_len":1', b'"body_len":2') + b"\nx"),
        ("len_long", line + b"\nxy"),
        ("len_absent", line.replace(b',"body_len":1', b"") + b"\nx"),
        ("body_field", line.replace(b'"body_len":1', b'"body_len":1,"body":"x"') + b"\nx"),
        ("body_encoding", line.replace(b'"body_len":1', b'"body_len":1,"body_encoding":"base64"')
         + b"\nx"),
    ]
    try:
        for name, data in bads:
            check(data != good, "case %s differs from the good message" % name)
            eq(pub.publish(svc_ch, data), 1, "receivers (%s)" % name)
        data, rid = v2_request(ch, b"ok", path="/echo/ok", route="/echo/*", params={"*": "ok"})
        eq(pub.publish(svc_ch, data), 1, "receivers")
        # replies on one channel keep their order: the first one is the good one's
        head, _ = split_v2(next_reply(sub))
        eq(head["id"], rid, "the first reply answers the good request (the bad ones were dropped)")
        ctx["echo"].assert_alive()
        wait_until(lambda: "bad request message dropped" in ctx["echo"].stderr_text(), 5, 0.05,
                   "the drop logged")
    finally:
        sub.close()
        pub.close()


def stream_replies(sub, rid, wire):
    """The messages of the stream answering rid, up to "more":false, each
    checked to be in version wire; returns (first head, [(seq, body)])."""
    first, rest = None, []
    while True:
        data = next_reply(sub)
        if wire == 2:
            head, body = split_v2(data)
        else:
            check(not data.startswith(b'{"v":2'), "a v1 message: %r" % data[:60])
            head = json.loads(data)
            eq(head["v"], 1, "v of a stream message")
            body = head.get("body", "").encode()
        eq(head["id"], rid, "id of a stream message")
        if first is None:
            eq((head.get("status"), head.get("more"), head.get("seq", 0)), (200, True, 0),
               "the first message")
            first = head
            continue
        rest.append((head["seq"], body))
        if head["more"] is False:
            return first, rest
        eq(head["more"], True, "more of a continuation")


@t.case
def streams_in_the_request_version(st):
    """portico_stream_*: the stream of a v2 request is v2 ("more"/"seq" in
    the head, the lines raw after it), of a v1 request v1."""
    sub, ch = reply_sub(st)
    pub = st.redis.client()
    svc_ch = "portico:svc:" + ctx["echo"].instance
    try:
        for wire in (2, 1):
            kw = dict(path="/echo/s", route="/echo/*", params={"*": "s"}, query="stream=3")
            if wire == 2:
                data, rid = v2_request(ch, **kw)
            else:
                m = request_message(ch, **kw)
                data, rid = json.dumps(m), m["id"]
            eq(pub.publish(svc_ch, data), 1, "receivers")
            first, rest = stream_replies(sub, rid, wire)
            check(["content-type", "text/plain"] in first["headers"], "content-type: %r" % first)
            eq([q for q, _ in rest], list(range(1, len(rest) + 1)), "seq 1, 2, ... (v%d)" % wire)
            eq(b"".join(b for _, b in rest), b"1\n2\n3\n", "the lines (v%d)" % wire)
        # and through the gateway (which sends v2 to the SDK)
        r = st.gw.http("GET", "/echo/x?stream=4", check_frame=False)
        eq((r.status, r.body), (200, b"1\n2\n3\n4\n"), "a stream through the gateway")
    finally:
        sub.close()
        pub.close()


@t.case
def cancel_in_either_version_stops_a_stream(st):
    """The gateway's cancel is v1; a v2 cancel head is taken as well: each
    reaches the handler's cancel callback of a stream begun for a v2 request."""
    sub, ch = reply_sub(st)
    pub = st.redis.client()
    svc_ch = "portico:svc:" + ctx["echo"].instance
    try:
        for n, wire in enumerate((1, 2), 1):
            data, rid = v2_request(ch, path="/echo/s", route="/echo/*", params={"*": "s"},
                                   query="stream=1000000&every_ms=20")
            eq(pub.publish(svc_ch, data), 1, "receivers")
            split_v2(next_reply(sub))  # the first message: the stream has begun
            cancel = {"v": wire, "id": rid, "cancel": True}
            cdata = json.dumps(cancel, separators=(",", ":")).encode()
            eq(pub.publish(svc_ch, cdata + b"\n" if wire == 2 else cdata), 1, "receivers")
            wait_until(lambda: ctx["echo"].stderr_text().count("cancelled after") >= n, 10, 0.05,
                       "the cancel callback (v%d cancel)" % wire)
            ctx["echo"].assert_alive()
    finally:
        sub.close()
        pub.close()


@t.case
def calls_v2_to_sdk_v1_to_others_and_v1_callers(st):
    procs = Procs()
    mon = Monitor(st.redis.port)
    try:
        u = procs.add(users(st))
        o = procs.add(orders(st))
        st.gw.wait_route("GET", "/users/{id}", u.instance)
        st.gw.wait_route("POST", "/orders", o.instance)
        uid = json_of(st.gw.http("POST", "/users", body=b'{"name":"Ada"}',
                                 headers={"content-type": "application/json"}))["id"]

        def place(user_id):
            return st.gw.http("POST", "/orders", body=json.dumps(
                {"user_id": user_id, "item": "book", "qty": 1}).encode(),
                headers={"content-type": "application/json"})
        r = place(uid)
        eq((r.status, json_of(r)["user_name"]), (201, "Ada"), "order placed (v2 call)")
        calls = wait_until(lambda: [m for ch, m in mon.publishes("portico:svc:" + u.instance)
                                    if '"path":"/users/%s"' % uid in m and '"method":"GET"' in m],
                           5, 0.02, "the call seen by MONITOR")
        eq(len(calls), 1, "the call on the users instance's channel")
        check(calls[0].startswith('{"v":2,'), "the call is v2: %r" % calls[0][:60])

        # a v1 caller (raw Redis) calling the SDK service: a v1 reply
        sub, ch = reply_sub(st)
        try:
            m = request_message(ch, path="/users/" + uid, route="/users/{id}",
                                params={"id": uid}, deadline_ms=now_ms() + 10000)
            st.redis.client().publish("portico:svc:" + u.instance, json.dumps(m))
            rep = json.loads(next_reply(sub))
            eq((rep["v"], rep["id"], rep["status"]), (1, m["id"], 200), "v1 reply to a v1 call")
            eq(json.loads(rep["body"])["name"], "Ada", "the user")
        finally:
            sub.close()

        # the SDK users leaves; a service that announced nothing takes over
        u.stop()
        v1 = Service(st.redis.port, "users", routes=[("GET", "/users/{id}")], handler=lambda q: {
            "status": 200, "headers": [["content-type", "application/json"]],
            "body": json.dumps({"id": q["params"]["id"], "name": "Bob"})})
        st.services.append(v1)
        v1.start()
        st.gw.wait_route("GET", "/users/{id}", v1.instance)

        def placed():
            r = place("7")
            return r if r.status == 201 else None
        r = wait_until(placed, 10, 0.1, "an order placed through the v1 users service")
        eq(json_of(r)["user_name"], "Bob", "user from the v1 service")
        eq(v1.bad_messages, [], "requests the v1 service could not read")
        check(all(q["v"] == 1 for q in v1.requests), "v1 calls only")
        v1.stop()
    finally:
        mon.close()
        procs.close()


if __name__ == "__main__":
    t.main(setup=setup, teardown=teardown)
