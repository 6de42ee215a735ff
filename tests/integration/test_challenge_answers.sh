#!/usr/bin/env bash
# test_challenge_answers.sh - the issuer side of http-01 and tls-alpn-01
# against the scripted CA (mock_acme.py, which validates nothing), for what
# Pebble cannot show:
#  - while an http-01 authorization is pending, the responder answers its
#    token with the key authorization "<token>.<43-character thumbprint>";
#  - when the order fails (order_timeout while the CA keeps the
#    authorization pending), the answer is withdrawn at once (404) while the
#    daemon runs on;
#  - a tls-alpn-01 set answers its challenge (the RFC 8737 certificate is
#    made) and the order completes.
# tls-alpn-01 validated on the wire needs the TLS adapter's half (issue 13,
# Helper B) and is not checked here.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/serve_lib.sh"
testenv_init
W=$TESTENV_DIR
cd "$W"
start_mock_acme dns01
HTTP_PORT=$(free_port)
cat >"$W/c.yml" <<EOF
autocert:
  provider: acme
  challenge: http-01
  email: admin@example.test
  domains: [mode-slow-poll.example.test]
  cert_path: $W/h/cert.crt
  key_path: $W/h/priv.key
  acme_key_path: $W/acme.key
  ca_dir_url: $MOCK_ACME_URL
  ca_certs: [$MOCK_ACME_CA]
  order_timeout: 4s
  retry_min: 1h
  retry_max: 2h
  extra:
    - challenge: tls-alpn-01
      domains: [tls.example.test]
      cert_path: $W/t/cert.crt
      key_path: $W/t/priv.key
serve:
  http_listen: 127.0.0.1:$HTTP_PORT
admin:
  listen: 127.0.0.1:$(free_port)
EOF
start_daemon "$W/c.yml" serve
wait_until 30 grep -q "answering http-01 for mode-slow-poll.example.test" serve.log ||
  { cat serve.log >&2; fail "no http-01 answer armed"; }
tok=$(sed -n 's/.*answering http-01 for mode-slow-poll.example.test at \/.well-known\/acme-challenge\/\([A-Za-z0-9_-]*\) .*/\1/p' serve.log | sed -n 1p)
[[ -n "$tok" ]] || fail "no token in the log"
body=$(curl -fsS --max-time 5 -H 'Host: anything.example' \
  "http://127.0.0.1:$HTTP_PORT/.well-known/acme-challenge/$tok") ||
  { cat serve.log >&2; fail "pending token not answered"; }
[[ "$body" =~ ^${tok}\.[A-Za-z0-9_-]{43}$ ]] || fail "key authorization '$body' is not $tok.<thumbprint>"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -I \
  "http://127.0.0.1:$HTTP_PORT/.well-known/acme-challenge/$tok")
assert_eq 200 "$code" "HEAD of a pending token"
# the order times out while the authorization stays pending: the answer goes
wait_until 30 grep -q "timed out" serve.log || { cat serve.log >&2; fail "the order did not time out"; }
wait_until 10 bash -c "[[ \$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
  http://127.0.0.1:$HTTP_PORT/.well-known/acme-challenge/$tok) == 404 ]]" ||
  fail "the answer of a failed order is still served"
# tls-alpn-01: armed, and the order (the mock validates nothing) completes
wait_until 30 test -s "$W/t/cert.crt" || { cat serve.log >&2; fail "tls-alpn-01 set not issued"; }
grep -q "answering tls-alpn-01 for tls.example.test" serve.log || { cat serve.log >&2; fail "no tls-alpn-01 answer armed"; }
grep -q "tls-alpn-01 answer for tls.example.test ready" serve.log || fail "tls-alpn-01 answer not made"
kill -0 "$SERVE_PID" || fail "daemon died"
stop_daemon
echo ok
