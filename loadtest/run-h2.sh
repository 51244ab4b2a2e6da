#!/usr/bin/env bash
# loadtest/run-h2.sh: GET /bench/2k over HTTP/2 through Tessera and nginx.
#
# Starts tessera-origin (ephemeral port), then Tessera and nginx in front of it,
# each with an h2c port (prior knowledge) and a TLS port (TLS 1.2, ALPN h2, the
# same self-signed certificate), and runs h2load against one target at a time:
#   h2c        h2load -c64 -m10 for --duration over http:// (after --warmup)
#   tls        the same over https://
#   handshake  batches of `h2load -c64 -n64 -m1` over https:// for --duration:
#              every connection is a new, full TLS handshake carrying one
#              request; reports handshakes per second
# Prints markdown tables and appends a dated section to loadtest/RESULTS.md.
# Everything it started is stopped on exit. It builds nothing: run
# `cmake -B build && cmake --build build` first.
#
#   loadtest/run-h2.sh [--duration 10s] [--warmup 2s] [--connections 64]
#                      [--streams 10] [--threads 2] [--batch 64] [--origin-keepalive 64]
#                      [--build DIR]
#                      [--scenarios h2c,tls,handshake] [--targets tessera,nginx]
#                      [--no-record] [--keep]
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

DURATION=10s
WARMUP=2s
CONNECTIONS=64
STREAMS=10
THREADS=2
BATCH=64
ORIGIN_KEEPALIVE=64 # idle origin connections kept per worker, Tessera and nginx alike
BUILD="$ROOT/build"
SCENARIOS="h2c,tls,handshake"
TARGETS="tessera,nginx"
RECORD=1
KEEP=0
WORKERS=2 # Tessera workers = nginx worker_processes = origin threads
START_TIMEOUT_S=5
COMMAND="loadtest/run-h2.sh${*:+ $*}"
PROG=run-h2.sh
# shellcheck source=loadtest/lib.sh
. "$HERE/lib.sh"

# What both servers are made to negotiate, so that they do the same work: the
# first suite of Tessera's list, and X25519 (P-256 is offered too because the
# certificate's ECDSA key is on it: without it in supported_groups the server
# has no usable certificate). Checked on every run: see TLS_SEEN.
TLS_OPTS=(--ciphers=ECDHE-ECDSA-AES128-GCM-SHA256 --groups=X25519:P-256)

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION=${2:?}; shift 2 ;;
        --warmup) WARMUP=${2:?}; shift 2 ;;
        --connections) CONNECTIONS=${2:?}; shift 2 ;;
        --streams) STREAMS=${2:?}; shift 2 ;;
        --threads) THREADS=${2:?}; shift 2 ;;
        --batch) BATCH=${2:?}; shift 2 ;;
        --origin-keepalive) ORIGIN_KEEPALIVE=${2:?}; shift 2 ;;
        --build)
            BUILD=$(cd "${2:?}" 2>/dev/null && pwd) || { echo "run-h2.sh: --build $2: no such directory" >&2; exit 2; }
            shift 2 ;;
        --scenarios) SCENARIOS=${2:?}; shift 2 ;;
        --targets) TARGETS=${2:?}; shift 2 ;;
        --no-record) RECORD=0; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run-h2.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

number_ok() { [[ "$1" =~ ^[0-9]+$ && "$1" -ge 1 ]]; }
duration_ok "$DURATION" || { echo "run-h2.sh: --duration $DURATION: expected e.g. 10s" >&2; exit 2; }
duration_ok "$WARMUP" || { echo "run-h2.sh: --warmup $WARMUP: expected e.g. 2s or 0" >&2; exit 2; }
for opt in CONNECTIONS STREAMS THREADS BATCH ORIGIN_KEEPALIVE; do
    number_ok "${!opt}" || { echo "run-h2.sh: --$(tr '[:upper:]_' '[:lower:]-' <<<"$opt"): expected a number" >&2; exit 2; }
done
if [ "$THREADS" -gt "$CONNECTIONS" ] || [ "$THREADS" -gt "$BATCH" ]; then
    echo "run-h2.sh: --threads: expected at most --connections and --batch" >&2
    exit 2
fi
for s in ${SCENARIOS//,/ }; do
    case "$s" in h2c|tls|handshake) ;; *)
        echo "run-h2.sh: --scenarios: unknown scenario '$s' (h2c, tls, handshake)" >&2; exit 2 ;;
    esac
done
for t in ${TARGETS//,/ }; do
    case "$t" in tessera|nginx) ;; *)
        echo "run-h2.sh: --targets: unknown target '$t' (tessera, nginx)" >&2; exit 2 ;;
    esac
