"""backoff_schedule.py -- the Redis reconnect schedule as the gateway and the
SDK log it (src/common/backoff.h), read back from a process's stderr.

Each scheduled attempt is one line "... retry N in D ms" (the gateway's first
one after a loss is the WARN "redis down; retry 0 in D ms"). Checking the
logged numbers against the schedule needs no clock."""
import re

from harness import check, fail, wait_until

RETRY_RE = re.compile(r"\bretry (\d+) in (\d+) ms\b")

FLOOR_MS = 100       # PC_BACKOFF_FLOOR_MS
FAST_MS = 200        # PC_BACKOFF_FAST_MS
FAST_TRIES = 30      # PC_BACKOFF_FAST_TRIES
MAX_MS = 5000        # PC_BACKOFF_MAX_MS


def bounds(n):
    """[lo, hi] of attempt n's delay, as backoff.h documents it."""
    if n < FAST_TRIES:
        return FLOOR_MS, FAST_MS
    return FLOOR_MS, min(MAX_MS, FAST_MS << min(n - FAST_TRIES + 1, 8))


def retries(text):
    """[(attempt, delay_ms), ...] in log order."""
    return [(int(a), int(d)) for a, d in RETRY_RE.findall(text)]


def check_schedule(rs, what):
    """One outage's retries: numbered 0, 1, 2, ... and each delay inside its bounds."""
    check(rs, "%s: no retry logged" % what)
    for i, (n, d) in enumerate(rs):
        if n != i:
            fail("%s: retry #%d is numbered %d (want %d): %r" % (what, i, n, i, rs[:i + 1]))
        lo, hi = bounds(n)
        if not lo <= d <= hi:
            fail("%s: retry %d in %d ms, outside [%d, %d]; schedule so far: %r" % (
                what, n, d, lo, hi, rs[:i + 1]))


def wait_retries(proc_text, mark, count, what, timeout):
    """Waits until `count` retries are logged after offset `mark` of the text
    proc_text() returns, checking the schedule as they come (a wrong delay
    fails at once). Returns them."""
    def enough():
        rs = retries(proc_text()[mark:])
        if rs:
            check_schedule(rs, what)
        return rs if len(rs) >= count else None
    return wait_until(enough, timeout, 0.02, "%s: %d retries logged" % (what, count))
