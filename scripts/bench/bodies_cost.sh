#!/usr/bin/env bash
# bodies_cost.sh -- what one request of each body shape costs, by process.
#
#   scripts/bench/bodies_cost.sh [--build DIR] [--count N] [--sizes "0 4096 65536"]
#                                [--shapes "get post echo"] [--out DIR]
#
# For each size and shape (the shapes of scripts/bench/bodies.sh, on the echo
# example's /bytes/{n} route: GET /bytes/N; POST of N bytes to /bytes/128;
# ECHO: POST of N bytes to /bytes/N; size 0 is measured as GET only) runs
# callgrind.sh four times: the gateway and the echo service under callgrind
# (instructions per request), then each under strace -c (system calls per
# request), and prints one table row: Ir/request and syscalls/request for
# the gateway and the service, and the Redis server's CPU microseconds per
# request (from the strace runs, where nothing runs under valgrind). Each
# run's output is kept in OUT/<shape>-<size>-<what>.txt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build-perf count=1000 sizes="0 4096 65536" shapes="get post echo" out=""
while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --shapes) shapes=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--count N] [--sizes LIST] [--shapes LIST] [--out DIR]" >&2; exit 2 ;;
    esac
done
[ -n "$out" ] || out=$(mktemp -d /tmp/portico-bodies-cost.XXXXXX)
mkdir -p "$out"
field() { sed -n "s|^$1: .*: \\([0-9.]*\\) $2.*|\\1|p" "$3" | head -1; }
printf '| shape | size | gateway Ir/req | service Ir/req | gateway syscalls/req | service syscalls/req | redis us/req |\n'
printf '|---|---:|---:|---:|---:|---:|---:|\n'
for size in $sizes; do
    for shape in $shapes; do
        [ "$size" = 0 ] && [ "$shape" != get ] && continue
        case $shape in
        get) path=/bytes/$size body=0 ;;
        post) path=/bytes/128 body=$size ;;
        echo) path=/bytes/$size body=$size ;;
        *) echo "unknown shape $shape" >&2; exit 2 ;;
        esac
        [ "$size" = 0 ] && path=/bytes/0
        base="$out/$shape-$size"
        args=(--build "$build" --count "$count" --path "$path" --body "$body")
        "$here/callgrind.sh" "${args[@]}" --out "$base-gw" >"$base-gw.txt"
        "$here/callgrind.sh" "${args[@]}" --out "$base-svc" --service >"$base-svc.txt"
        "$here/callgrind.sh" "${args[@]}" --out "$base-gw-st" --strace >"$base-gw-st.txt"
        "$here/callgrind.sh" "${args[@]}" --out "$base-svc-st" --strace --service >"$base-svc-st.txt"
        printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$shape" "$size" \
            "$(field gateway Ir/request "$base-gw.txt")" "$(field service Ir/request "$base-svc.txt")" \
            "$(field gateway syscalls/request "$base-gw-st.txt")" \
            "$(field service syscalls/request "$base-svc-st.txt")" \
            "$(sed -n 's/^redis: \([0-9.]*\) us.*/\1/p' "$base-gw-st.txt" "$base-svc-st.txt" | sort -n | head -1)"
    done
done
echo "runs: $out"
