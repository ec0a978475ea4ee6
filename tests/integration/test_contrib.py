#!/usr/bin/env python3
"""contrib/systemd/: the unit carries the hardening and the lifecycle settings
the operations guide promises, systemd-analyze accepts it (skipped only where
systemd-analyze is missing), every secret file reaches the gateway as a
credential, and the command line and the example config are ones the built
binary accepts (with --check-config once the binary has it)."""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Runner, check, eq, gateway_binary, run_gateway_cli  # noqa: E402

t = Runner()
HERE = os.path.dirname(os.path.abspath(__file__))
CONTRIB = os.environ.get("CONTRIB_DIR") or os.path.join(HERE, "..", "..", "contrib")
UNIT = os.path.join(CONTRIB, "systemd", "portico.service")
CONF = os.path.join(CONTRIB, "systemd", "portico.json")
MAN_SRC = os.environ.get("MAN_SRC") or os.path.join(HERE, "..", "..", "docs", "portico.8.scd")
ANALYZE = shutil.which("systemd-analyze")

# (section, key, value): the value every assignment of key must have, or
# None where presence is enough.
REQUIRED = [
    ("Service", "Type", "notify"),
    ("Service", "ExecReload", "/bin/kill -HUP $MAINPID"),
    ("Service", "DynamicUser", "yes"),
    ("Service", "NoNewPrivileges", "yes"),
    ("Service", "ProtectSystem", "strict"),
    ("Service", "ProtectHome", "yes"),
    ("Service", "PrivateTmp", "yes"),
    ("Service", "RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
    ("Service", "CapabilityBoundingSet", ""),
    ("Service", "MemoryDenyWriteExecute", "yes"),
    ("Service", "LockPersonality", "yes"),
    ("Service", "Restart", "on-failure"),
    ("Service", "KillSignal", "SIGTERM"),
    # the parent forwards SIGTERM to each worker once; a second one (from
    # systemd signalling the whole group) would make workers stop at once
    ("Service", "KillMode", "mixed"),
    ("Service", "TimeoutStopSec", None),
    ("Service", "LimitNOFILE", None),
    ("Service", "ExecStart", None),
    ("Install", "WantedBy", None),
]
# The secret files, by flag: each must come from $CREDENTIALS_DIRECTORY.
SECRET_FLAGS = ("--registration-secret-file", "--auth-file", "--tls-key")


def parse_unit(path):
    """{section: [(key, value), ...]}, continuation lines joined."""
    out, sec, pending = {}, None, ""
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if pending:
                line = pending + " " + line.strip()
                pending = ""
            if line.endswith("\\"):
                pending = line[:-1].rstrip()
                continue
            s = line.strip()
            if not s or s[0] in "#;":
                continue
            m = re.match(r"^\[(\w+)\]$", s)
            if m:
                sec = m.group(1)
                out.setdefault(sec, [])
                continue
            check(sec is not None and "=" in s, "%s: line outside a section or without '=': %r"
                  % (UNIT, s))
            k, v = s.split("=", 1)
            out[sec].append((k.strip(), v.strip()))
    return out


def values(unit, sec, key):
    return [v for k, v in unit.get(sec, []) if k == key]


def exec_start(unit):
    v = values(unit, "Service", "ExecStart")
    eq(len(v), 1, "ExecStart= assignments")
    return shlex.split(v[0])


def help_flags():
    rc, out, err = run_gateway_cli(["--help"])
    eq(rc, 0, "--help exit code")
    return set(re.findall(r"^  (?:-h, )?(--[a-z][a-z0-9-]*)", out, re.M))


@t.case
def required_directives():
    unit = parse_unit(UNIT)
    for sec, key, want in REQUIRED:
        got = values(unit, sec, key)
        check(got, "[%s] %s= is missing" % (sec, key))
        if want is not None:
            # systemd: the last assignment wins (an empty one resets a list)
            eq(got[-1], want, "[%s] %s=" % (sec, key))
    sf = values(unit, "Service", "SystemCallFilter")
    check("@system-service" in sf, "SystemCallFilter=@system-service missing: %r" % sf)
    amb = values(unit, "Service", "AmbientCapabilities")
    check(not amb or amb[-1] == "", "AmbientCapabilities must be empty by default: %r" % amb)
    argv = exec_start(unit)
    check(argv[0].endswith("/bin/portico"), "ExecStart runs %r" % argv[0])
    check("--config" in argv, "ExecStart without --config: %r" % argv)


@t.case
def secrets_come_as_credentials():
    unit = parse_unit(UNIT)
    argv = exec_start(unit)
    creds = {}
    for v in values(unit, "Service", "LoadCredential"):
        name, _, src = v.partition(":")
        check(src.startswith("/"), "LoadCredential=%s: the source must be an absolute path" % v)
        creds[name] = src
    for flag in SECRET_FLAGS:
        check(flag in argv, "ExecStart does not pass %s" % flag)
        val = argv[argv.index(flag) + 1]
        m = re.match(r"^%d/([A-Za-z0-9._-]+)$", val)
        check(m, "%s %s: a secret file must be read from %%d/ (the credentials)" % (flag, val))
        check(m.group(1) in creds, "%s %s: no LoadCredential=%s:..." % (flag, val, m.group(1)))


def unit_for_test(tmp):
    """The unit with ExecStart running the built binary (verify wants it to exist)."""
    with open(UNIT, encoding="utf-8") as f:
        text = f.read()
    text, n = re.subn(r"^ExecStart=\S+", "ExecStart=" + os.path.abspath(gateway_binary()), text, flags=re.M)
    eq(n, 1, "ExecStart= lines replaced")
    path = os.path.join(tmp, "portico.service")
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


@t.case
def systemd_analyze_verify():
    if ANALYZE is None:
        print("skip: systemd-analyze not found, the unit is not verified")
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = unit_for_test(tmp)
        p = subprocess.run([ANALYZE, "verify", "--man=no", path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        out = p.stdout.decode("utf-8", "replace")
        eq(p.returncode, 0, "systemd-analyze verify exit code (output %r)" % out)
        # verify exits 0 on some warnings (unknown keys, bad values): none allowed
        check(out.strip() == "", "systemd-analyze verify says:\n%s" % out)


@t.case
def systemd_analyze_verify_catches_a_bad_unit():
    # The check above can fail: a misspelt directive is reported.
    if ANALYZE is None:
        print("skip: systemd-analyze not found")
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = unit_for_test(tmp)
        with open(path, "a", encoding="utf-8") as f:
            f.write("\n[Service]\nProtectSystm=strict\n")
        p = subprocess.run([ANALYZE, "verify", "--man=no", path], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=60)
        check("ProtectSystm" in p.stdout.decode("utf-8", "replace"),
              "a misspelt directive went unnoticed: %r" % p.stdout)


@t.case
def systemd_analyze_security_exposure():
    if ANALYZE is None:
        print("skip: systemd-analyze not found")
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = unit_for_test(tmp)
        # --threshold is the exposure level times 10: fail above 2.0 ("OK")
        p = subprocess.run([ANALYZE, "security", "--no-pager", "--offline=yes", "--threshold=20",
                            path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        out = p.stdout.decode("utf-8", "replace")
        if p.returncode != 0 and "Overall exposure" not in out:
            print("skip: this systemd-analyze cannot score a unit offline: %s" % out[-300:])
            return
        m = re.search(r"Overall exposure level for \S+: ([\d.]+)", out)
        check(m, "no exposure level in %r" % out[-500:])
        check(float(m.group(1)) <= 2.0 and p.returncode == 0,
              "exposure %s is above 2.0:\n%s" % (m.group(1), out))


def make_credentials(tmp):
    """The files the unit's LoadCredential= lines name, made up: a secret, an
    auth file, a self-signed certificate and its key."""
    creds = os.path.join(tmp, "credentials")
    os.mkdir(creds)
    with open(os.path.join(creds, "registration-secret"), "w") as f:
        f.write(os.urandom(24).hex() + "\n")
    with open(os.path.join(creds, "auth.json"), "w") as f:
        json.dump({"api_keys": [{"id": "ops", "key": os.urandom(16).hex()}],
                   "default": "api_key"}, f)
    cert = os.path.join(tmp, "tls.crt")
    p = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", "/CN=localhost",
                        "-keyout", os.path.join(creds, "tls.key"), "-out", cert],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
    eq(p.returncode, 0, "openssl req (output %r)" % p.stdout[-300:])
    return creds, cert


@t.case
def command_line_and_config_are_accepted():
    unit = parse_unit(UNIT)
    argv = exec_start(unit)
    with open(CONF, encoding="utf-8") as f:
        conf = json.load(f)
    check(isinstance(conf, dict), "%s is not a JSON object" % CONF)
    with open(MAN_SRC, encoding="utf-8") as f:
        man = f.read()
    named = set("--" + k for k in conf) | set(a.split("=")[0] for a in argv[1:]
                                                if a.startswith("--"))
    for flag in sorted(named):
        check(re.search(r"^\*" + re.escape(flag) + r"\*", man, re.M),
              "%s (in the unit or the example config) is not a documented flag" % flag)
    have = help_flags()
    missing = sorted(named - have)
    if missing or "--check-config" not in have or shutil.which("openssl") is None:
        print("warning: not run with --check-config: the binary lacks %s"
              % ", ".join(missing + (["--check-config"] if "--check-config" not in have else []))
              if "--check-config" not in have or missing else "warning: no openssl")
        return
    with tempfile.TemporaryDirectory() as tmp:
        creds, cert = make_credentials(tmp)
        args = []
        for a in argv[1:]:
            a = a.replace("%d", creds).replace("/etc/portico/portico.json", CONF)
            args.append(a.replace("/etc/portico/tls.crt", cert))
        rc, out, err = run_gateway_cli(["--check-config"] + args)
        eq(rc, 0, "portico --check-config with the unit's command line (stderr %r)" % err[:400])
        check("configuration ok" in out + err, "no 'configuration ok': %r %r" % (out, err))


t.main()
