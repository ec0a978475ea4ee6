"""cluster.py -- a real Redis Cluster on loopback for the tests (stdlib only,
on top of harness.py): N primaries (and R replicas each) of redis-server
--cluster-enabled yes on free ports, joined with redis-cli --cluster create,
ready when every node says cluster_state:ok and agrees on the slots.

Helpers: the slot of a key (CLUSTER KEYSLOT), which primary owns a slot,
kill a node (SIGKILL) and wait for its replica to take over, move a slot from
one primary to another with the MIGRATING/IMPORTING commands, the CPU time
of each node (/proc/<pid>/stat). Processes are stopped by PID only."""
import os
import shutil
import signal
import subprocess

import harness
from harness import HOST, RespClient, check, fail, free_port, wait_until

CLK_TCK = os.sysconf("SC_CLK_TCK")


def redis_cli():
    b = shutil.which("redis-cli")
    if not b:
        fail("redis-cli not found (Debian package redis-tools)")
    return b


class Node:
    def __init__(self, cluster, port):
        self.cluster = cluster
        self.port = port
        self.bus_port = free_port()  # cluster-port: not port + 10000, which may be taken or > 65535
        self.dir = os.path.join(cluster.dir, str(port))
        os.makedirs(self.dir, exist_ok=True)
        self.proc = None

    def start(self):
        log = open(os.path.join(self.dir, "redis.log"), "ab")
        try:
            self.proc = subprocess.Popen(
                [harness.redis_binary(), "--port", str(self.port), "--bind", HOST,
                 "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                 "--cluster-port", str(self.bus_port),
                 # a replica may always take over, however long it was cut off
                 "--cluster-replica-validity-factor", "0",
                 "--cluster-node-timeout", str(self.cluster.node_timeout_ms),
                 "--save", "", "--appendonly", "no", "--dir", self.dir,
                 "--daemonize", "no", "--protected-mode", "no"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.dir)
        finally:
            log.close()
        harness._track(self.proc)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self, kill=False):
        p, self.proc = self.proc, None
        if p is None:
            return
        if p.poll() is None:
            try:
                os.kill(p.pid, signal.SIGKILL if kill else signal.SIGTERM)
            except OSError:
                pass
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(5)
        harness._untrack(p)

    def client(self, timeout=5.0):
        return RespClient(self.port, timeout=timeout)

    def command(self, *args):
        c = self.client()
        try:
            return c.command(*args)
        finally:
            c.close()

    def cpu_ticks(self):
        """utime + stime of the server process, in clock ticks."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])

    def node_id(self):
        return self.command("CLUSTER", "MYID")


class Cluster:
    """primaries x (1 + replicas) nodes. close() stops every one."""

    def __init__(self, tmpdir, primaries=3, replicas=0, node_timeout_ms=1000):
        self.dir = os.path.join(tmpdir, "cluster")
        os.makedirs(self.dir, exist_ok=True)
        self.node_timeout_ms = node_timeout_ms
        self.primaries, self.replicas = primaries, replicas
        self.nodes = [Node(self, free_port()) for _ in range(primaries * (1 + replicas))]

    @property
    def url(self):
        return "redis-cluster://" + ",".join("%s:%d" % (HOST, n.port) for n in self.nodes)

    def start(self, timeout=60.0):
        for n in self.nodes:
            n.start()
        for n in self.nodes:
            wait_until(lambda: n.alive() and n.command("PING") == "PONG", 30, 0.02,
                       "cluster node %d to answer" % n.port)
        argv = [redis_cli(), "--cluster", "create"]
        argv += ["%s:%d" % (HOST, n.port) for n in self.nodes]
        argv += ["--cluster-replicas", str(self.replicas), "--cluster-yes"]
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, timeout=timeout)
        check(out.returncode == 0, "redis-cli --cluster create failed:\n%s" %
              out.stdout.decode(errors="replace")[-3000:])
        self.wait_ok(timeout)
        if self.replicas:
            self.wait_replicas(timeout)
        return self

    def wait_replicas(self, timeout=60.0):
        """Every replica connected to its primary and in sync (a replica that
        has not synced yet cannot take over)."""
        def synced():
            n_up = 0
            for n in self.live():
                info = n.command("INFO", "replication").decode()
                if "role:slave" in info:
                    if "master_link_status:up" not in info or "master_sync_in_progress:1" in info:
                        return False
                    n_up += 1
            return n_up == self.primaries * self.replicas
        wait_until(synced, timeout, 0.1, "every replica in sync")

    def live(self):
        return [n for n in self.nodes if n.alive()]

    def wait_ok(self, timeout=60.0):
        """Every live node: cluster_state:ok, and the same primaries for all slots."""
        def ok():
            maps = set()
            for n in self.live():
                info = n.command("CLUSTER", "INFO").decode()
                if "cluster_state:ok" not in info:
                    return False
                maps.add(tuple(sorted((r[0], r[1], r[2][1]) for r in n.command("CLUSTER", "SLOTS"))))
            return len(maps) == 1
        wait_until(ok, timeout, 0.1, "the cluster to be ok on every node")

    def keyslot(self, key):
        return self.live()[0].command("CLUSTER", "KEYSLOT", key)

    def owner(self, slot):
        """The primary Node owning slot (per a live node's CLUSTER SLOTS)."""
        for r in self.live()[0].command("CLUSTER", "SLOTS"):
            if r[0] <= slot <= r[1]:
                return self.by_port(r[2][1])
        fail("slot %d is not served" % slot)

    def by_port(self, port):
        for n in self.nodes:
            if n.port == port:
                return n
        fail("no node on port %d" % port)

    def primaries_now(self):
        ports = set()
        for r in self.live()[0].command("CLUSTER", "SLOTS"):
            ports.add(r[2][1])
        return [self.by_port(p) for p in sorted(ports)]

    def kill(self, node):
        node.stop(kill=True)

    def wait_failover(self, dead, timeout=60.0):
        """Until the slots of the dead primary are served by a live node."""
        def moved():
            for n in self.primaries_now():
                if n is dead:
                    return False
            return True
        wait_until(moved, timeout, 0.1, "a replica to take over from %d" % dead.port)
        self.wait_ok(timeout)

    def move_slot(self, slot, src, dst, keys_batch=100):
        """One slot from src to dst, as redis-cli --cluster reshard does it:
        IMPORTING on dst, MIGRATING on src, MIGRATE the keys, then the new
        owner announced to both (and every other primary)."""
        src_id, dst_id = src.node_id(), dst.node_id()
        dst.command("CLUSTER", "SETSLOT", str(slot), "IMPORTING", src_id)
        src.command("CLUSTER", "SETSLOT", str(slot), "MIGRATING", dst_id)
        while True:
            keys = src.command("CLUSTER", "GETKEYSINSLOT", str(slot), str(keys_batch))
            if not keys:
                break
            src.command("MIGRATE", HOST, str(dst.port), "", "0", "5000", "KEYS", *keys)
        for n in [dst, src] + [p for p in self.primaries_now() if p not in (src, dst)]:
            n.command("CLUSTER", "SETSLOT", str(slot), "NODE", dst_id)

    def close(self):
        for n in self.nodes:
            n.stop(kill=True)
