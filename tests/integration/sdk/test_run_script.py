#!/usr/bin/env python3
"""scripts/run.sh as a newcomer runs it, from the repository, on free ports
(PORTICO_PORT, PORTICO_ADMIN_PORT, PORTICO_REDIS_PORT) with --no-setup and
this build's programs (PORTICO_BUILD_DIR), and with a `python3` first on PATH
that has the redis module (the case where the Python example used to be
skipped): it prints a curl line for every example service; every curl line it
prints, run as printed, answers 2xx with the body expected where known; the
notes show the signed set-up; SIGINT (plain run) or SIGTERM (--signed run) to
run.sh's PID stops everything it started and frees the ports.

Every wait is bounded; processes are found and stopped by PID."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sdkutil import SANITIZER_MARKERS, binary, ensure_node_example, eq  # noqa: E402
from harness import HOST, Runner, check, fail, tail, wait_until  # noqa: E402

t = Runner()
SOURCE_ROOT = binary("SOURCE_ROOT")
BUILD_ROOT = binary("BUILD_ROOT")
HAVE_NODE = shutil.which("node") is not None and shutil.which("npm") is not None


def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((HOST, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def port_free(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def children(pid):
    """Every live descendant of pid, as {pid: start time} (to tell a reused pid)."""
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        kids.setdefault(int(fields[1]), []).append((int(d), fields[19]))
    out, todo = {}, [pid]
    while todo:
        for child, start in kids.get(todo.pop(), []):
            out[child] = start
            todo.append(child)
    return out


def still_running(pid, start):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return False
    return fields[19] == start and fields[0] != "Z"


class RunScript:
    """scripts/run.sh in its own session; stdout collected by a thread."""

    def __init__(self, args, name):
        self.tmp = tempfile.mkdtemp(prefix="portico-it-run-%s-" % name)
        self.port, self.admin_port, self.redis_port = free_ports(3)
        bindir = os.path.join(self.tmp, "bin")
        os.mkdir(bindir)
        py = os.environ.get("SYSTEM_PYTHON", "/usr/bin/python3")
        r = subprocess.run([py, "-c", "import redis"], stderr=subprocess.DEVNULL)
        check(r.returncode == 0, "%s has no redis module (Debian package python3-redis)" % py)
        os.symlink(py, os.path.join(bindir, "python3"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("PORTICO_")}
        env.update(PATH=bindir + os.pathsep + env.get("PATH", "/usr/bin:/bin"),
                   PORTICO_PORT=str(self.port), PORTICO_ADMIN_PORT=str(self.admin_port),
                   PORTICO_REDIS_PORT=str(self.redis_port), PORTICO_BUILD_DIR=BUILD_ROOT,
                   PORTICO_RUN_DIR=os.path.join(self.tmp, "run"))
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        self.err_path = os.path.join(self.tmp, "run.stderr")
        self.out = []
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                ["bash", os.path.join(SOURCE_ROOT, "scripts", "run.sh"), "--no-setup"] + args,
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, env=env,
                cwd=self.tmp, start_new_session=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            self.out.append(line.decode(errors="replace").rstrip("\n"))

    def stderr_text(self):
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def wait_notes(self, timeout=150):
        def done():
            if any(line == "Press Ctrl-C to stop." for line in self.out):
                return True
            if self.proc.poll() is not None:
                fail("run.sh exited %s before its notes:\n%s\n%s" % (
                    self.proc.returncode, "\n".join(self.out), tail(self.stderr_text())))
            return False
        wait_until(done, timeout, 0.1, "run.sh's notes")
        return list(self.out)

    def curl_lines(self):
        return [line.strip() for line in self.out if line.startswith("  curl ")]

    def stop(self, sig):
        """Signals run.sh; checks it exits 0 and nothing it started is left."""
        started = children(self.proc.pid)
        check(len(started) >= (7 if HAVE_NODE else 6), "run.sh started too few: %r" % started)
        os.kill(self.proc.pid, sig)
        try:
            rc = self.proc.wait(90)
        except subprocess.TimeoutExpired:
            fail("run.sh did not exit within 90 s of signal %d:\n%s" % (sig, tail(self.stderr_text())))
        eq(rc, 0, "run.sh exit status")
        wait_until(lambda: not [p for p, s in started.items() if still_running(p, s)], 10, 0.1,
                   "every process run.sh started to exit")
        for p in (self.port, self.admin_port, self.redis_port):
            wait_until(lambda: port_free(p), 10, 0.1, "port %d free again" % p)

    def check_logs(self):
        rundir = os.path.join(self.tmp, "run")
        for name in os.listdir(rundir):
            if not name.endswith(".log"):
                continue
            with open(os.path.join(rundir, name), errors="replace") as f:
                text = f.read()
            for mk in SANITIZER_MARKERS:
                check(mk not in text, "sanitizer report in %s:\n%s" % (name, tail(text)))

    def close(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            self.proc.wait(10)
        shutil.rmtree(self.tmp, ignore_errors=True)


def run_curl(line, tmp):
    """Runs a printed curl line as printed (through bash), adding only where the
    body goes, the status code and a time bound. Returns (status, body)."""
    body_path = os.path.join(tmp, "curl.body")
    if os.path.exists(body_path):
        os.unlink(body_path)
    r = subprocess.run(["bash", "-c", line + " -o '%s' -w '%%{http_code}' --max-time 20" % body_path],
                       stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=60)
    check(r.returncode == 0, "%s: curl exit %d: %s" % (line, r.returncode, r.stderr.decode()))
    with open(body_path, "rb") as f:
        body = f.read()
    if " -i " in line:  # headers are in the output too
        body = body.split(b"\r\n\r\n", 1)[1]
    return int(r.stdout.decode()), body


def js(body):
    try:
        return json.loads(body)
    except ValueError:
        fail("not JSON: %r" % body[:300])


# Expected answers, by the text that identifies the line: (status, check of body).
EXPECT = [
    ("/hello/world", 200, lambda b: eq(js(b), {"hello": "world"}, "hello body")),
    ("/hello/clock", 200, lambda b: eq(b.count(b"event: tick\n"), 3,
                                       "server-sent events in %r" % b[:300])),
    ("-i -X POST http://127.0.0.1:%(port)d/hello/report", 202, lambda b: check(
        js(b)["status"] == "pending" and len(js(b)["job"]) == 36, "202 job: %r" % b)),
    ("s/^[Ll]ocation: //p", None, lambda b: check(
        js(b) == {"report": "ready", "request_id": js(b).get("request_id")}
        or js(b).get("status") == "pending", "polled job: %r" % b)),
    ("/hi/world", 200, lambda b: eq(js(b), {"hi": "world"}, "hi body")),
    ("/hi/echo", 200, lambda b: eq(js(b), {"say": "hi"}, "hi echo body")),
    ("/echo/anything", 200, lambda b: eq((js(b)["path"], js(b)["query"]), ("/echo/anything", "x=1"),
                                         "echo path and query")),
    ("/legacy/hello", 200, lambda b: eq((js(b)["service"], js(b)["path"]), ("legacy", "/hello"),
                                        "the HTTP service behind the routes file")),
    ("-X POST http://127.0.0.1:%(port)d/users ", 201, lambda b: eq(js(b)["name"], "Ada", "new user")),
    ("curl -s http://127.0.0.1:%(port)d/users ", 200, lambda b: check(
        "Ada" in [u["name"] for u in js(b)["users"]], "Ada listed: %r" % b)),
    ("/orders ", 201, lambda b: eq((js(b)["user_id"], js(b)["item"]), ("1", "book"), "order")),
    ("/orders/events", 200, lambda b: check(isinstance(js(b)["events"], list), "events: %r" % b)),
    ("%(admin)d/routes", 200, lambda b: check(
        {"echo", "users", "orders", "hello", "legacy"} | ({"hi"} if HAVE_NODE else set())
        <= {r["service"] for r in js(b)["routes"]}, "services in /routes: %r" % b[:500])),
    ("%(admin)d/health", 200, lambda b: eq(js(b)["status"], "ok", "health")),
    ("%(admin)d/metrics", 200, lambda b: check(b"portico_http_requests_total{code=\"200\"}" in b,
                                                "metrics: %r" % b[:300])),
]


def check_curl_lines(rs):
    lines = rs.curl_lines()
    subst = {"port": rs.port, "admin": rs.admin_port}
    want = [(k % subst, status, fn) for k, status, fn in EXPECT
            if HAVE_NODE or not k.startswith("/hi/")]
    for key, _, _ in want:
        check(any(key in line + " " for line in lines),
              "no printed curl line for %r; lines:\n%s\nstderr:\n%s" % (
                  key, "\n".join(lines), tail(rs.stderr_text())))
    for line in lines:
        status, body = run_curl(line, rs.tmp)
        check(200 <= status < 300, "%s answered %d: %r" % (line, status, body[:300]))
        for key, want_status, fn in want:
            if key in line + " ":
                if want_status is not None:
                    eq(status, want_status, "status of " + line)
                fn(body)
                break
    return lines


def secret_lines(notes):
    return [line for line in notes if "--registration-secret-file" in line]


@t.case
def plain_run_every_curl_line_answers_and_sigint_stops_all():
    if HAVE_NODE:
        ensure_node_example()
    rs = RunScript([], "plain")
    try:
        notes = rs.wait_notes()
        check("skipping" not in rs.stderr_text(), "a service was skipped:\n" + rs.stderr_text())
        check_curl_lines(rs)
        # 9c: the signed set-up, as lines to paste: the secret, the gateway, services.
        sl = secret_lines(notes)
        check(any("/src/gateway/portico " in line for line in sl), "gateway line: %r" % sl)
        for prog in ("examples/users/users", "examples/python/service.py", "examples/node/service.js"):
            check(any(prog in line for line in sl), "no signed line for %s: %r" % (prog, sl))
        mk = [line.strip() for line in notes if "> registration.secret" in line]
        eq(len(mk), 1, "lines that make the secret")
        subprocess.run(["bash", "-c", mk[0]], cwd=rs.tmp, check=True, timeout=30)
        with open(os.path.join(rs.tmp, "registration.secret")) as f:
            check(re.fullmatch(r"[0-9a-f]{64}", f.read()), "secret is 64 hex digits")
        rs.stop(signal.SIGINT)
        rs.check_logs()
    finally:
        rs.close()


@t.case
def signed_run_every_curl_line_answers_and_sigterm_stops_all():
    if HAVE_NODE:
        ensure_node_example()
    rs = RunScript(["--signed"], "signed")
    try:
        notes = rs.wait_notes()
        check("skipping" not in rs.stderr_text(), "a service was skipped:\n" + rs.stderr_text())
        check_curl_lines(rs)
        check(any("Signed registration is on" in line for line in notes), "signed notes")
        metrics = subprocess.run(["curl", "-s", "--max-time", "20", "http://127.0.0.1:%d/metrics" %
                                  rs.admin_port], stdout=subprocess.PIPE, timeout=60).stdout.decode()
        check('result="accepted"' in metrics, "accepted registrations: %s" % metrics)
        for bad in ("unsigned", "bad_signature", "stale", "replayed"):
            check('result="%s"' % bad not in metrics, "%s registrations:\n%s" % (bad, metrics))
        with open(os.path.join(rs.tmp, "run", "registration.secret")) as f:
            secret = f.read().strip()
        for name in os.listdir(os.path.join(rs.tmp, "run")):
            if name.endswith(".log"):
                with open(os.path.join(rs.tmp, "run", name), errors="replace") as f:
                    check(secret not in f.read(), "the secret is in %s" % name)
        rs.stop(signal.SIGTERM)
        rs.check_logs()
    finally:
        rs.close()


if __name__ == "__main__":
    t.main()
