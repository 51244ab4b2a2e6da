#!/usr/bin/env bash
# loadtest/run.sh: proxied GET of /bench/2k through Tessera and its peers.
#
# Starts tessera-origin (ephemeral port), then Tessera, nginx and Varnish in
# front of it, each from a temporary directory on 127.0.0.1, and runs wrk
# against each target in turn (never two at once): the origin directly (the
# baseline), tessera, nginx, varnish. Prints a markdown table and appends a
# dated section to loadtest/RESULTS.md. Everything it started is stopped on
# exit. It builds nothing: run `cmake -B build && cmake --build build` first.
#
#   loadtest/run.sh [--duration 10s] [--connections 64] [--threads 2]
#                   [--warmup 2s] [--build DIR] [--targets origin,tessera,nginx,varnish]
#                   [--no-record] [--keep]
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

DURATION=10s
CONNECTIONS=64
THREADS=2
WARMUP=2s
BUILD="$ROOT/build"
TARGETS="origin,tessera,nginx,varnish"
RECORD=1
KEEP=0
WORKERS=2            # Tessera workers = nginx worker_processes = origin threads
START_TIMEOUT_S=5
COMMAND="loadtest/run.sh $*"
PROG=run.sh
# shellcheck source=loadtest/lib.sh
. "$HERE/lib.sh"

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION=${2:?}; shift 2 ;;
        --connections) CONNECTIONS=${2:?}; shift 2 ;;
        --threads) THREADS=${2:?}; shift 2 ;;
        --warmup) WARMUP=${2:?}; shift 2 ;;
        --build)
            BUILD=$(cd "${2:?}" 2>/dev/null && pwd) || { echo "run.sh: --build $2: no such directory" >&2; exit 2; }
            shift 2 ;;
        --targets) TARGETS=${2:?}; shift 2 ;;
        --no-record) RECORD=0; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

duration_ok "$DURATION" || { echo "run.sh: --duration $DURATION: expected e.g. 10s" >&2; exit 2; }
duration_ok "$WARMUP" || { echo "run.sh: --warmup $WARMUP: expected e.g. 2s or 0" >&2; exit 2; }
[[ "$CONNECTIONS" =~ ^[0-9]+$ && "$CONNECTIONS" -ge 1 ]] || { echo "run.sh: --connections: expected a number" >&2; exit 2; }
[[ "$THREADS" =~ ^[0-9]+$ && "$THREADS" -ge 1 && "$THREADS" -le "$CONNECTIONS" ]] || {
    echo "run.sh: --threads: expected 1..connections" >&2; exit 2; }

for t in ${TARGETS//,/ }; do
    case "$t" in
        origin|tessera|nginx|varnish) ;;
        *) echo "run.sh: --targets: unknown target '$t' (origin, tessera, nginx, varnish)" >&2; exit 2 ;;
    esac
done

want() { [[ ",$TARGETS," == *",$1,"* ]]; }

# ---- tools ----
WRK=$(find_tool wrk /usr/bin/wrk)
NGINX=$(find_tool nginx /usr/sbin/nginx)
VARNISHD=$(find_tool varnishd /usr/sbin/varnishd)
ORIGIN_BIN="$BUILD/tessera-origin"
TESSERA_BIN="$BUILD/tessera"

if [ -z "$WRK" ]; then
    echo "run.sh: wrk is not installed:  sudo apt-get install wrk" >&2
    exit 1
fi
if [ ! -x "$ORIGIN_BIN" ]; then
    echo "run.sh: $ORIGIN_BIN not found; build it first:" >&2
    echo "  cmake -S . -B build && cmake --build build --target tessera-origin tessera" >&2
    exit 1
fi

lt_start

# The proxied body must be the origin's exact 2048 bytes before we time it.
smoke_ok() { fetch_ok 1.1 "http://127.0.0.1:$1/bench/2k"; }

# ---- targets ----
declare -A PORT=() STATUS=()
ORDER=(origin tessera nginx varnish)

