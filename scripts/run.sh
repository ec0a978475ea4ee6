#!/usr/bin/env bash
# run.sh -- install what is missing, build, and run portico with example services:
#   redis-server (started here only if none answers at the Redis URL),
#   the gateway on :8000 (admin on 127.0.0.1:8081), and the example services
#   (echo, users, orders in C; hello in Python; hi in Node.js).
# Prints curl lines to try (one per running service; each answers 2xx), then
# runs in the foreground; Ctrl-C (or SIGTERM) stops everything this script
# started, and nothing else.
#
#   scripts/run.sh [--signed] [--no-setup]
#     --signed    signed registration (docs/security.md): a random secret is made
#                 in the run directory and given to the gateway
#                 (--registration-secret-file) and to every service
#     --no-setup  install nothing and build nothing (the programs must be built)
#
# Settings (environment), defaults in brackets:
#   PORTICO_PORT [8000], PORTICO_ADMIN_PORT [8081], PORTICO_REDIS_PORT [6379];
#   or whole addresses: PORTICO_LISTEN [0.0.0.0:$PORTICO_PORT],
#   PORTICO_ADMIN [127.0.0.1:$PORTICO_ADMIN_PORT],
#   PORTICO_REDIS [redis://127.0.0.1:$PORTICO_REDIS_PORT];
#   PORTICO_BUILD_DIR [build], PORTICO_RUN_DIR [.run] (logs, the secret).
set -u
cd "$(dirname "$0")/.." || exit 1
. scripts/lib/common.sh

signed=0
setup=1
for arg in "$@"; do
    case "$arg" in
    --signed) signed=1 ;;
    --no-setup) setup=0 ;;
    -h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument: $arg (see scripts/run.sh --help)" ;;
    esac
done

