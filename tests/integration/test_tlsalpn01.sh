#!/usr/bin/env bash
# test_tlsalpn01.sh - provider: acme with challenge: tls-alpn-01 (RFC 8737), no
# DNS provider and no port 80: Pebble's VA connects to serve.listen with ALPN
# acme-tls/1 (its tlsPort points there) and gets the challenge certificate from
# the daemon's TLS listener (autocert_gnutls_session_init), for a name and for
# the IP address 127.0.0.1 (RFC 8738: the VA sends the reverse name
# 1.0.0.127.in-addr.arpa as SNI). Afterwards the name's certificate is served by
# SNI, the IP certificate to a client without SNI, and a client offering
# acme-tls/1 with no challenge pending gets the normal certificate or a clean
# refusal, never a challenge certificate. The same through examples/gateway.
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

# leaf_of ARGS...: the first certificate gnutls-cli prints (PEM), or nothing
leaf_of() {
  gnutls-cli --no-ca-verification --print-cert -p "$TLS_PORT" 127.0.0.1 "$@" </dev/null 2>/dev/null |
    sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p;/END CERTIFICATE/q'
}
acme_ext() { certtool -i 2>/dev/null | grep -c '1.3.6.1.5.5.7.1.31' || true; }

write_config t.yml acme '[alpn.example.test]' \
  "  challenge: tls-alpn-01" "  acme_key_path: acct-t.key" \
  "  cert_path: t/cert.crt" "  key_path: t/priv.key" \
  "  extra:" \
  "    - domains: [127.0.0.1]" \
  "      cert_path: t/ip.crt" \
  "      key_path: t/ip.key" \
  "serve:" "  listen: 127.0.0.1:$TLS_PORT"
start_daemon t.yml serve-t
wait_until 120 handshake_ok "$TLS_PORT" alpn.example.test root.pem ||
  { cat serve-t.log >&2; fail "alpn.example.test not served after tls-alpn-01 issuance"; }
check_pair t/cert.crt t/priv.key root.pem alpn.example.test
assert_eq "hello alpn.example.test from main" "$(hello "$TLS_PORT" alpn.example.test root.pem)" \
  "HTTPS answer by SNI"
wait_until 120 test -s t/ip.crt || { cat serve-t.log >&2; fail "no IP certificate for 127.0.0.1"; }
certtool --verify --load-ca-certificate root.pem --infile t/ip.crt >verify-ip.out 2>&1 ||
  { cat verify-ip.out >&2; fail "the IP certificate does not verify"; }
certtool -i --infile t/ip.crt 2>/dev/null | grep -q 'IPAddress: 127.0.0.1' || fail "no IP SAN 127.0.0.1"

# the IP certificate to a client without SNI, on the address it covers
wait_until 20 bash -c "gnutls-cli --no-ca-verification --print-cert --disable-sni -p $TLS_PORT 127.0.0.1 </dev/null 2>/dev/null | certtool -i 2>/dev/null | grep -q 'IPAddress: 127.0.0.1'" ||
  { cat serve-t.log >&2; fail "a client without SNI did not get the IP certificate"; }

# acme-tls/1 offered with no challenge pending: never a challenge certificate
out=$(leaf_of --sni-hostname alpn.example.test --alpn acme-tls/1)
if [[ -n "$out" ]]; then
  assert_eq 0 "$(acme_ext <<<"$out")" "acme-tls/1 without a pending challenge: no acmeIdentifier"
fi
grep -q "tls-alpn-01" serve-t.log || { cat serve-t.log >&2; fail "no tls-alpn-01 progress in the log"; }
stop_daemon 2>/dev/null || true

# --- the example gateway answers tls-alpn-01 on its own listener --------------
if [[ -x "${AUTOCERT_GATEWAY:-}" ]]; then
  write_config g.yml acme '[gw.example.test]' \
    "  challenge: tls-alpn-01" "  acme_key_path: acct-g.key" \
    "  cert_path: g/cert.crt" "  key_path: g/priv.key"
  testenv_spawn gateway "$AUTOCERT_GATEWAY" -c g.yml --listen "127.0.0.1:$TLS_PORT"
  GW=$TESTENV_LAST_PID
  wait_until 120 handshake_ok "$TLS_PORT" gw.example.test root.pem ||
    { cat gateway.log >&2; fail "the gateway did not obtain over tls-alpn-01"; }
  check_pair g/cert.crt g/priv.key root.pem gw.example.test
  testenv_stop "$GW"
fi
echo PASS