start_tessera() {
    if [ ! -x "$TESSERA_BIN" ]; then
        STATUS[tessera]="skipped: $TESSERA_BIN not built"
        return
    fi
    local port dir="$RUN/tessera"
    port=$(free_port)
    mkdir -p "$dir"
    cat >"$dir/tessera.lua" <<EOF
workers = $WORKERS
listen = { { addr = "127.0.0.1:$port" } }
origins = { api = { servers = { "$ORIGIN_ADDR" }, connect_timeout = "1s", timeout = "5s", keepalive = 64 } }
routes = { { path = "/*", origin = "api" } }
log = { access = false }
EOF
    (cd "$ROOT" && exec "$TESSERA_BIN" -c "$dir/tessera.lua") >"$dir/stdout" 2>"$dir/stderr" &
    local pid=$!
    started "$pid" tessera
    if ! wait_port "$port" "$START_TIMEOUT_S" "$pid"; then
        if kill -0 "$pid" 2>/dev/null; then
            STATUS[tessera]="skipped: not listening on $port after ${START_TIMEOUT_S}s (see $dir/stderr)"
        else
            local rc=0
            wait "$pid" || rc=$?
            STATUS[tessera]="skipped: exited with status $rc at start (see $dir/stderr)"
        fi
        log "tessera: ${STATUS[tessera]}"
        tail -n 5 "$dir/stderr" >&2 || true
        KEEP=1
        return
    fi
    if ! smoke_ok "$port"; then
        STATUS[tessera]="skipped: wrong answer to GET /bench/2k (see $dir/stderr)"
        KEEP=1
        return
    fi
    PORT[tessera]=$port
    STATUS[tessera]=ok
    log "tessera on 127.0.0.1:$port"
}

start_nginx() {
    if [ -z "$NGINX" ]; then
        STATUS[nginx]="skipped: not installed (sudo apt-get install nginx-light)"
        echo "run.sh: nginx is not installed:  sudo apt-get install nginx-light" >&2
        return
    fi
    local port
    port=$(free_port)
    if ! start_nginx_from "$HERE/peers/nginx-proxy.conf" "$port" -e "s|@PORT@|$port|g"; then
        STATUS[nginx]="skipped: $NGINX_WHY"
        return
    fi
    smoke_ok "$port" || { STATUS[nginx]="skipped: wrong answer to GET /bench/2k"; KEEP=1; return; }
    PORT[nginx]=$port
    STATUS[nginx]=ok
    log "nginx on 127.0.0.1:$port"
}

start_varnish() {
    if [ -z "$VARNISHD" ]; then
        STATUS[varnish]="skipped: not installed (sudo apt-get install varnish)"
        echo "run.sh: varnish is not installed:  sudo apt-get install varnish" >&2
        return
    fi
    local port dir="$RUN/varnish"
    port=$(free_port)
    mkdir -p "$dir"
    sed -e "s|@ORIGIN_HOST@|127.0.0.1|g" -e "s|@ORIGIN_PORT@|${PORT[origin]}|g" \
        "$HERE/peers/varnish.vcl" >"$dir/varnish.vcl"
    # -T none: no management CLI port; -F: stay in the foreground so we own it.
    "$VARNISHD" -F -n "$dir/work" -a "127.0.0.1:$port" -f "$dir/varnish.vcl" \
        -s malloc,256m -T none >"$dir/stdout" 2>"$dir/stderr" &
    local pid=$!
    started "$pid" varnish
    # VCL compilation takes a moment; allow twice the usual start time.
    if ! wait_port "$port" $((START_TIMEOUT_S * 2)) "$pid"; then
        STATUS[varnish]="skipped: did not start (see $dir/stderr)"
        tail -n 20 "$dir/stderr" >&2 || true
        KEEP=1
        return
    fi
    smoke_ok "$port" || { STATUS[varnish]="skipped: wrong answer to GET /bench/2k"; KEEP=1; return; }
    PORT[varnish]=$port
    STATUS[varnish]=ok
    log "varnish on 127.0.0.1:$port"
}

