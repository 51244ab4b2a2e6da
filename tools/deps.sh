#!/usr/bin/env bash
# Installs the Debian 12 packages Tessera needs that are missing.
#   tools/deps.sh            build + test suite packages
#   tools/deps.sh loadtest   also the load-test tools and peers (wrk, nginx, varnish)
# As root it runs apt-get itself; otherwise it prints the `sudo apt-get install` line.
set -euo pipefail

pkgs=(gcc make cmake pkg-config libevent-dev libluajit2-5.1-dev libxxhash-dev
      libnghttp2-dev libmbedtls-dev libjansson-dev zlib1g-dev libbrotli-dev libhiredis-dev
      redis-server openssl nghttp2-client
      clang libclang-rt-14-dev curl netcat-openbsd)
command -v node >/dev/null 2>&1 || pkgs+=(nodejs)
if [ "${1:-}" = "loadtest" ]; then
  pkgs+=(wrk nginx-light varnish)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "Tessera needs these packages; run:" >&2
  echo "  sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "installing: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Package post-install scripts may start system services; Tessera's tests and
# load tests start their own copies on other ports.
for svc in nginx varnish redis-server; do
  if [[ " ${missing[*]} " == *" $svc"* ]] && command -v systemctl >/dev/null; then
    systemctl stop "$svc" >/dev/null 2>&1 || true
  fi
done