BUILD=${PORTICO_BUILD_DIR:-build}
REDIS_URL=${PORTICO_REDIS:-redis://127.0.0.1:${PORTICO_REDIS_PORT:-6379}}
LISTEN=${PORTICO_LISTEN:-0.0.0.0:${PORTICO_PORT:-8000}}
ADMIN=${PORTICO_ADMIN:-127.0.0.1:${PORTICO_ADMIN_PORT:-8081}}
RUN=${PORTICO_RUN_DIR:-.run}
REDIS_PORT=${REDIS_URL##*:}
REDIS_PORT=${REDIS_PORT%%/*}

if [ "$setup" = 1 ]; then
    # shellcheck disable=SC2086
    ensure_packages $PORTICO_BUILD_PACKAGES $PORTICO_RUN_PACKAGES
    ensure_node
    ensure_node_example
    say "building"
    build_dir "$BUILD"
fi
[ -x "$BUILD/src/gateway/portico" ] || die "$BUILD/src/gateway/portico is not built"

mkdir -p "$RUN"
pids=()

# Stops what this script started, last started first (services, then the
# gateway, then Redis), each with SIGTERM and at most 10 s before SIGKILL.
# Exits with $1.
stop_all() {
    local rc=$1 i p t
    trap - INT TERM EXIT
    [ ${#pids[@]} -gt 0 ] && say "stopping"
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        p=${pids[i]}
        kill -TERM "$p" 2>/dev/null || continue
        for ((t = 0; t < 100; t++)); do
            kill -0 "$p" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$p" 2>/dev/null && { say "pid $p did not stop: killing it"; kill -KILL "$p" 2>/dev/null; }
        wait "$p" 2>/dev/null
    done
    exit "$rc"
}
trap 'stop_all 0' INT TERM
trap 'stop_all $?' EXIT

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

# host:port to reach a listener at $1 from here (0.0.0.0 and [::] mean loopback).
reach() {
    case "$1" in
    0.0.0.0:*) echo "127.0.0.1:${1##*:}" ;;
    "[::]:"*) echo "[::1]:${1##*:}" ;;
    *) echo "$1" ;;
    esac
}
PUBLIC=$(reach "$LISTEN")
ADMIN_AT=$(reach "$ADMIN")

# Waits up to $2 seconds for the admin path $1 to answer 200 and contain $3.
wait_admin() {
    local path=$1 t=$(($2 * 10)) want=${3:-}
    [ "$ADMIN" = off ] && return 0
    while [ $t -gt 0 ]; do
        curl -sf --max-time 2 "http://$ADMIN_AT$path" 2>/dev/null | grep -qF -- "$want" && return 0
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
    say "starting redis-server on 127.0.0.1:$REDIS_PORT"
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        >"$RUN/redis.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 50); do
        redis-cli -u "$REDIS_URL" ping 2>/dev/null | grep -q PONG && break
        sleep 0.1
    done
    redis-cli -u "$REDIS_URL" ping 2>/dev/null | grep -q PONG || die "redis-server did not start (see $RUN/redis.log)"
fi

# 2. The gateway (signed: with a fresh random secret that the services share).
secret_args=()
if [ "$signed" = 1 ]; then
    SECRET=$RUN/registration.secret
    (umask 077 && od -An -tx1 -N32 /dev/urandom | tr -d ' \n' >"$SECRET") ||
        die "cannot write $SECRET"
    secret_args=(--registration-secret-file "$SECRET")
    export PORTICO_REGISTRATION_SECRET_FILE=$SECRET
fi
# A plain HTTP service behind the routes file (examples/routes.json, with the
# port it got): portico serves it beside the bus services.
routes_args=()
legacy=0
python3 examples/http/legacy.py --port 0 >"$RUN/legacy.log" 2>&1 &
pids+=($!)
if wait_ready "$RUN/legacy.log" 10; then
    legacy_port=$(sed -n 's/.*ready port=\([0-9]*\).*/\1/p' "$RUN/legacy.log")
    sed "s/127.0.0.1:9001/127.0.0.1:$legacy_port/" examples/routes.json >"$RUN/routes.json"
    routes_args=(--routes-file "$RUN/routes.json")
    legacy=1
else
    say "legacy (examples/http/legacy.py) did not start (see $RUN/legacy.log)"
fi
say "starting portico on $LISTEN${secret_args[*]:+ (signed registration)}"
"$BUILD/src/gateway/portico" --listen "$LISTEN" --admin "$ADMIN" --redis "$REDIS_URL" \
    "${secret_args[@]}" "${routes_args[@]}" >"$RUN/portico.log" 2>&1 &
pids+=($!)
wait_ready "$RUN/portico.log" 10 || { cat "$RUN/portico.log" >&2; die "portico did not start"; }
grep ready "$RUN/portico.log" >&2
wait_admin /health 10 '"redis":"up"' || say "portico is not connected to Redis yet (see $RUN/portico.log)"

# 3. Example services. start_service NAME FILE COMMAND...: FILE is what must
# exist (the program, or the script an interpreter runs).
started=()
start_service() {
    local name=$1 file=$2
    shift 2
    [ -f "$file" ] || { say "skipping $name ($file is not built)"; return; }
    PORTICO_REDIS=$REDIS_URL "$@" >"$RUN/$name.log" 2>&1 &
    pids+=($!)
    if wait_ready "$RUN/$name.log" 10 && wait_admin /routes 10 "\"service\":\"$name\""; then
        started+=("$name")
    else
        say "$name did not register (see $RUN/$name.log)"
    fi
}
# The Python example needs a python3 with the redis module (Debian's python3-redis).
pyredis=
for py in "$(command -v python3)" /usr/bin/python3; do
    if [ -n "$py" ] && [ -x "$py" ] && "$py" -c 'import redis' 2>/dev/null; then
        pyredis=$py
        break
    fi
done
start_service echo "$BUILD/examples/echo/echo" "$BUILD/examples/echo/echo"
start_service users "$BUILD/examples/users/users" "$BUILD/examples/users/users"
start_service orders "$BUILD/examples/orders/orders" "$BUILD/examples/orders/orders"
if [ -n "$pyredis" ]; then
    start_service hello examples/python/service.py "$pyredis" examples/python/service.py
else
    say "skipping hello (no python3 with the redis module: install python3-redis)"
fi
if ! command -v node >/dev/null; then
    say "skipping hi (no node: install nodejs)"
elif [ ! -d examples/node/node_modules/ioredis ]; then
    say "skipping hi (run: (cd examples/node && npm ci))"
else
    start_service hi examples/node/service.js node examples/node/service.js
fi

has() {
    local s
    for s in "${started[@]}"; do [ "$s" = "$1" ] && return 0; done
    return 1
}
U=http://$PUBLIC
J="-H 'content-type: application/json'"
{
    printf '\nportico is running (logs in %s/). Try:\n\n' "$RUN"
    has hello && echo "  curl -i $U/hello/world"
    has hello && echo "  curl -N '$U/hello/clock?ticks=3'"
    # A 202 job: submit (202 + Location), then submit and poll the Location in one line.
    has hello && echo "  curl -i -X POST $U/hello/report -H 'Prefer: respond-async'"
    # (the Location read from the headers: curl's -w %header needs 7.84+)
    has hello && echo "  curl -s \"$U\$(curl -s -D - -o /dev/null -X POST $U/hello/report -H 'Prefer: respond-async' | tr -d '\r' | sed -n 's/^[Ll]ocation: //p')\""
    has hi && echo "  curl -s $U/hi/world"
    has hi && echo "  curl -s -X POST $U/hi/echo $J -d '{\"say\":\"hi\"}'"
    has echo && echo "  curl -s '$U/echo/anything?x=1'"
    [ "$legacy" = 1 ] && echo "  curl -s $U/legacy/hello"
    has users && echo "  curl -s -X POST $U/users $J -d '{\"name\":\"Ada\"}'"
    has users && echo "  curl -s $U/users"
    if has orders && has users; then
        echo "  curl -s -X POST $U/orders $J -d '{\"user_id\":\"1\",\"item\":\"book\"}'"
    fi
    has orders && echo "  curl -s $U/orders/events"
    if [ "$ADMIN" != off ]; then
        echo "  curl -s http://$ADMIN_AT/routes"
        echo "  curl -s http://$ADMIN_AT/health"
        echo "  curl -s http://$ADMIN_AT/metrics"
    fi
    echo
    if [ "$signed" = 1 ]; then
        cat <<TXT
Signed registration is on: the gateway accepts only announcements signed with
the secret in $SECRET. A service joins with the same file:

  $BUILD/examples/echo/echo --redis $REDIS_URL --registration-secret-file $SECRET
  ${pyredis:-python3} examples/python/service.py --redis $REDIS_URL --registration-secret-file $SECRET
  node examples/node/service.js --redis $REDIS_URL --registration-secret-file $SECRET

Unsigned ones are refused: curl -s http://$ADMIN_AT/metrics | grep registrations

TXT
    else
        cat <<TXT
Signed registration (docs/security.md): ./scripts/run.sh --signed does it all;
by hand, after Ctrl-C here (leave out redis-server if one answers already):

  redis-server --port $REDIS_PORT --bind 127.0.0.1 --save '' &
  umask 077; od -An -tx1 -N32 /dev/urandom | tr -d ' \\n' > registration.secret
  $BUILD/src/gateway/portico --listen $LISTEN --admin $ADMIN --redis $REDIS_URL --registration-secret-file registration.secret &
  $BUILD/examples/users/users --redis $REDIS_URL --registration-secret-file registration.secret &
  ${pyredis:-python3} examples/python/service.py --redis $REDIS_URL --registration-secret-file registration.secret &
  node examples/node/service.js --redis $REDIS_URL --registration-secret-file registration.secret &

TXT
    fi
    echo "Press Ctrl-C to stop."
}
# Runs until a signal, or until everything it started has exited.
wait