# ---- measuring ----
declare -A RPS=() P50=() P99=() ERRORS=()

run_wrk() { # target
    local t=$1 port=${PORT[$1]} out="$RUN/wrk-$1.txt" json
    if [ "$WARMUP" != 0 ] && [ "$WARMUP" != 0s ]; then
        run_bg /dev/null "$WRK" -t"$THREADS" -c"$CONNECTIONS" -d"$WARMUP" \
            "http://127.0.0.1:$port/bench/2k" || true
    fi
    log "wrk -t$THREADS -c$CONNECTIONS -d$DURATION against $t"
    if ! WRK_TARGET=$t run_bg "$out" "$WRK" -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" \
        --latency -s "$HERE/proxied-get.lua" "http://127.0.0.1:$port/bench/2k"; then
        STATUS[$t]="failed: wrk exited non-zero (see $out)"
        KEEP=1
        return
    fi
    json=$(grep -m1 '^{"target"' "$out" || true)
    if [ -z "$json" ]; then
        STATUS[$t]="failed: no result line from wrk (see $out)"
        KEEP=1
        return
    fi
    field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$json"; }
    RPS[$t]=$(field rps)
    P50[$t]=$(field p50_ms)
    P99[$t]=$(field p99_ms)
    ERRORS[$t]=$(field errors)
}

# ---- main ----
start_origin
PORT[origin]=$ORIGIN_PORT
STATUS[origin]=ok
want tessera && start_tessera
want nginx && start_nginx
want varnish && start_varnish

for t in "${ORDER[@]}"; do
    want "$t" || continue
    [ "${STATUS[$t]:-}" = ok ] || continue
    run_wrk "$t"
done

TABLE=$(
    echo "| target | req/s | p50 ms | p99 ms | errors | vs nginx | vs varnish |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for t in "${ORDER[@]}"; do
        want "$t" || continue
        if [ -n "${RPS[$t]:-}" ]; then
            printf '| %s | %.0f | %s | %s | %s | %s | %s |\n' "$t" "${RPS[$t]}" "${P50[$t]}" \
                "${P99[$t]}" "${ERRORS[$t]}" "$(ratio "${RPS[$t]}" "${RPS[nginx]:-}")" \
                "$(ratio "${RPS[$t]}" "${RPS[varnish]:-}")"
        else
            printf '| %s | %s | | | | | |\n' "$t" "${STATUS[$t]:-not run}"
        fi
    done
)
SUMMARY="tessera/nginx = $(ratio "${RPS[tessera]:-}" "${RPS[nginx]:-}"), tessera/varnish = $(ratio "${RPS[tessera]:-}" "${RPS[varnish]:-}") (req/s ratios; above 1 means Tessera is faster)"

echo
echo "$TABLE"
echo
echo "$SUMMARY"

if [ "$RECORD" = 1 ]; then
    COMMIT=$(tessera_commit)
    VERSIONS=()
    [ -n "$NGINX" ] && VERSIONS+=("$(first_line "$NGINX" -v)")
    [ -n "$VARNISHD" ] && VERSIONS+=("$(first_line "$VARNISHD" -V)")
    VERSIONS+=("$(first_line "$WRK" -v | sed 's/ *Copyright.*//')" "tessera $COMMIT")
    {
        echo
        echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) — GET /bench/2k, $CONNECTIONS connections, $DURATION"
        echo
        echo "- command: \`$COMMAND\`"
        echo "- date: $(date -u)"
        machine_line
        echo "- versions: $(IFS=';'; echo "${VERSIONS[*]}" | sed 's/;/; /g')"
        echo "- setup: wrk -t$THREADS -c$CONNECTIONS -d$DURATION (after a $WARMUP warm-up), $WORKERS workers for tessera, nginx and the origin; all on 127.0.0.1, sharing the same CPUs"
        echo
        echo "$TABLE"
        echo
        echo "$SUMMARY"
    } >>"$HERE/RESULTS.md"
    log "appended to loadtest/RESULTS.md"
fi
