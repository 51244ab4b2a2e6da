#!/usr/bin/env bash
# loadtest/run-compose.sh: composed pages through Tessera, nginx + SSI and Varnish + ESI.
#
# Starts tessera-origin (ephemeral port), then, each from a temporary directory
# on 127.0.0.1, three targets composing the same product page (--id, 42) from the
# same six origin fragments: /api/product/ID, /api/price/ID, /api/reviews/ID,
# /api/recs/ID, /api/nav, /api/footer (JSON):
#   tessera      a page route per scenario rendering a Mustache template written
#                into the temporary directory (the data of every fragment turned
#                into HTML: loops over reviews, recs, nav and footer links),
#                cache = { ttl = "600s" } on the page; fragments cached by the
#                origin's Cache-Control (Tessera's own rule for fragments)
#   nginx-ssi    peers/nginx-ssi.conf: proxy_cache (the page cache) in front of a
#                server running SSI over a static skeleton with six
#                <!--#include virtual="/api/..." -->, in the same nginx
#   varnish-esi  peers/varnish-esi.vcl: a static skeleton with six
#                <esi:include src="/api/..."/>, fetched from that nginx, and
#                the fragments from the origin; Varnish caches the skeleton and
#                the fragments and assembles the page for every request
# The peers do not template: they put each fragment's JSON into the page as it
# is (inside <script type="application/json">), which gives a page of about the
# same size as Tessera's HTML. Tessera does more work per page, not less.
# Three scenarios, each run against one target at a time (never two at once):
#   hot      GET /hot/ID: the page from the page cache; its fragments carry
#            ?cc=public, max-age=600, so a cold start fills every cache
#   cold     GET /cold/ID?k=UNIQUE: every request a page no cache has seen; the
#            targets pass k on to the six fragments (with cc=no-store), so every
#            fragment comes from the origin too: 6 origin requests per page
#   latency  as cold, with ?delay=MS (--delay, 20) on every fragment, at
#            --latency-connections (8): the p50 says whether the fragments were
#            fetched in parallel (about MS) or one after the other (6 x MS)
# Before a target is timed in a scenario, its page is checked: 200, a marker
# from each of the six fragments (taken from the origin's JSON; HTML-escaped for
# Tessera), exactly 6 origin requests for the first request; then for hot a
# second request must be a hit (Tessera: Cache-Status hit; nginx: X-Cache HIT;
# Varnish: X-Varnish with two ids) with no origin request, and for cold and
# latency a second one with a new k a miss with 6 origin requests again. The
# origin's request counter is read around every timed run ("origin req/page":
# 0 hot, 6 cold and latency). A target that fails a check is skipped, with why.
# Prints markdown tables and appends a dated section to loadtest/RESULTS.md.
# Everything it started is stopped on exit. It builds nothing: run
# `cmake -B build && cmake --build build` first.
#
# With --rounds N, every target is timed N times per scenario, round-robin, and
# the table gives the medians, as in run-cache.sh. "other CPU %" is the share of
# the machine's CPU used during the timed runs by processes this script did not
# start (the highest over the rounds; a lower bound); "server CPU µs/page" the
# target's own CPU time per page (Varnish's includes the nginx that serves it
# the skeletons), and "origin CPU µs/page" the origin's.
#
# --pin splits the two CPUs: the target runs on CPU 1 with one worker (Tessera
# workers, nginx worker_processes, Varnish thread_pools), and wrk (-t1) and the
# origin (one thread) on CPU 0. Unlike run-cache.sh, the origin is not on the
# servers' CPU: a cold page costs it six requests, about as much CPU as the
# target's composing, and it would take that from the target being measured.
#
#   loadtest/run-compose.sh [--duration 10s] [--connections 64] [--threads 2] [--pin]
#                           [--latency-connections 8] [--delay 20] [--warmup 2s]
#                           [--rounds 1] [--origin-keepalive 512] [--id 42]
#                           [--nginx-cache-dir /dev/shm] [--build DIR]
#                           [--scenarios hot,cold,latency]
#                           [--targets tessera,nginx-ssi,varnish-esi]
#                           [--perf] [--no-record] [--keep]
#
# --origin-keepalive N: idle origin connections kept per worker by Tessera
# (`keepalive`) and nginx (upstream `keepalive`, also towards its composer).
# 64 clients composing six fragments each keep up to 384 origin requests in
# flight: with fewer idle connections than that, both proxies open and close
# origin connections throughout cold (Varnish keeps all of its own).
#
# --nginx-cache-dir DIR: nginx's page cache goes into a new directory under
# DIR, removed on exit. The default is /dev/shm when it is a tmpfs (else the
# temporary directory): Tessera and Varnish cache in memory, and on a disk
# filesystem nginx's cold figure depends on the disk's recent history (ext4
# looks long for a free inode while cache files are being deleted; see
# peers/nginx-ssi.conf). --nginx-cache-dir /tmp shows that case.
#
# --perf records Tessera with `perf record -g -p PID -- sleep 5` during its timed
# run of each scenario (first round, from 2 s in; needs --duration of 8s or
# more), keeps the temporary directory with the perf data and reports, prints
# the top symbols, and implies --no-record (perf takes CPU from the run).
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)

DURATION=10s
CONNECTIONS=64
THREADS=2
LAT_CONNECTIONS=8
DELAY_MS=20
WARMUP=2s
ROUNDS=1
ORIGIN_KEEPALIVE=512
PRODUCT_ID=42
NGINX_CACHE_PARENT="" # where nginx's page cache goes: /dev/shm (tmpfs) when it can
BUILD="$ROOT/build"
SCENARIOS="hot,cold,latency"
TARGETS="tessera,nginx-ssi,varnish-esi"
PERF=0
PIN=0
LOAD_PIN=()
RECORD=1
KEEP=0
WORKERS=2 # Tessera workers = nginx worker_processes = Varnish thread_pools = origin threads
START_TIMEOUT_S=5
COMMAND="loadtest/run-compose.sh${*:+ $*}"
PROG=run-compose.sh
# shellcheck source=loadtest/lib.sh
. "$HERE/lib.sh"

# The hot fragments are fresh for 10 minutes in every cache; cold and latency
# ones are never stored.
HOT_QUERY="cc=public%2C%20max-age%3D600"
COLD_QUERY="cc=no-store"

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'
}

