#!/usr/bin/env bash
# test_gateway_openssl.sh - examples/gateway-openssl, the OpenSSL twin of the
# gateway (libautocert_openssl), built in the tree: against Pebble +
# challtestsrv, with no certificate on disk, the engine obtains main and an
# extra; `openssl s_client -servername` gets each one by SNI with a chain that
# verifies against Pebble's root; without SNI main is served; the host's ALPN
# callback answers (http/1.1) and an acme-tls/1 offer with no challenge
# pending gets the set's certificate and no protocol; a POST
# /api/v1/cert/renew on the gateway's own admin API changes the served serial
# without a restart. The binary is required: a build without OpenSSL fails
# here, it is not skipped.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
source "$(dirname "$0")/serve_lib.sh"
GW=${AUTOCERT_BUILD_DIR:?}/examples/gateway-openssl
[[ -x "$GW" ]] || fail "no $GW: the OpenSSL gateway was not built"
testenv_init
start_challtestsrv
start_pebble
cd "$TESTENV_DIR"
pebble_root root.pem

# ossl_serial PORT SNI|"" [NAME [S_CLIENT ARGS...]]: serial (lowercase hex) of the leaf served to
# openssl s_client (no SNI when SNI is empty), the chain verified against
# Pebble's root for the name expected; empty when the handshake fails.
ossl_serial() {
  local port=$1 sni=$2 name=${3:-$2} out
  local args=(-connect "127.0.0.1:$port" -CAfile root.pem -verify_return_error
              -verify_hostname "$name")
  if [[ -n "$sni" ]]; then args+=(-servername "$sni"); else args+=(-noservername); fi
  args+=("${@:4}")
  out=$(openssl s_client "${args[@]}" </dev/null 2>/dev/null) || return 0
  printf '%s\n' "$out" | openssl x509 -noout -serial 2>/dev/null | sed 's/^serial=//' | norm
}
# a serial as lowercase hex without separators or leading zeros
norm() { tr -d ':\n' | tr 'A-F' 'a-f' | sed 's/^0*//'; }
ossl_ok() { [[ -n "$(ossl_serial "$@")" ]]; }

APORT=$(free_port)
TOKEN=gateway-openssl-admin-token-0123
write_config g.yml challtestsrv '[example.test]' \
  "  extra:" "    - domains: [api.example.test]" \
  "      cert_path: certs/api.crt" "      key_path: certs/api.key"
sed -i "s/^  listen: 127.0.0.1:.*/  listen: 127.0.0.1:$APORT\n  token: $TOKEN/" g.yml
PORT=$(free_port)
testenv_spawn gateway-openssl "$GW" -c g.yml --listen "127.0.0.1:$PORT"
GW_PID=$TESTENV_LAST_PID

# --- obtained by the engine, served by SNI through OpenSSL --------------------------
wait_until 90 ossl_ok "$PORT" example.test || { cat gateway-openssl.log >&2; fail "main never served"; }
wait_until 60 ossl_ok "$PORT" api.example.test ||
  { cat gateway-openssl.log >&2; fail "extra never served"; }
check_pair certs/cert.crt certs/priv.key root.pem example.test
check_pair certs/api.crt certs/api.key root.pem api.example.test
s_main=$(serial_of certs/cert.crt | norm)
s_api=$(serial_of certs/api.crt | norm)
assert_eq "$s_main" "$(ossl_serial "$PORT" example.test)" "SNI example.test gets main"
assert_eq "$s_api" "$(ossl_serial "$PORT" api.example.test)" "SNI api.example.test gets the extra"
assert_eq "$s_main" "$(ossl_serial "$PORT" "" example.test)" "no SNI gets main"
assert_eq "$s_main" "$(ossl_serial "$PORT" other.example.test example.test)" \
  "an unknown name gets main"
assert_contains "$(hello "$PORT" api.example.test root.pem)" \
  "hello api.example.test from api.example.test" "the extra answers"
assert_contains "$(curl -fsS --max-time 5 -k "https://127.0.0.1:$PORT/")" \
  "hello (no sni) from example.test" "no SNI answers with main"

# --- ALPN: the host's callback chooses; acme-tls/1 without a challenge: normal ------
out=$(openssl s_client -connect "127.0.0.1:$PORT" -servername example.test -alpn h2,http/1.1 \
      </dev/null 2>/dev/null || true)
assert_contains "$out" "ALPN protocol: http/1.1" "the host's ALPN callback"
out=$(openssl s_client -connect "127.0.0.1:$PORT" -servername example.test -alpn acme-tls/1 \
      </dev/null 2>&1 || true)
assert_contains "$out" "No ALPN negotiated" "acme-tls/1 without a pending challenge: not selected"
assert_eq "$s_main" "$(ossl_serial "$PORT" example.test example.test -alpn acme-tls/1)" \
  "acme-tls/1 without a pending challenge: the set's certificate"

# --- the admin API of the same process: a forced renewal changes the serial -----------
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$APORT/api/v1/cert/renew?name=main")
assert_eq 401 "$code" "renewal without the token"
out=$(curl -s --max-time 120 -X POST -H "Authorization: Bearer $TOKEN" \
  "http://127.0.0.1:$APORT/api/v1/cert/renew?name=main")
assert_contains "$out" '"ok":true' "renewal answer"
serial_changed() {
  local s
  s=$(ossl_serial "$PORT" example.test)
  [[ -n "$s" && "$s" != "$s_main" ]]
}
wait_until 20 serial_changed ||
  { cat gateway-openssl.log >&2; fail "the served serial did not change after the renewal"; }
s_new=$(serial_of certs/cert.crt | norm)
assert_eq "$s_new" "$(ossl_serial "$PORT" example.test)" "the renewed certificate is served"
assert_eq "$s_new" "$(ossl_serial "$PORT" "" example.test)" "and without SNI"
assert_eq "$s_api" "$(ossl_serial "$PORT" api.example.test)" "the extra is unchanged"
kill -0 "$GW_PID" || fail "the gateway is gone"
testenv_stop "$GW_PID"
echo "PASS"
