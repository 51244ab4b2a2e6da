#!/usr/bin/env bash
# Makes the demo's self-signed certificate, conf/tls/edge.pem with its key
# conf/tls/edge.key (EC P-256, one year, for localhost and 127.0.0.1), unless both
# already exist. The key never belongs in git: conf/tls/ is generated, not source.
# Usage: tools/mkcert.sh [DIR]   (DIR defaults to conf/tls)
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-conf/tls}
pem=$dir/edge.pem
key=$dir/edge.key

if [ -s "$pem" ] && [ -s "$key" ]; then
  echo "mkcert: $pem and $key exist, keeping them"
  exit 0
fi
command -v openssl >/dev/null || { echo "mkcert: openssl is needed (tools/deps.sh)" >&2; exit 1; }

mkdir -p "$dir"
# The key is written under a temporary name with a private umask, and both files
# are renamed into place only once openssl has succeeded.
umask 077
tmp=$(mktemp -d "$dir/.mkcert.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
  -subj /CN=localhost -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  -keyout "$tmp/edge.key" -out "$tmp/edge.pem" 2>"$tmp/log" ||
  { cat "$tmp/log" >&2; exit 1; }
chmod 644 "$tmp/edge.pem"
mv "$tmp/edge.key" "$key"
mv "$tmp/edge.pem" "$pem"

echo "mkcert: made a self-signed certificate for localhost and 127.0.0.1:"
echo "  $pem  ($(openssl x509 -in "$pem" -noout -enddate | sed 's/notAfter=/valid until /'))"
echo "  $key  (EC P-256, unencrypted, mode 600)"
echo "  fingerprint $(openssl x509 -in "$pem" -noout -fingerprint -sha256 | cut -d= -f2)"
