#!/usr/bin/env bash
# loadtest/run-cache.sh: cache hits of 2 KB pages through Tessera and its peers.
#
# Starts tessera-origin (ephemeral port), then, in front of it and each from a
# temporary directory on 127.0.0.1: Tessera with its cache on, nginx with
# proxy_cache (peers/nginx-cache.conf), Varnish caching by the origin's headers
# (peers/varnish-cache.vcl), and nginx answering `return 200` with the same 2048
# bytes (peers/nginx-return.conf), the ceiling. Two scenarios, each run against
# one target at a time (never two at once):
#   hot   one 2 KB page, GET /bench/2k?cc=public%2C%20max-age%3D600, again and again
#   zipf  the same page under --keys keys (&k=1..N appended), chosen by a
#         Zipf(--zipf) distribution (cache-get.lua, the same for every target)
# Before a target is timed in a scenario, its cache is warmed (one request per
# key) and a second request must be a hit (Tessera: Cache-Status "hit"; nginx:
# X-Cache HIT; Varnish: X-Varnish with two ids); a target that fails this is
# skipped with the reason. The origin's request counter is read around every
# timed run: a hot cache lets (almost) nothing through.
# Prints markdown tables and appends a dated section to loadtest/RESULTS.md.
# Everything it started is stopped on exit. It builds nothing: run
# `cmake -B build && cmake --build build` first.
#
# With --rounds N, every target is timed N times per scenario, round-robin
# (tessera, nginx-cache, varnish, nginx-return, tessera, ...), and the table
# gives the medians: the machine is shared, and a disturbance then spoils one
# round of each target rather than every round of one. The "other CPU %"
# column is the share of the machine's CPU that processes not started by this
# script used during the timed runs (the highest over the rounds; a lower
# bound), and "server CPU µs/req" the target's own CPU time per request.
#
# Three more Tessera targets, only when named in --targets, show a change next
# to the others (their rows come with a small table next to `tessera`):
#   tessera-hook    the same binary and config, plus a route hook (keypart.lua in
#                   its temporary directory) whose on_request adds one cache-key
#                   part: `req.key_parts[1] = "bucket-a"`; it runs on hits too,
#                   so the difference in server CPU µs/req is the hook's cost
#   tessera-before  the same config, served by DIR/tessera of --before-build DIR
#                   (another tree's build: Tessera before a change); skipped
#                   without that option
#   tessera-l2      the same route, `cache.redis` (timeout 100ms) on a
#                   redis-server this script starts (free loopback port,
#                   --save "" --appendonly no, its own directory), an L1 of
#                   `cache = { memory = "1MB" }` (the minimum; far less than
#                   zipf's 10000 x 2 KB, so the colder keys are L2 hits) and an
#                   admin listener whose /metrics gives the L2 hits during the
#                   timed run; its server CPU µs/req includes Redis's; skipped
#                   if redis-server is missing
#
# --pin splits the two CPUs: the servers (the target, the origin, Redis) run on
# CPU 1 with one worker each (Tessera workers, nginx worker_processes, Varnish
# thread_pools, origin threads), and wrk on CPU 0 (-t1). Unpinned, wrk and the
# server compete for both CPUs, and a server that needs fewer CPU cycles per
# request leaves more of them to the load generator; pinned, each server gets
# one whole CPU to itself and req/s is what one core of it serves.
#
#   loadtest/run-cache.sh [--duration 10s] [--connections 64] [--threads 2] [--pin]
#                         [--warmup 2s] [--rounds 1] [--think 0] [--keys 10000] [--zipf 0.99]
#                         [--build DIR] [--before-build DIR]
#                         [--scenarios hot,zipf]
#                         [--targets tessera,nginx-cache,varnish,nginx-return]
#                           (also: tessera-hook, tessera-before, tessera-l2)
#                         [--perf] [--no-record] [--keep]
#
# --think MS makes every wrk connection pause MS milliseconds between a response
# and its next request: the load is then capped (about connections x 1000 / (MS
# + latency) req/s) and, when every target sustains it, the latencies compare
# at the same load instead of at each server's saturation.
#
# --perf records Tessera (the `tessera` target only) with `perf record -g -p PID -- sleep 5` during its timed
# run of each scenario (from 2 s in; needs --duration of 8s or more), keeps the
# temporary directory with the perf data and reports, prints the top symbols,
# and implies --no-record (perf takes CPU from the run it observes).
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

DURATION=10s
CONNECTIONS=64
THREADS=2
WARMUP=2s
ROUNDS=1
THINK_MS=0
KEYS=10000
ZIPF_S=0.99
BUILD="$ROOT/build"
BEFORE_BUILD="" # --before-build: the tree whose tessera is the tessera-before target
SCENARIOS="hot,zipf"
TARGETS="tessera,nginx-cache,varnish,nginx-return"
PERF=0
PIN=0
LOAD_PIN=()
RECORD=1
KEEP=0
WORKERS=2 # Tessera workers = nginx worker_processes = origin threads
START_TIMEOUT_S=5
COMMAND="loadtest/run-cache.sh${*:+ $*}"
PROG=run-cache.sh
# shellcheck source=loadtest/lib.sh
. "$HERE/lib.sh"

# Every origin endpoint sets Cache-Control from ?cc=: the page is fresh for 10 min.
CC_QUERY="cc=public%2C%20max-age%3D600"
PAGE="/bench/2k?$CC_QUERY"

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION=${2:?}; shift 2 ;;
        --connections) CONNECTIONS=${2:?}; shift 2 ;;
        --threads) THREADS=${2:?}; shift 2 ;;
        --warmup) WARMUP=${2:?}; shift 2 ;;
        --rounds) ROUNDS=${2:?}; shift 2 ;;
        --think) THINK_MS=${2:?}; shift 2 ;;
        --keys) KEYS=${2:?}; shift 2 ;;
        --zipf) ZIPF_S=${2:?}; shift 2 ;;
        --build)
            BUILD=$(cd "${2:?}" 2>/dev/null && pwd) || { echo "run-cache.sh: --build $2: no such directory" >&2; exit 2; }
            shift 2 ;;
        --before-build)
            BEFORE_BUILD=$(cd "${2:?}" 2>/dev/null && pwd) || {
                echo "run-cache.sh: --before-build $2: no such directory" >&2; exit 2; }
            shift 2 ;;
        --scenarios) SCENARIOS=${2:?}; shift 2 ;;
        --targets) TARGETS=${2:?}; shift 2 ;;
        --perf) PERF=1; RECORD=0; KEEP=1; shift ;;
        --pin) PIN=1; shift ;;
        --no-record) RECORD=0; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run-cache.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

seconds_of() { # "10s", "2m", "1h", "10" -> seconds
    local n=${1%[smh]}
    case "$1" in *m) echo $((n * 60)) ;; *h) echo $((n * 3600)) ;; *) echo "$n" ;; esac
}

duration_ok "$DURATION" || { echo "run-cache.sh: --duration $DURATION: expected e.g. 10s" >&2; exit 2; }
duration_ok "$WARMUP" || { echo "run-cache.sh: --warmup $WARMUP: expected e.g. 2s or 0" >&2; exit 2; }
[[ "$CONNECTIONS" =~ ^[0-9]+$ && "$CONNECTIONS" -ge 1 ]] || { echo "run-cache.sh: --connections: expected a number" >&2; exit 2; }
[[ "$THREADS" =~ ^[0-9]+$ && "$THREADS" -ge 1 && "$THREADS" -le "$CONNECTIONS" ]] || {
    echo "run-cache.sh: --threads: expected 1..connections" >&2; exit 2; }
