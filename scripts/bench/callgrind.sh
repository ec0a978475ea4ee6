#!/usr/bin/env bash
# callgrind.sh -- instructions the gateway spends per forwarded request.
#
#   scripts/bench/callgrind.sh [--build DIR] [--count N] [--conns C] [--body BYTES]
#                              [--out DIR] [--path /echo/x] [--service]
#                              [--access-log] [--strace] [--plain]
#
# Starts its own redis-server (free port), the gateway from DIR under
# valgrind --tool=callgrind with collection off, and the echo example; warms
# up with 200 requests, switches collection on, sends N requests (load.py),
# dumps, and prints instructions per request (total and the top functions).
# --service profiles the echo service instead of the gateway. --access-log
# runs the gateway with --access-log OUT/access.log (JSON), to count what a
# logged request costs. --strace counts the profiled process' system calls
# per request instead (strace -c -f, attached after the warm-up; no valgrind).
# Either way the Redis server's CPU time (/proc/PID/schedstat) over the
# counted requests is printed per request; --plain runs every process as is
# and prints only that (Redis' CPU with nothing slowed down beside it).
# Everything runs on loopback and is stopped by PID on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build-perf count=2000 conns=1 body=0 out="" path=/echo/x service=0 alog=0 strace=0 plain=0
while [ $# -gt 0 ]; do
    case $1 in
    --build) build=$2; shift 2 ;;
    --count) count=$2; shift 2 ;;
    --conns) conns=$2; shift 2 ;;
    --body) body=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --path) path=$2; shift 2 ;;
    --service) service=1; shift ;;
    --access-log) alog=1; shift ;;
    --strace) strace=1; shift ;;
    --plain) plain=1; strace=1; shift ;;
    *) echo "usage: $0 [--build DIR] [--count N] [--conns C] [--body BYTES] [--out DIR] [--path P] [--service] [--access-log] [--strace] [--plain]" >&2; exit 2 ;;
    esac
done
case $build in /*) ;; *) build=$PWD/$build ;; esac
[ -n "$out" ] || out=$(mktemp -d /tmp/portico-cg.XXXXXX)
mkdir -p "$out"
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {  # file pattern seconds
    local i=0
    while ! grep -q "$2" "$1" 2>/dev/null; do
        i=$((i + 1)); [ $i -gt $(($3 * 10)) ] && { echo "timeout waiting for $2 in $1" >&2; cat "$1" >&2; exit 1; }
        sleep 0.1
    done
}
rport=$(free_port)
redis-server --port "$rport" --bind 127.0.0.1 --save '' --appendonly no >"$out/redis.log" 2>&1 &
pids+=($!)
until redis-cli -p "$rport" ping >/dev/null 2>&1; do sleep 0.1; done
cg=(valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/callgrind.out")
[ "$strace" = 1 ] && cg=()
redispid=${pids[0]}
# CPU time of a process in nanoseconds (the scheduler's run time).
cpu_ticks() { awk '{print $1}' "/proc/$1/schedstat"; }
gw_cmd=("$build/src/gateway/portico" --listen 127.0.0.1:0 --admin off
    --redis "redis://127.0.0.1:$rport" --log-level warn)
[ "$alog" = 1 ] && gw_cmd+=(--access-log "$out/access.log")
if [ "$service" = 1 ]; then
    "${gw_cmd[@]}" >"$out/gw.log" 2>&1 &
    pids+=($!)
else
    "${cg[@]}" "${gw_cmd[@]}" >"$out/gw.log" 2>&1 &
    gwpid=$!
    pids+=($gwpid)
fi
wait_for "$out/gw.log" "portico ready" 60
port=$(sed -n 's/.*listen=[^ ]*:\([0-9]*\) .*/\1/p' "$out/gw.log" | head -1)
if [ "$service" = 1 ]; then
    PORTICO_REDIS="redis://127.0.0.1:$rport" "${cg[@]}" "$build/examples/echo/echo" >"$out/echo.log" 2>&1 &
    gwpid=$!   # the profiled process
