#!/usr/bin/env python3
"""The client's real address (protocol.md §3, security.md): --trusted-proxies
(X-Forwarded-For believed only from trusted peers) and --proxy-protocol (a PROXY
v1 or v2 header first on every public connection). What the service sees
(remote_addr, x-forwarded-for), what the rate limiter keys on, and connections
without a valid PROXY header closed without a response, counted.

Clients bind 127.0.0.1 (untrusted) or 127.0.0.2 (trusted) as their source; the
IPv6 gateways listen on [::1]."""

import json
import os
import signal
import socket
import struct
import sys
import time
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HOST, Gateway, Raw, Runner, Stack, check, eq, fail,  # noqa: E402
                     wait_until)

t = Runner()
ST = None
GW = {}
SVC = {}
ROUTES = ["/ca", "/rl/x"]
RULES = {"rules": [{"prefix": "/rl", "rate": 1, "per": "minute", "burst": 2}]}
SIG2 = b"\r\n\r\n\x00\r\nQUIT\n"


def v2(src, dst, sport, dport, cmd=1, tlvs=b""):
    if ":" in src:
        block = (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
                 + struct.pack("!HH", sport, dport))
        fam = 0x21
    else:
        block = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
        fam = 0x11
    block += tlvs
    return SIG2 + bytes([0x20 | cmd, fam]) + struct.pack("!H", len(block)) + block


def v1(src, dst="192.0.2.1", sport=40000, dport=443):
    fam = "TCP6" if ":" in src else "TCP4"
    return ("PROXY %s %s %s %d %d\r\n" % (fam, src, dst, sport, dport)).encode()


def request(path="/ca", headers=(), close=True):
    rid = uuid.uuid4().hex
    lines = ["GET %s HTTP/1.1" % path, "Host: test.local", "X-Request-Id: " + rid]
    if close:
        lines.append("Connection: close")
    lines += ["%s: %s" % h for h in headers]
    return rid, ("\r\n".join(lines) + "\r\n\r\n").encode()


def exchange(g, pieces, src=None, v6=False):
    """Sends the pieces (one send each, a pause between) and reads until the
    gateway closes; returns every byte it sent back."""
    g.assert_alive()
    fam = socket.AF_INET6 if v6 else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(15.0)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        if src:
            s.bind((src, 0))
        s.connect(("::1" if v6 else "127.0.0.1", g.port))
        for i, p in enumerate(pieces):
            if i:
                time.sleep(0.02)        # lets the gateway read the pieces apart (not asserted)
            s.sendall(p)
        out = b""
        while True:
            try:
                b = s.recv(65536)
            except ConnectionResetError:
                break
            if not b:
                break
            out += b
        return out
    finally:
        s.close()


def seen(rid):
    """The service's view of the request with this x-request-id."""
    for r in reversed(SVC["svc"].requests):
        hs = dict((k, v) for k, v in r.get("headers", []))
        if hs.get("x-request-id") == rid:
            return r.get("remote_addr"), hs.get("x-forwarded-for")
    fail("the service never saw request %s" % rid)


def status_of(raw):
    check(raw.startswith(b"HTTP/1.1 "), "a response, got %r" % raw[:80])
    return int(raw[9:12])


def via(g, header=b"", headers=(), src=None, v6=False, path="/ca", split=None):
    rid, req = request(path, headers)
    data = header + req
    pieces = [data] if split is None else [data[:split], data[split:]]
    raw = exchange(g, pieces, src, v6)
    return status_of(raw), rid


def errors(g, reason):
    return g.metric("portico_proxy_protocol_errors_total", reason=reason)


# ------------------------------------------------------- trusted proxies


@t.case
def untrusted_peer_spoofing_changes_nothing():
    g = GW["xff"]
    st, rid = via(g, headers=[("X-Forwarded-For", "6.6.6.6")], src="127.0.0.1")
    eq(st, 200, "status")
    eq(seen(rid), ("127.0.0.1", "6.6.6.6, 127.0.0.1"), "(remote_addr, x-forwarded-for)")
    st, rid = via(g, src="127.0.0.1")
    eq(seen(rid), ("127.0.0.1", "127.0.0.1"), "no header: the peer")


