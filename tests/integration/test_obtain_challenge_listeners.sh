#!/usr/bin/env bash
# test_obtain_challenge_listeners.sh - one-off `autocert obtain` with a set
# using tls-alpn-01: with serve.listen set, the run starts the TLS listener
# (as it starts the HTTP responder for http-01) and Pebble's VA validates
# against it, for a name and for 127.0.0.1; without serve.listen the run
# warns before ordering that nothing answers on port 443, and the order
# fails. `autocert serve` warns at start about an http-01 set without
# serve.http_listen and a tls-alpn-01 set without serve.listen.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
source "$(dirname "$0")/serve_lib.sh"
testenv_init
start_challtestsrv
TLS_PORT=$(free_port)
start_pebble --tls-port "$TLS_PORT"
cd "$TESTENV_DIR"
pebble_root root.pem

# --- serve.listen set: obtain answers tls-alpn-01 itself ----------------------
write_config a.yml acme '[obtain-alpn.example.test]' \
  "  challenge: tls-alpn-01" "  acme_key_path: acct-a.key" \
  "  cert_path: a/cert.crt" "  key_path: a/priv.key" \
  "  extra:" \
  "    - domains: [127.0.0.1]" \
  "      acme_key_path: acct-a-ip.key" \
  "      cert_path: a/ip.crt" \
  "      key_path: a/ip.key" \
  "serve:" "  listen: 127.0.0.1:$TLS_PORT"
out=$("$AUTOCERT_BIN" obtain -c a.yml 2>obtain-a.log) ||
  { cat obtain-a.log >&2; fail "obtain with tls-alpn-01 and serve.listen failed: $out"; }
assert_contains "$out" "main: obtained certificate"
assert_contains "$out" "extra[1]: obtained certificate"
check_pair a/cert.crt a/priv.key root.pem obtain-alpn.example.test
certtool -i --infile a/ip.crt 2>/dev/null | grep -q 'IPAddress: 127.0.0.1' || fail "no IP SAN 127.0.0.1"
if grep -q "serve.listen is not set" obtain-a.log; then fail "a warning although serve.listen is set"; fi
# the listener is gone with the run
if gnutls-cli --no-ca-verification -p "$TLS_PORT" 127.0.0.1 </dev/null >/dev/null 2>&1; then
  fail "something still listens on serve.listen after obtain"
fi

# --- no serve.listen: a warning first, then the CA cannot validate -----------
write_config b.yml acme '[obtain-none.example.test]' \
  "  challenge: tls-alpn-01" "  acme_key_path: acct-b.key" \
  "  cert_path: b/cert.crt" "  key_path: b/priv.key" \
  "  order_timeout: 60s"
rc=0
out=$("$AUTOCERT_BIN" obtain -c b.yml 2>obtain-b.log) || rc=$?
assert_eq 1 "$rc" "obtain exit status without a listener for tls-alpn-01"
assert_contains "$(cat obtain-b.log)" \
  "a set uses challenge tls-alpn-01 but serve.listen is not set" "warning before the order"
assert_contains "$out" "main: failed"

# --- the daemon warns at start -------------------------------------------------
write_config c.yml acme '[serve-http.example.test]' \
  "  challenge: http-01" "  acme_key_path: acct-c.key" \
  "  cert_path: c/cert.crt" "  key_path: c/priv.key" \
  "  extra:" \
  "    - domains: [serve-alpn.example.test]" \
  "      challenge: tls-alpn-01" \
  "      cert_path: c/alpn.crt" \
  "      key_path: c/alpn.key"
start_daemon c.yml serve-c
wait_until 20 grep -q "challenge http-01 but serve.http_listen is not set" serve-c.log ||
  { cat serve-c.log >&2; fail "no warning for http-01 without serve.http_listen"; }
grep -q "challenge tls-alpn-01 but serve.listen is not set" serve-c.log ||
  { cat serve-c.log >&2; fail "no warning for tls-alpn-01 without serve.listen"; }
stop_daemon
echo PASS
