#!/usr/bin/env bash
# test_gateway_openssl_challenges.sh - examples/gateway-openssl (libautocert_openssl)
# answers the CA's validations itself: Pebble's VA validates tls-alpn-01 (RFC
# 8737) against the gateway's TLS listener (its tlsPort points there) for a
# name and for the IP address 127.0.0.1 (RFC 8738: the VA sends the reverse
# name 1.0.0.127.in-addr.arpa as SNI), and http-01 against the gateway's
# --http-listen (autocert_http_start; Pebble's httpPort points there). Then
# `openssl s_client` gets each name's certificate by SNI with a chain that
# verifies against Pebble's root, a client without SNI
# (-noservername) on 127.0.0.1 gets the IP certificate, and a client offering
# acme-tls/1 with no challenge pending gets the set's certificate and no
# protocol, never a challenge certificate.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
source "$(dirname "$0")/serve_lib.sh"
GW=${AUTOCERT_BUILD_DIR:?}/examples/gateway-openssl
[[ -x "$GW" ]] || fail "no $GW: the OpenSSL gateway was not built"
testenv_init
start_challtestsrv
TLS_PORT=$(free_port)
HTTP_PORT=$(free_port)
start_pebble --tls-port "$TLS_PORT" --http-port "$HTTP_PORT"
cd "$TESTENV_DIR"
pebble_root root.pem

# s_client_leaf ARGS...: the leaf (PEM) openssl s_client gets on TLS_PORT
s_client_leaf() {
  openssl s_client -connect "127.0.0.1:$TLS_PORT" "$@" </dev/null 2>/dev/null |
    sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p;/END CERTIFICATE/q'
}
acme_ext() { certtool -i 2>/dev/null | grep -c '1.3.6.1.5.5.7.1.31' || true; }
ip_cert_served() {
  s_client_leaf -noservername | certtool -i 2>/dev/null | grep -q 'IPAddress: 127.0.0.1'
}

# main and the IP extra by tls-alpn-01, the third set by http-01; each its
# own fresh account (Pebble reuses authorizations of an account now and then)
write_config g.yml acme '[alpn.example.test]' \
  "  challenge: tls-alpn-01" "  acme_key_path: acct-main.key" \
  "  cert_path: g/main.crt" "  key_path: g/main.key" \
  "  extra:" \
  "    - domains: [127.0.0.1]" \
  "      acme_key_path: acct-ip.key" \
  "      cert_path: g/ip.crt" \
  "      key_path: g/ip.key" \
  "    - domains: [web.example.test]" \
  "      challenge: http-01" \
  "      acme_key_path: acct-web.key" \
  "      cert_path: g/web.crt" \
  "      key_path: g/web.key"
testenv_spawn gateway "$GW" -c g.yml --listen "127.0.0.1:$TLS_PORT" \
  --http-listen "127.0.0.1:$HTTP_PORT"
GWPID=$TESTENV_LAST_PID

wait_until 120 test -s g/main.crt || { cat gateway.log >&2; fail "no certificate by tls-alpn-01"; }
wait_until 120 test -s g/ip.crt || { cat gateway.log >&2; fail "no IP certificate by tls-alpn-01"; }
wait_until 120 test -s g/web.crt || { cat gateway.log >&2; fail "no certificate by http-01"; }
check_pair g/main.crt g/main.key root.pem alpn.example.test
check_pair g/web.crt g/web.key root.pem web.example.test
certtool --verify --load-ca-certificate root.pem --infile g/ip.crt >verify-ip.out 2>&1 ||
  { cat verify-ip.out >&2; fail "the IP certificate does not verify"; }
certtool -i --infile g/ip.crt 2>/dev/null | grep -q 'IPAddress: 127.0.0.1' || fail "no IP SAN 127.0.0.1"
grep -q "tls-alpn-01" gateway.log || { cat gateway.log >&2; fail "no tls-alpn-01 in the log"; }
grep -q "http-01" gateway.log || { cat gateway.log >&2; fail "no http-01 in the log"; }

# served by SNI, verified against Pebble's root
for name in alpn.example.test web.example.test; do
  wait_until 20 bash -c "openssl s_client -connect 127.0.0.1:$TLS_PORT -servername $name \
      -CAfile root.pem -verify_return_error -verify_hostname $name </dev/null >/dev/null 2>&1" ||
    { cat gateway.log >&2; fail "$name is not served with a verifying chain"; }
done
assert_contains "$(hello "$TLS_PORT" web.example.test root.pem)" \
  "hello web.example.test from web.example.test" "HTTPS answer by SNI"

# a client without SNI on 127.0.0.1 gets the IP certificate
wait_until 20 ip_cert_served || { cat gateway.log >&2; fail "no SNI: not the IP certificate"; }
assert_contains "$(curl -fsS --max-time 5 --cacert root.pem "https://127.0.0.1:$TLS_PORT/")" \
  "hello (no sni)" "curl to https://127.0.0.1 verifies the IP certificate"

# acme-tls/1 with no challenge pending: the set's certificate, no protocol
for sni in alpn.example.test 1.0.0.127.in-addr.arpa; do
  out=$(s_client_leaf -servername "$sni" -alpn acme-tls/1)
  [[ -n "$out" ]] || fail "acme-tls/1 for $sni without a challenge: no certificate"
  assert_eq 0 "$(acme_ext <<<"$out")" "acme-tls/1 for $sni without a challenge: no acmeIdentifier"
done
out=$(openssl s_client -connect "127.0.0.1:$TLS_PORT" -servername alpn.example.test \
      -alpn acme-tls/1 </dev/null 2>&1 || true)
assert_contains "$out" "No ALPN negotiated" "acme-tls/1 not selected without a challenge"
testenv_stop "$GWPID"
echo PASS