@t.case
def trusted_peer_right_most_untrusted_entry():
    g = GW["xff"]
    st, rid = via(g, headers=[("X-Forwarded-For", "6.6.6.6, 198.51.100.7, 10.1.2.3")],
                  src="127.0.0.2")
    eq(st, 200, "status")
    # SPEC 4: the client address appended to all the client sent
    eq(seen(rid), ("198.51.100.7", "6.6.6.6, 198.51.100.7, 10.1.2.3, 198.51.100.7"),
       "(remote_addr, x-forwarded-for)")
    # two headers are one list; IPv6 and ports
    st, rid = via(g, headers=[("X-Forwarded-For", "6.6.6.6"),
                              ("X-Forwarded-For", "[2001:DB8::7]:443, 10.0.0.1")], src="127.0.0.2")
    eq(seen(rid), ("2001:db8::7", "6.6.6.6, [2001:DB8::7]:443, 10.0.0.1, 2001:db8::7"),
       "two headers, bracketed IPv6")


@t.case
def trusted_peer_all_trusted_malformed_absent():
    g = GW["xff"]
    st, rid = via(g, headers=[("X-Forwarded-For", "10.0.0.1, 10.0.0.2")], src="127.0.0.2")
    eq(seen(rid), ("10.0.0.1", "10.0.0.1, 10.0.0.2, 10.0.0.1"), "all trusted: the left-most")
    st, rid = via(g, headers=[("X-Forwarded-For", "198.51.100.7, unknown, 10.0.0.2")],
                  src="127.0.0.2")
    eq(seen(rid), ("127.0.0.2", "198.51.100.7, unknown, 10.0.0.2, 127.0.0.2"),
       "malformed before an untrusted entry: the peer")
    st, rid = via(g, src="127.0.0.2")
    eq(seen(rid), ("127.0.0.2", "127.0.0.2"), "no header: the peer")


@t.case
def trusted_ipv6_peer():
    g = GW["xff6"]
    st, rid = via(g, headers=[("X-Forwarded-For", "198.51.100.9")], v6=True)
    eq(st, 200, "status")
    eq(seen(rid), ("198.51.100.9", "198.51.100.9, 198.51.100.9"), "from ::1 (trusted)")


@t.case
def rate_limit_keyed_by_forwarded_client():
    g = GW["xff"]
    a = [via(g, headers=[("X-Forwarded-For", "198.51.100.20")], src="127.0.0.2",
             path="/rl/x")[0] for _ in range(3)]
    eq(a, [200, 200, 429], "client .20 through the trusted proxy")
    b = via(g, headers=[("X-Forwarded-For", "198.51.100.21")], src="127.0.0.2", path="/rl/x")[0]
    eq(b, 200, "client .21, same proxy: its own bucket")
    # an untrusted peer cannot pick a fresh bucket with the header
    c = [via(g, headers=[("X-Forwarded-For", "198.51.100.%d" % (30 + i))], src="127.0.0.1",
             path="/rl/x")[0] for i in range(3)]
    eq(c, [200, 200, 429], "spoofed headers from an untrusted peer share one bucket")


class RawFrom(Raw):
    """Raw from a chosen source address (127.0.0.2: a trusted proxy)."""

    def __init__(self, port, src, timeout=10.0):
        self.sock = socket.create_connection((HOST, port), timeout=timeout,
                                             source_address=(src, 0))
        self.timeout = timeout
        self.buf = b""
        self.eof = False


