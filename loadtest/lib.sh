# loadtest/lib.sh: what run.sh, run-h2.sh and run-cache.sh share. Sourced, never run.
#
# Before sourcing, the runner sets PROG (its name, for messages), HERE, ROOT,
# BUILD, WORKERS, START_TIMEOUT_S and KEEP. It then calls lt_start, which makes
# the temporary directory $RUN and installs the EXIT trap that stops, in reverse
# order, every process registered with `started` (SIGTERM, then SIGKILL after
# 5 s), removes the directories listed in SCRATCH_DIRS, and removes $RUN unless
# KEEP=1 or the runner failed.
# shellcheck shell=bash

log() { printf '[%s] %s\n' "$PROG" "$*" >&2; }

find_tool() { # name, fallback path
    command -v "$1" 2>/dev/null || { [ -x "$2" ] && echo "$2"; } || true
}

duration_ok() { [[ "$1" =~ ^[0-9]+[smh]?$ ]]; }

PIDS=()       # processes we started, stopped in reverse order
PID_NAMES=()
CLIENT_PID="" # the load generator in progress, if any
# Directories a runner made outside $RUN (e.g. a cache on tmpfs): removed on
# exit once every process has stopped, even with KEEP=1 (they hold data, not
# logs). Empty unless a runner adds to it.
SCRATCH_DIRS=()

started() { PIDS+=("$1"); PID_NAMES+=("$2"); }

lt_cleanup() {
    local rc=$?
    local i
    if [ -n "$CLIENT_PID" ] && kill -0 "$CLIENT_PID" 2>/dev/null; then
        kill -TERM "$CLIENT_PID" 2>/dev/null || true
        wait "$CLIENT_PID" 2>/dev/null || true
    fi
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        local pid=${PIDS[$i]}
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
        fi
    done
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        local pid=${PIDS[$i]}
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            log "${PID_NAMES[$i]} (pid $pid) ignored SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    for i in "${SCRATCH_DIRS[@]}"; do rm -rf "$i"; done
    if [ "$KEEP" = 1 ] || [ "$rc" != 0 ]; then
        log "logs and configs kept in $RUN"
    else
        rm -rf "$RUN"
    fi
    exit "$rc"
}

lt_start() {
    RUN=$(mktemp -d "${TMPDIR:-/tmp}/tessera-loadtest.XXXXXX")
    chmod 755 "$RUN"
    trap lt_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

# The load generator runs in the background and we `wait` for it: a signal
# interrupts `wait` at once, whereas a foreground wrk or h2load that catches
# SIGINT itself (both do, to print a summary) would make bash carry on with the
# next target.
run_bg() { # output-file command...
    local out=$1 rc=0
    shift
    "$@" >"$out" 2>&1 &
    CLIENT_PID=$!
    wait "$CLIENT_PID" || rc=$?
    CLIENT_PID=""
    return "$rc"
}

# A free loopback port: bind port 0 and report what the kernel chose (python3
# or node); without either, the first of 18080.. that refuses connections.
free_port() {
    local p
    if command -v python3 >/dev/null 2>&1 &&
        p=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()' 2>/dev/null) &&
        [ -n "$p" ]; then
        echo "$p"; return
    fi
    if command -v node >/dev/null 2>&1 &&
        p=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})' 2>/dev/null) &&
        [ -n "$p" ]; then
        echo "$p"; return
    fi
    for ((p = 18080 + RANDOM % 1000; p < 20000; p++)); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    return 1
}

# Waits until 127.0.0.1:$1 accepts connections, for at most $2 seconds, while
# process $3 is alive.
wait_port() {
    local port=$1 secs=$2 pid=$3 i
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 1
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

CURL=$(find_tool curl /usr/bin/curl)

# The body must be the origin's exact 2048 bytes, over the expected HTTP
# version, before we time anything: fetch_ok VERSION URL [curl options...],
# VERSION being what curl's %{http_version} says ("1.1", "2").
fetch_ok() {
    local want="200 2048 $1" url=$2 got
    shift 2
    [ -n "$CURL" ] || return 0
    got=$("$CURL" -s -o /dev/null -w '%{http_code} %{size_download} %{http_version}' \
        --max-time 5 "$@" "$url" 2>/dev/null) || true
    [ "$got" = "$want" ] && return 0
    log "smoke test of $url answered '${got:-nothing}', expected '$want'"
    return 1
}

# Starts tessera-origin on an ephemeral port; sets ORIGIN_PORT and ORIGIN_ADDR
# or exits.
start_origin() {
    "$ORIGIN_BIN" -l 127.0.0.1:0 -w "$WORKERS" -q >"$RUN/origin.out" 2>"$RUN/origin.err" &
    local pid=$! i line=""
    started "$pid" origin
    for ((i = 0; i < START_TIMEOUT_S * 10; i++)); do
        line=$(grep -m1 '^origin listening on ' "$RUN/origin.out" 2>/dev/null || true)
        [ -n "$line" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$line" ]; then
        echo "$PROG: tessera-origin did not start:" >&2
        cat "$RUN/origin.err" >&2
        exit 1
    fi
    ORIGIN_PORT=${line##*:}
    ORIGIN_ADDR="127.0.0.1:$ORIGIN_PORT"
    log "origin on $ORIGIN_ADDR"
    fetch_ok 1.1 "http://$ORIGIN_ADDR/bench/2k" ||
        { echo "$PROG: the origin does not serve /bench/2k" >&2; exit 1; }
}

# nginx from the template $1 into $RUN/nginx, with extra sed expressions $3...
# for the template's own placeholders; waits for port $2. Returns non-zero
# (with the reason in NGINX_WHY) when it did not start. A runner that starts
# more than one nginx names each: NGINX_DIR (prefix, default $RUN/nginx) and
# NGINX_NAME (for `started`, default nginx), e.g.
#   NGINX_DIR=$RUN/nginx-return NGINX_NAME=nginx-return start_nginx_from ...
start_nginx_from() {
    local template=$1 port=$2 dir="${NGINX_DIR:-$RUN/nginx}" user_directive="" pid
    shift 2
    mkdir -p "$dir"
    if [ "$(id -u)" = 0 ]; then user_directive="user root $(id -gn);"; fi
    sed -e "s|@USER_DIRECTIVE@|$user_directive|" -e "s|@RUN_DIR@|$dir|g" \
        -e "s|@ORIGIN@|$ORIGIN_ADDR|g" "$@" "$template" >"$dir/nginx.conf"
    "$NGINX" -p "$dir/" -c "$dir/nginx.conf" -g 'daemon off;' >"$dir/stdout" 2>"$dir/stderr" &
    pid=$!
    started "$pid" "${NGINX_NAME:-nginx}"
    if ! wait_port "$port" "$START_TIMEOUT_S" "$pid"; then
        # shellcheck disable=SC2034  # read by the runner
        NGINX_WHY="did not start (see $dir/stderr, $dir/error.log)"
        cat "$dir/stderr" >&2 || true
        KEEP=1
        return 1
    fi
    return 0
}

ratio() { # a b -> a/b with 2 decimals, or n/a
    if [ -n "${1:-}" ] && [ -n "${2:-}" ]; then
        awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
    else
        echo "n/a"
    fi
}

first_line() { "$@" 2>&1 | head -n 1 || true; }

# "- machine: ..." for RESULTS.md.
machine_line() {
    local model mem
    model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
    mem=$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)
    echo "- machine: $(nproc --all) CPUs, ${model:-unknown CPU}, $mem RAM, $(uname -sr)"
}

tessera_commit() { git -C "$ROOT" describe --always --dirty 2>/dev/null || echo unknown; }
