#!/usr/bin/env bash
# run.sh -- install what is missing, build, and run portico with example services:
#   redis-server (started here only if none answers at $PORTICO_REDIS),
#   the gateway on :8000 (admin on 127.0.0.1:8081), and the example services.
# Prints curl lines to try, then runs in the foreground; Ctrl-C stops
# everything this script started (and nothing else).
#
# Settings (environment): PORTICO_REDIS (default redis://127.0.0.1:6379),
# PORTICO_LISTEN (0.0.0.0:8000), PORTICO_ADMIN (127.0.0.1:8081).
set -u
cd "$(dirname "$0")/.."
. scripts/lib/common.sh

# shellcheck disable=SC2086
ensure_packages $PORTICO_BUILD_PACKAGES $PORTICO_RUN_PACKAGES
say "building"
build_dir build

REDIS_URL=${PORTICO_REDIS:-redis://127.0.0.1:6379}
LISTEN=${PORTICO_LISTEN:-0.0.0.0:8000}
ADMIN=${PORTICO_ADMIN:-127.0.0.1:8081}
RUN=.run
mkdir -p "$RUN"
pids=()

stop_all() {
    local i
    trap - INT TERM EXIT
    say "stopping"
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[i]}" 2>/dev/null; done
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do wait "${pids[i]}" 2>/dev/null; done
    exit 0
}
trap stop_all INT TERM EXIT

# Waits up to $2 seconds for the file $1 to contain the word "ready".
wait_ready() {
    local f=$1 t=$(($2 * 10))
    while [ $t -gt 0 ]; do
        grep -q ready "$f" 2>/dev/null && return 0
        sleep 0.1
        t=$((t - 1))
    done
    return 1
}

# 1. Redis: use the configured one if it answers, else start one locally.
if redis-cli -u "$REDIS_URL" ping 2>/dev/null | grep -q PONG; then
    say "using the Redis at $REDIS_URL"
else
    case "$REDIS_URL" in
    redis://127.0.0.1:* | redis://localhost:*) ;;
    *) die "no Redis answers at $REDIS_URL (only a local one is started automatically)" ;;
    esac
    port=${REDIS_URL##*:}
    port=${port%%/*}
    say "starting redis-server on 127.0.0.1:$port"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
        >"$RUN/redis.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do
        redis-cli -u "$REDIS_URL" ping 2>/dev/null | grep -q PONG && break
        sleep 0.1
    done
    redis-cli -u "$REDIS_URL" ping 2>/dev/null | grep -q PONG || die "redis-server did not start (see $RUN/redis.log)"
fi

# 2. The gateway.
say "starting portico on $LISTEN"
build/src/gateway/portico --listen "$LISTEN" --admin "$ADMIN" --redis "$REDIS_URL" \
    >"$RUN/portico.log" 2>&1 &
pids+=($!)
wait_ready "$RUN/portico.log" 10 || { cat "$RUN/portico.log" >&2; die "portico did not start"; }
grep ready "$RUN/portico.log" >&2

# 3. Example services.
start_service() {
    local name=$1; shift
    [ -x "$1" ] || [ -f "$1" ] || { say "skipping $name (not built)"; return; }
    PORTICO_REDIS=$REDIS_URL "$@" >"$RUN/$name.log" 2>&1 &
    pids+=($!)
    wait_ready "$RUN/$name.log" 10 || say "$name is not ready yet (see $RUN/$name.log)"
}
pyredis=python3
python3 -c 'import redis' 2>/dev/null || pyredis=/usr/bin/python3
start_service echo build/examples/echo/echo
start_service users build/examples/users/users
start_service orders build/examples/orders/orders
start_service hello "$pyredis" examples/python/service.py

port=${LISTEN##*:}
admin_port=${ADMIN##*:}
cat <<TXT

portico is running (logs in $RUN/). Try:

  curl -i http://127.0.0.1:$port/hello/world
  curl -s http://127.0.0.1:$port/echo/anything?x=1
  curl -s -X POST http://127.0.0.1:$port/users -H 'content-type: application/json' -d '{"name":"Ada"}'
  curl -s http://127.0.0.1:$port/users
  curl -s -X POST http://127.0.0.1:$port/orders -H 'content-type: application/json' -d '{"user_id":"1","item":"book"}'
  curl -s http://127.0.0.1:$port/orders/events
  curl -s http://127.0.0.1:$admin_port/routes
  curl -s http://127.0.0.1:$admin_port/health
  curl -s http://127.0.0.1:$admin_port/metrics

Press Ctrl-C to stop.
TXT
wait "${pids[@]}"