done

want() { [[ ",$TARGETS," == *",$1,"* ]]; }
want_scenario() { [[ ",$SCENARIOS," == *",$1,"* ]]; }

# "10s", "2m", "1h", "10" -> seconds
seconds_of() {
    local n=${1%[smh]}
    case "$1" in *m) echo $((n * 60)) ;; *h) echo $((n * 3600)) ;; *) echo "$n" ;; esac
}
DURATION_S=$(seconds_of "$DURATION")
WARMUP_S=$(seconds_of "$WARMUP")

# ---- tools ----
H2LOAD=$(find_tool h2load /usr/bin/h2load)
NGINX=$(find_tool nginx /usr/sbin/nginx)
ORIGIN_BIN="$BUILD/tessera-origin"
TESSERA_BIN="$BUILD/tessera"

if [ -z "$H2LOAD" ]; then
    echo "run-h2.sh: h2load is not installed:  sudo apt-get install nghttp2-client" >&2
    exit 1
fi
if [ ! -x "$ORIGIN_BIN" ]; then
    echo "run-h2.sh: $ORIGIN_BIN not found; build it first:" >&2
    echo "  cmake -S . -B build && cmake --build build --target tessera-origin tessera" >&2
    exit 1
fi

lt_start

# ---- targets ----
declare -A H2C_PORT=() TLS_PORT=() STATUS=()
ORDER=(tessera nginx)

# Both servers must answer 200 with the 2048 bytes over HTTP/2, in clear and
# over TLS, before anything is timed.
smoke_h2() { # target
    fetch_ok 2 "http://127.0.0.1:${H2C_PORT[$1]}/bench/2k" --http2-prior-knowledge &&
        fetch_ok 2 "https://127.0.0.1:${TLS_PORT[$1]}/bench/2k" --http2 --insecure
}

make_cert() {
    CERT="$RUN/cert/edge.pem"
    KEY="$RUN/cert/edge.key"
    "$ROOT/tools/mkcert.sh" "$RUN/cert" >"$RUN/mkcert.out" 2>&1 ||
        { cat "$RUN/mkcert.out" >&2; echo "run-h2.sh: could not make a certificate" >&2; exit 1; }
}

start_tessera() {
    if [ ! -x "$TESSERA_BIN" ]; then
        STATUS[tessera]="skipped: $TESSERA_BIN not built"
        return
    fi
    local h2c tls dir="$RUN/tessera" pid
    h2c=$(free_port)
    tls=$(free_port)
    mkdir -p "$dir"
    cat >"$dir/tessera.lua" <<EOF
workers = $WORKERS
listen = { { addr = "127.0.0.1:$h2c" },
           { addr = "127.0.0.1:$tls", tls = { cert = "$CERT", key = "$KEY" } } }
origins = { api = { servers = { "$ORIGIN_ADDR" }, connect_timeout = "1s", timeout = "5s", keepalive = $ORIGIN_KEEPALIVE } }
routes = { { path = "/*", origin = "api" } }
log = { access = false }
EOF
    (cd "$ROOT" && exec "$TESSERA_BIN" -c "$dir/tessera.lua") >"$dir/stdout" 2>"$dir/stderr" &
    pid=$!
    started "$pid" tessera
    if ! wait_port "$tls" "$START_TIMEOUT_S" "$pid"; then
        STATUS[tessera]="skipped: did not start (see $dir/stderr)"
        tail -n 5 "$dir/stderr" >&2 || true
        KEEP=1
        return
    fi
    H2C_PORT[tessera]=$h2c
    TLS_PORT[tessera]=$tls
    if ! smoke_h2 tessera; then
        STATUS[tessera]="skipped: wrong answer to GET /bench/2k over h2 (see $dir/stderr)"
        KEEP=1
        return
    fi
    STATUS[tessera]=ok
    log "tessera on 127.0.0.1:$h2c (h2c) and 127.0.0.1:$tls (TLS)"
}

start_nginx() {
    if [ -z "$NGINX" ]; then
        STATUS[nginx]="skipped: not installed (sudo apt-get install nginx-light)"
        echo "run-h2.sh: nginx is not installed:  sudo apt-get install nginx-light" >&2
        return
    fi
    local h2c tls
    h2c=$(free_port)
    tls=$(free_port)
    if ! start_nginx_from "$HERE/peers/nginx-h2.conf" "$tls" -e "s|@H2C_PORT@|$h2c|g" \
        -e "s|@TLS_PORT@|$tls|g" -e "s|@CERT@|$CERT|g" -e "s|@KEY@|$KEY|g" \
        -e "s|@KEEPALIVE@|$ORIGIN_KEEPALIVE|g"; then
        STATUS[nginx]="skipped: $NGINX_WHY"
        return
    fi
    H2C_PORT[nginx]=$h2c
    TLS_PORT[nginx]=$tls
    if ! smoke_h2 nginx; then
        STATUS[nginx]="skipped: wrong answer to GET /bench/2k over h2"
        KEEP=1
        return
    fi
    STATUS[nginx]=ok
    log "nginx on 127.0.0.1:$h2c (h2c) and 127.0.0.1:$tls (TLS)"
}

