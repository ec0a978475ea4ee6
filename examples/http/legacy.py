#!/usr/bin/env python3
"""legacy.py -- a plain HTTP service, the kind portico reaches through a routes
file (docs/operations.md, "HTTP services"): Python's http.server, no portico
library, no Redis. It answers every GET and POST with JSON describing the
request, keeping connections alive (HTTP/1.1).

    python3 examples/http/legacy.py [--port N]   (default 9001; 0 = any free port)

Prints "legacy ready port=N" once listening. With examples/routes.json,
`curl -s http://127.0.0.1:8000/legacy/hello` reaches it as GET /hello."""

import argparse
import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "legacy/1"

    def answer(self):
        n = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(n) if n else b""
        out = json.dumps({"service": "legacy", "method": self.command, "path": self.path,
                          "request_id": self.headers.get("x-request-id"),
                          "forwarded_for": self.headers.get("x-forwarded-for"),
                          "body": body.decode("utf-8", "replace")}).encode() + b"\n"
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = answer

    def log_message(self, fmt, *args):
        pass


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=9001)
    ap.add_argument("--host", default="127.0.0.1")
    a = ap.parse_args()
    srv = ThreadingHTTPServer((a.host, a.port), Handler)
    srv.daemon_threads = True
    print("legacy ready port=%d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