while [ $# -gt 0 ]; do
    case "$1" in
        --duration) DURATION=${2:?}; shift 2 ;;
        --connections) CONNECTIONS=${2:?}; shift 2 ;;
        --threads) THREADS=${2:?}; shift 2 ;;
        --latency-connections) LAT_CONNECTIONS=${2:?}; shift 2 ;;
        --delay) DELAY_MS=${2:?}; shift 2 ;;
        --warmup) WARMUP=${2:?}; shift 2 ;;
        --rounds) ROUNDS=${2:?}; shift 2 ;;
        --origin-keepalive) ORIGIN_KEEPALIVE=${2:?}; shift 2 ;;
        --id) PRODUCT_ID=${2:?}; shift 2 ;;
        --nginx-cache-dir) NGINX_CACHE_PARENT=${2:?}; shift 2 ;;
        --build)
            BUILD=$(cd "${2:?}" 2>/dev/null && pwd) || { echo "run-compose.sh: --build $2: no such directory" >&2; exit 2; }
            shift 2 ;;
        --scenarios) SCENARIOS=${2:?}; shift 2 ;;
        --targets) TARGETS=${2:?}; shift 2 ;;
        --perf) PERF=1; RECORD=0; KEEP=1; shift ;;
        --pin) PIN=1; shift ;;
        --no-record) RECORD=0; shift ;;
        --keep) KEEP=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "run-compose.sh: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    esac
done

seconds_of() { # "10s", "2m", "1h", "10" -> seconds
    local n=${1%[smh]}
    case "$1" in *m) echo $((n * 60)) ;; *h) echo $((n * 3600)) ;; *) echo "$n" ;; esac
}

number_ok() { [[ "$1" =~ ^[0-9]+$ && "$1" -ge "$2" && "$1" -le "$3" ]]; }

duration_ok "$DURATION" || { echo "run-compose.sh: --duration $DURATION: expected e.g. 10s" >&2; exit 2; }
duration_ok "$WARMUP" || { echo "run-compose.sh: --warmup $WARMUP: expected e.g. 2s or 0" >&2; exit 2; }
number_ok "$CONNECTIONS" 1 100000 || { echo "run-compose.sh: --connections: expected a number" >&2; exit 2; }
number_ok "$LAT_CONNECTIONS" 1 100000 || { echo "run-compose.sh: --latency-connections: expected a number" >&2; exit 2; }
number_ok "$THREADS" 1 "$CONNECTIONS" || { echo "run-compose.sh: --threads: expected 1..connections" >&2; exit 2; }
number_ok "$DELAY_MS" 1 10000 || { echo "run-compose.sh: --delay: expected milliseconds 1..10000" >&2; exit 2; }
number_ok "$ROUNDS" 1 100 || { echo "run-compose.sh: --rounds: expected a number" >&2; exit 2; }
number_ok "$ORIGIN_KEEPALIVE" 1 10000 || { echo "run-compose.sh: --origin-keepalive: expected 1..10000" >&2; exit 2; }
number_ok "$PRODUCT_ID" 1 1000 || { echo "run-compose.sh: --id: expected a product id 1..1000" >&2; exit 2; }
DURATION_S=$(seconds_of "$DURATION")
WARMUP_S=$(seconds_of "$WARMUP")
# The hot page and fragments are stored once per target, before its first
# round, and must stay fresh (max-age=600) until its last timed run ends.
if [ $((ROUNDS * 3 * (DURATION_S + WARMUP_S + 1))) -gt 540 ]; then
    echo "run-compose.sh: --rounds x 3 targets x (--duration + --warmup) must stay under 9 minutes (the hot page is fresh for 600s)" >&2
    exit 2
fi
if [ "$PERF" = 1 ] && [ "$DURATION_S" -lt 8 ]; then
    echo "run-compose.sh: --perf records 5s from 2s into the run: use --duration 8s or more" >&2
    exit 2
fi

TASKSET=""
if [ "$PIN" = 1 ]; then
    TASKSET=$(command -v taskset || true)
    [ -n "$TASKSET" ] && [ "$(nproc --all)" -ge 2 ] ||
        { echo "run-compose.sh: --pin needs taskset (util-linux) and 2 CPUs" >&2; exit 2; }
    "$TASKSET" -p -c 1 $$ >/dev/null # every server started from here inherits CPU 1
    LOAD_PIN=("$TASKSET" -c 0)
    WORKERS=1
    THREADS=1
fi
LAT_THREADS=$((THREADS < LAT_CONNECTIONS ? THREADS : LAT_CONNECTIONS))

ORDER=(tessera nginx-ssi varnish-esi)
for t in ${TARGETS//,/ }; do
    case "$t" in tessera|nginx-ssi|varnish-esi) ;; *)
        echo "run-compose.sh: --targets: unknown target '$t' (${ORDER[*]})" >&2; exit 2 ;;
    esac
done
for s in ${SCENARIOS//,/ }; do
    case "$s" in hot|cold|latency) ;; *)
        echo "run-compose.sh: --scenarios: unknown scenario '$s' (hot, cold, latency)" >&2; exit 2 ;;
    esac
done

want() { [[ ",$TARGETS," == *",$1,"* ]]; }
want_scenario() { [[ ",$SCENARIOS," == *",$1,"* ]]; }

# ---- tools ----
WRK=$(find_tool wrk /usr/bin/wrk)
NGINX=$(find_tool nginx /usr/sbin/nginx)
VARNISHD=$(find_tool varnishd /usr/sbin/varnishd)
PERF_BIN=$(find_tool perf /usr/bin/perf)
ORIGIN_BIN="$BUILD/tessera-origin"
TESSERA_BIN="$BUILD/tessera"

if [ -z "$WRK" ]; then
    echo "run-compose.sh: wrk is not installed:  sudo apt-get install wrk  (or tools/deps.sh loadtest)" >&2
    exit 1
fi
if [ -z "$CURL" ]; then
    echo "run-compose.sh: curl is not installed:  sudo apt-get install curl" >&2
    exit 1
fi
if [ "$PERF" = 1 ] && [ -z "$PERF_BIN" ]; then
    echo "run-compose.sh: --perf: perf is not installed:  sudo apt-get install linux-perf" >&2
    exit 1
fi
if [ ! -x "$ORIGIN_BIN" ]; then
    echo "run-compose.sh: $ORIGIN_BIN not found; build it first:" >&2
    echo "  cmake -S . -B build && cmake --build build --target tessera-origin tessera" >&2
    exit 1
fi