# ---- reading h2load ----
# h2load prints durations as 695us, 182.82ms, 6.00s: to milliseconds.
to_ms() {
    awk -v d="$1" 'BEGIN {
        if (d ~ /us$/) { sub(/us$/, "", d); printf "%.3f", d / 1000 }
        else if (d ~ /ms$/) { sub(/ms$/, "", d); printf "%.3f", d }
        else { sub(/s$/, "", d); printf "%.3f", d * 1000 } }'
}

# Fields of an h2load report, by name: rps, succeeded, failed, s4xx, s5xx,
# finished (ms), connect_mean (ms).
h2load_field() { # file field
    local f=$1
    case "$2" in
        rps) sed -n 's/^finished in [^,]*, \([0-9.]*\) req\/s.*/\1/p' "$f" ;;
        succeeded) sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' "$f" ;;
        failed) sed -n 's/^requests: .* \([0-9]*\) failed.*/\1/p' "$f" ;;
        s4xx) sed -n 's/^status codes: .* \([0-9]*\) 4xx.*/\1/p' "$f" ;;
        s5xx) sed -n 's/^status codes: .* \([0-9]*\) 5xx.*/\1/p' "$f" ;;
        finished) to_ms "$(sed -n 's/^finished in \([^,]*\),.*/\1/p' "$f")" ;;
        connect_mean) to_ms "$(awk '/^time for connect:/ { print $6 }' "$f")" ;;
    esac
}

# Failed requests and 4xx/5xx answers (as wrk's "errors" in run.sh).
h2load_errors() {
    echo $(($(h2load_field "$1" failed) + $(h2load_field "$1" s4xx) + $(h2load_field "$1" s5xx)))
}

# What TLS the run negotiated, e.g. "TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256 X25519 h2".
tls_seen() {
    awk -F': ' '/^TLS Protocol:/ { p = $2 } /^Cipher:/ { c = $2 }
        /^Server Temp Key:/ { split($2, k, " "); t = k[1] }
        /^Application protocol:/ { a = $2 }
        END { if (p != "") print p, c, t, a }' "$1"
}

# p50 and p99 in ms from h2load --log-file (start, status, microseconds to the
# end of the response); answered requests only.
percentiles() { # log-file
    awk -F'\t' '$2 > 0 { print $3 }' "$1" | sort -n | awk '
        { v[NR] = $1 }
        END {
            if (NR == 0) { print "n/a n/a"; exit }
            i50 = int(NR * 0.50); if (i50 < 1) i50 = 1
            i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
            printf "%.3f %.3f\n", v[i50] / 1000, v[i99] / 1000 }'
}

# ---- measuring ----
declare -A RPS=() P50=() P99=() ERRORS=() FAILED_WHY=() TLS_SEEN=()
declare -A HS_RATE=() HS_CONNS=() HS_BATCHES=() HS_CONNECT=() HS_ERRORS=()

url_of() { # scenario target
    if [ "$1" = h2c ]; then
        echo "http://127.0.0.1:${H2C_PORT[$2]}/bench/2k"
    else
        echo "https://127.0.0.1:${TLS_PORT[$2]}/bench/2k"
    fi
}

