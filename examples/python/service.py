#!/usr/bin/env python3
"""hello -- a portico service in one Python file, with no SDK.

It follows the wire protocol of docs/protocol.md (register, heartbeat every
ttl/3, re-announce on discover, requests in, replies out, deregister on exit)
using only Debian's python3-redis, so run it with the system python3:

    /usr/bin/python3 examples/python/service.py [--redis URL] [--prefix P]
                                                [--registration-secret-file F]
    curl http://127.0.0.1:8000/hello/world      ->  {"hello": "world"}
    curl -N http://127.0.0.1:8000/hello/clock   ->  a server-sent event a second
    curl -i -X POST http://127.0.0.1:8000/hello/report -H 'Prefer: respond-async'
        ->  202 Accepted, Location: /_portico/jobs/<id>  (then GET that path)

Routes: GET /hello/{name}, and GET /hello/clock: a streamed reply
(docs/protocol.md 4.3) of content-type text/event-stream, one "tick" event a
second, ?ticks=N of them (1..60, default 10), stopped early when the gateway
publishes a cancel (the client went away); POST /hello/report, announced
"async":true so that a client may ask for it with Prefer: respond-async (the
gateway answers 202 and keeps the reply for polling; the service answers it
like any request).  The Redis URL comes from --redis, else the
PORTICO_REDIS environment variable, else redis://127.0.0.1:6379.  With
--registration-secret-file (or PORTICO_REGISTRATION_SECRET_FILE) every
register and deregister message is signed (docs/security.md).  It prints
"ready" on stderr once registered, and deregisters on SIGTERM / SIGINT.
See docs/services.md for the checklist it follows.

Tracing (W3C Trace Context, docs/protocol.md): the gateway sends every request
with a `traceparent` header.  This service continues the trace: its own span
is a child (same trace-id and flags, a new parent-id), logged on stderr with
the span it came from, and returned as a `traceresponse` header (Trace Context
level 2); a call it made to another service would send that same child
`traceparent` on, with the request's `tracestate` unchanged (it makes no
calls and publishes no events, so it carries neither anywhere).
"""
import argparse
import hashlib
import hmac
import json
import os
import signal
import sys
import time
import uuid

import redis

SERVICE = "hello"
TTL_MS = 10000
ROUTES = [{"method": "GET", "path": "/hello/{name}"}, {"method": "GET", "path": "/hello/clock"},
          {"method": "POST", "path": "/hello/report", "async": True}]
CLOCK_TICKS, CLOCK_MAX_TICKS = 10, 60


TRACEPARENT_HEX = set("0123456789abcdef")


def child_span(headers):
    """(trace-id, parent-id it came from, our new span's traceparent) from the
    request's headers, or None when it carries no valid traceparent."""
    tps = [v for k, v in headers if k == "traceparent"]
    if len(tps) != 1:
        return None
    v = tps[0]
    parts = v.split("-")
    if (len(v) < 55 or len(parts) < 4 or len(parts[0]) != 2 or parts[0] == "ff"
            or (parts[0] == "00" and len(v) != 55)
            or [len(p) for p in parts[1:4]] != [32, 16, 2]
            or not set("".join(parts[:4])) <= TRACEPARENT_HEX
            or set(parts[1]) == {"0"} or set(parts[2]) == {"0"}):
        return None
    span = os.urandom(8).hex()
    return parts[1], parts[2], "00-%s-%s-%s" % (parts[1], span, parts[3])


def now_ms():
    return int(time.time() * 1000)