LOAD_AT_START=$(cut -d' ' -f1-3 /proc/loadavg)
lt_start

# ---- the page: paths, fragment queries, markers ----
page_path() { echo "/$1/$PRODUCT_ID"; } # scenario -> path, without k
frag_query() {                          # scenario -> the query of its fragment URLs
    case "$1" in
        hot) echo "$HOT_QUERY" ;;
        cold) echo "$COLD_QUERY" ;;
        latency) echo "delay=$DELAY_MS&$COLD_QUERY" ;;
    esac
}
unique() { [ "$1" != hot ]; } # scenario -> whether every request carries a new k

# One marker per fragment, read from the origin's JSON: a string (or number)
# that the raw JSON of the peers and Tessera's HTML both contain.
declare -A MARKER=()
pick_markers() {
    local base="http://$ORIGIN_ADDR" body v name
    # fragment  path  sed expression printing the marker
    while read -r name path expr; do
        body=$("$CURL" -s --max-time 5 "$base$path") || body=""
        v=$(sed -n "$expr" <<<"$body" | head -n 1)
        if [ -z "$v" ]; then
            echo "run-compose.sh: no marker in the origin's $path (product $PRODUCT_ID): $body" >&2
            exit 1
        fi
        MARKER[$name]=$v
    done <<EOF
product /api/product/$PRODUCT_ID s/.*"name":"\([^"\\\\]*\)".*/\1/p
price /api/price/$PRODUCT_ID s/.*"amount":\([0-9.]*\).*/\1/p
reviews /api/reviews/$PRODUCT_ID s/^[^[]*\[{[^}]*"text":"\([^"\\\\]*\)".*/\1/p
recs /api/recs/$PRODUCT_ID s/^[^[]*\[{[^}]*"name":"\([^"\\\\]*\)".*/\1/p
nav /api/nav s/.*"url":"\(\/category\/[^"\\\\]*\)".*/\1/p
footer /api/footer s/.*"copyright":"\([^"\\\\]*\)".*/\1/p
EOF
}
FRAGMENTS=(product price reviews recs nav footer)

html_escape() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g' -e "s/'/\&#39;/g" <<<"$1"; }