# A steady load on connections opened once: the h2c and tls scenarios.
run_steady() { # scenario target
    local s=$1 t=$2 out="$RUN/h2load-$1-$2.txt" tsv="$RUN/h2load-$1-$2.tsv" url pct
    local args=(-t"$THREADS" -c"$CONNECTIONS" -m"$STREAMS" -D "$DURATION_S" --log-file="$tsv")
    url=$(url_of "$s" "$t")
    [ "$WARMUP_S" -gt 0 ] && args+=(--warm-up-time "$WARMUP_S")
    [ "$s" = tls ] && args+=("${TLS_OPTS[@]}")
    log "h2load ${args[*]} $url ($t)"
    if ! run_bg "$out" "$H2LOAD" "${args[@]}" "$url"; then
        FAILED_WHY[$s/$t]="failed: h2load exited non-zero (see $out)"
        KEEP=1
        return
    fi
    RPS[$s/$t]=$(h2load_field "$out" rps)
    if [ -z "${RPS[$s/$t]}" ]; then
        FAILED_WHY[$s/$t]="failed: no result from h2load (see $out)"
        KEEP=1
        return
    fi
    ERRORS[$s/$t]=$(h2load_errors "$out")
    pct=$(percentiles "$tsv")
    P50[$s/$t]=${pct% *}
    P99[$s/$t]=${pct#* }
    rm -f "$tsv" # a few MB; the report stays
    [ "$s" = tls ] && TLS_SEEN[$t]=$(tls_seen "$out")
    return 0
}

# New connections: batches of BATCH clients, each opening one connection (a
# full handshake: every h2load process starts without a session to resume) and
# sending one request, until DURATION has passed. The rate is the requests h2load
# counts as succeeded (one per connection) divided by the time h2load spent on
# them ("finished in"),
# so starting each h2load process is not counted against the server.
run_handshakes() { # target
    local t=$1 url out="$RUN/h2load-handshake-$1.txt" end ok=0 errs=0 ms=0 connect=0 n=0
    local args=(-t"$THREADS" -c"$BATCH" -n"$BATCH" -m1 "${TLS_OPTS[@]}")
    url=$(url_of handshake "$t")
    log "h2load ${args[*]} $url, repeated for ${DURATION_S}s ($t)"
    run_bg "$out" "$H2LOAD" "${args[@]}" "$url" || true # warm-up batch
    end=$((SECONDS + DURATION_S))
    while [ "$SECONDS" -lt "$end" ]; do
        if ! run_bg "$out" "$H2LOAD" "${args[@]}" "$url"; then
            FAILED_WHY[handshake/$t]="failed: h2load exited non-zero (see $out)"
            KEEP=1
            return
        fi
        ok=$((ok + $(h2load_field "$out" succeeded)))
        errs=$((errs + $(h2load_errors "$out")))
        ms=$(awk -v a="$ms" -v b="$(h2load_field "$out" finished)" 'BEGIN { printf "%.3f", a + b }')
        connect=$(awk -v a="$connect" -v b="$(h2load_field "$out" connect_mean)" 'BEGIN { printf "%.3f", a + b }')
        n=$((n + 1))
    done
    HS_CONNS[$t]=$ok
    HS_BATCHES[$t]=$n
    HS_ERRORS[$t]=$errs
    HS_RATE[$t]=$(awk -v ok="$ok" -v ms="$ms" 'BEGIN { if (ms > 0) printf "%.0f", ok * 1000 / ms }')
    HS_CONNECT[$t]=$(awk -v c="$connect" -v n="$n" 'BEGIN { if (n > 0) printf "%.1f", c / n }')
    TLS_SEEN[$t]=${TLS_SEEN[$t]:-$(tls_seen "$out")}
}

# ---- main ----
start_origin
make_cert
want tessera && start_tessera
want nginx && start_nginx

for s in h2c tls handshake; do
    want_scenario "$s" || continue
    for t in "${ORDER[@]}"; do
        want "$t" || continue
        [ "${STATUS[$t]:-}" = ok ] || continue
        if [ "$s" = handshake ]; then run_handshakes "$t"; else run_steady "$s" "$t"; fi
    done
done

scenario_name() {
    case "$1" in
        h2c) echo "h2c, -c$CONNECTIONS -m$STREAMS" ;;
        tls) echo "h2 over TLS, -c$CONNECTIONS -m$STREAMS" ;;
    esac
}

row_missing() { # scenario target -> why there is no number
    if [ "${STATUS[$2]:-}" != ok ]; then echo "${STATUS[$2]:-not run}"; else echo "${FAILED_WHY[$1/$2]:-not run}"; fi
}

STEADY_TABLE=$(
    echo "| scenario | target | req/s | p50 ms | p99 ms | errors | vs nginx |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for s in h2c tls; do
        want_scenario "$s" || continue
        for t in "${ORDER[@]}"; do
            want "$t" || continue
            if [ -n "${RPS[$s/$t]:-}" ]; then
                printf '| %s | %s | %.0f | %s | %s | %s | %s |\n' "$(scenario_name "$s")" "$t" \
                    "${RPS[$s/$t]}" "${P50[$s/$t]}" "${P99[$s/$t]}" "${ERRORS[$s/$t]}" \
                    "$(ratio "${RPS[$s/$t]}" "${RPS[$s/nginx]:-}")"
            else
                printf '| %s | %s | %s | | | | |\n' "$(scenario_name "$s")" "$t" "$(row_missing "$s" "$t")"
            fi
        done
    done
)