@t.case
def reload_changes_trust_on_open_connections():
    """Trust is asked of the table in force at each request (SPEC §9: a reload takes
    effect for new requests): a proxy removed by SIGHUP is no longer believed on the
    keep-alive connection it already had open, and one added is."""
    cfg = os.path.join(ST.tmpdir, "trust.json")

    def write_cfg(obj):
        with open(cfg + ".tmp", "w") as f:
            json.dump(obj, f)
        os.replace(cfg + ".tmp", cfg)

    write_cfg({"trusted-proxies": "127.0.0.2"})
    g = Gateway(ST.tmpdir, ST.redis.url, ["--config", cfg], name="gw-trust")
    g.start()
    try:
        g.wait_healthy()
        g.wait_route("GET", "/ca", SVC["svc"].instance)

        def reload(n):
            g.signal(signal.SIGHUP)
            wait_until(lambda: g.metric("portico_config_reloads_total", result="ok") == n, 10,
                       0.02, "reload %d in force" % n)

        def ask(c, client):
            rid, req = request(headers=[("X-Forwarded-For", client)], close=False)
            c.send(req)
            r = c.read_response()
            eq(r.status, 200, "status")
            check(r.header("connection") != "close", "the connection stays open")
            return seen(rid)

        with RawFrom(g.port, "127.0.0.2") as c:
            eq(ask(c, "198.51.100.80"), ("198.51.100.80", "198.51.100.80, 198.51.100.80"),
               "trusted at first")
            write_cfg({})
            reload(1)
            eq(ask(c, "198.51.100.81"), ("127.0.0.2", "198.51.100.81, 127.0.0.2"),
               "removed from --trusted-proxies: the same connection is not believed")
            write_cfg({"trusted-proxies": "127.0.0.0/8"})
            reload(2)
            eq(ask(c, "198.51.100.82"), ("198.51.100.82", "198.51.100.82, 198.51.100.82"),
               "added again: believed on the same connection")
        g.assert_alive()
    finally:
        g.stop()


# ------------------------------------------------------------ PROXY protocol


@t.case
def proxy_v1_and_v2_ipv4_and_ipv6_sources():
    g = GW["pp"]
    for name, header, want in [
            ("v1 tcp4", v1("203.0.113.9"), "203.0.113.9"),
            ("v1 tcp6", v1("2001:db8::9", "2001:db8::1"), "2001:db8::9"),
            ("v1 unknown", b"PROXY UNKNOWN\r\n", "127.0.0.1"),
            ("v2 tcp4", v2("203.0.113.10", "192.0.2.1", 5555, 443), "203.0.113.10"),
            ("v2 tcp6", v2("2001:db8::10", "2001:db8::1", 5555, 443), "2001:db8::10"),
            ("v2 tlvs", v2("203.0.113.11", "192.0.2.1", 1, 2,
                           tlvs=b"\x01\x00\x08http/1.1\x04\x00\x00"), "203.0.113.11"),
            ("v2 local", v2("203.0.113.12", "192.0.2.1", 1, 2, cmd=0), "127.0.0.1")]:
        st, rid = via(g, header, headers=[("X-Forwarded-For", "6.6.6.6")])
        eq(st, 200, name + " status")
        eq(seen(rid), (want, "6.6.6.6, " + want), name + " (remote_addr, x-forwarded-for)")


@t.case
def proxy_header_split_across_reads():
    g = GW["pp"]
    for header in (v1("203.0.113.40"), v2("203.0.113.40", "192.0.2.1", 1, 2)):
        for split in (1, 5, 13, 16, len(header) - 1, len(header), len(header) + 3):
            st, rid = via(g, header, split=split)
            eq(st, 200, "split at %d" % split)
            eq(seen(rid)[0], "203.0.113.40", "split at %d" % split)


@t.case
def proxy_over_ipv6_listener_ignores_xff():
    g = GW["pp6"]         # also --trusted-proxies ::1: PROXY wins, the header is not read
    for header, want in ((v1("198.51.100.50"), "198.51.100.50"),
                         (v2("2001:db8::50", "::1", 1, 2), "2001:db8::50"),
                         (v2("::1", "::1", 1, 2, cmd=0), "::1")):
        st, rid = via(g, header, headers=[("X-Forwarded-For", "6.6.6.6")], v6=True)
        eq(st, 200, "status")
        eq(seen(rid), (want, "6.6.6.6, " + want), "(remote_addr, x-forwarded-for)")


@t.case
def proxy_rate_limit_per_source():
    g = GW["pp"]
    a = [via(g, v2("203.0.113.60", "192.0.2.1", 1, 2), path="/rl/x")[0] for _ in range(3)]
    eq(a, [200, 200, 429], "source .60")
    b = [via(g, v1("203.0.113.61"), path="/rl/x")[0] for _ in range(2)]
    eq(b, [200, 200], "source .61 from the same peer: its own bucket")


