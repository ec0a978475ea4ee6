# shellcheck shell=bash
# shellcheck disable=SC2154,SC2034 # bench.sh's variables, set and read there
# bodies.sh -- the body benchmark and the claim-check sweep; sourced by
# scripts/bench.sh, whose helpers (start, stop, load, warm, start_gateway,
# start_echo...) and variables it uses. See docs/performance.md, "Bodies".
#
# Both sides move the same bytes: the echo example's /bytes/{n} route
# (examples/echo/bytes.c) answers n bytes of text whatever the request
# carried, and the nginx origin serves /bytes/<n> from a file of the same n
# bytes (a POST too: `error_page 405 =200 $uri` turns the static module's
# refusal into the file). Three shapes per size:
#   get   GET /bytes/N                       N-byte answer
#   post  POST of N bytes to /bytes/SMALL    N-byte request, SMALL-byte answer
#   echo  POST of N bytes to /bytes/N        N bytes both ways
# The request body is wrk.lua's text, the answer the same text.

body_small=128                  # the small answer of the post shape (bytes)
body_sizes=(4096 65536 1048576) # --bodies: every size x shape x connection count
body_shapes=(get post echo)
# the default run (and --quick): a representative subset, "shape size conns"
body_subset=("post 4096 50" "get 65536 50" "echo 1048576 50")
# --claim-threshold: the gateway's --claim-check-bytes and the service's
# threshold set alike (0: off, every body inline), each with every size; echo
# shape at claim_conns connections
claim_thresholds=(4096 16384 65536 262144 0)
claim_sizes=(8192 32768 131072 524288)
claim_conns=50
body_wrk_timeout=30             # seconds; 1 MiB at 256 connections queues

# body_files DIR: the origin's files DIR/bytes/<n>, the route's bytes.
body_files() {
    mkdir -p "$1/bytes"
    python3 - "$1/bytes" "$body_small" "${body_sizes[@]}" "${claim_sizes[@]}" <<'EOF'
import sys
pattern = b"abcdefghijklmnopqrstuvwxyz01234\n"
for n in set(int(a) for a in sys.argv[2:]):
    with open("%s/%d" % (sys.argv[1], n), "wb") as f:
        f.write((pattern * (n // 32 + 1))[:n])
EOF
}

# body_path SHAPE SIZE / body_req SHAPE SIZE: the URL path, the request's bytes.
body_path() { if [ "$1" = post ]; then echo "/bytes/$body_small"; else echo "/bytes/$2"; fi; }
body_req() { if [ "$1" = get ]; then echo 0; else echo "$2"; fi; }

# settle SIZE: before each body load, wait (up to 120 s) until the gateway
# has nothing in flight and no client connection: a load of large bodies
# leaves queued work behind that would land in the next measurement. Before
# 1 MiB loads wait 5 s more, for the gateway's trim after 2 s idle, so that
# "RSS before" is the settled RSS.
settle() {
    local i m inflight conns
    [ -f "$out/run/gateway.pid" ] || return 0
    for i in $(seq 600); do
        m=$(curl -fsS "http://127.0.0.1:$gw_admin/metrics" 2>/dev/null || true)
        inflight=$(echo "$m" | awk '/^portico_inflight_requests /{print $2}')
        conns=$(echo "$m" | awk '/^portico_connections /{print $2}')
        [ "${inflight:-1}" = 0 ] && [ "${conns:-1}" = 0 ] && break
        sleep 0.2
    done
    [ "$i" -gt 5 ] && log "waited $((i / 5)) s for the gateway to go idle (in flight ${inflight:-?})"
    [ "$1" -lt 1048576 ] || sleep 5
}

# load_body TARGET SECTION SHAPE SIZE CONNS REP CLAIM: one wrk run of a shape
# (load() with the shape in the sample, and RSS before and peak by role).
load_body() {
    local target=$1 section=$2 shape=$3 size=$4 c=$5 rep=$6 claim=$7 port inst=1
    case $target in
    nginx-proxy) port=$proxy_port inst=0 ;;
    *) port=$gw_port ;;
    esac
    settle "$size"
    sample_extra="\"section\": \"$section\", \"shape\": \"$shape\", \"size\": $size, \"claim_bytes\": \"$claim\""
    if [ "$target" = nginx-proxy ]; then
        load "$target" "http://127.0.0.1:$port$(body_path "$shape" "$size")" "$(body_req "$shape" "$size")" \
            "$c" "$inst" 1 "$rep" \
            "proxy=$(tree "$(pid_of nginx-proxy)" | tr '\n' ' ')" \
            "origin=$(tree "$(pid_of nginx-origin)" | tr '\n' ' ')"
    else
        load "$target" "http://127.0.0.1:$port$(body_path "$shape" "$size")" "$(body_req "$shape" "$size")" \
            "$c" "$inst" 1 "$rep" \
            "gateway=$(tree "$(pid_of gateway)" | tr '\n' ' ')" \
            "service=$(echo_pids | tr '\n' ' ')" "redis=$(pid_of redis)"
    fi
    sample_extra=""
}

# run_bodies subset|full: nginx-proxy and portico (1 instance, 1 worker, the
# default claim check) interleaved at each point and repetition.
run_bodies() {
    local points=() rep p shape size c wrk_timeout_was=$wrk_timeout
    if [ "$1" = full ]; then
        for size in "${body_sizes[@]}"; do
            for shape in "${body_shapes[@]}"; do
                for c in "${conns_list[@]}"; do points+=("$shape $size $c"); done
            done
        done
    else
        points=("${body_subset[@]}")
    fi
    wrk_timeout=$body_wrk_timeout
    start nginx-origin "$nginx_bin" -c "$out/nginx/origin.conf" -p "$out/nginx/origin"
    start nginx-proxy "$nginx_bin" -c "$out/nginx/proxy.conf" -p "$out/nginx/proxy"
    for _ in $(seq 50); do
        curl -fsS -o /dev/null "http://127.0.0.1:$proxy_port/bytes/$body_small" 2>/dev/null && break
        sleep 0.1
    done
    start_gateway 1
    start_echo 1
    wait_route
    warm "http://127.0.0.1:$proxy_port/bytes/4096"
    warm "http://127.0.0.1:$gw_port/bytes/4096"
    for rep in $(seq "$reps"); do
        for p in "${points[@]}"; do
            read -r shape size c <<<"$p"
            load_body nginx-proxy bodies "$shape" "$size" "$c" "$rep" -
            load_body portico bodies "$shape" "$size" "$c" "$rep" default
        done
    done
    stop_echo
    stop gateway
    stop nginx-proxy
    stop nginx-origin
    wrk_timeout=$wrk_timeout_was
}

# run_claim: the claim-check threshold sweep (portico alone: gateway, Redis
# and service CPU per request and req/s, inline against by reference).
run_claim() {
    local t rep size wrk_timeout_was=$wrk_timeout
    wrk_timeout=$body_wrk_timeout
    for t in "${claim_thresholds[@]}"; do
        start_gateway 1 --claim-check-bytes "$t"
        echo_claim=$t start_echo 1
        wait_route
        warm "http://127.0.0.1:$gw_port/bytes/4096"
        for rep in $(seq "$reps"); do
            for size in "${claim_sizes[@]}"; do
                load_body portico claim echo "$size" "$claim_conns" "$rep" "$t"
            done
        done
        stop_echo
        stop gateway
    done
    wrk_timeout=$wrk_timeout_was
}
