#!/usr/bin/env python3
"""Bodies through the bus, read and written however Redis' bytes fall: the
gateway and an SDK service (examples/echo) each reach the real redis-server
through a relay on loopback that hands Redis' bytes on in the pieces a case
asks for (src/common/redis_read.c reads straight into hiredis' reader buffer
with a room that grows and shrinks; src/common/redis_send.c writes a large
command from where it lies):

- every byte of a message in a read of its own (a message split at every
  boundary), on either side;
- a large message in small pieces, and a message larger than any read
  buffer (3 MiB inline, both ways), with the commands' way stalled so that
  the large PUBLISH leaves only in part and the rest follows from hiredis;
- many messages, small and large, in one read;
- the connection closed (FIN) or reset (RST) in the middle of a large
  message: the request in flight ends in an error, the process lives on,
  reconnects and serves the next requests byte-exact.

Outcomes and counts only; every wait is bounded."""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sdkutil import Procs, Stack, echo, eq  # noqa: E402
from harness import PREFIX, Gateway, Runner, check, free_port, wait_until  # noqa: E402

t = Runner()
ctx = {}
PATTERN = b"abcdefghijklmnopqrstuvwxyz01234\n"
KIB = 1024
MIB = 1024 * 1024
BIG = 3 * MIB  # larger than redis_read.c's largest room (512 KiB)
HUGE = 8 * MIB  # larger than a loopback socket's largest send buffer
MESSAGE = b"$7\r\nmessage\r\n"  # in every pub/sub message Redis pushes


