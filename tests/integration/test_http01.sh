#!/usr/bin/env bash
# test_http01.sh - provider: acme with challenge: http-01, no DNS provider:
#  (a) `autocert obtain` runs the HTTP responder on serve.http_listen and
#      Pebble's VA validates the names there;
#  (b) `autocert serve` obtains a name and an IP certificate (RFC 8738,
#      127.0.0.1) the same way and serves the name's certificate by SNI; the
#      IP certificate's SAN is an IP address (certtool);
#  (c) the responder redirects a plain request with 308 to https:// on the
#      same host (the port of serve.listen), only for a host a set covers;
#      a challenge path with an unknown or malformed token is 404; no Host is
#      400; a huge Host header is refused;
#  (d) the example gateway answers http-01 from its own HTTP server through
#      autocert_http01_answer (--http-listen) and redirects through
#      autocert_http_redirect.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
source "$(dirname "$0")/serve_lib.sh"
testenv_init
start_challtestsrv
HTTP_PORT=$(free_port)
start_pebble --http-port "$HTTP_PORT"
cd "$TESTENV_DIR"
pebble_root root.pem
TLS_PORT=$(free_port)

# status_of CURL_ARGS...: "<code> <redirect url>" of a request to the responder
status_of() {
  curl -s -o /dev/null --max-time 5 -w '%{http_code} %{redirect_url}' "$@"
}

# --- (a) obtain answers http-01 on serve.http_listen -------------------------
write_config a.yml acme '[web.example.test, www.example.test]' \
  "  challenge: http-01" "  acme_key_path: acct-a.key" \
  "  cert_path: a/cert.crt" "  key_path: a/priv.key" \
  "serve:" "  http_listen: 127.0.0.1:$HTTP_PORT"
"$AUTOCERT_BIN" obtain -c a.yml >obtain-a.log 2>&1 || { cat obtain-a.log >&2; fail "obtain over http-01 failed"; }
check_pair a/cert.crt a/priv.key root.pem web.example.test www.example.test
grep -q "answering http-01 for web.example.test" obtain-a.log || { cat obtain-a.log >&2; fail "no http-01 progress note"; }
grep -q "answered an http-01 validation request" obtain-a.log || { cat obtain-a.log >&2; fail "the responder answered no validation request"; }
# the responder is gone with the run
code=$(status_of "http://127.0.0.1:$HTTP_PORT/" || true)
assert_eq "000 " "$code" "nothing listens on serve.http_listen after obtain"

# --- (b) serve: a name and 127.0.0.1 over http-01, the name served by SNI ----
write_config b.yml acme '[site.example.test]' \
  "  challenge: http-01" "  acme_key_path: acct-b.key" \
  "  cert_path: b/cert.crt" "  key_path: b/priv.key" \
  "  extra:" \
  "    - domains: [127.0.0.1]" \
  "      cert_path: b/ip.crt" \
  "      key_path: b/ip.key" \
  "serve:" "  listen: 127.0.0.1:$TLS_PORT" "  http_listen: 127.0.0.1:$HTTP_PORT"
start_daemon b.yml serve-b
wait_until 120 handshake_ok "$TLS_PORT" site.example.test root.pem ||
  { cat serve-b.log >&2; fail "site.example.test not served after http-01 issuance"; }
body=$(hello "$TLS_PORT" site.example.test root.pem) || fail "no HTTPS answer"
assert_eq "hello site.example.test from main" "$body" "HTTPS answer by SNI"
wait_until 120 test -s b/ip.crt || { cat serve-b.log >&2; fail "no IP certificate for 127.0.0.1"; }
certtool --verify --load-ca-certificate root.pem --infile b/ip.crt >verify-ip.out 2>&1 ||
  { cat verify-ip.out >&2; fail "IP certificate does not verify against Pebble's root"; }
ipsans=$(certtool -i --infile b/ip.crt 2>/dev/null | awk '/IPAddress:/ {print $2}' | sort -u | tr '\n' ' ')
assert_eq "127.0.0.1 " "$ipsans" "IP SANs of the IP certificate"
dnssans=$(certtool -i --infile b/ip.crt 2>/dev/null | awk '/DNSname:/ {print $2}' | tr '\n' ' ')
assert_eq "" "$dnssans" "DNS SANs of the IP certificate"

