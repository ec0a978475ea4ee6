#!/usr/bin/env python3
"""libportico.so must export portico_* symbols only (no pc_*, pt_*, ...).

usage: check_exports.py path/to/libportico.so"""
import subprocess
import sys

lib = sys.argv[1]
out = subprocess.run(["nm", "-D", "--defined-only", lib], check=True,
                     capture_output=True, text=True).stdout
syms = [line.split()[-1] for line in out.splitlines() if line.strip()]
bad = [s for s in syms if not s.startswith("portico_")]
api = [s for s in syms if s.startswith("portico_")]
if bad:
    print("exported symbols without the portico_ prefix:\n  " + "\n  ".join(sorted(bad)))
    sys.exit(1)
if len(api) < 40:
    print("only %d portico_ symbols exported: the API is missing" % len(api))
    sys.exit(1)
print("ok: %d symbols, all portico_*" % len(api))
