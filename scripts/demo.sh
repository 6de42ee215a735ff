#!/usr/bin/env bash
# demo.sh - the one-command local demo: a local ACME CA (Pebble) and DNS server
# (pebble-challtestsrv), `autocert serve -c configs/demo.yml` issuing demo.test +
# *.demo.test (main) and api.demo.test (extra), then `autocert list`, an HTTPS
# request through the SNI listener and the admin API's certificate info.
#
#   scripts/demo.sh          keeps running; Ctrl-C stops everything it started
#   scripts/demo.sh --once   stops everything and exits 0 after the checks
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
ONCE=0
case "${1:-}" in
  --once) ONCE=1 ;;
  "") ;;
  -h|--help) sed -n '2,8p' "$0"; exit 0 ;;
  *) echo "usage: scripts/demo.sh [--once]" >&2; exit 2 ;;
esac

step() { printf '\n==> %s\n' "$*"; }

step "dependencies"
bash "$ROOT/scripts/setup-deps.sh"

# AUTOCERT_BIN=path uses an already built autocert; otherwise build/ is
# configured (Release) when new and brought up to date.
BIN=${AUTOCERT_BIN:-}
if [ -z "$BIN" ]; then
  step "building autocert (Release, build/)"
  if [ ! -f "$ROOT/build/CMakeCache.txt" ]; then
    cmake -S "$ROOT" -B "$ROOT/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  fi
  cmake --build "$ROOT/build" -j"$(nproc)" --target autocert >/dev/null
  BIN=$ROOT/build/admin/autocert
fi

export AUTOCERT_SOURCE_DIR=$ROOT
source "$ROOT/scripts/testenv.sh"
testenv_init
step "starting pebble-challtestsrv and Pebble on loopback"
start_challtestsrv
start_pebble
export PEBBLE_DIR_URL PEBBLE_CA_CERT CHALLTESTSRV_URL CHALLTESTSRV_DNS_PORT

ADMIN_PORT=$(free_port)
SERVE_PORT=$(free_port)
export DEMO_ADMIN_LISTEN=127.0.0.1:$ADMIN_PORT DEMO_SERVE_LISTEN=127.0.0.1:$SERVE_PORT
WORK=$TESTENV_DIR/demo-work
mkdir -p "$WORK"
cp "$ROOT/configs/demo.yml" "$WORK/demo.yml"
cd "$WORK"
"$BIN" check -c demo.yml > /dev/null

step "autocert serve -c configs/demo.yml (admin API on $DEMO_ADMIN_LISTEN, TLS on $DEMO_SERVE_LISTEN)"
testenv_spawn autocert "$BIN" serve -c demo.yml
ADMIN=http://$DEMO_ADMIN_LISTEN
wait_until 20 curl -sf "$ADMIN/healthz" > /dev/null || { cat "$TESTENV_DIR/autocert.log"; fail "admin API did not come up"; }
issued() { [ "$(curl -sf "$ADMIN/api/v1/cert/status" | grep -o '"state":"valid"' | wc -l)" -ge 2 ]; }
printf 'waiting for issuance'
wait_until 120 issued || { cat "$TESTENV_DIR/autocert.log"; fail "certificates not issued in time"; }
echo " done"

step "autocert list --admin $ADMIN"
"$BIN" list --admin "$ADMIN"

step "curl https://api.demo.test:$SERVE_PORT/ (SNI listener, trusting Pebble's root)"
pebble_root "$TESTENV_DIR/pebble-root.pem"
curl -sS --fail --resolve "api.demo.test:$SERVE_PORT:127.0.0.1" --cacert "$TESTENV_DIR/pebble-root.pem" \
  "https://api.demo.test:$SERVE_PORT/"
echo

step "curl $ADMIN/api/v1/cert/info"
curl -sS --fail "$ADMIN/api/v1/cert/info" | python3 -m json.tool

if [ "$ONCE" = 1 ]; then
  step "--once: stopping everything"
  exit 0
fi
cat <<MSG

The demo is running:
  admin API   $ADMIN  (try: curl $ADMIN/metrics, curl -N $ADMIN/api/v1/cert/renew)
  TLS         https://*.demo.test:$SERVE_PORT/  (curl --resolve x.demo.test:$SERVE_PORT:127.0.0.1 --cacert $TESTENV_DIR/pebble-root.pem ...)
  CLI         $BIN list --admin $ADMIN
Press Ctrl-C to stop everything the demo started.
MSG
while :; do sleep 3600 & wait $! || break; done