class Service:
    def __init__(self, url, prefix, secret=None):
        self.url, self.prefix, self.secret = url, prefix, secret
        self.last_ts = 0
        self.instance = "%s-%s" % (SERVICE, uuid.uuid4().hex[:8])
        self.channel = "%s:svc:%s" % (prefix, self.instance)
        self.stopping = False
        self.announced = False
        self.r = self.ps = None
        self.clocks = {}  # request id -> [request, ticks sent, ticks wanted, next tick (monotonic)]

    def publish(self, channel, msg):
        return self.r.publish(channel, json.dumps(msg, separators=(",", ":")))

    def announce(self, msg):
        """Publishes a register/deregister message, signed when there is a secret."""
        self.last_ts = max(self.last_ts, now_ms())  # ts_ms never goes backwards
        msg["ts_ms"] = self.last_ts
        if self.secret is not None:
            text = json.dumps(msg, separators=(",", ":"))
            sig = hmac.new(self.secret, text.encode(), hashlib.sha256).hexdigest()
            msg = {"v": 1, "signed": text, "sig": sig}
        self.publish(self.prefix + ":register", msg)

    def register(self):
        self.announce({
            "v": 1, "type": "register", "service": SERVICE,
            "instance": self.instance, "channel": self.channel,
            "ttl_ms": TTL_MS, "routes": ROUTES})
        if not self.announced:
            self.announced = True
            print("hello: ready instance=%s" % self.instance, file=sys.stderr, flush=True)

    def deregister(self):
        self.announce({"v": 1, "type": "deregister", "service": SERVICE,
                       "instance": self.instance})

    def reply(self, req, status, body, extra_headers=()):
        self.publish(req["reply_to"], {
            "v": 1, "id": req["id"], "status": status,
            "headers": [["content-type", "application/json"]] + list(extra_headers),
            "body": json.dumps(body)})

    def tick(self, clock):
        """Sends the next event of a clock stream: the first message carries the
        status and headers, then seq 1, 2, ...; the last one has "more": false."""
        req, sent, want = clock[0], clock[1], clock[2]
        event = "id: %d\nevent: tick\ndata: %s\n\n" % (
            sent + 1, json.dumps({"tick": sent + 1, "of": want, "time_ms": now_ms()}))
        more = sent + 1 < want
        if sent == 0:
            msg = {"v": 1, "id": req["id"], "status": 200,
                   "headers": [["content-type", "text/event-stream"], ["cache-control", "no-cache"]],
                   "body": event, "more": more}
        else:
            msg = {"v": 1, "id": req["id"], "seq": sent, "body": event, "more": more}
        self.publish(req["reply_to"], msg)
        clock[1] += 1
        clock[3] += 1.0
        if not more:
            del self.clocks[req["id"]]

    def due_ticks(self):
        """Sends every tick that is due; returns the seconds until the next one."""
        now = time.monotonic()
        for clock in list(self.clocks.values()):
            if clock[3] <= now:
                self.tick(clock)
        nxt = min((c[3] for c in self.clocks.values()), default=now + 0.2)
        return max(0.0, min(0.2, nxt - time.monotonic()))

    def start_clock(self, req):
        q = dict(p.split("=", 1) for p in req.get("query", "").split("&") if "=" in p)
        try:
            want = min(max(int(q.get("ticks", CLOCK_TICKS)), 1), CLOCK_MAX_TICKS)
        except ValueError:
            want = CLOCK_TICKS
        clock = [req, 0, want, time.monotonic()]
        self.clocks[req["id"]] = clock
        self.tick(clock)  # the first event at once

    def handle(self, data):
        try:
            req = json.loads(data)
        except ValueError:
            return
        if isinstance(req, dict) and req.get("cancel") is True and isinstance(req.get("id"), str):
            self.clocks.pop(req["id"], None)  # the client went away: stop streaming
            return
        # Drop what cannot be answered safely; never publish outside P:reply:.
        if (not isinstance(req, dict) or req.get("v") != 1 or not isinstance(req.get("id"), str)
                or not isinstance(req.get("reply_to"), str)
                or not req["reply_to"].startswith(self.prefix + ":reply:")
                or not isinstance(req.get("deadline_ms", 0), int)
                or not isinstance(req.get("params", {}), dict)):
            return
        if req.get("deadline_ms", 0) < now_ms():
            return  # the gateway has already answered 504
        headers = req.get("headers") if isinstance(req.get("headers"), list) else []
        headers = [h for h in headers if isinstance(h, list) and len(h) == 2
                   and all(isinstance(x, str) for x in h)]
        trace = child_span(headers)
        extra = []
        if trace is not None:
            trace_id, parent, mine = trace
            print("hello: trace=%s parent=%s span=%s %s %s" % (
                trace_id, parent, mine[36:52], req.get("method"), req.get("path")),
                file=sys.stderr, flush=True)
            extra = [["traceresponse", mine]]
        if req.get("route") == "/hello/clock" and req.get("method") == "GET":
            self.start_clock(req)
        elif req.get("route") == "/hello/clock" and req.get("method") == "HEAD":
            # HEAD is forwarded to the GET route (SPEC 3): the stream's head,
            # no events (the gateway sends no body for HEAD anyway)
            self.publish(req["reply_to"], {
                "v": 1, "id": req["id"], "status": 200,
                "headers": [["content-type", "text/event-stream"], ["cache-control", "no-cache"]]})
        elif req.get("route") == "/hello/{name}" and req.get("method") in ("GET", "HEAD"):
            name = req.get("params", {}).get("name", "")
            self.reply(req, 200, {"hello": name}, extra)
        elif req.get("route") == "/hello/report" and req.get("method") == "POST":
            # A "long" job: asked asynchronously, the client polls for this.
            self.reply(req, 200, {"report": "ready",
                                  "request_id": dict(headers).get("x-request-id", "")}, extra)
        else:
            self.reply(req, 404, {"error": "not_found", "message": "no such route"})

    def run_once(self):
        """Connects, subscribes, registers, then serves until stop or error."""
        self.r = redis.Redis.from_url(self.url, socket_timeout=5)
        self.ps = self.r.pubsub(ignore_subscribe_messages=True)
        self.ps.subscribe(self.channel, self.prefix + ":discover")
        self.register()
        next_beat = time.monotonic() + TTL_MS / 3000.0
        while not self.stopping:
            msg = self.ps.get_message(timeout=self.due_ticks())
            if msg and msg["type"] == "message":
                if msg["channel"].decode() == self.channel:
                    self.handle(msg["data"])
                else:
                    self.register()  # discover: re-announce now
            if time.monotonic() >= next_beat:
                self.register()
                next_beat = time.monotonic() + TTL_MS / 3000.0
        self.deregister()
        self.ps.close()

    def run(self):
        backoff = 0.1
        while not self.stopping:
            try:
                self.run_once()
                return
            except (redis.ConnectionError, redis.TimeoutError, OSError) as e:
                print("hello: redis: %s; retrying in %.1fs" % (e, backoff), file=sys.stderr)
                time.sleep(backoff)
                backoff = min(backoff * 2, 5.0)


def main():
    ap = argparse.ArgumentParser(description="portico hello service (no SDK)")
    ap.add_argument("--redis", default=os.environ.get("PORTICO_REDIS", "redis://127.0.0.1:6379"))
    ap.add_argument("--prefix", default=os.environ.get("PORTICO_PREFIX", "portico"))
    ap.add_argument("--registration-secret-file",
                    default=os.environ.get("PORTICO_REGISTRATION_SECRET_FILE", ""))
    args = ap.parse_args()
    secret = None
    if args.registration_secret_file:
        with open(args.registration_secret_file, "rb") as f:
            secret = f.read().strip(b" \t\n\v\f\r")  # outer white space is not part of it
        if not secret:
            sys.exit("hello: the registration secret file is empty")
    svc = Service(args.redis, args.prefix, secret)

    def stop(signum, frame):
        svc.stopping = True
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    svc.run()


if __name__ == "__main__":
    main()