# Tessera's page: the data of the six fragments as HTML, in the shell that the
# SSI and ESI skeletons share.
write_template() { # file
    cat >"$1" <<'EOF'
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{product.name}} - Tessera demo store</title>
<link rel="stylesheet" href="/static/{{channel}}.css">
</head>
<body class="channel-{{channel}}">
<header class="site-header">
<a class="logo" href="/">Tessera</a>
{{#nav}}<nav><ul>{{#categories}}<li><a href="{{url}}">{{name}}</a></li>{{/categories}}</ul></nav>{{/nav}}
</header>
<main>
{{#product}}
<article class="product" data-id="{{id}}">
<img class="product-image" src="{{image}}" alt="{{name}}">
<h1>{{name}}</h1>
{{#price}}<p class="price{{#on_sale}} on-sale{{/on_sale}}"><span class="amount">{{amount}} {{currency}}</span>{{#on_sale}} <del class="was">{{was}} {{currency}}</del>{{/on_sale}}{{#in_stock}} <span class="stock">In stock ({{stock}})</span>{{/in_stock}}{{^in_stock}} <span class="stock out">Out of stock</span>{{/in_stock}}</p>{{/price}}
{{^price}}<p class="price unavailable">Price unavailable</p>{{/price}}
<p class="description">{{description}}</p>
</article>
{{/product}}
<section class="reviews">
<h2>Reviews</h2>
{{#reviews.count}}<p class="rating">{{reviews.rating}} / 5 ({{reviews.count}} reviews)</p>
<ul>{{#reviews.items}}<li class="review"><span class="stars">{{stars}}/5</span> <strong>{{author}}</strong>: {{text}}</li>{{/reviews.items}}</ul>{{/reviews.count}}
{{^reviews.count}}<p class="no-reviews">No reviews yet.</p>{{/reviews.count}}
</section>
<section class="recs">
<h2>You may also like</h2>
{{#recs}}<ul class="cards">{{#items}}<li><a class="card" href="/product/{{id}}"><img src="{{image}}" alt="" loading="lazy"> <span class="name">{{name}}</span></a></li>{{/items}}</ul>{{/recs}}
</section>
</main>
<footer class="site-footer">
{{#footer}}<ul>{{#links}}<li><a href="{{url}}">{{title}}</a></li>{{/links}}</ul>
<p class="copyright">{{copyright}}</p>{{/footer}}
</footer>
</body>
</html>
EOF
}

# The SSI or ESI skeleton of a scenario's page: the same shell, with each
# fragment's JSON in a <script type="application/json">. SSI passes the page's
# k on with $arg_k; Varnish appends it in vcl_recv (peers/varnish-esi.vcl).
skeleton() { # ssi|esi scenario
    local kind=$1 q id=$PRODUCT_ID
    q=$(frag_query "$2")
    # shellcheck disable=SC2016  # $arg_k is nginx's, not ours
    if [ "$kind" = ssi ] && unique "$2"; then q+='&k=$arg_k'; fi
    inc() { # fragment path
        if [ "$kind" = ssi ]; then printf '<!--#include virtual="%s?%s" -->' "$1" "$q"
        else printf '<esi:include src="%s?%s"/>' "$1" "$q"; fi
    }
    cat <<EOF
<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Product $id - Tessera demo store</title>
<link rel="stylesheet" href="/static/web.css">
</head>
<body class="channel-web">
<header class="site-header">
<a class="logo" href="/">Tessera</a>
<script type="application/json" class="nav">$(inc /api/nav)</script>
</header>
<main>
<article class="product" data-id="$id">
<script type="application/json" class="product">$(inc "/api/product/$id")</script>
<script type="application/json" class="price">$(inc "/api/price/$id")</script>
</article>
<section class="reviews">
<h2>Reviews</h2>
<script type="application/json" class="reviews">$(inc "/api/reviews/$id")</script>
</section>
<section class="recs">
<h2>You may also like</h2>
<script type="application/json" class="recs">$(inc "/api/recs/$id")</script>
</section>
</main>
<footer class="site-footer">
<script type="application/json" class="footer">$(inc /api/footer)</script>
</footer>
</body>
</html>
EOF
}

# ---- targets ----
declare -A PORT=() STATUS=() ROOTS=() # ROOTS: the processes the target's processes descend from
TESSERA_PID=""
NGINX_PID=""
NGINX_STATUS="" # why nginx is not there (varnish-esi needs it for its skeletons)

# A Tessera route for scenario s: the demo's /product/:id route, with every
# fragment's path given the scenario's query, k passed on when unique.
tessera_route() { # scenario
    local s=$1 q pass="" name path extra
    q=$(frag_query "$s")
    unique "$s" && pass=', query = { "k" }'
    echo "  { path = \"/$s/:id\", template = \"pages/bench\", cache = { ttl = \"600s\" }, fragments = {"
    for name in "${FRAGMENTS[@]}"; do
        case "$name" in
            nav|footer) path="/api/$name" ;;
            *) path="/api/$name/:id" ;;
        esac
        case "$name" in
            product|nav) extra=", required = true" ;;
            reviews) extra=", fallback = { items = {} }" ;;
            *) extra="" ;;
        esac
        echo "      $name = { origin = \"api\", path = \"$path?$q\", timeout = \"5s\"$extra$pass },"
    done
    echo "  } },"
}

start_tessera() {
    if [ ! -x "$TESSERA_BIN" ]; then
        STATUS[tessera]="skipped: $TESSERA_BIN not built"
        return
    fi
    local port dir="$RUN/tessera" pid s
    port=$(free_port)
    mkdir -p "$dir/templates/pages"
    write_template "$dir/templates/pages/bench.html.mustache"
    {
        echo "workers = $WORKERS"
        echo "listen = { { addr = \"127.0.0.1:$port\" } }"
        echo "origins = { api = { servers = { \"$ORIGIN_ADDR\" }, connect_timeout = \"1s\", timeout = \"5s\", keepalive = $ORIGIN_KEEPALIVE } }"
        echo "templates = \"$dir/templates\""
        echo "cache = { memory = \"256MB\" }"
        echo "routes = {"
        for s in hot cold latency; do tessera_route "$s"; done
        echo "}"
        echo "log = { access = false }"
    } >"$dir/tessera.lua"
    (cd "$ROOT" && exec "$TESSERA_BIN" -c "$dir/tessera.lua") >"$dir/stdout" 2>"$dir/stderr" &
    pid=$!
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
    TESSERA_PID=$pid
    ROOTS[tessera]=$pid
    PORT[tessera]=$port
    STATUS[tessera]=ok
    log "tessera on 127.0.0.1:$port (pid $pid)"
}

# One nginx for nginx-ssi (page cache + SSI composer) and for the ESI
# skeletons Varnish fetches.
SKEL_PORT=""
NGINX_CACHE_DIR=""
NGINX_CACHE_FS=""
start_nginx_ssi() {
    if [ -z "$NGINX" ]; then
        NGINX_STATUS="skipped: nginx is not installed (sudo apt-get install nginx-light, or tools/deps.sh loadtest)"
        echo "run-compose.sh: nginx is not installed:  sudo apt-get install nginx-light" >&2
        return
    fi
    local port ssi_port dir="$RUN/nginx" s parent=$NGINX_CACHE_PARENT
    if [ -z "$parent" ]; then
        parent=$RUN
        [ "$(stat -f -c %T /dev/shm 2>/dev/null)" = tmpfs ] && [ -w /dev/shm ] && parent=/dev/shm
    fi
    NGINX_CACHE_DIR=$(mktemp -d "$parent/tessera-loadtest-nginx-cache.XXXXXX") || {
        NGINX_STATUS="skipped: cannot make a cache directory in $parent"
        return
    }
    SCRATCH_DIRS+=("$NGINX_CACHE_DIR")
    NGINX_CACHE_FS=$(stat -f -c %T "$NGINX_CACHE_DIR" 2>/dev/null || echo unknown)
    port=$(free_port)
    ssi_port=$(free_port)
    SKEL_PORT=$(free_port)
    for s in hot cold latency; do
        mkdir -p "$dir/ssi/$s" "$dir/esi/$s"
        skeleton ssi "$s" >"$dir/ssi/$s/$PRODUCT_ID"
        skeleton esi "$s" >"$dir/esi/$s/$PRODUCT_ID"
    done
    # The SSI module is built into nginx unless configured out.
    if "$NGINX" -V 2>&1 | grep -q -- '--without-http_ssi_module'; then
        NGINX_STATUS="skipped: this nginx was built --without-http_ssi_module"
        return
    fi
    if ! NGINX_DIR="$dir" NGINX_NAME=nginx \
        start_nginx_from "$HERE/peers/nginx-ssi.conf" "$port" -e "s|@PORT@|$port|g" \
        -e "s|@SSI_PORT@|$ssi_port|g" -e "s|@SKEL_PORT@|$SKEL_PORT|g" \
        -e "s|@KEEPALIVE@|$ORIGIN_KEEPALIVE|g" -e "s|@CACHE_DIR@|$NGINX_CACHE_DIR|g" \
        -e "s|^worker_processes 2;|worker_processes $WORKERS;|"; then
        NGINX_STATUS="skipped: $NGINX_WHY"
        return
    fi
    NGINX_PID=${PIDS[${#PIDS[@]} - 1]} # the master, registered last by start_nginx_from
    if ! wait_port "$ssi_port" "$START_TIMEOUT_S" "$NGINX_PID" ||
        ! wait_port "$SKEL_PORT" "$START_TIMEOUT_S" "$NGINX_PID"; then
        NGINX_STATUS="skipped: nginx does not listen on all its ports (see $dir/error.log)"
        KEEP=1
        return
    fi
    NGINX_STATUS=ok
    if want nginx-ssi; then
        PORT[nginx-ssi]=$port
        ROOTS[nginx-ssi]=$NGINX_PID
        STATUS[nginx-ssi]=ok
        log "nginx-ssi on 127.0.0.1:$port (composer on $ssi_port, ESI skeletons on $SKEL_PORT; page cache in $NGINX_CACHE_DIR, $NGINX_CACHE_FS)"
    fi
}

start_varnish_esi() {
    if [ -z "$VARNISHD" ]; then
        STATUS[varnish-esi]="skipped: not installed (sudo apt-get install varnish)"
        echo "run-compose.sh: varnish is not installed:  sudo apt-get install varnish" >&2
        return
    fi
    if [ "$NGINX_STATUS" != ok ]; then
        STATUS[varnish-esi]="${NGINX_STATUS:-skipped: no nginx} (nginx serves Varnish its ESI skeletons)"
        return
    fi
    local port dir="$RUN/varnish" pid
    port=$(free_port)
    mkdir -p "$dir"
    sed -e "s|@ORIGIN_HOST@|127.0.0.1|g" -e "s|@ORIGIN_PORT@|$ORIGIN_PORT|g" \
        -e "s|@SKEL_PORT@|$SKEL_PORT|g" "$HERE/peers/varnish-esi.vcl" >"$dir/varnish.vcl"
    # -T none: no management CLI port; -F: stay in the foreground so we own it.
    "$VARNISHD" -F -n "$dir/work" -a "127.0.0.1:$port" -f "$dir/varnish.vcl" \
        -s malloc,256m -T none -p thread_pools="$WORKERS" >"$dir/stdout" 2>"$dir/stderr" &
    pid=$!
    started "$pid" varnish
    if ! wait_port "$port" $((START_TIMEOUT_S * 2)) "$pid"; then
        STATUS[varnish-esi]="skipped: did not start (see $dir/stderr)"
        tail -n 20 "$dir/stderr" >&2 || true
        KEEP=1
        return
    fi
    PORT[varnish-esi]=$port
    ROOTS[varnish-esi]="$pid $NGINX_PID" # the skeletons' nginx counts towards Varnish
    STATUS[varnish-esi]=ok
    log "varnish-esi on 127.0.0.1:$port (pid $pid)"
}

# ---- checks ----
origin_requests() { # the origin's request counter (/__stats does not count itself)
    { "$CURL" -s --max-time 5 "http://$ORIGIN_ADDR/__stats" || true; } |
        sed -n 's/^{"requests":\([0-9]*\).*/\1/p'
}

CHECKS=0
# GET the page once: sets GOT (code and size), HEAD_TXT, BODY_FILE, ORIGIN_DELTA.
get_page() { # scenario target
    local s=$1 t=$2 url before after
    url="http://127.0.0.1:${PORT[$t]}$(page_path "$s")"
    CHECKS=$((CHECKS + 1))
    unique "$s" && url+="?k=check.$t.$CHECKS"
    BODY_FILE="$RUN/page-$s-$t.html"
    before=$(origin_requests)
    GOT=$("$CURL" -s --max-time 10 -D "$RUN/head.txt" -o "$BODY_FILE" -w '%{http_code} %{size_download}' "$url" 2>/dev/null) || true
    after=$(origin_requests)
    HEAD_TXT=$(tr -d '\r' <"$RUN/head.txt" 2>/dev/null || true)
    ORIGIN_DELTA=$((after - before))
}

is_hit() { # target head
    case "$1" in
        tessera) grep -qiE '^Cache-Status:[^;]*;[[:space:]]*hit([;[:space:]]|$)' <<<"$2" ;;
        nginx-ssi) grep -qiE '^X-Cache:[[:space:]]*HIT' <<<"$2" ;;
        varnish-esi) grep -qiE '^X-Varnish:[[:space:]]*[0-9]+[[:space:]]+[0-9]+' <<<"$2" ;;
    esac
}

cache_fields() { grep -iE '^(HTTP/|Cache-Status|X-Cache|X-Varnish|Age)' <<<"$1" | paste -sd ' ' -; }

declare -A PAGE_BYTES=()
# The page must be right, and hit or miss as the scenario says; sets WHY.
check_page() { # scenario target
    local s=$1 t=$2 name m missing="" size
    get_page "$s" "$t"
    if [ "${GOT%% *}" != 200 ]; then WHY="GET $(page_path "$s") answered '${GOT:-nothing}'"; return 1; fi
    size=${GOT#* }
    for name in "${FRAGMENTS[@]}"; do
        m=${MARKER[$name]}
        [ "$t" = tessera ] && m=$(html_escape "$m")
        grep -qF -- "$m" "$BODY_FILE" || missing+=" $name ('$m')"
    done
    if [ -n "$missing" ]; then WHY="the page lacks the marker of$missing (see $BODY_FILE)"; return 1; fi
    if [ "$ORIGIN_DELTA" != 6 ]; then
        WHY="composing the page took $ORIGIN_DELTA origin requests, not 6 ($(cache_fields "$HEAD_TXT"))"
        return 1
    fi
    get_page "$s" "$t"
    if [ "${GOT%% *}" != 200 ] || [ "${GOT#* }" != "$size" ]; then
        WHY="a second GET answered '${GOT:-nothing}', the first '200 $size'"
        return 1
    fi
    if [ "$s" = hot ]; then
        if ! is_hit "$t" "$HEAD_TXT" || [ "$ORIGIN_DELTA" != 0 ]; then
            WHY="a second GET was not a hit: $ORIGIN_DELTA origin requests, $(cache_fields "$HEAD_TXT")"
            return 1
        fi
    elif is_hit "$t" "$HEAD_TXT" || [ "$ORIGIN_DELTA" != 6 ]; then
        WHY="a GET with a new k was not a miss: $ORIGIN_DELTA origin requests, $(cache_fields "$HEAD_TXT")"
        return 1
    fi
    PAGE_BYTES[$s/$t]=$size
    return 0
}

# ---- other load on the machine (as in run-cache.sh) ----
# Around every timed run we read the CPU time of every process (/proc/PID/stat)
# and add up what the processes neither descended from this script nor kernel
# threads used in the meantime; a process that started during the run counts
# from zero. As a share of the run's CPU capacity it is the "other CPU" column:
# 0 on a quiet machine, and a lower bound (a process that starts and ends within
# the run is not seen). With --keep, other-cpu-SCENARIO-TARGET-ROUND.txt lists
# the busiest (ticks, pid, name).
CLK_TCK=$(getconf CLK_TCK 2>/dev/null || echo 100)
NCPU=$(nproc --all) # the whole machine, also under --pin

cpu_snapshot() { # file: "machine TICKS", then "PID CLASS TICKS COMM PPID" per process
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

other_cpu_end() { # name -> OTHER_PCT
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

# CPU time (ms) that the processes $2... and their descendants used between
# the two snapshots of run $1.
server_cpu_ms() { # name root-pid...
    local name=$1
    shift
    awk -v roots="$*" -v hz="$CLK_TCK" '
        BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) isroot[r[i]] = 1 }
        FNR == 1 { file++ }
        $1 == "machine" { next }
        file == 1 { before[$1] = $3; next }
        { t[$1] = $3 - (($1 in before) ? before[$1] : 0); ppid[$1] = $5 }
        END {
            for (p in t) {
                q = p
                for (k = 0; k < 64 && q != "" && q != "0" && !(q in isroot); k++) q = ppid[q]
                if (q in isroot) sum += t[p]
            }
            printf "%.0f", sum * 1000 / hz }' "$RUN/cpu-$name.0" "$RUN/cpu-$name.1"
}

# ---- measuring ----
declare -A READY=() FAILED_WHY=()
declare -A R_RPS=() R_P50=() R_P99=() R_ERRORS=() R_ORIGIN=() R_OTHER=() R_CPU_US=() R_ORIGIN_CPU_US=() R_REQS=()
declare -A RPS=() P50=() P99=() ERRORS=() ORIGIN_PER_PAGE=() OTHER_CPU=() EACH_RPS=() CPU_US=() ORIGIN_CPU_US=()
PERF_REPORTS=()
ORIGIN_PID=""

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
    # Flat profile (self time), by library, then with children (inclusive).
    "$PERF_BIN" report -i "$data" --stdio --no-children -g none --sort dso,symbol \
        --percent-limit 0.3 >"$rep" 2>/dev/null || true
    "$PERF_BIN" report -i "$data" --stdio --no-children -g none --sort dso \
        --percent-limit 0.3 >"$RUN/perf-$1-dso.txt" 2>/dev/null || true
    "$PERF_BIN" report -i "$data" --stdio --children -g none --sort symbol \
        --percent-limit 2 >"$RUN/perf-$1-children.txt" 2>/dev/null || true
    PERF_REPORTS+=("$1:$rep")
}

# One timed wrk run (after an untimed one of --warmup); results in the R_*
# arrays under s/t/round.
measure() { # scenario target round
    local s=$1 t=$2 r=$3 out="$RUN/wrk-$1-$2-$3.txt" json before after uniq=0 url
    local k=$1/$2/$3 conns=$CONNECTIONS threads=$THREADS
    url="http://127.0.0.1:${PORT[$2]}$(page_path "$1")"
    unique "$s" && uniq=1
    if [ "$s" = latency ]; then conns=$LAT_CONNECTIONS; threads=$LAT_THREADS; fi

    if [ "$WARMUP" != 0 ] && [ "$WARMUP" != 0s ]; then
        WRK_UNIQUE=$uniq WRK_KEY_PREFIX="w-$s-$t-$r" run_bg /dev/null "${LOAD_PIN[@]}" "$WRK" -t"$threads" \
            -c"$conns" -d"$WARMUP" -s "$HERE/compose-get.lua" "$url" || true
    fi
    log "$s, round $r/$ROUNDS: wrk -t$threads -c$conns -d$DURATION against $t"
    before=$(origin_requests)
    local profile=0
    [ "$PERF" = 1 ] && [ "$t" = tessera ] && [ "$r" = 1 ] && profile=1
    [ "$profile" = 1 ] && perf_start "$s"
    other_cpu_start "$s-$t-$r"
    if ! WRK_TARGET=$t WRK_UNIQUE=$uniq WRK_KEY_PREFIX="$s-$t-$r" run_bg "$out" "${LOAD_PIN[@]}" "$WRK" \
        -t"$threads" -c"$conns" -d"$DURATION" --latency -s "$HERE/compose-get.lua" "$url"; then
        FAILED_WHY[$s/$t]="failed: wrk exited non-zero (see $out)"
        KEEP=1
        return
    fi
    other_cpu_end "$s-$t-$r"
    after=$(origin_requests)
    [ "$profile" = 1 ] && perf_finish "$s"
    json=$(grep -m1 '^{"target"' "$out" || true)
    if [ -z "$json" ]; then
        FAILED_WHY[$s/$t]="failed: no result line from wrk (see $out)"
        KEEP=1
        return
    fi
    field() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p" <<<"$json"; }
    local n
    n=$(field requests)
    R_REQS[$k]=$n
    R_RPS[$k]=$(field rps)
    R_P50[$k]=$(field p50_ms)
    R_P99[$k]=$(field p99_ms)
    R_ERRORS[$k]=$(field errors)
    R_ORIGIN[$k]=$((after - before))
    R_OTHER[$k]=$OTHER_PCT
    # CPU per page, in microseconds: the processes' CPU time over the pages wrk
    # counted (requests still in flight when wrk stops are a rounding error).
    # shellcheck disable=SC2086  # ROOTS holds one or two pids
    R_CPU_US[$k]=$(awk -v ms="$(server_cpu_ms "$s-$t-$r" ${ROOTS[$t]})" -v n="$n" \
        'BEGIN { if (n > 0) printf "%.1f", ms * 1000 / n }')
    R_ORIGIN_CPU_US[$k]=$(awk -v ms="$(server_cpu_ms "$s-$t-$r" "$ORIGIN_PID")" -v n="$n" \
        'BEGIN { if (n > 0) printf "%.1f", ms * 1000 / n }')
}

median() { # numbers... -> their median
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# Over the rounds of s/t: the medians of req/s, p50, p99 and CPU per page; the
# sum of errors; origin requests per page over all rounds; the highest
# other-CPU share; and each round's req/s, other-CPU share and CPU per page (a
# round slower at the same CPU per page lost CPU to something else; one with
# more CPU per page did more work, e.g. evictions once a cold cache is full).
aggregate() { # scenario target
    local s=$1 t=$2 r rps=() p50=() p99=() cpu=() ocpu=() errors=0 origin=0 reqs=0 other=0 each=""
    for ((r = 1; r <= ROUNDS; r++)); do
        [ -n "${R_RPS[$s/$t/$r]:-}" ] || return 0 # a failed round: no row
        rps+=("${R_RPS[$s/$t/$r]}")
        p50+=("${R_P50[$s/$t/$r]}")
        p99+=("${R_P99[$s/$t/$r]}")
        cpu+=("${R_CPU_US[$s/$t/$r]}")
        ocpu+=("${R_ORIGIN_CPU_US[$s/$t/$r]}")
        errors=$((errors + R_ERRORS[$s/$t/$r]))
        origin=$((origin + R_ORIGIN[$s/$t/$r]))
        reqs=$((reqs + R_REQS[$s/$t/$r]))
        [ "${R_OTHER[$s/$t/$r]}" -gt "$other" ] && other=${R_OTHER[$s/$t/$r]}
        each+="$(printf '%.0f' "${R_RPS[$s/$t/$r]}") (${R_OTHER[$s/$t/$r]}%, ${R_CPU_US[$s/$t/$r]}), "
    done
    RPS[$s/$t]=$(median "${rps[@]}")
    P50[$s/$t]=$(median "${p50[@]}")
    P99[$s/$t]=$(median "${p99[@]}")
    CPU_US[$s/$t]=$(printf '%.1f' "$(median "${cpu[@]}")")
    ORIGIN_CPU_US[$s/$t]=$(printf '%.1f' "$(median "${ocpu[@]}")")
    ERRORS[$s/$t]=$errors
    ORIGIN_PER_PAGE[$s/$t]=$(awk -v o="$origin" -v n="$reqs" 'BEGIN { if (n > 0) printf "%.2f", o / n; else print "n/a" }')
    OTHER_CPU[$s/$t]=$other
    EACH_RPS[$s/$t]=${each%, }
}

# ---- main ----
start_origin
ORIGIN_PID=${PIDS[0]}
if [ "$PIN" = 1 ]; then
    # All of the origin's threads to CPU 0, beside wrk (see --pin above).
    "$TASKSET" -a -p -c 0 "$ORIGIN_PID" >/dev/null
fi
pick_markers
log "markers: $(for n in "${FRAGMENTS[@]}"; do printf '%s=%s; ' "$n" "${MARKER[$n]}"; done)"
want tessera && start_tessera
if want nginx-ssi || want varnish-esi; then start_nginx_ssi; fi
want nginx-ssi && [ "$NGINX_STATUS" != ok ] && STATUS[nginx-ssi]=$NGINX_STATUS
want varnish-esi && start_varnish_esi

# Per scenario: check every target, then the rounds, each timing every target
# once in turn (a passing disturbance then spoils one round of each rather
# than every round of one).
for s in hot cold latency; do
    want_scenario "$s" || continue
    for t in "${ORDER[@]}"; do
        if ! want "$t" || [ "${STATUS[$t]:-}" != ok ]; then continue; fi
        if check_page "$s" "$t"; then
            READY[$s/$t]=1
            log "$t, $s: page ok (${PAGE_BYTES[$s/$t]} bytes, six markers; $([ "$s" = hot ] && echo "second GET a hit" || echo "a new k a miss, 6 origin requests"))"
        else
            FAILED_WHY[$s/$t]="skipped: $WHY"
            log "$t, $s: $WHY"
            KEEP=1
        fi
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
    case "$1" in
        hot) echo "hot: cached page" ;;
        cold) echo "cold: page and fragments miss" ;;
        latency) echo "latency: fragments +${DELAY_MS} ms, c$LAT_CONNECTIONS" ;;
    esac
}

row_missing() { # scenario target
    if [ "${STATUS[$2]:-}" != ok ]; then echo "${STATUS[$2]:-not run}"; else echo "${FAILED_WHY[$1/$2]:-not run}"; fi
}

rps_ratio() { ratio "${RPS[$1/tessera]:-}" "${RPS[$1/$2]:-}"; }
p50_ratio() { ratio "${P50[$1/tessera]:-}" "${P50[$1/$2]:-}"; }
cpu_ratio() { ratio "${CPU_US[$1/$2]:-}" "${CPU_US[$1/tessera]:-}"; } # this / tessera: how much more CPU a page costs
verdict() { # value op bound -> "met" / "NOT met" / ""
    [ "$1" = n/a ] && return
    awk -v v="$1" -v b="$3" -v op="$2" 'BEGIN {
        ok = (op == ">=") ? (v >= b) : (v <= b); print ok ? "met" : "NOT met" }'
}
GOAL_P50=$((DELAY_MS + 2))
whole() { [ -n "$1" ] && printf '%.0f' "$1"; return 0; } # req/s, or nothing
less() { # peer-cpu tessera-cpu -> "N.NN less", or n/a
    local r
    r=$(ratio "$1" "$2")
    if [ "$r" = n/a ]; then echo n/a; else echo "$r less"; fi
}

TABLE=$(
    echo "| scenario | target | req/s | p50 ms | p99 ms | errors | page bytes | origin req/page | server CPU µs/page | origin CPU µs/page | other CPU % | tessera/this req/s | this/tessera CPU per page | req/s per round (other CPU %, server CPU µs/page) |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    for s in hot cold latency; do
        want_scenario "$s" || continue
        for t in "${ORDER[@]}"; do
            want "$t" || continue
            if [ -n "${RPS[$s/$t]:-}" ]; then
                printf '| %s | %s | %.0f | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
                    "$(scenario_name "$s")" "$t" "${RPS[$s/$t]}" "${P50[$s/$t]}" "${P99[$s/$t]}" \
                    "${ERRORS[$s/$t]}" "${PAGE_BYTES[$s/$t]}" "${ORIGIN_PER_PAGE[$s/$t]}" \
                    "${CPU_US[$s/$t]}" "${ORIGIN_CPU_US[$s/$t]}" "${OTHER_CPU[$s/$t]}" \
                    "$(rps_ratio "$s" "$t")" "$(cpu_ratio "$s" "$t")" "${EACH_RPS[$s/$t]}"
            else
                printf '| %s | %s | %s | | | | | | | | | | | |\n' "$(scenario_name "$s")" "$t" "$(row_missing "$s" "$t")"
            fi
        done
    done
)

# The composition issue's targets: Tessera's req/s at least 2.5x nginx + SSI's
# on the hot page and 2x on cold pages; its p50 at most DELAY+2 ms (22 ms) with
# every fragment DELAY ms slow. Varnish + ESI is there for comparison.
GOALS=$(
    echo "| scenario | goal | measure | tessera | nginx-ssi | varnish-esi | tessera/nginx-ssi | tessera/varnish-esi | verdict |"
    echo "|---|---|---|---:|---:|---:|---:|---:|---|"
    for s in hot cold; do
        want_scenario "$s" || continue
        bound=2.5
        [ "$s" = cold ] && bound=2
        a=$(rps_ratio "$s" nginx-ssi) b=$(rps_ratio "$s" varnish-esi)
        printf '| %s | tessera/nginx-ssi req/s >= %s | req/s | %s | %s | %s | %s | %s | %s |\n' "$s" "$bound" \
            "$(whole "${RPS[$s/tessera]:-}")" "$(whole "${RPS[$s/nginx-ssi]:-}")" \
            "$(whole "${RPS[$s/varnish-esi]:-}")" "$a" "$b" "$(verdict "$a" ">=" "$bound")"
        printf '| %s | (server CPU per page) | µs/page | %s | %s | %s | %s | %s | |\n' "$s" \
            "${CPU_US[$s/tessera]:-}" "${CPU_US[$s/nginx-ssi]:-}" "${CPU_US[$s/varnish-esi]:-}" \
            "$(less "${CPU_US[$s/nginx-ssi]:-}" "${CPU_US[$s/tessera]:-}")" \
            "$(less "${CPU_US[$s/varnish-esi]:-}" "${CPU_US[$s/tessera]:-}")"
    done
    if want_scenario latency; then
        v=""
        [ -n "${P50[latency/tessera]:-}" ] && v=$(verdict "${P50[latency/tessera]}" "<=" "$GOAL_P50")
        printf '| latency | tessera p50 <= %s ms | p50 ms | %s | %s | %s | %s | %s | %s |\n' "$GOAL_P50" \
            "${P50[latency/tessera]:-}" "${P50[latency/nginx-ssi]:-}" "${P50[latency/varnish-esi]:-}" \
            "$(p50_ratio latency nginx-ssi)" "$(p50_ratio latency varnish-esi)" "$v"
    fi
)

NOTES="- \"X less\" in the CPU rows: the peer's server CPU per page over Tessera's (how many times less CPU Tessera spends per page)"
if want_scenario latency; then
    NOTES+=$'\n'"- latency: at $LAT_CONNECTIONS connections the servers are mostly idle, waiting for the origin: CPU per page there includes their idle wake-ups and compares nothing"
fi
if [ "$PIN" = 1 ]; then
    NOTES+=$'\n'"- pinned: the target on CPU 1, wrk and the origin on CPU 0 (cold and latency cost the origin 6 requests per page)"
fi
for s in hot cold latency; do
    want_scenario "$s" || continue
    for t in "${ORDER[@]}"; do
        if [ -n "${RPS[$s/$t]:-}" ] && [ "${ERRORS[$s/$t]}" != 0 ]; then
            NOTES+=$'\n'"- $t, $s: ${ERRORS[$s/$t]} errors (socket errors or non-2xx answers; see wrk-$s-$t-*.txt with --keep)"
        fi
    done
done

echo
echo "$TABLE"
echo
echo "$GOALS"
echo
echo "$NOTES"

if [ "$PERF" = 1 ]; then
    for pr in "${PERF_REPORTS[@]}"; do
        echo
        rep=${pr#*:}
        echo "perf, tessera, ${pr%%:*}: share by library (${rep%.txt}-dso.txt):"
        grep -E '^ +[0-9]' "${rep%.txt}-dso.txt" | sed 's/[[:space:]-]*$//' | head -n 8
        echo "top symbols by self time (all: $rep; inclusive: ${rep%.txt}-children.txt; call graphs: perf report -i ${rep%.txt}.data):"
        grep -E '^ +[0-9]' "$rep" | sed 's/[[:space:]-]*$//' | head -n 25
    done
fi

if [ "$RECORD" = 1 ]; then
    COMMIT=$(tessera_commit)
    VERSIONS=()
    [ -n "$NGINX" ] && VERSIONS+=("$(first_line "$NGINX" -v)")
    [ -n "$VARNISHD" ] && VERSIONS+=("$(first_line "$VARNISHD" -V)")
    VERSIONS+=("$(first_line "$WRK" -v | sed 's/ *Copyright.*//')" "tessera $COMMIT")
    {
        echo
        echo "## $(date -u +%Y-%m-%dT%H:%M:%SZ) — composed pages: Tessera vs nginx SSI vs Varnish ESI (hot, cold, latency), $CONNECTIONS connections, $DURATION"
        echo
        echo "- command: \`$COMMAND\`"
        echo "- date: $(date -u)"
        machine_line
        echo "- load average before the run: $LOAD_AT_START"
        echo "- versions: $(IFS=';'; echo "${VERSIONS[*]}" | sed 's/;/; /g')"
        echo "- setup: wrk -t$THREADS -c$CONNECTIONS -d$DURATION (latency: -t$LAT_THREADS -c$LAT_CONNECTIONS) after a $WARMUP warm-up, keep-alive, loadtest/compose-get.lua, $ROUNDS round(s) per target taken round-robin (req/s, p50, p99, CPU: medians over the rounds; errors: sums; origin req/page over all rounds; other CPU %: the highest); $WORKERS workers for tessera, nginx and the origin (Varnish thread_pools=$WORKERS); $ORIGIN_KEEPALIVE idle origin connections per worker (tessera, nginx); all on 127.0.0.1, $([ "$PIN" = 1 ] && echo "pinned: the target on CPU 1, wrk and the origin on CPU 0" || echo "sharing the same CPUs")"
        echo "- page: product $PRODUCT_ID from /api/product/$PRODUCT_ID, /api/price/$PRODUCT_ID, /api/reviews/$PRODUCT_ID, /api/recs/$PRODUCT_ID, /api/nav, /api/footer; tessera renders every fragment's data into HTML with a Mustache template (a page route per scenario like conf/tessera.lua's /product/:id, cache ttl 600s); nginx-ssi (peers/nginx-ssi.conf; its page cache on ${NGINX_CACHE_FS:-n/a}) and varnish-esi (peers/varnish-esi.vcl, -s malloc,256m) include the same six URLs into a static skeleton and insert the JSON as it is (no templating; the skeletons for Varnish come from the same nginx, whose CPU counts in Varnish's rows)"
        echo "- scenarios: hot GET /hot/$PRODUCT_ID, fragments ?$HOT_QUERY (page cached: tessera's page cache, nginx proxy_cache in front of its SSI server; Varnish caches the skeleton and each fragment and assembles every request); cold GET /cold/$PRODUCT_ID?k=UNIQUE, fragments ?$COLD_QUERY&k=UNIQUE (every page and fragment a miss; each page is stored by every target, fragments by none); latency as cold with delay=$DELAY_MS on every fragment; each page checked (200, a marker of each fragment, 6 origin requests; hot: then a hit; cold, latency: a new k a miss) before timing; \"origin req/page\" = origin requests during the timed runs over pages; CPU µs/page = user+system CPU time (/proc/PID/stat) over pages (irq and softirq time not included)"
        echo
        echo "$TABLE"
        echo
        echo "$GOALS"
        echo
        echo "$NOTES"
    } >>"$HERE/RESULTS.md"
    log "appended to loadtest/RESULTS.md"
fi