@t.case
def proxy_missing_or_malformed_closed_without_response():
    g = GW["pp"]
    n0 = SVC["svc"].n_requests()
    before = errors(g, "invalid")
    bad = [b"", b"GET / HTTP/1.1\r\n", b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
           b"PROXY TCP4 1.2.3.400 5.6.7.8 1 2\r\n", b"PROXY TCP4 ::1 ::1 1 2\r\n",
           b"PROXY " + b"X" * 120 + b"\r\n",
           SIG2 + b"\x21\x12\x00\x0c" + b"\x00" * 12,           # UDP
           SIG2 + b"\x21\x11\xff\xff", SIG2 + b"\x23\x11\x00\x0c" + b"\x00" * 12,
           b"\r\n\r\n\x00\r\nQUIX\n\x21\x11\x00\x0c" + b"\x00" * 12]
    for i, header in enumerate(bad):
        rid, req = request()
        out = exchange(g, [header + req])
        eq(out, b"", "case %d: no response at all" % i)
    eq(errors(g, "invalid") - before, len(bad), "portico_proxy_protocol_errors_total{invalid}")
    eq(SVC["svc"].n_requests(), n0, "nothing reached the service")
    # a header that never completes: closed at the header timeout, counted
    t0 = errors(g, "timeout")
    eq(exchange(g, [v1("203.0.113.70")[:20]]), b"", "incomplete header: no response")
    eq(exchange(g, []), b"", "nothing sent: no response (no 408)")
    eq(errors(g, "timeout") - t0, 2, "portico_proxy_protocol_errors_total{timeout}")
    # the admin listener takes no PROXY header
    eq(g.admin_get("/health")[0], 200, "admin without a PROXY header")


@t.case
def bad_flag_values_exit_2():
    from harness import run_gateway_cli
    for args, msg in ((["--trusted-proxies", "10.0.0.0/33"], "bad prefix length"),
                      (["--trusted-proxies", "10.0.0.0/8,,::1"], "empty entry"),
                      (["--trusted-proxies", "localhost"], "not an IPv4 or IPv6 address"),
                      (["--proxy-protocol=maybe"], "not a boolean")):
        rc, out, err = run_gateway_cli(args)
        eq(rc, 2, "exit status for %r" % args)
        lines = err.strip().splitlines()
        eq(len(lines), 1, "one line on stderr for %r" % args)
        check(msg in lines[0], "%r in %r" % (msg, lines[0]))


def setup():
    global ST
    ST = Stack(name="clientaddr", start_gateway=False)
    try:
        path = os.path.join(ST.tmpdir, "rl.json")
        with open(path, "w") as f:
            json.dump(RULES, f)
        rl = ["--ratelimit-file", path]
        GW["xff"] = ST.start_gateway(rl + ["--trusted-proxies", "127.0.0.2, 10.0.0.0/8"])
        specs = {"pp": rl + ["--proxy-protocol", "--header-timeout-ms", "1500"],
                 "pp6": ["--listen", "[::1]:0", "--proxy-protocol", "--trusted-proxies", "::1"],
                 "xff6": ["--listen", "[::1]:0", "--trusted-proxies", "::1"]}
        for k, args in specs.items():
            GW[k] = Gateway(ST.tmpdir, ST.redis.url, args, name="gw-" + k)
            GW[k].start()
            GW[k].wait_healthy()
        SVC["svc"] = ST.service(service="ca", routes=[("GET", p) for p in ROUTES])
        for k in specs:
            for p in ROUTES:
                GW[k].wait_route("GET", p, SVC["svc"].instance)
    except BaseException:
        teardown(ST)
        raise
    return ST


def teardown(st):
    errs = []
    for k in ("pp", "pp6", "xff6"):
        g = GW.pop(k, None)
        if g is not None:
            try:
                g.stop()
            except Exception as e:  # noqa: BLE001
                errs.append("%s: %s" % (k, e))
    st.close()
    if errs:
        fail("; ".join(errs))


if __name__ == "__main__":
    t.main(setup=setup, teardown=teardown)