[[ "$KEYS" =~ ^[0-9]+$ && "$KEYS" -ge 1 && "$KEYS" -le 1000000 ]] || {
    echo "run-cache.sh: --keys: expected 1..1000000" >&2; exit 2; }
[[ "$ZIPF_S" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { echo "run-cache.sh: --zipf: expected an exponent, e.g. 0.99" >&2; exit 2; }
[[ "$ROUNDS" =~ ^[0-9]+$ && "$ROUNDS" -ge 1 ]] || { echo "run-cache.sh: --rounds: expected a number" >&2; exit 2; }
[[ "$THINK_MS" =~ ^[0-9]+$ ]] || { echo "run-cache.sh: --think: expected milliseconds" >&2; exit 2; }
DURATION_S=$(seconds_of "$DURATION")
WARMUP_S=$(seconds_of "$WARMUP")
if [ "$PERF" = 1 ] && [ "$DURATION_S" -lt 8 ]; then
    echo "run-cache.sh: --perf records 5s from 2s into the run: use --duration 8s or more" >&2
    exit 2
fi

if [ "$PIN" = 1 ]; then
    TASKSET=$(command -v taskset || true)
    [ -n "$TASKSET" ] && [ "$(nproc --all)" -ge 2 ] ||
        { echo "run-cache.sh: --pin needs taskset (util-linux) and 2 CPUs" >&2; exit 2; }
    "$TASKSET" -p -c 1 $$ >/dev/null # every server started from here inherits CPU 1
    LOAD_PIN=("$TASKSET" -c 0)
    WORKERS=1
    THREADS=1
fi

ORDER=(tessera tessera-hook tessera-before tessera-l2 nginx-cache varnish nginx-return)
N_TARGETS=0
for t in ${TARGETS//,/ }; do
    case "$t" in tessera|tessera-hook|tessera-before|tessera-l2|nginx-cache|varnish|nginx-return) ;; *)
        echo "run-cache.sh: --targets: unknown target '$t' (${ORDER[*]})" >&2; exit 2 ;;
    esac
    N_TARGETS=$((N_TARGETS + 1))
done
# The pages are warmed once per scenario and must stay fresh (max-age=600)
# until its last timed run ends (counted as at least 4 targets).
[ "$N_TARGETS" -ge 4 ] || N_TARGETS=4
if [ $((ROUNDS * N_TARGETS * (DURATION_S + WARMUP_S + 1))) -gt 540 ]; then
    echo "run-cache.sh: --rounds x $N_TARGETS targets x (--duration + --warmup) must stay under 9 minutes (the pages are fresh for 600s from warming)" >&2
    exit 2
fi
for s in ${SCENARIOS//,/ }; do
    case "$s" in hot|zipf) ;; *)
        echo "run-cache.sh: --scenarios: unknown scenario '$s' (hot, zipf)" >&2; exit 2 ;;
    esac
done

want() { [[ ",$TARGETS," == *",$1,"* ]]; }
want_scenario() { [[ ",$SCENARIOS," == *",$1,"* ]]; }
if [ -n "$BEFORE_BUILD" ] && ! want tessera-before; then
    echo "run-cache.sh: --before-build is used by the tessera-before target only: add it to --targets" >&2
fi

# ---- tools ----
WRK=$(find_tool wrk /usr/bin/wrk)
NGINX=$(find_tool nginx /usr/sbin/nginx)
VARNISHD=$(find_tool varnishd /usr/sbin/varnishd)
PERF_BIN=$(find_tool perf /usr/bin/perf)
REDIS_SERVER=$(find_tool redis-server /usr/bin/redis-server)
ORIGIN_BIN="$BUILD/tessera-origin"
TESSERA_BIN="$BUILD/tessera"
BEFORE_BIN=${BEFORE_BUILD:+$BEFORE_BUILD/tessera}

if [ -z "$WRK" ]; then
    echo "run-cache.sh: wrk is not installed:  sudo apt-get install wrk" >&2
    exit 1
fi
if [ -z "$CURL" ]; then
    # Warming and the hit checks need it (fetch_ok alone would pass without).
    echo "run-cache.sh: curl is not installed:  sudo apt-get install curl" >&2
    exit 1
fi
if [ "$PERF" = 1 ] && [ -z "$PERF_BIN" ]; then
    echo "run-cache.sh: --perf: perf is not installed:  sudo apt-get install linux-perf" >&2
    exit 1
fi
if [ ! -x "$ORIGIN_BIN" ]; then
    echo "run-cache.sh: $ORIGIN_BIN not found; build it first:" >&2
    echo "  cmake -S . -B build && cmake --build build --target tessera-origin tessera" >&2
    exit 1
fi

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
lt_start

# ---- targets ----
declare -A PORT=() STATUS=() ROOT_PID=() # ROOT_PID: the process the target's processes descend from
TESSERA_PID=""

# Every target must answer the page with 200 and the origin's 2048 bytes.
smoke_ok() { fetch_ok 1.1 "http://127.0.0.1:$1$PAGE"; }

# The route of every Tessera target (tessera-hook adds its hooks key).
TESSERA_ROUTE='{ path = "/*", origin = "api", cache = {} }'

# Tessera as target NAME: BINARY with the common config and ROUTE, from
# $RUN/NAME; CACHE replaces the cache table, EXTRA adds lines (tessera-l2).
# Only the `tessera` target is the one --perf records.
TESSERA_CACHE='{ memory = "256MB" }'
start_tessera() { # name binary route [cache [extra]]
    local name=$1 bin=$2 route=$3 cache=${4:-$TESSERA_CACHE} extra=${5:-} port dir="$RUN/$1" pid
    if [ ! -x "$bin" ]; then
        STATUS[$name]="skipped: $bin not built"
        return
    fi
    port=$(free_port)
    mkdir -p "$dir"
    cat >"$dir/tessera.lua" <<EOF
workers = $WORKERS
listen = { { addr = "127.0.0.1:$port" } }
origins = { api = { servers = { "$ORIGIN_ADDR" }, connect_timeout = "1s", timeout = "5s", keepalive = 64 } }
routes = { $route }
cache = $cache
log = { access = false }
EOF
    [ -z "$extra" ] || printf '%s\n' "$extra" >>"$dir/tessera.lua"
    (cd "$ROOT" && exec "$bin" -c "$dir/tessera.lua") >"$dir/stdout" 2>"$dir/stderr" &
    pid=$!
    started "$pid" "$name"
    if ! wait_port "$port" "$START_TIMEOUT_S" "$pid"; then
        if kill -0 "$pid" 2>/dev/null; then
            STATUS[$name]="skipped: not listening on $port after ${START_TIMEOUT_S}s (see $dir/stderr)"
        else
            local rc=0
            wait "$pid" || rc=$?
            STATUS[$name]="skipped: exited with status $rc at start (see $dir/stderr)"
        fi
        log "$name: ${STATUS[$name]}"
        tail -n 5 "$dir/stderr" >&2 || true
        KEEP=1
        return
    fi
    if ! smoke_ok "$port"; then
        STATUS[$name]="skipped: wrong answer to GET $PAGE (see $dir/stderr)"
        KEEP=1
        return
    fi
    [ "$name" = tessera ] && TESSERA_PID=$pid
    ROOT_PID[$name]=$pid
    PORT[$name]=$port
    STATUS[$name]=ok
    log "$name on 127.0.0.1:$port (pid $pid, $bin)"
}

