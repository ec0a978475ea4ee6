#!/usr/bin/env python3
"""The man page portico(8) does not drift from the binary: every flag that
`portico --help` prints is documented in docs/portico.8.scd (a "*--name*" line
at the start of a line, then its indented paragraph) with the same default and
range as --help. Flags the man page documents but the binary lacks are printed
as a warning only (flags named in SPEC part two may land before the binary
has them)."""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Runner, check, eq, fail, run_gateway_cli  # noqa: E402

t = Runner()
MAN_SRC = os.environ.get("MAN_SRC") or os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..", "docs", "portico.8.scd")

FLAG_LINE = re.compile(r"^  (?:-h, )?(--[a-z][a-z0-9-]*)(?:\s|$)")
DEFAULT_LINE = re.compile(r"^\s{10,}default: (.*?)(?:; (-?\d+)\.\.(-?\d+))?\s*$")
MAN_ENTRY = re.compile(r"^(?:\*-h\*, )?\*(--[a-z][a-z0-9-]*)\*")


def help_flags():
    """{flag: (default or None, (min, max) or None)} from `portico --help`."""
    rc, out, err = run_gateway_cli(["--help"])
    eq(rc, 0, "portico --help exit code (stderr %r)" % err[:300])
    flags, last = {}, None
    for line in out.splitlines():
        m = FLAG_LINE.match(line)
        if m:
            last = m.group(1)
            check(last not in flags, "--help lists %s twice" % last)
            flags[last] = (None, None)
            continue
        m = DEFAULT_LINE.match(line)
        if m and last is not None:
            rng = (m.group(2), m.group(3)) if m.group(2) is not None else None
            flags[last] = (m.group(1), rng)
            last = None
    check(len(flags) >= 10, "parsed only %d flags from --help:\n%s" % (len(flags), out))
    return flags


def man_entries(text):
    """{flag: its entry's text, formatting marks removed} from the scdoc source.
    An entry is the "*--name*" line and the indented lines under it."""
    entries, cur = {}, None
    for line in text.splitlines():
        m = MAN_ENTRY.match(line)
        if m:
            cur = m.group(1)
            check(cur not in entries, "the man page documents %s twice" % cur)
            entries[cur] = [line]
        elif cur is not None and line.startswith("\t"):
            entries[cur].append(line)
        elif cur is not None and line.strip() == "":
            continue
        else:
            cur = None
    return {f: re.sub(r"[*_\\]", "", " ".join(ls)) for f, ls in entries.items()}


def read_man():
    try:
        with open(MAN_SRC, encoding="utf-8") as f:
            return f.read()
    except OSError as e:
        fail("cannot read the man page source %s: %s" % (MAN_SRC, e))


@t.case
def parser_sees_drift():
    # The checks below must be able to fail: an undocumented flag, a wrong
    # default and a wrong range are each seen in a made-up source.
    src = ("*--a* _N_\n\tThing. Default: 10; 1..20.\n\n"
           "*--b* _F_\n\tOther. Default: none.\n\n# ENV\n\nText *--c* here.\n")
    e = man_entries(src)
    eq(sorted(e), ["--a", "--b"], "entries")
    eq(problems({"--a": ("10", ("1", "20")), "--b": ("none", None)}, e), [], "clean")
    eq(len(problems({"--a": ("11", ("1", "20"))}, e)), 1, "wrong default")
    eq(len(problems({"--a": ("10", ("0", "20"))}, e)), 1, "wrong range")
    eq(len(problems({"--c": (None, None)}, e)), 1, "undocumented flag")
    eq(len(problems({"--a": ("1", ("1", "20"))}, e)), 1, "default 1 is not 10")


def problems(flags, entries):
    out = []
    for flag, (default, rng) in sorted(flags.items()):
        entry = entries.get(flag)
        if entry is None:
            out.append("%s is in --help but not in the man page" % flag)
            continue
        if default is not None:
            pat = r"Default: " + re.escape(default) + r"(?![\w:/\[])"
            if not re.search(pat, entry):
                out.append("%s: --help says default %r, the man page: %r" % (flag, default, entry))
        if rng is not None:
            pat = r"(?<![\w.-])" + re.escape("%s..%s" % rng) + r"(?![\w])"
            if not re.search(pat, entry):
                out.append("%s: --help says range %s..%s, the man page: %r" % (flag, rng[0], rng[1],
                                                                               entry))
    return out


@t.case
def every_help_flag_is_documented():
    flags = help_flags()
    entries = man_entries(read_man())
    bad = problems(flags, entries)
    check(not bad, "man page %s is out of date:\n  %s" % (MAN_SRC, "\n  ".join(bad)))
    extra = sorted(set(entries) - set(flags))
    if extra:
        print("warning: the man page documents flags the binary does not have (yet): %s"
              % ", ".join(extra))


@t.case
def sections_present():
    text = read_man()
    for sec in ("NAME", "SYNOPSIS", "OPTIONS", "ENVIRONMENT", "SIGNALS", "FILES",
                "EXIT STATUS"):
        check(re.search(r"^# " + sec + r"$", text, re.M), "no section %s" % sec)
    for word in ("PORTICO_CONFIG", "SIGTERM", "SIGINT", "SIGHUP", "NOTIFY_SOCKET"):
        check(word in text.replace("\\_", "_"), "the man page does not mention %s" % word)


t.main()
