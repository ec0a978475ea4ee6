#!/usr/bin/env python3
"""HTTPS (SPEC §8, protocol.md §7.1): --tls-listen with --tls-cert/--tls-key.

TLS 1.2 and 1.3 only, ALPN http/1.1, the server's cipher order, session
resumption by tickets (also across --workers), no renegotiation; the same
connection machine as plain HTTP (keep-alive, pipelining, large bodies);
requests forwarded with x-forwarded-proto: https. Bad input: plain HTTP on
the TLS port (400, closed, counted), a truncated handshake (closed at the
header timeout, counted), TLS 1.0 only (refused), ALPN without http/1.1
(refused), garbage, a client leaving mid-handshake; start-up with a missing,
unreadable, malformed or mismatched certificate or key (exit 2, the file
named). Certificates are made here with `openssl req` in a temp dir."""
import http.client as httpclient
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (HOST, Raw, Runner, Stack, check, eq, fail, req_bytes,  # noqa: E402
                     run_gateway_cli, uniq, wait_until)

HEADER_TIMEOUT_MS = 3000
t = Runner()
ST = None
CERTS = None


# ---------------------------------------------------------------- certificates

def openssl(*args, check_rc=True):
    p = subprocess.run(["openssl"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       stdin=subprocess.DEVNULL, timeout=60)
    if check_rc and p.returncode != 0:
        fail("openssl %r failed: %s" % (args, p.stderr.decode(errors="replace")))
    return p


def make_pair(d, name, key_args=("-newkey", "rsa:2048")):
    """A self-signed certificate for 127.0.0.1/localhost and its key."""
    cert, key = os.path.join(d, name + ".crt"), os.path.join(d, name + ".key")
    openssl("req", "-x509", *key_args, "-nodes", "-keyout", key, "-out", cert, "-days", "2",
            "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost")
    return cert, key


class Certs:
    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="portico-tls-")
        self.cert, self.key = make_pair(self.dir, "server")
        self.other_cert, self.other_key = make_pair(self.dir, "other")
        self.ec_cert, self.ec_key = make_pair(
            self.dir, "ec", ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"))
        self.garbage = os.path.join(self.dir, "garbage.pem")
        with open(self.garbage, "w") as f:
            f.write("this is not PEM\n")

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def client_ctx(maximum=None, minimum=None, alpn=("http/1.1",)):
    ctx = ssl.create_default_context(cafile=CERTS.cert)
    if maximum:
        ctx.maximum_version = maximum
    if minimum:
        ctx.minimum_version = minimum
    if alpn:
        ctx.set_alpn_protocols(list(alpn))
    return ctx


def tls_conn(port, ctx=None, session=None, timeout=10.0):
    s = socket.create_connection((HOST, port), timeout=timeout)
    return (ctx or client_ctx()).wrap_socket(s, server_hostname="localhost", session=session)


class RawTLS(Raw):
    """Raw's exact bytes and response parsing over a TLS connection."""

    def __init__(self, port, ctx=None, session=None, timeout=10.0):
        self.sock = tls_conn(port, ctx, session, timeout)
        self.timeout = timeout
        self.buf = b""
        self.eof = False


def https(method, path, body=None, headers=None, port=None):
    c = httpclient.HTTPSConnection(HOST, port or ST.gw.tls_port, timeout=10,
                                   context=client_ctx())
    try:
        hdrs = dict(headers or {})
        c.request(method, path, body=body, headers=hdrs)
        r = c.getresponse()
        return r.status, dict((k.lower(), v) for k, v in r.getheaders()), r.read()
    finally:
        c.close()


def metric(name, gw=None, **labels):
    return (gw or ST.gw).metric(name, **labels)


REASONS = ("protocol", "plain_http", "closed", "timeout")


def failures(reason, gw=None):
    return metric("portico_tls_handshake_failures_by_reason_total", gw, reason=reason)


def echo(req):
    hdrs = {k: v for k, v in req.get("headers", [])}
    return {"status": 200, "headers": [["content-type", "application/json"]],
            "body": json.dumps({"proto": hdrs.get("x-forwarded-proto"), "path": req["path"],
                                "method": req["method"], "body": req.get("body") or "",
                                "reply_to": req.get("reply_to")})}


def s_client(port, *args, data=b"", timeout=30, ign_eof=True):
    """openssl s_client against the TLS port; (rc, stdout+stderr text)."""
    argv = ["openssl", "s_client", "-connect", "%s:%d" % (HOST, port), "-servername",
            "localhost", "-CAfile", CERTS.cert] + (["-ign_eof"] if ign_eof else []) + list(args)
    p = subprocess.run(argv, input=data, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    return p.returncode, p.stdout.decode("latin-1")


# ----------------------------------------------------------------------- cases

@t.case
def get_and_post_reach_the_service_as_https():
    base = "/" + uniq("tls")
    ST.service(routes=[("GET", base + "/g"), ("POST", base + "/p")], handler=echo)
    st, hdrs, body = https("GET", base + "/g")
    eq(st, 200, "GET over TLS")
    eq(json.loads(body)["proto"], "https", "x-forwarded-proto seen by the service")
    st, hdrs, body = https("POST", base + "/p", body=b"hello tls",
                           headers={"content-type": "text/plain",
                                    "x-forwarded-proto": "http"})
    eq(st, 200, "POST over TLS")
    j = json.loads(body)
    eq((j["method"], j["body"], j["proto"]), ("POST", "hello tls", "https"),
       "POST body and proto (the client's own x-forwarded-proto replaced)")
    # the same route over the plain listener says http
    r = ST.gw.http("GET", base + "/g", headers={"x-forwarded-proto": "https"})
    eq(json.loads(r.body)["proto"], "http", "x-forwarded-proto over plain HTTP")


@t.case
def alpn_is_http11_and_tls_versions():
    for ver, want in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
        s = tls_conn(ST.gw.tls_port, client_ctx(maximum=ver, minimum=ver,
                                                alpn=("h2", "http/1.1")))
        try:
            eq(s.version(), want, "negotiated version")
            eq(s.selected_alpn_protocol(), "http/1.1", "ALPN chosen by the gateway")
        finally:
            s.close()
    s = tls_conn(ST.gw.tls_port, client_ctx(alpn=()))  # no ALPN at all: fine
    try:
        check(s.selected_alpn_protocol() is None, "no ALPN offered, none chosen")
    finally:
        s.close()


@t.case
def keepalive_pipelining_and_large_bodies():
    base = "/" + uniq("pipe")
    ST.service(routes=[("GET", base + "/{i}"), ("POST", base + "/big")],
               handler=lambda req: {"status": 200, "body": req["params"].get("i", "")}
               if req["method"] == "GET" else
               {"status": 200, "body": "x" * 300000})
    new0 = metric("portico_tls_handshakes_total", session="new")
    with RawTLS(ST.gw.tls_port) as c:
        c.send(b"".join(req_bytes("GET", "%s/%d" % (base, i)) for i in range(20)))
        for i in range(20):
            r = c.read_response()
            eq((r.status, r.body), (200, str(i).encode()), "pipelined response %d" % i)
        body = os.urandom(200000).hex().encode()[:400000]   # 400 KB: many records in
        c.send(req_bytes("POST", base + "/big", [("content-type", "text/plain")], body))
        r = c.read_response()
        eq((r.status, len(r.body)), (200, 300000), "large reply over TLS (many records out)")
        c.send(req_bytes("GET", base + "/last", [("connection", "close")]))
        eq(c.read_response().body, b"last", "a last request on the same connection")
        c.expect_eof()
    eq(metric("portico_tls_handshakes_total", session="new") - new0, 1,
       "one handshake for 23 requests")


@t.case
def s_client_tls12_tls13_and_server_cipher_order():
    req = b"GET /nothing-here HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
    rc, out = s_client(ST.gw.tls_port, "-tls1_2", "-alpn", "http/1.1", data=req)
    check("Protocol  : TLSv1.2" in out, "s_client -tls1_2 negotiated 1.2:\n%s" % out[-2000:])
    check("ALPN protocol: http/1.1" in out, "ALPN in s_client's output")
    check("HTTP/1.1 404" in out, "a response over TLS 1.2")
    # the client prefers AES-256 first; the server's order (Mozilla
    # intermediate, AES-128 first) wins
    check("Cipher is ECDHE-RSA-AES128-GCM-SHA256" in out, "server cipher preference:\n%s"
          % "\n".join(ln for ln in out.splitlines() if "Cipher" in ln))
    check("Secure Renegotiation IS supported" in out, "RFC 5746 extension")
    rc, out = s_client(ST.gw.tls_port, "-tls1_3", "-alpn", "http/1.1", data=req)
    check("New, TLSv1.3" in out and "ALPN protocol: http/1.1" in out and "HTTP/1.1 404" in out,
          "s_client -tls1_3:\n%s" % out[-2000:])


@t.case
def renegotiation_is_refused():
    before = metric("portico_tls_handshakes_total", session="new")
    # "R" on a line of its own asks s_client to renegotiate (TLS 1.2)
    rc, out = s_client(ST.gw.tls_port, "-tls1_2", data=b"R\n", timeout=30, ign_eof=False)
    check("RENEGOTIATING" in out, "s_client tried: %s" % out[-1500:])
    check("no renegotiation" in out.lower(), "renegotiation refused:\n%s" % out[-1500:])
    eq(metric("portico_tls_handshakes_total", session="new") - before, 1,
       "only the first handshake completed")


@t.case
def tls10_only_client_refused():
    f0 = failures("protocol")
    rc, out = s_client(ST.gw.tls_port, "-tls1", "-cipher", "DEFAULT@SECLEVEL=0",
                       data=b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    check(rc != 0, "TLS 1.0 handshake failed: %s" % out[-800:])
    check("HTTP/1.1" not in out, "nothing served over TLS 1.0")
    check("protocol version" in out or "alert" in out, "a protocol_version alert: %s"
          % out[-800:])
    wait_until(lambda: failures("protocol") == f0 + 1, 5, msg="protocol failure counted")


@t.case
def alpn_without_http11_refused():
    f0 = failures("protocol")
    try:
        s = tls_conn(ST.gw.tls_port, client_ctx(alpn=("h2",)))
        s.close()
        fail("handshake with ALPN h2 only succeeded")
    except ssl.SSLError as e:
        check("NO APPLICATION PROTOCOL" in str(e).upper().replace("_", " "),
              "no_application_protocol: %r" % e)
    wait_until(lambda: failures("protocol") == f0 + 1, 5, msg="ALPN failure counted")


@t.case
def curl_https():
    if shutil.which("curl") is None:
        return
    base = "/" + uniq("curl")
    ST.service(routes=[("GET", base)], handler=echo)
    p = subprocess.run(["curl", "-sS", "-v", "--cacert", CERTS.cert,
                        "https://127.0.0.1:%d%s" % (ST.gw.tls_port, base)],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
    eq(p.returncode, 0, "curl exit (%s)" % p.stderr.decode(errors="replace")[-500:])
    eq(json.loads(p.stdout)["proto"], "https", "curl's request seen as https")
    check(b"http/1.1" in p.stderr, "curl's ALPN: %s" % p.stderr[-800:])


@t.case
def session_resumption():
    for ver in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = client_ctx(maximum=ver, minimum=ver)
        r0 = metric("portico_tls_handshakes_total", session="resumed")
        with RawTLS(ST.gw.tls_port, ctx) as c:
            c.send(req_bytes("GET", "/none"))
            c.read_response()              # TLS 1.3 tickets arrive after the handshake
            sess = c.sock.session
            check(not c.sock.session_reused, "first connection is a full handshake")
        check(sess is not None and sess.has_ticket, "a session ticket was issued (%s)" % ver)
        with RawTLS(ST.gw.tls_port, ctx, session=sess) as c:
            check(c.sock.session_reused, "session resumed (%s)" % ver)
            c.send(req_bytes("GET", "/none"))
            eq(c.read_response().status, 404, "served on a resumed session")
        eq(metric("portico_tls_handshakes_total", session="resumed") - r0, 1,
           "resumed handshake counted (%s)" % ver)


@t.case
def plain_http_on_the_tls_port():
    f0 = failures("plain_http")
    with Raw(ST.gw.tls_port) as c:
        c.send(req_bytes("GET", "/x", [("x-request-id", "abc")]))
        r = c.read_response()
        eq(r.status, 400, "plain HTTP on the TLS port")
        eq(r.json()["error"], "plain_http_to_https_port", "error code")
        eq(r.header("connection"), "close", "connection: close")
        c.expect_eof()
    eq(failures("plain_http") - f0, 1, "counted as plain_http")


@t.case
def truncated_handshake_closed_at_header_timeout():
    f0 = failures("timeout")
    # a TLS record header announcing 512 bytes of ClientHello, then 9 of them
    with Raw(ST.gw.tls_port, timeout=30) as c:
        c.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\x00\x00\x00")
        c.expect_eof(timeout=HEADER_TIMEOUT_MS / 1000 + 20)   # closed, nothing sent
    with Raw(ST.gw.tls_port, timeout=30) as c:                  # nothing at all
        c.expect_eof(timeout=HEADER_TIMEOUT_MS / 1000 + 20)
    eq(failures("timeout") - f0, 2, "both counted as timeouts")


@t.case
def garbage_and_early_close():
    f0, c0 = failures("protocol"), failures("closed")
    with Raw(ST.gw.tls_port) as c:
        c.send(b"\x00\x01\x02\x03\x04\x05\x06\x07 not tls at all \r\n\r\n")
        c.eof or c._fill(15)
        check(not c.buf or c.buf[:1] == b"\x15", "at most a TLS alert back: %r" % c.buf[:50])
    wait_until(lambda: failures("protocol") == f0 + 1, 5, msg="garbage counted as protocol")
    with Raw(ST.gw.tls_port) as c:
        c.send(b"\x16\x03\x01\x00\x40\x01\x00\x00")    # part of a hello, then gone
    wait_until(lambda: failures("closed") == c0 + 1, 5, msg="early close counted as closed")
    # the gateway still serves
    eq(https("GET", "/none")[0], 404, "served after the bad clients")


@t.case
def handshake_failures_total_is_one_unlabelled_counter():
    """SPEC §8's portico_tls_handshake_failures_total is read by its bare name: one
    unlabelled counter, the sum of the by-reason family (every reason from 0)."""
    st, _, text = ST.gw.admin_get("/metrics")
    eq(st, 200, "/metrics")
    for name in ("portico_tls_handshake_failures_total",
                 "portico_tls_handshake_failures_by_reason_total"):
        check("# HELP %s " % name in text and "# TYPE %s counter" % name in text,
              "HELP and TYPE for %s" % name)
    lines = [ln for ln in text.splitlines()
             if ln.startswith("portico_tls_handshake_failures_total")]
    eq(len(lines), 1, "one sample under the bare name: %r" % lines)
    check(lines[0].startswith("portico_tls_handshake_failures_total "), "unlabelled: %r" % lines)
    m = ST.gw.metrics()
    eq(sorted(dict(k[1])["reason"] for k in m
              if k[0] == "portico_tls_handshake_failures_by_reason_total"), sorted(REASONS),
       "every reason listed")
    total0 = metric("portico_tls_handshake_failures_total")
    f0 = failures("protocol")
    with Raw(ST.gw.tls_port) as c:
        c.send(b"\x00\x01\x02\x03 not tls\r\n\r\n")
        c.eof or c._fill(15)
    wait_until(lambda: failures("protocol") == f0 + 1, 5, msg="counted as protocol")
    m = ST.gw.metrics()
    eq(m[("portico_tls_handshake_failures_total", frozenset())],
       sum(m[("portico_tls_handshake_failures_by_reason_total", frozenset({("reason", r)}))]
           for r in REASONS), "the total is the sum of the reasons")
    check(metric("portico_tls_handshake_failures_total") >= total0 + 1, "the total moved")


@t.case
def start_up_errors_name_the_file():
    missing = os.path.join(CERTS.dir, "missing.key")
    cases = [
        (["--tls-cert", CERTS.cert, "--tls-key", missing], missing, "No such file"),
        (["--tls-cert", missing, "--tls-key", CERTS.key], missing, "No such file"),
        (["--tls-cert", CERTS.cert, "--tls-key", CERTS.other_key], CERTS.other_key,
         "does not match the certificate"),
        (["--tls-cert", CERTS.cert, "--tls-key", CERTS.ec_key], CERTS.ec_key,
         "does not match the certificate"),
        (["--tls-cert", CERTS.garbage, "--tls-key", CERTS.key], CERTS.garbage,
         "no PEM certificate"),
        (["--tls-cert", CERTS.cert, "--tls-key", CERTS.garbage], CERTS.garbage,
         "no PEM private key"),
        (["--tls-cert", CERTS.dir, "--tls-key", CERTS.key], CERTS.dir, "Is a directory"),
        (["--tls-cert", CERTS.cert], "--tls-key", "needs both"),
        (["--tls-key", CERTS.key, "--workers", "2"], "--tls-cert", "needs both"),
    ]
    if os.geteuid() != 0:  # root reads any file
        unreadable = os.path.join(CERTS.dir, "unreadable.key")
        shutil.copy(CERTS.key, unreadable)
        os.chmod(unreadable, 0)
        cases.append((["--tls-cert", CERTS.cert, "--tls-key", unreadable], unreadable,
                      "Permission denied"))
    # the same with and without --tls-listen (SPEC §9: every file named is read),
    # at start and with --check-config
    for listener in (["--tls-listen", "127.0.0.1:0"], []):
        for mode in ([], ["--check-config"]):
            for args, named, why in cases:
                argv = mode + ["--listen", "127.0.0.1:0", "--admin", "off"] + listener + args
                rc, out, err = run_gateway_cli(argv)
                eq(rc, 2, "exit status for %r (stderr %r)" % (argv, err))
                lines = err.strip().splitlines()
                eq(len(lines), 1, "one line on stderr: %r" % err)
                check(named in lines[0] and why in lines[0],
                      "%r names %s (%s) for %r" % (err, named, why, argv))
    rc, out, err = run_gateway_cli(["--check-config", "--listen", "127.0.0.1:0", "--tls-cert",
                                    CERTS.cert, "--tls-key", CERTS.key])
    eq((rc, out.strip()), (0, "configuration ok"), "a good pair without a listener: %r" % err)
    rc, out, err = run_gateway_cli(["--listen", "off", "--admin", "off"])
    eq(rc, 2, "--listen off without TLS")
    check("--listen off needs --tls-listen" in err, err)


def peer_cert(port):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((HOST, port), timeout=10) as raw:
        with ctx.wrap_socket(raw) as s:
            return s.getpeercert(binary_form=True)


def der_of(cert_file):
    with open(cert_file) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


@t.case
def sighup_reloads_the_pair_all_or_nothing():
    """SIGHUP reads the certificate and key again: new connections get the new
    pair; a bad pair changes nothing (the current one stays, counted); and
    --check-config refuses what a reload would."""
    d = tempfile.mkdtemp(prefix="portico-tls-reload-")
    st = Stack(start_gateway=False, name="tlsreload")
    try:
        cert, key = os.path.join(d, "live.crt"), os.path.join(d, "live.key")
        shutil.copy(CERTS.cert, cert)
        shutil.copy(CERTS.key, key)
        st.start_gateway(["--tls-listen", HOST + ":0", "--tls-cert", cert, "--tls-key", key])
        gw = st.gw
        eq(peer_cert(gw.tls_port), der_of(CERTS.cert), "the first pair")

        def reloads(result):
            return gw.metrics().get(("portico_config_reloads_total",
                                     frozenset({("result", result)})), 0)

        shutil.copy(CERTS.other_cert, cert)
        shutil.copy(CERTS.other_key, key)
        gw.signal(signal.SIGHUP)
        wait_until(lambda: reloads("ok") == 1, 10, msg="reload counted ok")
        eq(peer_cert(gw.tls_port), der_of(CERTS.other_cert), "the new pair after SIGHUP")

        shutil.copy(CERTS.key, key)  # no longer matches the certificate
        gw.signal(signal.SIGHUP)
        wait_until(lambda: reloads("error") == 1, 10, msg="refused reload counted")
        eq(peer_cert(gw.tls_port), der_of(CERTS.other_cert), "the pair in use stays")
        check("does not match the certificate" in gw.stderr_text(), "the reason is logged")

        rc, out, err = run_gateway_cli(["--check-config", "--tls-listen", HOST + ":0",
                                        "--tls-cert", cert, "--tls-key", key])
        eq(rc, 2, "--check-config with a mismatched pair (stderr %r)" % err)
        check(key in err and "does not match" in err, err)
        shutil.copy(CERTS.other_key, key)
        rc, out, err = run_gateway_cli(["--check-config", "--tls-listen", HOST + ":0",
                                        "--tls-cert", cert, "--tls-key", key])
        eq((rc, out.strip()), (0, "configuration ok"), "--check-config with a good pair")
        gw.assert_alive()
    finally:
        st.close()
        shutil.rmtree(d, ignore_errors=True)


@t.case
def sighup_reads_a_pair_named_without_a_listener():
    """A --config file that names a pair without tls-listen has it read at a reload
    too (SPEC §9: every file a flag names): a mismatched pair refuses the reload
    (one line naming the file), half a pair too, a good pair is accepted."""
    d = tempfile.mkdtemp(prefix="portico-tls-nolisten-")
    st = Stack(start_gateway=False, name="tlsnolisten")
    try:
        cfg = os.path.join(d, "cfg.json")

        def write_cfg(obj):
            with open(cfg + ".tmp", "w") as f:
                json.dump(obj, f)
            os.replace(cfg + ".tmp", cfg)

        def reload(result, n):
            gw.signal(signal.SIGHUP)
            wait_until(lambda: gw.metric("portico_config_reloads_total", result=result) == n,
                       10, msg="reload %s %d" % (result, n))

        write_cfg({})
        st.start_gateway(["--config", cfg])
        gw = st.gw
        write_cfg({"tls-cert": CERTS.cert, "tls-key": CERTS.other_key, "max-body-bytes": 4})
        reload("error", 1)
        lines = [ln for ln in gw.stderr_text().splitlines() if "reload refused" in ln]
        check(len(lines) == 1 and CERTS.other_key in lines[0] and
              "does not match the certificate" in lines[0], "names the key: %r" % lines)
        eq(gw.http("POST", "/x", body=b"12345").status, 404, "nothing changed")
        write_cfg({"tls-key": CERTS.key})
        reload("error", 2)
        check("--tls-key without --tls-cert" in gw.stderr_text(), "half a pair refused")
        write_cfg({"tls-cert": CERTS.cert, "tls-key": CERTS.key})
        reload("ok", 1)
        gw.assert_alive()
    finally:
        st.close()
        shutil.rmtree(d, ignore_errors=True)


@t.case
def sighup_removing_tls_listen_and_pair_keeps_both():
    """tls-listen cannot change at a reload (SPEC §9: kept, with a warning); when the
    --config file drops it together with tls-cert and tls-key, the kept listener goes on
    serving the pair in use (not read again) and the rest of the reload applies. A file
    that names a pair again has it read and checked as before."""
    d = tempfile.mkdtemp(prefix="portico-tls-keep-")
    st = Stack(start_gateway=False, name="tlskeep")
    try:
        cert, key = os.path.join(d, "live.crt"), os.path.join(d, "live.key")
        shutil.copy(CERTS.cert, cert)
        shutil.copy(CERTS.key, key)
        cfg = os.path.join(d, "cfg.json")

        def write_cfg(obj):
            with open(cfg + ".tmp", "w") as f:
                json.dump(obj, f)
            os.replace(cfg + ".tmp", cfg)

        write_cfg({"tls-listen": HOST + ":0", "tls-cert": cert, "tls-key": key})
        st.start_gateway(["--config", cfg])
        gw = st.gw
        st.service(service="tlskeep", routes=[("POST", "/keep")])
        eq(https("POST", "/keep", body=b"12345", port=gw.tls_port)[0], 200, "before")

        def reloads(result):
            return gw.metric("portico_config_reloads_total", result=result)

        write_cfg({"max-body-bytes": 4})
        os.unlink(cert)   # not read again: the pair in use is kept as it is
        os.unlink(key)
        gw.signal(signal.SIGHUP)
        wait_until(lambda: reloads("ok") + reloads("error") == 1, 10, msg="the reload")
        eq((reloads("ok"), reloads("error")), (1, 0), "the reload is not refused")
        eq(peer_cert(gw.tls_port), der_of(CERTS.cert), "the pair in use is still served")
        eq(https("POST", "/keep", body=b"12345", port=gw.tls_port)[0], 413,
           "the other change applied (max-body-bytes 4), over TLS too")
        eq(https("POST", "/keep", body=b"1234", port=gw.tls_port)[0], 200, "served over TLS")
        text = gw.stderr_text()
        check("tls-listen changed" in text, "a warning for tls-listen: %s" % text[-1500:])
        check("tls-cert and tls-key removed: keeping the running pair" in text,
              "a warning for the pair: %s" % text[-1500:])

        # naming a pair again (still no tls-listen): read and checked as always
        write_cfg({"tls-cert": CERTS.other_cert, "tls-key": CERTS.other_key})
        gw.signal(signal.SIGHUP)
        wait_until(lambda: reloads("ok") == 2, 10, msg="the second reload")
        eq(peer_cert(gw.tls_port), der_of(CERTS.other_cert), "the named pair is read")
        write_cfg({"tls-cert": CERTS.other_cert, "tls-key": CERTS.key})
        gw.signal(signal.SIGHUP)
        wait_until(lambda: reloads("error") == 1, 10, msg="a mismatched pair refused")
        eq(peer_cert(gw.tls_port), der_of(CERTS.other_cert), "the pair in use stays")
        write_cfg({"tls-cert": CERTS.other_cert})
        gw.signal(signal.SIGHUP)
        wait_until(lambda: reloads("error") == 2, 10, msg="half a pair refused")
        check("needs both --tls-cert and --tls-key" in gw.stderr_text(), "the reason")
        gw.assert_alive()
    finally:
        st.close()
        shutil.rmtree(d, ignore_errors=True)


def read_http_response(sock):
    """Status and JSON body of one response with a content-length."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        if not d:
            fail("closed before a response head: %r" % buf)
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    n = int([ln.split(b":", 1)[1] for ln in head.split(b"\r\n")
             if ln.lower().startswith(b"content-length:")][0])
    while len(body) < n:
        d = sock.recv(65536)
        if not d:
            break
        body += d
    return int(head.split(b" ")[1]), json.loads(body[:n])


@t.case
def proxy_header_before_the_tls_handshake():
    """--proxy-protocol on the TLS port: the PROXY header comes first, raw,
    then the handshake; the service sees the header's source and https. A
    header split across sends, v2, and a missing header (closed, counted)."""
    st = Stack(start_gateway=False, name="tlsproxy")
    try:
        st.start_gateway(["--tls-listen", HOST + ":0", "--tls-cert", CERTS.cert,
                          "--tls-key", CERTS.key, "--proxy-protocol"])
        gw = st.gw
        base = "/" + uniq("pp")
        st.service(routes=[("GET", base)],
                   handler=lambda req: {"status": 200,
                                        "headers": [["content-type", "application/json"]],
                                        "body": json.dumps({
                                            "addr": req.get("remote_addr"),
                                            "proto": dict(req.get("headers", [])).get(
                                                "x-forwarded-proto")})})
        v2 = (b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11, 0x00, 12]) +
              bytes([198, 51, 100, 9, 127, 0, 0, 1]) + (4242).to_bytes(2, "big") +
              (443).to_bytes(2, "big"))
        for header, splits, want in (
                (b"PROXY TCP4 203.0.113.7 127.0.0.1 5555 443\r\n", (), "203.0.113.7"),
                (b"PROXY TCP6 2001:db8::7 ::1 5555 443\r\n", (9, 20), "2001:db8::7"),
                (v2, (5, 16), "198.51.100.9")):
            raw = socket.create_connection((HOST, gw.tls_port), timeout=10)
            try:
                pos = 0
                for cut in splits + (len(header),):
                    raw.sendall(header[pos:cut])
                    pos = cut
                    time.sleep(0.05)
                with client_ctx().wrap_socket(raw, server_hostname="localhost") as s:
                    s.sendall(req_bytes("GET", base))
                    status, body = read_http_response(s)
            finally:
                raw.close()
            eq((status, body), (200, {"addr": want, "proto": "https"}), "through %r" % header)
        before = gw.metric("portico_proxy_protocol_errors_total", reason="invalid") or 0
        raw = socket.create_connection((HOST, gw.tls_port), timeout=10)
        try:
            with client_ctx().wrap_socket(raw, server_hostname="localhost",
                                          do_handshake_on_connect=False) as s:
                try:
                    s.do_handshake()   # a ClientHello where the PROXY header must be
                    fail("a handshake without a PROXY header succeeded")
                except (ssl.SSLError, OSError):
                    pass
        finally:
            raw.close()
        wait_until(lambda: (gw.metric("portico_proxy_protocol_errors_total",
                                      reason="invalid") or 0) == before + 1,
                   10, msg="the refused header counted")
        gw.assert_alive()
    finally:
        st.close()


@t.case
def workers_and_tls_only():
    """--workers 2 --listen off: one TLS port, both workers serve it, and a
    ticket from one worker resumes on the other."""
    st = Stack(start_gateway=False, name="tlsworkers")
    try:
        st.start_gateway(["--workers", "2", "--listen", "off", "--tls-listen", HOST + ":0",
                          "--tls-cert", CERTS.cert, "--tls-key", CERTS.key])
        gw = st.gw
        check(gw.port is None and "listen=off" in gw.ready_line, gw.ready_line)
        check(gw.tls_port, "tls port in the ready line: %r" % gw.ready_line)
        base = "/" + uniq("w")
        st.service(routes=[("GET", base)], handler=echo)
        ctx = client_ctx(maximum=ssl.TLSVersion.TLSv1_2)
        with RawTLS(gw.tls_port, ctx) as c:
            c.send(req_bytes("GET", base))
            eq(c.read_response().status, 200, "served over TLS by a worker")
            sess = c.sock.session
        channels, resumed = set(), 0
        for _ in range(30):
            with RawTLS(gw.tls_port, ctx, session=sess) as c:
                resumed += c.sock.session_reused
                c.send(req_bytes("GET", base))
                r = c.read_response()
                eq(r.status, 200, "status")
                channels.add(json.loads(r.body)["reply_to"])
        eq(len(channels), 2, "both workers served TLS connections")
        eq(resumed, 30, "every connection resumed, whichever worker took it")
        m = gw.metrics()
        eq(m[("portico_tls_handshakes_total", frozenset({("session", "resumed")}))], 30,
           "resumptions counted over both workers")
        # a held keep-alive connection and a half-done handshake do not keep
        # SIGTERM from ending both workers cleanly
        held = RawTLS(gw.tls_port, ctx)
        half = socket.create_connection((HOST, gw.tls_port))
        half.sendall(b"\x16\x03\x01\x02\x00\x01")
        try:
            gw.signal(signal.SIGTERM)
            eq(gw.wait_exit(30), 0, "exit status after SIGTERM")
        finally:
            held.close()
            half.close()
    finally:
        st.close()


def setup():
    global ST, CERTS
    CERTS = Certs()
    ST = Stack(start_gateway=False, name="tls")
    ST.start_gateway(["--tls-listen", HOST + ":0", "--tls-cert", CERTS.cert,
                      "--tls-key", CERTS.key, "--header-timeout-ms", str(HEADER_TIMEOUT_MS)])
    return ST


def teardown(st):
    try:
        st.close()
    finally:
        CERTS.close()


if __name__ == "__main__":
    t.main(setup=setup, teardown=teardown)