# tessera-hook: the route also runs keypart.lua, whose on_request adds one
# part to the cache key (on every request, hits included).
HOOK_SCRIPT='return { on_request = function(req) req.key_parts[1] = "bucket-a" end }'
start_tessera_hook() {
    local dir="$RUN/tessera-hook"
    mkdir -p "$dir"
    printf '%s\n' "$HOOK_SCRIPT" >"$dir/keypart.lua"
    start_tessera tessera-hook "$TESSERA_BIN" "${TESSERA_ROUTE% \}}, hooks = \"$dir/keypart.lua\" }"
}

# tessera-before: the same config, served by --before-build's tessera;
# BEFORE_DESC says which binary it was (for RESULTS.md).
BEFORE_DESC=""
start_tessera_before() {
    if [ -z "$BEFORE_BIN" ]; then
        STATUS[tessera-before]="skipped: needs --before-build DIR (DIR/tessera: Tessera built from the tree to compare with)"
        log "tessera-before: ${STATUS[tessera-before]}"
        return
    fi
    if [ -x "$BEFORE_BIN" ]; then
        BEFORE_DESC="$BEFORE_BIN ($(first_line "$BEFORE_BIN" --version), built $(date -u -r "$BEFORE_BIN" '+%Y-%m-%d %H:%M UTC'))"
    fi
    start_tessera tessera-before "$BEFORE_BIN" "$TESSERA_ROUTE"
}

# tessera-l2: tessera's route with an L1 far smaller than the zipf working set
# (cache.memory's minimum, 1MB, against 10000 x 2 KB) and cache.redis on a
# redis-server of its own, so that the colder keys are answered from the L2;
# its admin listener's /metrics counts the L2 hits. Redis's CPU counts in the
# target's server CPU (EXTRA_PID). The lookup timeout is 100ms, not the default
# 5ms: on a shared 2-CPU machine a lookup now and then waits longer than 5 ms
# for a CPU, five in a row open the breaker, and for its 1s cooldown every L1
# miss goes to the origin: the run would then time origin fetches, not L2 hits.
L2_MEMORY=1MB
L2_TIMEOUT=100ms
REDIS_PORT="" REDIS_PID="" L2_ADMIN=""
declare -A EXTRA_PID=() # a target's processes outside ROOT_PID's tree (tessera-l2: redis-server)

# One inline command to Redis; prints the first line of its reply (":10001", "+PONG").
redis_cmd() { # command
    (
        exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT" || exit 1
        printf '%s\r\n' "$1" >&3
        IFS= read -r -t 5 line <&3 || true
        printf '%s\n' "${line%$'\r'}"
    ) 2>/dev/null || true
}

start_redis() { # -> 0, or 1 with the reason in WHY
    local dir="$RUN/redis"
    REDIS_PORT=$(free_port)
    mkdir -p "$dir"
    # No persistence (--save "", no AOF): the L2 lives and dies with the run.
    (cd "$dir" && exec "$REDIS_SERVER" --bind 127.0.0.1 --port "$REDIS_PORT" --save "" \
        --appendonly no --dir "$dir" --daemonize no --logfile "") >"$dir/stdout" 2>"$dir/stderr" &
    REDIS_PID=$!
    started "$REDIS_PID" redis-server
    if ! wait_port "$REDIS_PORT" "$START_TIMEOUT_S" "$REDIS_PID" || [ "$(redis_cmd PING)" != +PONG ]; then
        WHY="redis-server did not start (see $dir/stdout, $dir/stderr)"
        tail -n 5 "$dir/stdout" "$dir/stderr" >&2 || true
        KEEP=1
        return 1
    fi
    log "redis-server on 127.0.0.1:$REDIS_PORT (pid $REDIS_PID, $(first_line "$REDIS_SERVER" --version))"
}

# tessera-l2's L2 counters: "hits gets misses timeouts errors skipped"
# (tessera_l2_*_total of /metrics, see proxy/l2.c l2_metrics), or nothing.
l2_counters() {
    { "$CURL" -s --max-time 5 "http://$L2_ADMIN/metrics" || true; } | awk '
        $1 ~ /^tessera_l2_[a-z_]+$/ { v[substr($1, 12)] = $2; seen = 1 }
        END { if (seen) printf "%d %d %d %d %d %d\n", v["hits_total"], v["gets_total"],
                  v["misses_total"], v["timeouts_total"], v["errors_total"], v["skipped_total"] }'
}
l2_connected() {
    { "$CURL" -s --max-time 5 "http://$L2_ADMIN/metrics" || true; } |
        awk '$1 == "tessera_l2_connected" { print $2; exit }'
}

start_tessera_l2() {
    if [ -z "$REDIS_SERVER" ]; then
        STATUS[tessera-l2]="skipped: redis-server not installed (sudo apt-get install redis-server)"
        echo "run-cache.sh: redis-server is not installed:  sudo apt-get install redis-server" >&2
        return
    fi
    if ! start_redis; then
        STATUS[tessera-l2]="skipped: $WHY"
        log "tessera-l2: ${STATUS[tessera-l2]}"
        return
    fi
    L2_ADMIN="127.0.0.1:$(free_port)"
    start_tessera tessera-l2 "$TESSERA_BIN" "$TESSERA_ROUTE" \
        "{ memory = \"$L2_MEMORY\", redis = { server = \"127.0.0.1:$REDIS_PORT\", prefix = \"tessera:\", timeout = \"$L2_TIMEOUT\" } }" \
        "admin = { addr = \"$L2_ADMIN\" }"
    [ "${STATUS[tessera-l2]}" = ok ] || return 0
    # Every worker connects to Redis on its own, without blocking: wait for all.
    local i c=""
    for ((i = 0; i < START_TIMEOUT_S * 10; i++)); do
        c=$(l2_connected)
        [ -n "$c" ] && [ "$c" -ge "$WORKERS" ] && break
        sleep 0.1
    done
    if [ -z "$c" ] || [ "$c" -lt "$WORKERS" ]; then
        STATUS[tessera-l2]="skipped: ${c:-no} of $WORKERS workers connected to Redis after ${START_TIMEOUT_S}s (tessera_l2_connected on http://$L2_ADMIN/metrics; see $RUN/tessera-l2/stderr)"
        log "tessera-l2: ${STATUS[tessera-l2]}"
        unset 'PORT[tessera-l2]'
        KEEP=1
        return 0
    fi
    EXTRA_PID[tessera-l2]=$REDIS_PID
}

