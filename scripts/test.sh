#!/usr/bin/env bash
# test.sh -- install what is missing, build, and run every test:
#   1. unit + integration + corpus-replay tests on a normal build,
#   2. the same suite on an ASan+UBSan build (leaks are failures),
#   3. each libFuzzer target for a short, bounded time (when clang can build them).
# Before them, one check that every C file is formatted as .clang-format says.
# Ends with one line: "N passed, N failed". Exit status 0 only if nothing failed.
set -u
cd "$(dirname "$0")/.."
. scripts/lib/common.sh

# The run packages too: a test starts scripts/run.sh (redis-cli, curl).
# shellcheck disable=SC2086
ensure_packages $PORTICO_BUILD_PACKAGES $PORTICO_RUN_PACKAGES $PORTICO_TEST_PACKAGES
ensure_node
ensure_node_example
ensure_browser_test

passed=0
failed=0

# Formatting first: it takes a second and says at once what else would fail review.
say "checking the formatting"
if scripts/check-format.sh; then passed=$((passed + 1)); else failed=$((failed + 1)); fi

# Adds the results of a meson test run (its testlog.json) to the totals.
count_results() {
    local log=$1/meson-logs/testlog.json p f
    [ -f "$log" ] || { failed=$((failed + 1)); return; }
    read -r p f < <(python3 - "$log" <<'PY'
import json, sys
ok = bad = 0
for line in open(sys.argv[1]):
    line = line.strip()
    if not line:
        continue
    r = json.loads(line).get("result")
    if r in ("OK", "EXPECTEDFAIL"):
        ok += 1
    elif r != "SKIP":
        bad += 1
print(ok, bad)
PY
)
    passed=$((passed + p))
    failed=$((failed + f))
}

run_suite() {
    local dir=$1; shift
    say "building $dir"
    build_dir "$dir" "$@"
    say "testing $dir"
    rm -f "$dir/meson-logs/testlog.json"
    meson test -C "$dir" --print-errorlogs --num-processes 2 >"$dir/test-output.txt" 2>&1
    grep -E '^ *[0-9]+/[0-9]+ ' "$dir/test-output.txt" >&2 || true
    count_results "$dir"
}

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_suite build
run_suite build-asan -Db_sanitize=address,undefined -Db_lundef=false

# Short fuzzing runs (the corpora are replayed in the suites above anyway).
if [ -x scripts/fuzz.sh ] && command -v clang >/dev/null; then
    say "fuzzing each target briefly"
    if scripts/fuzz.sh "${PORTICO_FUZZ_SECONDS:-15}" >&2; then
        passed=$((passed + 1))
    else
        failed=$((failed + 1))
    fi
fi

for d in build build-asan; do
    if grep -q 'FAIL\|TIMEOUT' "$d/test-output.txt" 2>/dev/null; then
        say "failures in $d (full log: $d/meson-logs/testlog.txt):"
        sed -n '/^Summary of Failures/,$p' "$d/test-output.txt" >&2
    fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