else
    PORTICO_REDIS="redis://127.0.0.1:$rport" "$build/examples/echo/echo" >"$out/echo.log" 2>&1 &
fi
pids+=($!)
wait_for "$out/echo.log" "ready" 60
# The route appears once the gateway has read the register message.
for _ in $(seq 100); do
    python3 "$here/load.py" 127.0.0.1 "$port" "$path" 1 >/dev/null 2>&1 && break
    sleep 0.2
done
python3 "$here/load.py" 127.0.0.1 "$port" "$path" 200 "$conns" "$body" >/dev/null
who=$([ "$service" = 1 ] && echo service || echo gateway)
if [ "$plain" = 1 ]; then
    r0=$(cpu_ticks "$redispid")
    python3 "$here/load.py" 127.0.0.1 "$port" "$path" "$count" "$conns" "$body"
    r1=$(cpu_ticks "$redispid")
    echo "redis: $(awk -v a="$r0" -v b="$r1" -v n="$count" 'BEGIN {printf "%.1f", (b - a) / 1e3 / n}') us CPU/request"
    exit 0
fi
if [ "$strace" = 1 ]; then
    strace -c -f -o "$out/strace.txt" -p "$gwpid" 2>"$out/strace.err" &
    stpid=$!
    pids+=($stpid)
    sleep 1 # attached
    r0=$(cpu_ticks "$redispid")
    python3 "$here/load.py" 127.0.0.1 "$port" "$path" "$count" "$conns" "$body"
    r1=$(cpu_ticks "$redispid")
    kill -INT "$stpid"
    wait "$stpid" 2>/dev/null || true
    echo "redis: $(awk -v a="$r0" -v b="$r1" -v n="$count" 'BEGIN {printf "%.1f", (b - a) / 1e3 / n}') us CPU/request"
    calls=$(awk '$NF == "total" {print $4 + 0; exit}' "$out/strace.txt")
    echo "$who: $calls system calls for $count requests (conns=$conns body=$body path=$path): $(awk -v c="$calls" -v n="$count" 'BEGIN {printf "%.2f", c / n}') syscalls/request"
    awk -v n="$count" '/^ *[0-9.]+ +[0-9.]+ +[0-9]+ +[0-9]+/ {printf "%8.2f %s\n", $4 / n, $NF}' "$out/strace.txt" | sort -rn | head -8 || true
    exit 0
fi
callgrind_control -i on "$gwpid" >/dev/null
r0=$(cpu_ticks "$redispid")
python3 "$here/load.py" 127.0.0.1 "$port" "$path" "$count" "$conns" "$body"
r1=$(cpu_ticks "$redispid")
callgrind_control -i off "$gwpid" >/dev/null
callgrind_control -d "$gwpid" >/dev/null
sleep 0.5
f=$(ls -t "$out"/callgrind.out* | head -1)
# Zeroing mid-run confuses callgrind's inclusive totals: sum the self costs.
callgrind_annotate --inclusive=no --threshold=100 --auto=no "$f" 2>/dev/null >"$out/annotate.txt"
total=$(grep -vE 'PROGRAM TOTALS' "$out/annotate.txt" | grep -E '^ *[0-9,]+ +\(' | awk '{gsub(",","",$1); t+=$1} END {printf "%.0f", t}')
echo "redis: $(awk -v a="$r0" -v b="$r1" -v n="$count" 'BEGIN {printf "%.1f", (b - a) / 1e3 / n}') us CPU/request"
echo "$who: $total instructions for $count requests (conns=$conns body=$body path=$path): $(awk -v t="$total" -v n="$count" 'BEGIN {printf "%.0f", t / n}') Ir/request"
echo "profile: $f"
grep -vE 'PROGRAM TOTALS' "$out/annotate.txt" | grep -E '^ *[0-9,]+ +\(' | head -"${TOP:-25}" |
    awk -v n="$count" '{ir=$1; gsub(",","",ir); $1=""; printf "%8.0f %s\n", ir/n, $0}' || true # head closes the pipe early
