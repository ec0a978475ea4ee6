"""HTTP upstreams for the routes-file tests (SPEC §11): small servers on loopback,
each thread-per-connection, that answer well or misbehave on purpose. Stdlib only.

Upstream(behave) listens on a free port; behave(conn, req) answers one request:
req is a Request (method, target, headers dict lower-case, body bytes); it
returns True to keep the connection for the next request. Every connection and
request is counted, so tests can see keep-alive reuse from the upstream side."""

import json
import socket
import struct
import threading
import time

HOST = "127.0.0.1"


class Request:
    def __init__(self, method, target, version, headers, body):
        self.method, self.target, self.version = method, target, version
        self.headers, self.body = headers, body


def read_request(f):
    """One request from a socket file, or None at EOF. Chunked bodies are
    de-chunked (the gateway never sends them, but a test may check that)."""
    line = f.readline(65536)
    if not line:
        return None
    method, target, version = line.decode("latin-1").rstrip("\r\n").split(" ", 2)
    headers = {}
    while True:
        h = f.readline(65536)
        if h in (b"\r\n", b"\n", b""):
            break
        k, v = h.decode("latin-1").split(":", 1)
        k = k.strip().lower()
        headers[k] = headers[k] + ", " + v.strip() if k in headers else v.strip()
    body = b""
    if "content-length" in headers:
        body = f.read(int(headers["content-length"]))
    elif headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            n = int(f.readline().split(b";")[0], 16)
            if n == 0:
                f.readline()
                break
            body += f.read(n)
            f.readline()
    return Request(method, target, version, headers, body)


def response(status, body=b"", headers=(), length=True):
    h = ["HTTP/1.1 %d %s" % (status, "OK" if status < 400 else "Error")]
    h += ["%s: %s" % kv for kv in headers]
    if length:
        h.append("content-length: %d" % len(body))
    return ("\r\n".join(h) + "\r\n\r\n").encode() + body


def echo(conn, req):
    """200 with a JSON description of what arrived; keeps the connection."""
    body = json.dumps({"method": req.method, "target": req.target, "headers": req.headers,
                       "body_len": len(req.body), "body": req.body.decode("latin-1")[:200]})
    if req.method == "HEAD":
        conn.sendall(response(200, b"", [("content-type", "application/json"),
                                         ("content-length", str(len(body)))], length=False))
    else:
        conn.sendall(response(200, body.encode(), [("content-type", "application/json")]))
    return True


def rst_close(conn):
    """Closes with a reset (SO_LINGER 0)."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


class Upstream:
    def __init__(self, behave=echo, name="up"):
        self.behave = behave
        self.name = name
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((HOST, 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        self.url = "http://%s:%d" % (HOST, self.port)
        self.lock = threading.Lock()
        self.connections = 0
        self.requests = []          # (connection number, Request)
        self.stopped = False
        self.conns = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                n = self.connections
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c, n), daemon=True).start()

    def _serve(self, c, n):
        f = c.makefile("rb")
        try:
            while True:
                req = read_request(f)
                if req is None:
                    break
                with self.lock:
                    self.requests.append((n, req))
                if not self.behave(c, req):
                    break
        except (OSError, ValueError):
            pass
        finally:
            try:
                c.close()
            except OSError:
                pass

    def count(self):
        with self.lock:
            return len(self.requests)

    def stop(self):
        self.stopped = True
        try:
            self.sock.close()
        except OSError:
            pass
        with self.lock:
            for c in self.conns:
                try:
                    c.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def closed_port():
    """A loopback port nothing listens on (connections are refused)."""
    s = socket.socket()
    s.bind((HOST, 0))
    p = s.getsockname()[1]
    s.close()
    return p


def routes_doc(*routes):
    return {"routes": list(routes)}


def route(path, upstreams, methods=("GET",), service="legacy", **kw):
    r = {"service": service, "methods": list(methods), "path": path,
         "upstreams": [u if isinstance(u, str) else u.url for u in upstreams]}
    r.update(kw)
    return r


def write_json(path, obj):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(obj if isinstance(obj, str) else json.dumps(obj))
    import os
    os.replace(tmp, path)


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def sleep_then(seconds, behave=echo):
    def b(conn, req):
        time.sleep(seconds)
        return behave(conn, req)
    return b
