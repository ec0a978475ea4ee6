"""sentinel.py -- a Redis Sentinel set-up for the tests, on free loopback
ports: one primary, one replica and three sentinels (quorum 2), with a short
down-after-milliseconds and failover-timeout so that failovers are quick.

    s = SentinelSet(tmpdir).start()   # waits until every sentinel knows all
    s.url                             # redis-sentinel://h:p,h:p,h:p/<name>
    s.primary()                       # the node the sentinels name now
    s.failover()                      # SENTINEL FAILOVER <name>
    s.wait_ready()                    # again, after a failover
    s.stop()

Also run as a script (scripts/bench.sh): `python3 sentinel.py --measure
GATEWAY ECHO` prints the failover timing of docs/scaling.md as JSON.
"""
import os
import signal
import subprocess
import threading
import time

import harness
from harness import HOST, RespClient, SecureRedis, check, fail, free_port, wait_until

MASTER = "portico-primary"


def text(x):
    return x.decode() if isinstance(x, bytes) else x


def flat_pairs(lst):
    return {text(lst[i]): text(lst[i + 1]) for i in range(0, len(lst) - 1, 2)}


class Node(SecureRedis):
    """A data node (primary or replica) in its own directory."""

    def __init__(self, tmpdir, name, replicaof=None):
        extra = ["--replicaof", HOST, str(replicaof)] if replicaof else []
        super().__init__(os.path.join(tmpdir, name), extra=extra)
        self.name = name

    def role(self):
        c = RespClient(self.port, timeout=2.0)
        try:
            return text(c.command("ROLE")[0])
        finally:
            c.close()


class Sentinel:
    """One redis-server --sentinel process with its own (rewritable) config."""

    def __init__(self, tmpdir, n, primary_port, down_after_ms, failover_timeout_ms,
                 name=MASTER, quorum=2):
        self.dir = os.path.join(tmpdir, "sentinel%d" % n)
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.conf = os.path.join(self.dir, "sentinel.conf")
        with open(self.conf, "w") as f:
            f.write("port %d\nbind %s\ndaemonize no\nprotected-mode no\ndir %s\n"
                    "sentinel monitor %s %s %d %d\n"
                    "sentinel down-after-milliseconds %s %d\n"
                    "sentinel failover-timeout %s %d\n"
                    "sentinel parallel-syncs %s 1\n" % (
                        self.port, HOST, self.dir, name, HOST, primary_port, quorum,
                        name, down_after_ms, name, failover_timeout_ms, name))
        self.proc = None

    def log_text(self):
        try:
            with open(os.path.join(self.dir, "sentinel.log"), "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def start(self, timeout=10.0):
        log = open(os.path.join(self.dir, "sentinel.log"), "wb")
        try:
            self.proc = subprocess.Popen([harness.redis_binary(), self.conf, "--sentinel"],
                                         stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=self.dir)
        finally:
            log.close()
        harness._track(self.proc)

        def ping():
            if self.proc.poll() is not None:
                fail("sentinel exited with %s: %s" % (self.proc.returncode,
                                                      self.log_text()[-2000:]))
            return self.command("PING") == "PONG"
        wait_until(ping, timeout, 0.02, "sentinel on port %d" % self.port)
        return self

    def command(self, *args):
        c = RespClient(self.port, timeout=2.0)
        try:
            return c.command(*args)
        finally:
            c.close()

    def stop(self):
        p, self.proc = self.proc, None
        if p is None:
            return
        if p.poll() is None:
            os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
        harness._untrack(p)


class SentinelSet:
    def __init__(self, tmpdir, down_after_ms=1000, failover_timeout_ms=3000):
        self.tmpdir = tmpdir
        self.nodes = [Node(tmpdir, "node-a")]
        self.nodes.append(Node(tmpdir, "node-b", replicaof=self.nodes[0].port))
        self.sentinels = [Sentinel(tmpdir, i, self.nodes[0].port, down_after_ms,
                                   failover_timeout_ms) for i in range(3)]

    @property
    def url(self):
        return "redis-sentinel://%s/%s" % (
            ",".join("%s:%d" % (HOST, s.port) for s in self.sentinels), MASTER)

    def start(self, timeout=60.0):
        try:
            for n in self.nodes:
                n.start()
            for s in self.sentinels:
                s.start()
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def node(self, port):
        for n in self.nodes:
            if n.port == port:
                return n
        fail("no node on port %d" % port)

    def primary_port(self):
        """The primary's port as the first sentinel that answers says."""
        for s in self.sentinels:
            try:
                h, p = s.command("SENTINEL", "get-master-addr-by-name", MASTER)
                return int(p)
            except Exception:  # noqa: BLE001 - the next one
                continue
        fail("no sentinel answers")

    def primary(self):
        return self.node(self.primary_port())

    def ready(self):
        """Every sentinel names the same running primary, sees the other node as a
        healthy replica and knows the two other sentinels; the primary says so."""
        ports = set()
        for s in self.sentinels:
            h, p = s.command("SENTINEL", "get-master-addr-by-name", MASTER)
            ports.add(int(p))
            m = flat_pairs(s.command("SENTINEL", "master", MASTER))
            if m.get("flags") != "master":
                return False
            reps = [flat_pairs(r) for r in s.command("SENTINEL", "replicas", MASTER)]
            if not any(r.get("flags") == "slave" and r.get("master-link-status") == "ok"
                       for r in reps):
                return False
            if len(s.command("SENTINEL", "sentinels", MASTER)) != 2:
                return False
        if len(ports) != 1:
            return False
        prim = self.node(ports.pop())
        return prim.running() and prim.role() == "master"

    def wait_ready(self, timeout=60.0):
        wait_until(self.ready, timeout, 0.1, "the sentinels to agree on a primary and replica")

    def failover(self):
        check(self.sentinels[0].command("SENTINEL", "failover", MASTER) == "OK",
              "SENTINEL FAILOVER refused")

    def watch_switch(self):
        """A thread recording the monotonic time of each +switch-master seen on
        the second sentinel: returns (list of (t, payload), stop function)."""
        seen = []
        stop = threading.Event()
        c = RespClient(self.sentinels[1].port, timeout=1.0)
        c.subscribe("+switch-master")

        def loop():
            while not stop.is_set():
                try:
                    m = c.get_message(timeout=0.2)
                except ConnectionError:
                    return
                except Exception:  # noqa: BLE001 - timeouts
                    continue
                if m is not None:
                    seen.append((time.monotonic(), m))
        th = threading.Thread(target=loop, daemon=True)
        th.start()

        def close():
            stop.set()
            th.join(5)
            c.close()
        return seen, close

    def stop(self):
        for s in self.sentinels:
            s.stop()
        for n in self.nodes:
            n.stop(kill=True)