# --- (c) the responder's other answers ---------------------------------------
U=http://127.0.0.1:$HTTP_PORT
assert_eq "308 https://site.example.test:$TLS_PORT/a/b?c=d" \
  "$(status_of -H 'Host: site.example.test' "$U/a/b?c=d")" "redirect of a plain request"
assert_eq "308 https://site.example.test:$TLS_PORT/" \
  "$(status_of -H "Host: site.example.test:$HTTP_PORT" "$U/")" "redirect with the Host's port stripped"
assert_eq "308 https://SITE.example.test:$TLS_PORT/x" \
  "$(status_of -H 'Host: SITE.example.test' -X POST "$U/x")" "redirect of a POST, host case kept"
assert_eq "308 https://127.0.0.1:$TLS_PORT/ip" \
  "$(status_of -H "Host: 127.0.0.1:$HTTP_PORT" "$U/ip")" "redirect for the IP a set covers"
assert_eq "404 " "$(status_of -H 'Host: evil.example.net' "$U/a")" "unknown Host: no redirect"
assert_eq "404 " "$(status_of -H 'Host: [::1]' "$U/a")" "IPv6 Host no set covers: no redirect"
assert_eq "400 " "$(status_of -H 'Host: site.example.test@evil.net' "$U/a")" "malformed Host"
assert_eq "400 " "$(status_of -0 -H 'Host:' "$U/a")" "no Host"
assert_eq "404 " "$(status_of -H 'Host: site.example.test' \
  "$U/.well-known/acme-challenge/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")" "unknown token"
assert_eq "404 " "$(status_of -H 'Host: site.example.test' \
  "$U/.well-known/acme-challenge/short")" "malformed token (too short)"
assert_eq "404 " "$(status_of -H 'Host: site.example.test' \
  "$U/.well-known/acme-challenge/bad.token.with.dots.AAAAAAAAAAAAAAAAAAAAAA")" "malformed token (dots)"
assert_eq "404 " "$(status_of --path-as-is -H 'Host: evil.example.net' \
  "$U/.well-known/acme-challenge/../../etc/passwd")" "no file is ever served"
# the answer of a finished authorization is withdrawn
tok=$(sed -n 's/.*answering http-01 for site.example.test at \/.well-known\/acme-challenge\/\([A-Za-z0-9_-]*\) .*/\1/p' serve-b.log | sed -n 1p)
[[ -n "$tok" ]] || { cat serve-b.log >&2; fail "no token in the log"; }
assert_eq "404 " "$(status_of -H 'Host: site.example.test' "$U/.well-known/acme-challenge/$tok")" \
  "token of a valid authorization is no longer answered"
huge=$(head -c 20000 /dev/zero | tr '\0' a)
code=$(status_of -H "Host: $huge.example.test" "$U/" || true)
case $code in
  4[0-9][0-9]\ ) ;;
  *) fail "a huge Host header got '$code' (want a 4xx refusal)" ;;
esac
# the daemon is still answering after all that
assert_eq "308 https://site.example.test:$TLS_PORT/" \
  "$(status_of -H 'Host: site.example.test' "$U/")" "redirect after the refusals"
stop_daemon

# --- (d) the embedding gateway's own HTTP server ------------------------------
[[ -x "${AUTOCERT_GATEWAY:-}" ]] || fail "AUTOCERT_GATEWAY not built"
write_config d.yml acme '[gw.example.test]' \
  "  challenge: http-01" "  acme_key_path: acct-d.key" \
  "  cert_path: d/cert.crt" "  key_path: d/priv.key"
GW_PORT=$(free_port)
testenv_spawn gateway "$AUTOCERT_GATEWAY" -c d.yml --listen "127.0.0.1:$GW_PORT" \
  --http-listen "127.0.0.1:$HTTP_PORT"
wait_until 120 handshake_ok "$GW_PORT" gw.example.test root.pem ||
  { cat gateway.log >&2; fail "the gateway obtained nothing over http-01"; }
check_pair d/cert.crt d/priv.key root.pem gw.example.test
assert_eq "308 https://gw.example.test/p" \
  "$(status_of -H 'Host: gw.example.test' "$U/p")" "gateway redirect (no serve.listen: no port)"
assert_eq "404 " "$(status_of -H 'Host: evil.example.net' "$U/p")" "gateway: unknown Host"
assert_eq "404 " "$(status_of -H 'Host: gw.example.test' \
  "$U/.well-known/acme-challenge/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")" "gateway: unknown token"
echo "ok"
