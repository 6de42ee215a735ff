#!/usr/bin/env bash
# Installs everything the build, the tests, the benchmarks and the demo need on
# Debian 12. Idempotent: skips apt entirely when every package is present.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config
  libgnutls28-dev libcurl4-gnutls-dev libjson-c-dev libcyaml-dev libyaml-dev
  libmicrohttpd-dev libldns-dev libcmocka-dev
  # registered domains for the renewal budgets (libpsl reads publicsuffix's list)
  libpsl-dev publicsuffix
  # the PostgreSQL store (libpq, linked into libautocert) and the server its
  # tests start (initdb/pg_ctl under /usr/lib/postgresql/<version>/bin)
  libpq-dev postgresql
  # libautocert_openssl (lib/openssl/): required, the build fails without it
  libssl-dev
  # what `pkg-config --static --libs autocert` names through GnuTLS's and
  # libcurl's own Libs.private (tests/integration/test_install.sh links it)
  libunistring-dev libnghttp2-dev librtmp-dev libssh2-1-dev libkrb5-dev
  libldap-dev libzstd-dev
  gnutls-bin curl ca-certificates python3 python3-cryptography openssl
  pebble knot knot-dnsutils ldnsutils
  clang libclang-rt-14-dev
  prometheus lego
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "setup-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# Debian starts services on install where it can; the tests start their own
# instances on free loopback ports, so stop the packaged ones if they run.
for svc in prometheus knot; do
  if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet "$svc" 2>/dev/null; then
    $SUDO systemctl stop "$svc" || true
  fi
done