HANDSHAKE_TABLE=$(
    echo "| target | handshakes/s | connections | batches | mean connect ms | errors | vs nginx |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for t in "${ORDER[@]}"; do
        want "$t" || continue
        if [ -n "${HS_RATE[$t]:-}" ]; then
            printf '| %s | %s | %s | %s | %s | %s | %s |\n' "$t" "${HS_RATE[$t]}" "${HS_CONNS[$t]}" \
                "${HS_BATCHES[$t]}" "${HS_CONNECT[$t]}" "${HS_ERRORS[$t]}" \
                "$(ratio "${HS_RATE[$t]}" "${HS_RATE[nginx]:-}")"
        else
            printf '| %s | %s | | | | | |\n' "$t" "$(row_missing handshake "$t")"
        fi
    done
)

SUMMARY="tessera/nginx:"
want_scenario h2c && SUMMARY+=" h2c = $(ratio "${RPS[h2c/tessera]:-}" "${RPS[h2c/nginx]:-}"),"
want_scenario tls && SUMMARY+=" h2 over TLS = $(ratio "${RPS[tls/tessera]:-}" "${RPS[tls/nginx]:-}"),"
want_scenario handshake && SUMMARY+=" new TLS connections = $(ratio "${HS_RATE[tessera]:-}" "${HS_RATE[nginx]:-}"),"
SUMMARY="${SUMMARY%,} (req/s and handshakes/s ratios; above 1 means Tessera is faster)"

TLS_LINE=""
for t in "${ORDER[@]}"; do
    [ -n "${TLS_SEEN[$t]:-}" ] && TLS_LINE+="$t: ${TLS_SEEN[$t]}; "
done
TLS_LINE=${TLS_LINE%; }

echo
want_scenario h2c || want_scenario tls && { echo "$STEADY_TABLE"; echo; }
want_scenario handshake && { echo "$HANDSHAKE_TABLE"; echo; }
[ -n "$TLS_LINE" ] && echo "negotiated: $TLS_LINE"
echo "$SUMMARY"

if [ "$RECORD" = 1 ]; then
    VERSIONS=()
    [ -n "$NGINX" ] && VERSIONS+=("$(first_line "$NGINX" -v), $("$NGINX" -V 2>&1 | grep -o "built with OpenSSL [^ ]*" || true)")
    VERSIONS+=("$(first_line "$H2LOAD" --version)" "$(first_line openssl version)")
    [ -x "$TESSERA_BIN" ] && VERSIONS+=("tessera $(tessera_commit) with $("$TESSERA_BIN" -v 2>&1 | grep -i 'mbed' || true)")
    {
        echo
        echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) — HTTP/2 GET /bench/2k (h2c, TLS, new TLS connections), $CONNECTIONS connections x $STREAMS streams, $DURATION"
        echo
        echo "- command: \`$COMMAND\`"
        echo "- date: $(date -u)"
        machine_line
        echo "- versions: $(IFS=';'; echo "${VERSIONS[*]}" | sed 's/;/; /g')"
        echo "- setup: h2load -t$THREADS -c$CONNECTIONS -m$STREAMS -D $DURATION (after a $WARMUP warm-up) per row; $WORKERS workers for tessera, nginx and the origin; up to $ORIGIN_KEEPALIVE idle origin connections kept per worker (Tessera \`keepalive\`, nginx upstream \`keepalive\`); all on 127.0.0.1, sharing the same CPUs. There is no cache yet: every request is proxied to the origin (the \"hot hit\" of the issue is the same 2 KB page, again and again)"
        echo "- TLS: TLS 1.2 only, self-signed EC P-256 certificate (tools/mkcert.sh) on both; h2load ${TLS_OPTS[*]}; negotiated: ${TLS_LINE:-n/a}"
        if want_scenario handshake; then
            echo "- new TLS connections: \`h2load -t$THREADS -c$BATCH -n$BATCH -m1 ${TLS_OPTS[*]}\` repeated for $DURATION (after one untimed batch): each connection is a full handshake (a fresh h2load process has no session to resume) plus one h2 request; handshakes/s = requests h2load counted as succeeded (one per connection) / time h2load reported for the batches (process start-up not counted)"
        fi
        echo
        if want_scenario h2c || want_scenario tls; then
            echo "$STEADY_TABLE"
            echo
        fi
        if want_scenario handshake; then
            echo "$HANDSHAKE_TABLE"
            echo
        fi
        echo "$SUMMARY"
    } >>"$HERE/RESULTS.md"
    log "appended to loadtest/RESULTS.md"
fi
