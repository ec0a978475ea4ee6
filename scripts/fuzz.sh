#!/usr/bin/env bash
# fuzz.sh -- build the libFuzzer targets with clang and run each for a while.
#
#   scripts/fuzz.sh [SECONDS [TARGET...]]   (default 20 seconds, every target)
#
# Configures $FUZZ_BUILD_DIR (default build-fuzz: CC=clang, -Dfuzzing=true,
# ASan+UBSan), builds the seven targets of tests/fuzz/, then runs each one for
# SECONDS with its seed corpus (tests/fuzz/corpus/<target>, read only) and
# its dictionary. What a run finds goes to a scratch corpus,
# $FUZZ_WORK_DIR/<target>/corpus (default build-fuzz/fuzz-work), never to the
# repository; a crashing input is left as $FUZZ_WORK_DIR/<target>/crash-*
# (or leak-*, timeout-*, oom-*). Prints one line per target; exits 1 if any
# target found a problem (2 if nothing could be built). To keep a finding:
# fix the bug, then copy the input into tests/fuzz/corpus/<target>/.
set -u
cd "$(dirname "$0")/.."

SECONDS_PER_TARGET=${1:-20}
BUILD=${FUZZ_BUILD_DIR:-build-fuzz}
WORK=${FUZZ_WORK_DIR:-$BUILD/fuzz-work}
TARGETS="http register reply wire2 router match proxy accesslog uresp"
[ $# -gt 1 ] && { shift; TARGETS="$*"; }

case $SECONDS_PER_TARGET in
    '' | *[!0-9]*) echo "usage: $0 [SECONDS [TARGET...]]" >&2; exit 2 ;;
esac
for t in $TARGETS; do
    case " http register reply wire2 router match proxy accesslog uresp " in
        *" $t "*) ;;
        *) echo "fuzz.sh: unknown target $t (http register reply wire2 router match proxy accesslog uresp)" >&2; exit 2 ;;
    esac
done
command -v clang >/dev/null || { echo "fuzz.sh: clang not found" >&2; exit 2; }

dict_of() {
    case $1 in
        http | uresp) echo tests/fuzz/http.dict ;;
        register | reply | wire2) echo tests/fuzz/json.dict ;;
        router | match) echo tests/fuzz/router.dict ;;
        proxy) echo tests/fuzz/proxy.dict ;;
        accesslog) echo tests/fuzz/http.dict ;; # paths, queries, header values
    esac
}

# -- configure and build (only the fuzz targets: the rest is not needed) --
if [ ! -f "$BUILD/build.ninja" ]; then
    if ! out=$(CC=clang meson setup "$BUILD" -Dfuzzing=true -Db_sanitize=address,undefined \
            -Db_lundef=false 2>&1); then
        printf '%s\n' "$out" | tail -20 >&2
        echo "fuzz.sh: meson setup $BUILD failed" >&2
        exit 2
    fi
elif ! python3 -c 'import json, sys
opts = json.load(open(sys.argv[1] + "/meson-info/intro-buildoptions.json"))
sys.exit(0 if any(o["name"] == "fuzzing" and o["value"] for o in opts) else 1)' "$BUILD"; then
    meson configure "$BUILD" -Dfuzzing=true >/dev/null || exit 2
fi
bins=""
for t in $TARGETS; do bins="$bins tests/fuzz/fuzz_$t"; done
# shellcheck disable=SC2086
ninja -C "$BUILD" $bins >"$BUILD/fuzz-build.log" 2>&1 ||
    { tail -30 "$BUILD/fuzz-build.log" >&2; echo "fuzz.sh: build failed (is $BUILD a clang build?)" >&2; exit 2; }

# -- run --
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
status=0
for t in $TARGETS; do
    dir=$WORK/$t
    mkdir -p "$dir/corpus"
    log=$dir/fuzz.log
    before=$(find "$dir/corpus" -type f | wc -l)
    "$BUILD/tests/fuzz/fuzz_$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -dict="$(dict_of "$t")" \
        -artifact_prefix="$dir/" "$dir/corpus" "tests/fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
    after=$(find "$dir/corpus" -type f | wc -l)
    if [ $rc -eq 0 ]; then
        printf 'fuzz_%-8s ok     %ss  %s execs  %s  corpus +%d\n' "$t" "$SECONDS_PER_TARGET" \
            "${execs:-?}" "${cov:-cov: ?}" $((after - before))
    else
        status=1
        crash=$(ls -t "$dir"/crash-* "$dir"/leak-* "$dir"/timeout-* "$dir"/oom-* 2>/dev/null | head -1)
        printf 'fuzz_%-8s FAILED (exit %d) input: %s  log: %s\n' "$t" $rc "${crash:-none}" "$log"
        grep -E 'ERROR|invariant|SUMMARY' "$log" | head -5 | sed 's/^/    /'
    fi
done
exit $status
