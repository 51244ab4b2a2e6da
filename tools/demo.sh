#!/usr/bin/env bash
# Installs what is missing, builds, and starts the demo: the demo origin on
# 127.0.0.1:9000 and Tessera on 127.0.0.1:8080 in front of it (conf/tessera.lua,
# memory only). Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
tools/mkcert.sh >/dev/null
# The admin API's purge token (admin.token_file), made once, readable by us only.
if [ ! -s conf/admin.token ]; then
  (umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >conf/admin.token)
fi
tools/build.sh
build/tessera -t -c conf/tessera.lua

pids=()
stop() {
  trap - INT TERM EXIT
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  echo "demo stopped"
}
trap stop INT TERM EXIT

build/tessera-origin -l 127.0.0.1:9000 -q &
pids+=($!)
build/tessera -c conf/tessera.lua &
pids+=($!)

for _ in $(seq 50); do
  if curl -fs -o /dev/null http://127.0.0.1:8080/api/nav; then break; fi
  sleep 0.1
done
cat <<MSG

Tessera demo is up (Ctrl-C stops it):
  open http://127.0.0.1:8080/ in a browser                               (the demo shop)
  curl -s http://127.0.0.1:8080/product/1                                (a page: web)
  curl -s -H 'X-Channel: mobile' http://127.0.0.1:8080/product/1         (mobile HTML)
  curl -s -H 'X-Channel: app' http://127.0.0.1:8080/product/1            (app: JSON view-model)
  curl -si http://127.0.0.1:8080/product/1 | grep -i 'cache-status\|surrogate-key'
  curl -s http://127.0.0.1:8080/api/product/1
  curl -s --http2-prior-knowledge http://127.0.0.1:8080/api/product/1     (h2c)
  curl -sk --http2 https://127.0.0.1:8443/api/product/1                  (h2 over TLS)
  nghttp -nv https://127.0.0.1:8443/api/nav                              (the h2 session)
  curl -si http://127.0.0.1:8080/api/product/1 | grep Cache-Status       (twice: miss, then hit)
  curl -s http://127.0.0.1:9901/metrics                                  (Prometheus text)
  curl -s -H "Authorization: Bearer \$(cat conf/admin.token)" -d tag=product-1 \\
       http://127.0.0.1:9901/purge                     (purge every page built from product 1)
  curl -s -X PURGE http://127.0.0.1:8080/product/1                      (purge one URL, all variants)
  curl -s http://127.0.0.1:8080/api/reviews/42
  curl -si http://127.0.0.1:8080/api/price/7
  curl -s http://127.0.0.1:8080/api/nav
  curl -si http://127.0.0.1:8080/nope/404        (the origin's own 404, through Tessera)
  kill -HUP \$(pgrep -f 'build/tessera -c')       (reload conf/tessera.lua)

MSG
wait
