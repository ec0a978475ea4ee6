#!/usr/bin/env python3
"""heartbeat.py -- N service instances re-registering every second.

    heartbeat.py REDIS_HOST REDIS_PORT PREFIX INSTANCES SECONDS

Publishes, spread evenly over each second, one full register message per
instance (SPEC §3; 10 services, 5 routes each, ttl_ms 3000 so that the
heartbeat period is ttl/3) on PREFIX:register, over raw RESP (no client
library needed). Prints the number of messages sent.
"""
import json
import socket
import sys
import time


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def main():
    host, port, prefix, n, secs = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), float(sys.argv[5])
    s = socket.create_connection((host, port))
    s.setblocking(True)
    chan = f"{prefix}:register"
    ticks = 20                      # batches per second
    sent = 0
    t0 = time.monotonic()
    tick = 0
    while time.monotonic() - t0 < secs:
        batch = []
        for i in range(tick % ticks, n, ticks):
            svc = f"hb{i % 10}"
            inst = f"hb{i % 10}-{i:05d}"
            msg = {"v": 1, "type": "register", "service": svc, "instance": inst,
                   "channel": f"{prefix}:svc:{inst}", "ttl_ms": 3000,
                   "ts_ms": int(time.time() * 1000),
                   "routes": [{"method": "GET", "path": f"/{svc}/items"},
                              {"method": "POST", "path": f"/{svc}/items"},
                              {"method": "GET", "path": f"/{svc}/items/{{id}}"},
                              {"method": "PUT", "path": f"/{svc}/items/{{id}}"},
                              {"method": "*", "path": f"/{svc}/files/*"}]}
            batch.append(resp("PUBLISH", chan, json.dumps(msg, separators=(",", ":"))))
        s.sendall(b"".join(batch))
        sent += len(batch)
        tick += 1
        # drain the integer replies
        s.setblocking(False)
        try:
            while s.recv(65536):
                pass
        except BlockingIOError:
            pass
        s.setblocking(True)
        next_t = t0 + tick / ticks
        time.sleep(max(0.0, next_t - time.monotonic()))
    print(f"sent {sent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