def expected(n):
    return (PATTERN * (n // 32 + 1))[:n]


class Relay:
    """Listens on a free loopback port; each connection is paired with one to
    redis-server. Client -> Redis bytes pass as they come (unless `stall_up`
    is set: not read at all meanwhile, so the client's socket fills). Redis ->
    client bytes go by `mode`:
      "pass"        as they come;
      "dribble"     one byte per send, a pause after each;
      ("pieces", n) n bytes per send, a pause after each;
      "hold"        kept until release(), then each connection's in one send
                    (subscriber connections only: a command connection's
                    answers pass, so that PINGs are answered);
      ("cut", n, rst)  n bytes forwarded on a connection, then both of its
                    sockets closed (RST when rst)."""

    def __init__(self, redis_port):
        self.redis_port = redis_port
        self.port = free_port()
        self.mode = "pass"
        self.stall_up = threading.Event()
        self.lock = threading.Lock()
        self.held = {}       # client socket -> bytearray
        self.cuts = 0
        self.accepted = 0
        self._stop = threading.Event()
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # a small window toward the relay: a large command the relay is not
        # reading cannot all fit in the client's socket (stall_up)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
        self.ls.bind(("127.0.0.1", self.port))
        self.ls.listen(16)
        self.ls.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def _accept(self):
        while not self._stop.is_set():
            try:
                c, _ = self.ls.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                r = socket.create_connection(("127.0.0.1", self.redis_port), timeout=5)
            except OSError:
                c.close()
                continue
            for s in (c, r):
                s.settimeout(None)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self.lock:
                self.accepted += 1
            threading.Thread(target=self._up, args=(c, r), daemon=True).start()
            threading.Thread(target=self._down, args=(r, c), daemon=True).start()

    def _up(self, c, r):
        try:
            while True:
                while self.stall_up.is_set() and not self._stop.is_set():
                    time.sleep(0.01)
                d = c.recv(65536)
                if not d:
                    break
                r.sendall(d)
        except OSError:
            pass
        self._close(c, r)

    def _down(self, r, c):
        sent_in_cut = 0
        is_sub = False  # a subscriber connection (the only one "hold" holds)
        try:
            while True:
                d = r.recv(65536)
                if not d:
                    break
                is_sub = is_sub or b"subscribe\r\n" in d or MESSAGE in d
                mode = self.mode
                if mode == "hold" and not is_sub:
                    mode = "pass"  # PING answers keep coming: the bus stays up
                if mode == "dribble":
                    for i in range(len(d)):
                        c.sendall(d[i:i + 1])
                        time.sleep(0.001)
                elif isinstance(mode, tuple) and mode[0] == "pieces":
                    for i in range(0, len(d), mode[1]):
                        c.sendall(d[i:i + mode[1]])
                        time.sleep(0.002)
                elif mode == "hold":
                    with self.lock:
                        self.held.setdefault(c, bytearray()).extend(d)
                elif isinstance(mode, tuple) and mode[0] == "cut":
                    room = mode[1] - sent_in_cut
                    if len(d) < room:
                        c.sendall(d)
                        sent_in_cut += len(d)
                        continue
                    c.sendall(d[:room])
                    if mode[2]:  # a reset: the close sends RST
                        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                     b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    self._close(c, r, rst=mode[2])
                    with self.lock:
                        self.cuts += 1
                    return
                else:
                    with self.lock:
                        pending = self.held.pop(c, None)
                    if pending:
                        c.sendall(bytes(pending))
                    c.sendall(d)
        except OSError:
            pass
        self._close(c, r)

    @staticmethod
    def _close(c, r, rst=False):
        """Both sockets of a pair. shutdown() first: a close() alone leaves
        the connection open while the other pump is blocked in recv()."""
        for s, how in ((c, socket.SHUT_RD if rst else socket.SHUT_RDWR), (r, socket.SHUT_RDWR)):
            try:
                s.shutdown(how)
            except OSError:
                pass
            try:
                s.close()
            except OSError:
                pass

    def held_messages(self, channel):
        """Pub/sub messages held on channel (bytes)."""
        with self.lock:
            return sum(bytes(b).count(MESSAGE + b"$%d\r\n" % len(channel) + channel)
                       for b in self.held.values())

    def release(self):
        """Back to "pass"; each connection's held bytes leave in one send."""
        with self.lock:
            self.mode = "pass"
            held, self.held = self.held, {}
        for c, b in held.items():
            try:
                c.sendall(bytes(b))
            except OSError:
                pass

    def close(self):
        self._stop.set()
        self.stall_up.clear()
        try:
            self.ls.close()
        except OSError:
            pass


def setup():
    st = Stack(start_gateway=False, name="bus-large")
    ctx["gw_relay"] = Relay(st.redis.port)
    ctx["svc_relay"] = Relay(st.redis.port)
    st.gw = Gateway(st.tmpdir, ctx["gw_relay"].url,
                    ["--timeout-ms", "10000", "--max-body-bytes", str(HUGE)],
                    name="gateway1")
    st.gw.start()
    st.gw.wait_healthy()
    ctx["procs"] = Procs()
    # claim check off: every body inline, through pub/sub
    ctx["echo"] = ctx["procs"].add(echo(st, redis_url=ctx["svc_relay"].url,
                                        env={"PORTICO_CLAIM_CHECK_BYTES": "0"}))
    st.gw.wait_route("*", "/bytes/{n}", ctx["echo"].instance)
    return st


def teardown(st):
    try:
        ctx["procs"].close()
    finally:
        try:
            st.close()
        finally:
            ctx["gw_relay"].close()
            ctx["svc_relay"].close()


def relays():
    return ctx["gw_relay"], ctx["svc_relay"]


def reset_relays():
    for r in relays():
        r.stall_up.clear()
        if r.mode == "hold":
            r.release()
        r.mode = "pass"


def bytes_req(st, n, body=None, timeout=60):
    """GET /bytes/n, or POST body to it: n bytes of the pattern back."""
    r = st.gw.http("POST" if body is not None else "GET", "/bytes/%d" % n, body=body,
                   timeout=timeout)
    eq(r.status, 200, "/bytes/%d status (body %s)" % (n, None if body is None else len(body)))
    eq(len(r.body), n, "/bytes/%d length" % n)
    check(r.body == expected(n), "/bytes/%d: the bytes differ" % n)


def echo_req(st, body, timeout=60):
    """POST body to /echo/x: the echo answers the request as JSON, body inside."""
    r = st.gw.http("POST", "/echo/x", headers={"Content-Type": "text/plain"}, body=body,
                   timeout=timeout)
    eq(r.status, 200, "POST /echo/x status (body %d)" % len(body))
    got = r.json().get("body")
    check(isinstance(got, str) and got.encode() == body,
          "POST /echo/x: the body came back different (%d bytes sent)" % len(body))


def in_threads(fns, timeout=120):
    """Runs each fn in a thread; re-raises the first failure."""
    errs = []

    def run(fn):
        try:
            fn()
        except BaseException as e:  # noqa: BLE001
            errs.append(e)
    ths = [threading.Thread(target=run, args=(fn,), daemon=True) for fn in fns]
    for th in ths:
        th.start()
    for th in ths:
        th.join(timeout)
        check(not th.is_alive(), "a request did not finish within %ds" % timeout)
    if errs:
        raise errs[0]


def all_alive(st):
    st.gw.assert_alive()
    ctx["echo"].assert_alive()


@t.case
def baseline_through_the_relays(st):
    for n in (0, 1, 4 * KIB, 64 * KIB):
        bytes_req(st, n)
        bytes_req(st, 128, body=expected(n))
    echo_req(st, expected(64 * KIB))


@t.case
def every_byte_its_own_read_gateway_side(st):
    gw_relay, _ = relays()
    gw_relay.mode = "dribble"
    try:
        for n in (0, 1, 200):
            bytes_req(st, n)
    finally:
        reset_relays()
    all_alive(st)


@t.case
def every_byte_its_own_read_service_side(st):
    _, svc_relay = relays()
    svc_relay.mode = "dribble"
    try:
        bytes_req(st, 0)
        bytes_req(st, 16, body=expected(300))
    finally:
        reset_relays()
    all_alive(st)


@t.case
def large_messages_in_small_pieces(st):
    gw_relay, svc_relay = relays()
    for relay in (gw_relay, svc_relay):
        for piece in (1000, 7, 16 * KIB + 1):
            relay.mode = ("pieces", piece)
            try:
                if piece == 7:
                    bytes_req(st, 8 * KIB + 3, body=expected(8 * KIB + 5))
                else:
                    bytes_req(st, 64 * KIB + 1, body=expected(64 * KIB + 3))
            finally:
                reset_relays()
    all_alive(st)


@t.case
def larger_than_any_buffer_both_ways(st):
    bytes_req(st, BIG, body=expected(BIG))
    echo_req(st, expected(BIG))
    bytes_req(st, BIG)                   # a large reply alone
    bytes_req(st, 128, body=expected(BIG))  # a large request alone
    all_alive(st)


@t.case
def large_publish_sent_in_part(st):
    """The commands' way stalled while a PUBLISH larger than a socket's
    largest send buffer (4 MiB on Linux by default) is made: the gateway's (a
    request) and then the service's (its reply) can leave only in part; the
    rest follows through hiredis once the way is open."""
    gw_relay, svc_relay = relays()
    results = []
    for relay, call in ((gw_relay, lambda: echo_req(st, expected(HUGE))),
                        (svc_relay, lambda: bytes_req(st, HUGE))):
        relay.stall_up.set()
        th = threading.Thread(target=lambda c=call: (c(), results.append(1)), daemon=True)
        th.start()
        time.sleep(0.5)   # not a measurement: lets the PUBLISH meet the full socket
        relay.stall_up.clear()
        th.join(120)
        check(not th.is_alive(), "the request did not finish")
    eq(len(results), 2, "requests answered byte-exact")
    # the connections are in step afterwards: small and large again
    bytes_req(st, 10)
    bytes_req(st, 64 * KIB, body=expected(64 * KIB))
    all_alive(st)


@t.case
def many_messages_in_one_read(st):
    gw_relay, svc_relay = relays()
    sizes = [10 + i for i in range(30)] + [64 * KIB, 200 * KIB]
    svc_channel = ("%s:svc:%s" % (PREFIX, ctx["echo"].instance)).encode()
    for relay, channel in ((svc_relay, svc_channel), (gw_relay, st.gw.reply_channel.encode())):
        relay.mode = "hold"
        fns = [(lambda n=n: bytes_req(st, n, body=b"q" * 100)) for n in sizes]
        th = threading.Thread(target=lambda: in_threads(fns), daemon=True)
        th.start()
        try:
            wait_until(lambda: relay.held_messages(channel) >= len(sizes), 30, 0.02,
                       "%d messages held on %s" % (len(sizes), channel))
        finally:
            relay.release()
        th.join(120)
        check(not th.is_alive(), "requests did not finish")
    all_alive(st)
    bytes_req(st, 100)


def cut_mid_message(st, relay, rst):
    """A large reply (gateway side) or request (service side) cut after 30000
    of its bytes: the request ends in an error, the next ones succeed."""
    statuses = []
    before = relay.accepted

    def doomed():
        r = st.gw.http("GET" if relay is relays()[0] else "POST", "/bytes/%d" % (64 * KIB),
                       body=None if relay is relays()[0] else expected(64 * KIB), timeout=60)
        statuses.append(r.status)
    cuts = relay.cuts
    relay.mode = ("cut", 30000, rst)
    th = threading.Thread(target=doomed, daemon=True)
    th.start()
    wait_until(lambda: relay.cuts > cuts, 30, 0.02, "the relay to cut a connection")
    relay.mode = "pass"
    th.join(60)
    check(not th.is_alive(), "the cut request did not end")
    check(statuses and statuses[0] in (502, 503, 504),
          "the request cut mid-message: want 502/503/504, got %r" % statuses)
    # reconnected (a new connection through the relay), and serving again
    wait_until(lambda: relay.accepted > before, 30, 0.05, "a reconnection through the relay")

    def served():
        try:
            r = st.gw.http("GET", "/bytes/%d" % (64 * KIB), timeout=5)
        except AssertionError:
            return False
        return r.status == 200 and r.body == expected(64 * KIB)
    wait_until(served, 60, 0.2, "a 64 KiB answer after the reconnection")
    bytes_req(st, 128, body=expected(64 * KIB))
    all_alive(st)


@t.case
def eof_mid_message_gateway_side(st):
    cut_mid_message(st, relays()[0], rst=False)


@t.case
def reset_mid_message_gateway_side(st):
    cut_mid_message(st, relays()[0], rst=True)


@t.case
def eof_mid_message_service_side(st):
    cut_mid_message(st, relays()[1], rst=False)


@t.case
def reset_mid_message_service_side(st):
    cut_mid_message(st, relays()[1], rst=True)


@t.case
def small_again_after_large(st):
    """After the large traffic above, many small requests (the read room
    back to its least, the buffer freed) and a large one still work."""
    for _ in range(40):
        bytes_req(st, 5)
    bytes_req(st, BIG)
    for _ in range(20):
        bytes_req(st, 5, body=b"z" * 10)
    all_alive(st)


if __name__ == "__main__":
    t.main(setup=setup, teardown=teardown)