start_nginx_cache() {
    if [ -z "$NGINX" ]; then
        STATUS[nginx-cache]="skipped: not installed (sudo apt-get install nginx-light)"
        echo "run-cache.sh: nginx is not installed:  sudo apt-get install nginx-light" >&2
        return
    fi
    local port
    port=$(free_port)
    if ! NGINX_DIR="$RUN/nginx-cache" NGINX_NAME=nginx-cache \
        start_nginx_from "$HERE/peers/nginx-cache.conf" "$port" -e "s|@PORT@|$port|g" \
        -e "s|^worker_processes 2;|worker_processes $WORKERS;|"; then
        STATUS[nginx-cache]="skipped: $NGINX_WHY"
        return
    fi
    smoke_ok "$port" || { STATUS[nginx-cache]="skipped: wrong answer to GET $PAGE"; KEEP=1; return; }
    PORT[nginx-cache]=$port
    ROOT_PID[nginx-cache]=${PIDS[${#PIDS[@]} - 1]} # the master, registered last by start_nginx_from
    STATUS[nginx-cache]=ok
    log "nginx-cache on 127.0.0.1:$port"
}

# The ceiling serves the origin's own 2048 bytes, fetched now, so that every
# target sends the same body. It goes between single quotes in nginx.conf: only
# characters that need no escaping there (nor in sed) are accepted.
start_nginx_return() {
    if [ -z "$NGINX" ]; then
        STATUS[nginx-return]="skipped: not installed (sudo apt-get install nginx-light)"
        return
    fi
    local port body
    body=$("$CURL" -s --max-time 5 "http://$ORIGIN_ADDR/bench/2k") || true
    if [ "${#body}" != 2048 ] || [[ ! "$body" =~ ^[A-Za-z0-9{}\":,._-]+$ ]]; then
        STATUS[nginx-return]="skipped: the origin's /bench/2k body is not 2048 plain characters"
        return
    fi
    port=$(free_port)
    if ! NGINX_DIR="$RUN/nginx-return" NGINX_NAME=nginx-return \
        start_nginx_from "$HERE/peers/nginx-return.conf" "$port" -e "s|@PORT@|$port|g" \
        -e "s|^worker_processes 2;|worker_processes $WORKERS;|" \
        -e "s|@BODY@|$body|"; then
        STATUS[nginx-return]="skipped: $NGINX_WHY"
        return
    fi
    smoke_ok "$port" || { STATUS[nginx-return]="skipped: wrong answer to GET $PAGE"; KEEP=1; return; }
    PORT[nginx-return]=$port
    ROOT_PID[nginx-return]=${PIDS[${#PIDS[@]} - 1]}
    STATUS[nginx-return]=ok
    log "nginx-return on 127.0.0.1:$port"
}

start_varnish() {
    if [ -z "$VARNISHD" ]; then
        STATUS[varnish]="skipped: not installed (sudo apt-get install varnish)"
        echo "run-cache.sh: varnish is not installed:  sudo apt-get install varnish" >&2
        return
    fi
    local port dir="$RUN/varnish" pid
    port=$(free_port)
    mkdir -p "$dir"
    sed -e "s|@ORIGIN_HOST@|127.0.0.1|g" -e "s|@ORIGIN_PORT@|$ORIGIN_PORT|g" \
        "$HERE/peers/varnish-cache.vcl" >"$dir/varnish.vcl"
    # -T none: no management CLI port; -F: stay in the foreground so we own it.
    "$VARNISHD" -F -n "$dir/work" -a "127.0.0.1:$port" -f "$dir/varnish.vcl" \
        -s malloc,256m -T none -p thread_pools="$WORKERS" >"$dir/stdout" 2>"$dir/stderr" &
    pid=$!
    started "$pid" varnish
    # VCL compilation takes a moment; allow twice the usual start time.
    if ! wait_port "$port" $((START_TIMEOUT_S * 2)) "$pid"; then
        STATUS[varnish]="skipped: did not start (see $dir/stderr)"
        tail -n 20 "$dir/stderr" >&2 || true
        KEEP=1
        return
    fi
    smoke_ok "$port" || { STATUS[varnish]="skipped: wrong answer to GET $PAGE"; KEEP=1; return; }
    PORT[varnish]=$port
    ROOT_PID[varnish]=$pid
    STATUS[varnish]=ok
    log "varnish on 127.0.0.1:$port"
}

# ---- warming and hit checks ----
origin_requests() { # the origin's request counter (/__stats does not count itself)
    { "$CURL" -s --max-time 5 "http://$ORIGIN_ADDR/__stats" || true; } |
        sed -n 's/^{"requests":\([0-9]*\).*/\1/p'
}

paths_of() { # scenario -> the paths it requests, one a line
    if [ "$1" = hot ]; then
        echo "$PAGE"
    else
        awk -v n="$KEYS" -v p="$PAGE" 'BEGIN { for (k = 1; k <= n; k++) print p "&k=" k }'
    fi
}

# One request per key over one keep-alive connection (a curl config file with
# every URL); each must answer 200 with 2048 bytes.
warm() { # scenario target -> 0, or 1 with the reason in WHY
    local s=$1 t=$2 port=${PORT[$2]} cfg="$RUN/warm-$1-$2.curl" out="$RUN/warm-$1-$2.txt" bad
    paths_of "$s" | awk -v base="http://127.0.0.1:$port" \
        '{ printf "url = \"%s%s\"\noutput = \"/dev/null\"\n", base, $0 }' >"$cfg"
    "$CURL" -s --max-time 300 -K "$cfg" -w '%{http_code} %{size_download}\n' >"$out" 2>&1 || true
    bad=$(grep -cv '^200 2048$' "$out" || true)
    if [ "$(wc -l <"$out")" != "$(paths_of "$s" | wc -l)" ] || [ "$bad" != 0 ]; then
        WHY="warming failed: $bad of $(paths_of "$s" | wc -l) answers were not 200 with 2048 bytes (see $out)"
        KEEP=1
        return 1
    fi
    rm -f "$cfg" "$out"
    return 0
}

# The response head of a second request must say it came from the cache.
is_hit() { # target head
    case "$1" in
        tessera|tessera-hook|tessera-before|tessera-l2) grep -qiE '^Cache-Status:[^;]*;[[:space:]]*hit([;[:space:]]|$)' <<<"$2" ;;
        nginx-cache) grep -qiE '^X-Cache:[[:space:]]*HIT' <<<"$2" ;;
        varnish) grep -qiE '^X-Varnish:[[:space:]]*[0-9]+[[:space:]]+[0-9]+' <<<"$2" ||
            grep -qiE '^Age:[[:space:]]*[1-9]' <<<"$2" ;;
        nginx-return) return 0 ;; # not a cache: nothing to hit
    esac
}

check_hits() { # scenario target -> 0, or 1 with the reason in WHY
    local s=$1 t=$2 path head paths
    if [ "$s" = hot ]; then paths=("$PAGE"); else
        paths=("$PAGE&k=1" "$PAGE&k=$(((KEYS + 1) / 2))" "$PAGE&k=$KEYS"); fi
    for path in "${paths[@]}"; do
        head=$("$CURL" -s --max-time 5 -D - -o /dev/null "http://127.0.0.1:${PORT[$t]}$path" | tr -d '\r') || true
        if ! is_hit "$t" "$head"; then
            WHY="GET $path again after warming was not a hit: $(grep -iE '^(HTTP/|Cache-Status|X-Cache|X-Varnish|Age)' <<<"$head" | paste -sd ' ' -)"
            log "$t: $WHY"
            KEEP=1
            return 1
        fi
    done
    return 0
}

# ---- other load on the machine ----
# Other engineers' builds and tests share these CPUs. Around every timed run we
# read the CPU time of every process (/proc/PID/stat) and add up what the
# processes neither descended from this script nor kernel threads used in the
# meantime; a process that started during the run counts from zero. As a share
# of the run's CPU capacity it is the "other CPU" column: 0 on a quiet machine,
# and a lower bound, since a process that starts and ends within the run is not
# seen. (The difference between /proc/stat's total and our processes' times
# would catch those, but it strays by 10-20 points either way on this kind of
# VM, depending on the server under test.) The busiest other processes of each
# run are listed in $RUN/other-cpu-SCENARIO-TARGET-ROUND.txt (ticks, pid,
# name; with --keep), next to the snapshots cpu-*.0 and cpu-*.1.
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
NCPU=$(nproc --all) # the whole machine, also under --pin

# Writes "machine TICKS" then "PID CLASS TICKS COMM PPID" for every process,
# CLASS being ours, kernel or other.
cpu_snapshot() { # file
    # (cat fails on a process that ended between the glob and the read: ignored)
    { head -n 1 /proc/stat; cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v root=$$ '
        NR == 1 { print "machine", $2 + $3 + $4; next }
        {   pid = $1; comm = $0; sub(/^[0-9]+ \(/, "", comm); sub(/\) .*$/, "", comm)
            gsub(/ /, "_", comm)
            line = $0; sub(/^.*\) /, "", line); split(line, f, " ")
            ppid[pid] = f[2]; t[pid] = f[12] + f[13]; name[pid] = comm }
        END {
            for (p in t) {
                q = p
                for (n = 0; n < 64 && q != "" && q != "0" && q != "2" && q != root; n++) q = ppid[q]
                class = (q == root) ? "ours" : (q == "2" ? "kernel" : "other")
                print p, class, t[p], name[p], ppid[p]
            }
        }' >"$1"
}

OTHER_S0=""
other_cpu_start() { # name
    cpu_snapshot "$RUN/cpu-$1.0"
    OTHER_S0=$(date +%s.%N)
}

# Sets OTHER_PCT: percent of the machine's CPU that other processes used since
# other_cpu_start, and lists them in other-cpu-NAME.txt.
other_cpu_end() { # name
    local s1 top="$RUN/other-cpu-$1.txt"
    cpu_snapshot "$RUN/cpu-$1.1"
    s1=$(date +%s.%N)
    OTHER_PCT=$(awk -v s0="$OTHER_S0" -v s1="$s1" -v hz="$CLK_TCK" -v ncpu="$NCPU" -v top="$top" '
        FNR == 1 { file++ }
        $1 == "machine" { next }
        file == 1 { before[$1] = $3; next }
        $2 == "other" {
            d = $3 - (($1 in before) ? before[$1] : 0)
            if (d > 0) { other += d; print d, $1, $4 > top } }
        END {
            cap = (s1 - s0) * hz * ncpu
            printf "%.0f", (cap > 0) ? 100 * other / cap : 0 }' "$RUN/cpu-$1.0" "$RUN/cpu-$1.1") || true
    OTHER_PCT=${OTHER_PCT:-0}
    if [ -s "$top" ]; then sort -rn -o "$top" "$top"; fi
}

# CPU time (ms) that process $1 and its descendants used between the two
# snapshots of run NAME: the server's own cost, whatever else ran.
server_cpu_ms() { # root-pid name
    awk -v root="$1" -v hz="$CLK_TCK" '
        FNR == 1 { file++ }
        $1 == "machine" { next }
        file == 1 { before[$1] = $3; next }
        { t[$1] = $3 - (($1 in before) ? before[$1] : 0); ppid[$1] = $5 }
        END {
            for (p in t) {
                q = p
                for (n = 0; n < 64 && q != "" && q != "0" && q != root; n++) q = ppid[q]
                if (q == root) sum += t[p]
            }
            printf "%.0f", sum * 1000 / hz }' "$RUN/cpu-$2.0" "$RUN/cpu-$2.1"
}

# ---- measuring ----
declare -A READY=() FAILED_WHY=() WARM_MISSES=()
declare -A R_RPS=() R_P50=() R_P99=() R_ERRORS=() R_ORIGIN=() R_OTHER=() R_CPU_US=() # per round
declare -A RPS=() P50=() P99=() ERRORS=() ORIGIN_REQS=() OTHER_CPU=() EACH_RPS=() CPU_US=() # over the rounds
declare -A KEYS_SEEN=() TOP1=()
# tessera-l2: per round, "hits gets misses timeouts errors skipped" of the L2
# during the timed run, wrk's request count and Redis's CPU µs/req; over the
# rounds, their sums and Redis's median; and the keys Redis held after warming.
declare -A R_L2=() R_REQS=() R_EXTRA_US=() L2_SUM=() REQS_SUM=() EXTRA_US=() L2_DBSIZE=()
PERF_REPORTS=()

# perf on Tessera from 2 s into the timed run, for 5 s; the report goes next to it.
perf_start() { # scenario
    local data="$RUN/perf-$1.data"
    (sleep 2 && exec "$PERF_BIN" record -g -p "$TESSERA_PID" -o "$data" -- sleep 5) \
        >"$RUN/perf-$1.log" 2>&1 &
    PERF_PID=$!
    started "$PERF_PID" perf
}

perf_finish() { # scenario
    local data="$RUN/perf-$1.data" rep="$RUN/perf-$1.txt"
    wait "$PERF_PID" 2>/dev/null || true
    if [ ! -s "$data" ]; then
        log "perf: no data (see $RUN/perf-$1.log)"
        return
    fi
    # Flat profile (self time, no call chains), then with children (inclusive).
    "$PERF_BIN" report -i "$data" --stdio --no-children -g none --sort dso,symbol \
        --percent-limit 0.3 >"$rep" 2>/dev/null || true
    "$PERF_BIN" report -i "$data" --stdio --children -g none --sort symbol \
        --percent-limit 2 >"$RUN/perf-$1-children.txt" 2>/dev/null || true
    PERF_REPORTS+=("$1:$rep")
}

# Warms target t's cache for scenario s and checks that it hits; sets
# READY[s/t], or FAILED_WHY[s/t] with the reason.
prepare() { # scenario target
    local s=$1 t=$2 before after
    before=$(origin_requests)
    if ! warm "$s" "$t"; then FAILED_WHY[$s/$t]="skipped: $WHY"; log "$t: $WHY"; return; fi
    after=$(origin_requests)
    WARM_MISSES[$s/$t]=$((after - before))
    if ! check_hits "$s" "$t"; then FAILED_WHY[$s/$t]="skipped: $WHY"; return; fi
    [ "$t" = tessera-l2 ] && L2_DBSIZE[$s]=$(redis_cmd DBSIZE | tr -d :)
    READY[$s/$t]=1
}

# One timed wrk run (after an untimed one of --warmup); results in the R_*
# arrays under s/t/round.
measure() { # scenario target round
    local s=$1 t=$2 r=$3 port=${PORT[$2]} out="$RUN/wrk-$1-$2-$3.txt" json before after keys=0
    local url="http://127.0.0.1:$port$PAGE" k=$1/$2/$3
    [ "$s" = zipf ] && keys=$KEYS

    if [ "$WARMUP" != 0 ] && [ "$WARMUP" != 0s ]; then
        WRK_KEYS=$keys WRK_ZIPF_S=$ZIPF_S WRK_THINK_MS=$THINK_MS run_bg /dev/null "${LOAD_PIN[@]}" "$WRK" -t"$THREADS" -c"$CONNECTIONS" \
            -d"$WARMUP" -s "$HERE/cache-get.lua" "$url" || true
    fi
    log "$s, round $r/$ROUNDS: wrk -t$THREADS -c$CONNECTIONS -d$DURATION against $t"
    local l2_before="" l2_after=""
    [ "$t" = tessera-l2 ] && l2_before=$(l2_counters)
    before=$(origin_requests)
    local profile=0
    [ "$PERF" = 1 ] && [ "$t" = tessera ] && [ "$r" = 1 ] && profile=1
    [ "$profile" = 1 ] && perf_start "$s"
    other_cpu_start "$s-$t-$r"
    if ! WRK_TARGET=$t WRK_KEYS=$keys WRK_ZIPF_S=$ZIPF_S WRK_THINK_MS=$THINK_MS run_bg "$out" "${LOAD_PIN[@]}" "$WRK" -t"$THREADS" \
        -c"$CONNECTIONS" -d"$DURATION" --latency -s "$HERE/cache-get.lua" "$url"; then
        FAILED_WHY[$s/$t]="failed: wrk exited non-zero (see $out)"
        KEEP=1
        return
    fi
    other_cpu_end "$s-$t-$r"
    after=$(origin_requests)
    [ "$t" = tessera-l2 ] && l2_after=$(l2_counters)
    [ "$profile" = 1 ] && perf_finish "$s"
    json=$(grep -m1 '^{"target"' "$out" || true)
    if [ -z "$json" ]; then
        FAILED_WHY[$s/$t]="failed: no result line from wrk (see $out)"
        KEEP=1
        return
    fi
    field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$json"; }
    R_RPS[$k]=$(field rps)
    R_P50[$k]=$(field p50_ms)
    R_P99[$k]=$(field p99_ms)
    R_ERRORS[$k]=$(field errors)
    R_ORIGIN[$k]=$((after - before))
    R_OTHER[$k]=$OTHER_PCT
    # Server CPU per request, in microseconds: the target's processes' CPU time
    # over the requests wrk counted (tessera-l2: Redis's included, and on its own
    # in R_EXTRA_US).
    local ms extra_ms=0 n
    ms=$(server_cpu_ms "${ROOT_PID[$t]}" "$s-$t-$r")
    n=$(field requests)
    if [ -n "${EXTRA_PID[$t]:-}" ]; then
        extra_ms=$(server_cpu_ms "${EXTRA_PID[$t]}" "$s-$t-$r")
        R_EXTRA_US[$k]=$(awk -v ms="$extra_ms" -v n="$n" 'BEGIN { if (n > 0) printf "%.1f", ms * 1000 / n }')
    fi
    R_CPU_US[$k]=$(awk -v ms="$((ms + extra_ms))" -v n="$n" 'BEGIN { if (n > 0) printf "%.1f", ms * 1000 / n }')
    R_REQS[$k]=$n
    if [ "$t" = tessera-l2 ]; then
        if [ -n "$l2_before" ] && [ -n "$l2_after" ]; then
            R_L2[$k]=$(awk -v a="$l2_before" -v b="$l2_after" 'BEGIN {
                n = split(a, x, " "); split(b, y, " "); for (i = 1; i <= n; i++) printf "%s%d", (i > 1 ? " " : ""), y[i] - x[i] }')
        else
            log "tessera-l2: could not read the L2 counters from http://$L2_ADMIN/metrics"
        fi
    fi
    KEYS_SEEN[$s/$t]=$(field keys_seen)
    TOP1[$s/$t]=$(field top1_pct)
}

median() { # numbers... -> their median
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Over the rounds of s/t: the medians of req/s, p50 and p99, the sums of errors
# and origin requests, the highest other-CPU share, and each round's req/s.
aggregate() { # scenario target
    local s=$1 t=$2 r rps=() p50=() p99=() cpu=() extra=() errors=0 origin=0 other=0 each="" l2="0 0 0 0 0 0" l2_ok=1 reqs=0
    for ((r = 1; r <= ROUNDS; r++)); do
        [ -n "${R_RPS[$s/$t/$r]:-}" ] || return 0 # a failed round: no row
        rps+=("${R_RPS[$s/$t/$r]}")
        p50+=("${R_P50[$s/$t/$r]}")
        p99+=("${R_P99[$s/$t/$r]}")
        cpu+=("${R_CPU_US[$s/$t/$r]}")
        [ -n "${R_EXTRA_US[$s/$t/$r]:-}" ] && extra+=("${R_EXTRA_US[$s/$t/$r]}")
        reqs=$((reqs + R_REQS[$s/$t/$r]))
        if [ -n "${R_L2[$s/$t/$r]:-}" ]; then
            l2=$(awk -v a="$l2" -v b="${R_L2[$s/$t/$r]}" 'BEGIN {
                n = split(a, x, " "); split(b, y, " "); for (i = 1; i <= n; i++) printf "%s%d", (i > 1 ? " " : ""), x[i] + y[i] }')
        else
            l2_ok=0
        fi
        errors=$((errors + R_ERRORS[$s/$t/$r]))
        origin=$((origin + R_ORIGIN[$s/$t/$r]))
        [ "${R_OTHER[$s/$t/$r]}" -gt "$other" ] && other=${R_OTHER[$s/$t/$r]}
        each+="$(printf '%.0f' "${R_RPS[$s/$t/$r]}") (${R_OTHER[$s/$t/$r]}%), "
    done
    RPS[$s/$t]=$(median "${rps[@]}")
    P50[$s/$t]=$(median "${p50[@]}")
    P99[$s/$t]=$(median "${p99[@]}")
    CPU_US[$s/$t]=$(printf '%.1f' "$(median "${cpu[@]}")")
    ERRORS[$s/$t]=$errors
    ORIGIN_REQS[$s/$t]=$origin
    OTHER_CPU[$s/$t]=$other
    EACH_RPS[$s/$t]=${each%, }
    REQS_SUM[$s/$t]=$reqs
    [ "${#extra[@]}" -gt 0 ] && EXTRA_US[$s/$t]=$(printf '%.1f' "$(median "${extra[@]}")")
    [ "$t" = tessera-l2 ] && [ "$l2_ok" = 1 ] && L2_SUM[$s/$t]=$l2
    return 0
}

# ---- main ----
start_origin
want tessera && start_tessera tessera "$TESSERA_BIN" "$TESSERA_ROUTE"
want tessera-hook && start_tessera_hook
want tessera-before && start_tessera_before
want tessera-l2 && start_tessera_l2
want nginx-cache && start_nginx_cache
want varnish && start_varnish
want nginx-return && start_nginx_return

# Per scenario: warm and check every target, then the rounds, each timing
# every target once in turn (so that a passing disturbance hits one round of
# each rather than every round of one).
for s in hot zipf; do
    want_scenario "$s" || continue
    for t in "${ORDER[@]}"; do
        want "$t" && [ "${STATUS[$t]:-}" = ok ] && prepare "$s" "$t"
    done
    for ((round = 1; round <= ROUNDS; round++)); do
        for t in "${ORDER[@]}"; do
            [ -n "${READY[$s/$t]:-}" ] && [ -z "${FAILED_WHY[$s/$t]:-}" ] && measure "$s" "$t" "$round"
        done
    done
    for t in "${ORDER[@]}"; do
        [ -n "${READY[$s/$t]:-}" ] && aggregate "$s" "$t"
    done
done

scenario_name() {
    local think=""
    [ "$THINK_MS" -gt 0 ] && think=", think ${THINK_MS} ms"
    case "$1" in
        hot) echo "hot: one 2 KB page$think" ;;
        zipf) echo "zipf: $KEYS keys, s=$ZIPF_S$think" ;;
    esac
}

row_missing() { # scenario target
    if [ "${STATUS[$2]:-}" != ok ]; then echo "${STATUS[$2]:-not run}"; else echo "${FAILED_WHY[$1/$2]:-not run}"; fi
}

# Ratios as asked by the cache issue: req/s of Tessera over each other target
# (at least 1.2 vs nginx-cache, 2 vs varnish, 0.8 vs nginx-return), and p99 of
# Tessera over the caching peers' (at most 1: no worse).
rps_ratio() { ratio "${RPS[$1/tessera]:-}" "${RPS[$1/$2]:-}"; }
p99_ratio() { ratio "${P99[$1/tessera]:-}" "${P99[$1/$2]:-}"; }
verdict() { # value op bound -> "met" / "NOT met" / ""
    [ "$1" = n/a ] && return
    awk -v v="$1" -v b="$3" -v op="$2" 'BEGIN {
        ok = (op == ">=") ? (v >= b) : (v <= b); print ok ? "met" : "NOT met" }'
}

TABLE=$(
    echo "| scenario | target | req/s | p50 ms | p99 ms | errors | origin requests | server CPU µs/req | other CPU % | tessera/this | req/s per round (other CPU %) |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    for s in hot zipf; do
        want_scenario "$s" || continue
        for t in "${ORDER[@]}"; do
            want "$t" || continue
            if [ -n "${RPS[$s/$t]:-}" ]; then
                printf '| %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$(scenario_name "$s")" "$t" \
                    "${RPS[$s/$t]}" "${P50[$s/$t]}" "${P99[$s/$t]}" "${ERRORS[$s/$t]}" \
                    "${ORIGIN_REQS[$s/$t]}" "${CPU_US[$s/$t]}" "${OTHER_CPU[$s/$t]}" "$(rps_ratio "$s" "$t")" \
                    "${EACH_RPS[$s/$t]}"
            else
                printf '| %s | %s | %s | | | | | | | | |\n' "$(scenario_name "$s")" "$t" "$(row_missing "$s" "$t")"
            fi
        done
    done
)

GOALS=$(
    echo "| scenario | tessera/nginx-cache req/s (>= 1.2) | tessera/varnish req/s (>= 2) | tessera/nginx-return req/s (>= 0.8) | tessera/nginx-cache p99 (<= 1) | tessera/varnish p99 (<= 1) |"
    echo "|---|---:|---:|---:|---:|---:|"
    for s in hot zipf; do
        want_scenario "$s" || continue
        a=$(rps_ratio "$s" nginx-cache) b=$(rps_ratio "$s" varnish) c=$(rps_ratio "$s" nginx-return)
        d=$(p99_ratio "$s" nginx-cache) e=$(p99_ratio "$s" varnish)
        printf '| %s | %s %s | %s %s | %s %s | %s %s | %s %s |\n' "$(scenario_name "$s")" \
            "$a" "$(verdict "$a" ">=" 1.2)" "$b" "$(verdict "$b" ">=" 2)" \
            "$c" "$(verdict "$c" ">=" 0.8)" "$d" "$(verdict "$d" "<=" 1)" "$e" "$(verdict "$e" "<=" 1)"
    done
)

# The Tessera variants against `tessera`: req/s ratio, and the difference in
# server CPU per request (tessera-hook: the hook's cost; tessera-before: what the
# change saved, negative when it costs more).
cpu_diff() { # scenario target -> CPU µs/req of target minus tessera's, or n/a
    if [ -n "${CPU_US[$1/$2]:-}" ] && [ -n "${CPU_US[$1/tessera]:-}" ]; then
        awk -v a="${CPU_US[$1/$2]}" -v b="${CPU_US[$1/tessera]}" 'BEGIN { printf "%+.1f", a - b }'
    else
        echo "n/a"
    fi
}
VARIANTS=$(
    for s in hot zipf; do
        want_scenario "$s" || continue
        for t in tessera-hook tessera-before; do
            [ -n "${RPS[$s/$t]:-}" ] || continue # not asked for, or skipped (see the first table)
            printf '| %s | %s | %s | %s |\n' "$(scenario_name "$s")" "$t" "$(rps_ratio "$s" "$t")" "$(cpu_diff "$s" "$t")"
        done
    done
)
if [ -n "$VARIANTS" ]; then
    VARIANTS="| scenario | target | tessera/this req/s | server CPU µs/req, this − tessera |"$'\n'"|---|---|---:|---:|"$'\n'"$VARIANTS"
fi

# tessera (L1 hits) next to tessera-l2 (an L1 too small for zipf: L2 hits),
# per scenario: req/s, server CPU per request (tessera-l2's with Redis's, whose
# part is in brackets), and what tessera-l2's L2 did during the timed runs.
l2_row() { # scenario
    local s=$1 share="n/a" missed="n/a" est="n/a" cpu_l2="" hits misses timeouts errors skipped
    if [ -n "${L2_SUM[$s/tessera-l2]:-}" ]; then
        read -r hits _ misses timeouts errors skipped <<<"${L2_SUM[$s/tessera-l2]}"
        share=$(awk -v h="$hits" -v n="${REQS_SUM[$s/tessera-l2]}" 'BEGIN { if (n > 0) printf "%.1f", 100 * h / n; else print "n/a" }')
        missed="$misses / $timeouts / $errors / $skipped"
        # What an L2 hit costs over an L1 hit, if an L1 hit costs tessera-l2 what
        # it costs tessera: the CPU difference over the share of L2 hits.
        if [ -n "${CPU_US[$s/tessera]:-}" ] && [ "$share" != n/a ]; then
            est=$(awk -v a="${CPU_US[$s/tessera-l2]}" -v b="${CPU_US[$s/tessera]}" -v p="$share" \
                'BEGIN { if (p >= 10) printf "%+.1f", (a - b) * 100 / p; else print "n/a" }')
        fi
    fi
    [ -n "${CPU_US[$s/tessera-l2]:-}" ] && cpu_l2="${CPU_US[$s/tessera-l2]} (${EXTRA_US[$s/tessera-l2]:-?})"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$(scenario_name "$s")" \
        "$([ -n "${RPS[$s/tessera]:-}" ] && printf '%.0f' "${RPS[$s/tessera]}" || echo n/a)" \
        "$(printf '%.0f' "${RPS[$s/tessera-l2]}")" "$(ratio "${RPS[$s/tessera-l2]}" "${RPS[$s/tessera]:-}")" \
        "${CPU_US[$s/tessera]:-n/a}" "${cpu_l2:-n/a}" "$share" "$missed" "${ORIGIN_REQS[$s/tessera-l2]}" "$est"
}
L2TABLE=$(
    for s in hot zipf; do
        want_scenario "$s" || continue
        [ -n "${RPS[$s/tessera-l2]:-}" ] || continue # not asked for, or skipped (see the first table)
        l2_row "$s"
    done
)
if [ -n "$L2TABLE" ]; then
    L2TABLE="| scenario | tessera req/s (L1 hits) | tessera-l2 req/s | tessera-l2/tessera req/s | tessera CPU µs/req | tessera-l2 CPU µs/req (Redis's part) | tessera-l2: L2 hits, % of requests | L2 misses / timeouts / errors / skipped | tessera-l2 origin requests | est. CPU µs per L2 hit over an L1 hit |"$'\n'"|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"$'\n'"$L2TABLE"
fi

NOTES=""
if want tessera-l2; then
    line=""
    for s in hot zipf; do
        [ -n "${L2_DBSIZE[$s]:-}" ] && line+="${line:+, }$s ${L2_DBSIZE[$s]}"
    done
    pinned=""
    [ "$PIN" = 1 ] && pinned=", on the servers' CPU"
    NOTES+="- tessera-l2: tessera's route with \`cache = { memory = \"$L2_MEMORY\", redis = { server = \"127.0.0.1:PORT\", prefix = \"tessera:\", timeout = \"$L2_TIMEOUT\" } }\` (not the default 5ms: on this shared machine a lookup sometimes waits longer for a CPU, and five timeouts in a row open the breaker, sending L1 misses to the origin for 1s) and an admin listener, on a redis-server of its own (--save \"\" --appendonly no$pinned); its server CPU µs/req includes redis-server's (the part in brackets in the L1/L2 table); L2 hits = tessera_l2_hits_total during the timed runs over the requests wrk counted (the others are L1 hits: an L2 hit is promoted into the L1); L2 misses / timeouts / errors / skipped = tessera_l2_*_total during the timed runs (skipped: not asked, e.g. while the breaker was open), all 0 when the L2 answered every L1 miss (a few origin requests may remain even then: a request that waited for another's lookup of the same key and no longer finds the object in the small L1 goes to the origin, proxy/rcache.c resume()); the estimate = (tessera-l2 CPU − tessera CPU) / L2 share, assuming an L1 hit costs both the same${line:+; keys in Redis after warming: $line}"$'\n'
fi
if want tessera-hook || want tessera-before; then
    want tessera-hook && NOTES+="- tessera-hook: tessera plus an on_request hook adding one cache-key part (\`req.key_parts[1] = \"bucket-a\"\`); its server CPU µs/req minus tessera's is the hook's cost per request"$'\n'
    want tessera-before && [ -n "$BEFORE_BIN" ] && NOTES+="- tessera-before: ${BEFORE_DESC:-$BEFORE_BIN}, the same config as tessera; tessera/this > 1 and a positive CPU difference: the change made it faster"$'\n'
fi
if [ "$THINK_MS" -gt 0 ]; then
    NOTES+="- with --think $THINK_MS the load is capped by the client: the req/s ratios above say which targets kept up, not which is faster; compare p50/p99 between targets of about the same req/s, and server CPU µs/req"$'\n'
fi
for s in hot zipf; do
    want_scenario "$s" || continue
    line=""
    for t in "${ORDER[@]}"; do
        [ -n "${WARM_MISSES[$s/$t]:-}" ] && line+="$t ${WARM_MISSES[$s/$t]}, "
    done
    [ -n "$line" ] && NOTES+="- origin requests while warming ($s): ${line%, }"$'\n'
done
if want_scenario zipf; then
    line=""
    for t in "${ORDER[@]}"; do
        [ -n "${KEYS_SEEN[zipf/$t]:-}" ] && line+="$t ${TOP1[zipf/$t]}% / ${KEYS_SEEN[zipf/$t]}, "
    done
    [ -n "$line" ] && NOTES+="- zipf draws, requests for key 1 / distinct keys seen by one wrk thread: ${line%, }"$'\n'
fi
NOTES=${NOTES%$'\n'}

echo
echo "$TABLE"
echo
echo "$GOALS"
if [ -n "$VARIANTS" ]; then
    echo
    echo "$VARIANTS"
fi
if [ -n "$L2TABLE" ]; then
    echo
    echo "$L2TABLE"
fi
echo
echo "$NOTES"

if [ "$PERF" = 1 ]; then
    for pr in "${PERF_REPORTS[@]}"; do
        echo
        rep=${pr#*:}
        echo "perf, tessera, ${pr%%:*}: top symbols by self time (all: $rep; call graphs: perf report -i ${rep%.txt}.data):"
        grep -E '^ +[0-9]' "$rep" | sed 's/[[:space:]-]*$//' | head -n 25
    done
fi

if [ "$RECORD" = 1 ]; then
    COMMIT=$(tessera_commit)
    VERSIONS=()
    [ -n "$NGINX" ] && VERSIONS+=("$(first_line "$NGINX" -v)")
    [ -n "$VARNISHD" ] && VERSIONS+=("$(first_line "$VARNISHD" -V)")
    want tessera-l2 && [ -n "$REDIS_SERVER" ] && VERSIONS+=("$(first_line "$REDIS_SERVER" --version)")
    VERSIONS+=("$(first_line "$WRK" -v | sed 's/ *Copyright.*//')" "tessera $COMMIT")
    {
        echo
        echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) — cache hits: one 2 KB page and a Zipf mix, $CONNECTIONS connections, $DURATION"
        echo
        echo "- command: \`$COMMAND\`"
        echo "- date: $(date -u)"
        machine_line
        echo "- load average before the run: $LOAD_AT_START"
        echo "- versions: $(IFS=';'; echo "${VERSIONS[*]}" | sed 's/;/; /g')"
        echo "- setup: wrk -t$THREADS -c$CONNECTIONS -d$DURATION (after a $WARMUP warm-up), keep-alive, loadtest/cache-get.lua$([ "$THINK_MS" -gt 0 ] && echo ", ${THINK_MS} ms think time per connection between a response and the next request"), $ROUNDS round(s) per target taken round-robin (req/s, p50, p99: medians over the rounds; errors, origin requests: sums; other CPU %: the highest); $WORKERS workers for tessera, nginx and the origin (Varnish thread_pools=$WORKERS); all on 127.0.0.1, $([ "$PIN" = 1 ] && echo "pinned: the servers$(want tessera-l2 && echo " (Redis too)") on CPU 1, wrk on CPU 0" || echo "sharing the same CPUs")$(want tessera-before && echo "; tessera-before: ${BEFORE_DESC:-${BEFORE_BIN:-not run (no --before-build)}}")"
        echo "- caches: tessera \`routes = { $TESSERA_ROUTE }\`, \`cache = { memory = \"256MB\" }\`$(want tessera-hook && echo " (tessera-hook: the route also has \`hooks = \"keypart.lua\"\`, \`$HOOK_SCRIPT\`)")$(want tessera-l2 && echo "; tessera-l2: the same route, \`cache = { memory = \"$L2_MEMORY\", redis = { server = \"127.0.0.1:PORT\", prefix = \"tessera:\", timeout = \"$L2_TIMEOUT\" } }\`, \`admin = { addr = \"127.0.0.1:PORT\" }\`, redis-server --save \"\" --appendonly no (its CPU counted in tessera-l2's server CPU)"); nginx proxy_cache (peers/nginx-cache.conf: files under the temporary prefix, keys_zone 16m, proxy_cache_lock on, upstream keepalive 64); varnish default VCL, -s malloc,256m (peers/varnish-cache.vcl); nginx-return: \`return 200\` with the same 2048 bytes (peers/nginx-return.conf), the ceiling"
        echo "- pages: GET $PAGE (origin: Cache-Control: public, max-age=600); zipf appends &k=K, K in 1..$KEYS with P(K=k) ~ 1/k^$ZIPF_S; each cache warmed with one request per key and checked to hit before its run; \"origin requests\" = requests the origin counted during the timed run; \"server CPU µs/req\" = user+system CPU time of the target's processes (/proc/PID/stat) over the requests wrk counted (irq and softirq time not included)"
        echo
        echo "$TABLE"
        echo
        echo "$GOALS"
        if [ -n "$VARIANTS" ]; then
            echo
            echo "$VARIANTS"
        fi
        if [ -n "$L2TABLE" ]; then
            echo
            echo "$L2TABLE"
        fi
        echo
        echo "$NOTES"
    } >>"$HERE/RESULTS.md"
    log "appended to loadtest/RESULTS.md"
fi
