#!/usr/bin/env bash
# test_standin.sh - issue 13 item 5.
#  (a) `autocert serve` with ACME sets (http-01) whose CA is unreachable
#      (nothing listens on Pebble's port yet) serves a self-signed stand-in
#      at once: issuer == subject == the set's first name, its names in the
#      SANs (127.0.0.1 as an IP SAN, also served without SNI), an extra's own
#      stand-in by SNI; /status says bootstrap, /info lacks the sets,
#      /metrics has no not_after for them, nothing is written to disk. Then
#      Pebble starts on that port and the daemon (same process, no restart)
#      switches to the certificate Pebble issued.
#  (b) provider: selfsigned writes a 365-day self-signed pair to the set's
#      files, logs its SHA-256 fingerprint, serves it, state unmanaged,
#      `autocert check` accepts it; a pair that expires while the daemon runs
#      is regenerated at the timer without a restart.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
source "$(dirname "$0")/serve_lib.sh"
testenv_init
cd "$TESTENV_DIR"
start_challtestsrv
pebble_certs
HTTP_PORT=$(free_port)
TLS_PORT=$(free_port)
APORT=$(free_port)
# Pebble's ports chosen now; nothing listens there until start_pebble
PEBBLE_PORT=$(free_port)
PEBBLE_DIR_URL=https://127.0.0.1:$PEBBLE_PORT/dir
export PEBBLE_PORT PEBBLE_DIR_URL
PEBBLE_HTTP01_PORT=$HTTP_PORT

# leaf PORT CLIENT-ARGS...: the leaf gnutls-cli gets (no verification), as certtool -i text
leaf() {
  local port=$1 out
  shift
  out=$(gnutls-cli --no-ca-verification --print-cert -p "$port" "$@" 127.0.0.1 \
    </dev/null 2>/dev/null) || return 1
  sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p;/END CERTIFICATE/q' <<<"$out" \
    | certtool -i 2>/dev/null
}
subject_of() { sed -n 's/^\tSubject: \(.*\)$/\1/p' | head -n1; }
issuer_of() { sed -n 's/^\tIssuer: \(.*\)$/\1/p' | head -n1; }
api() { curl -gsS --max-time 10 "http://127.0.0.1:$APORT$1"; }

cat >a.yml <<EOF
autocert:
  provider: acme
  challenge: http-01
  email: admin@example.test
  domains: [site.example.test, 127.0.0.1]
  ca_dir_url: $PEBBLE_DIR_URL
  ca_certs: [$PEBBLE_CA_CERT]
  resolvers: [127.0.0.1:$CHALLTESTSRV_DNS_PORT]
  acme_key_path: a/acct.key
  cert_path: a/cert.crt
  key_path: a/priv.key
  retry_min: 1s
  retry_max: 2s
  failure_cooldown: 1s
  extra:
    - domains: [api.example.test]
      cert_path: a/api.crt
      key_path: a/api.key
serve:
  listen: 127.0.0.1:$TLS_PORT
  http_listen: 127.0.0.1:$HTTP_PORT
admin:
  listen: 127.0.0.1:$APORT
EOF

# --- (a) the stand-in at once, the real certificate when the CA comes back ----
start_daemon a.yml serve-a
PID_A=$SERVE_PID
wait_until 15 bash -c "exec 3<>/dev/tcp/127.0.0.1/$TLS_PORT" || { cat serve-a.log >&2; fail "serve did not start"; }

t=$(leaf "$TLS_PORT" --sni-hostname site.example.test) || { cat serve-a.log >&2; fail "no handshake for site.example.test"; }
assert_eq "CN=site.example.test" "$(subject_of <<<"$t")" "stand-in subject"
assert_eq "CN=site.example.test" "$(issuer_of <<<"$t")" "stand-in issuer == subject"
assert_contains "$t" "DNSname: site.example.test" "stand-in DNS SAN"
assert_contains "$t" "IPAddress: 127.0.0.1" "stand-in IP SAN"
assert_contains "$t" "SECP256R1" "stand-in key is EC P-256"
t=$(leaf "$TLS_PORT" --sni-hostname api.example.test) || fail "no handshake for api.example.test"
assert_eq "CN=api.example.test" "$(subject_of <<<"$t")" "the extra's own stand-in"
assert_eq "CN=api.example.test" "$(issuer_of <<<"$t")" "extra stand-in issuer == subject"
t=$(leaf "$TLS_PORT" --disable-sni) || fail "no handshake without SNI"
assert_eq "CN=site.example.test" "$(subject_of <<<"$t")" "no SNI on 127.0.0.1: main's stand-in"
t=$(leaf "$TLS_PORT" --sni-hostname other.example.test) || fail "no handshake for an unknown name"
assert_eq "CN=site.example.test" "$(subject_of <<<"$t")" "unknown SNI: main's stand-in"
# openssl agrees
sub=$(openssl s_client -connect "127.0.0.1:$TLS_PORT" -servername api.example.test </dev/null 2>/dev/null |
  openssl x509 -noout -subject -issuer 2>/dev/null | tr '\n' ' ')
assert_eq "subject=CN = api.example.test issuer=CN = api.example.test " "$sub" "openssl s_client on the stand-in"
body=$(curl -fsS --max-time 5 -k --resolve "api.example.test:$TLS_PORT:127.0.0.1" \
  "https://api.example.test:$TLS_PORT/") || fail "no HTTPS answer over the stand-in"
assert_eq "hello api.example.test from extra[1]" "$body" "answer over the stand-in"

# state_is SET STATE: /status gives SET that state (renewing while an attempt runs)
state_is() {
  local st
  st=$(api "/api/v1/cert/status?name=$1") || return 1
  [[ "$(python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["state"])' <<<"$st")" == "$2" ]]
}
for n in main 'extra[1]'; do
  wait_until 30 state_is "$n" bootstrap || fail "state of $n: $(api /api/v1/cert/status)"
done
grep -q "main.*\(cannot\|failed\|refused\)" serve-a.log || fail "no failed attempt logged while the CA is down"
info=$(api /api/v1/cert/info) || true
[[ "$info" != *'"name"'* ]] || fail "/info lists a set that only has a stand-in: $info"
metrics=$(api /metrics) || fail "metrics"
assert_contains "$metrics" 'autocert_cert_state{set="main",state="bootstrap"} 1' "metrics state"
assert_contains "$metrics" 'autocert_sets{state="bootstrap"} 2' "metrics sets in bootstrap"
[[ "$metrics" != *'autocert_cert_not_after_seconds{set='* ]] || fail "a not_after metric for a stand-in"
[[ ! -e a/cert.crt && ! -e a/api.crt && ! -e a/priv.key ]] || fail "a stand-in was written to disk"
grep -q "serving a self-signed stand-in" serve-a.log || fail "no log line for the stand-in"

# the CA comes back on the same port
start_pebble --http-port "$HTTP_PORT"
pebble_root root.pem
wait_until 120 handshake_ok "$TLS_PORT" site.example.test root.pem ||
  { cat serve-a.log >&2; fail "the real certificate never replaced the stand-in"; }
wait_until 60 handshake_ok "$TLS_PORT" api.example.test root.pem ||
  { cat serve-a.log >&2; fail "the extra's real certificate never replaced its stand-in"; }
kill -0 "$PID_A" || fail "the daemon is gone"
assert_eq "$PID_A" "$SERVE_PID" "same daemon process"
t=$(leaf "$TLS_PORT" --sni-hostname site.example.test)
[[ "$(issuer_of <<<"$t")" != "$(subject_of <<<"$t")" ]] || fail "still self-signed: $t"
t=$(leaf "$TLS_PORT" --disable-sni)
assert_contains "$t" "IPAddress: 127.0.0.1" "no SNI: the real certificate's IP SAN"
[[ "$(issuer_of <<<"$t")" != "$(subject_of <<<"$t")" ]] || fail "no SNI: still self-signed: $t"
st=$(api /api/v1/cert/status)
[[ "$st" != *bootstrap* ]] || fail "a set still in bootstrap: $st"
info=$(api /api/v1/cert/info)
assert_contains "$info" '"name":"main"' "/info lists main now"
assert_contains "$info" '"name":"extra[1]"' "/info lists extra[1] now"
grep -q "stand-in dropped" serve-a.log || fail "no log line for the dropped stand-in"
stop_daemon
stop_pebble

# --- (b) provider: selfsigned ----------------------------------------------------
SS_PORT=$(free_port)
cat >b.yml <<EOF
autocert:
  provider: selfsigned
  domains: [localhost, dev.example.test, 127.0.0.1]
  cert_path: b/cert.crt
  key_path: b/priv.key
serve:
  listen: 127.0.0.1:$SS_PORT
admin:
  listen: 127.0.0.1:$APORT
EOF
"$AUTOCERT_BIN" check -c b.yml >check-b.out 2>&1 || { cat check-b.out >&2; fail "autocert check refuses provider selfsigned"; }
# fp FILE: SHA-256 fingerprint as AB:CD:...
fp() { openssl x509 -in "$1" -noout -fingerprint -sha256 | sed 's/^.*=//'; }
served_fp() {
  openssl s_client -connect "127.0.0.1:$SS_PORT" -servername "$1" </dev/null 2>/dev/null |
    openssl x509 -noout -fingerprint -sha256 2>/dev/null | sed 's/^.*=//'
}

start_daemon b.yml serve-b
wait_until 15 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SS_PORT" || { cat serve-b.log >&2; fail "serve (selfsigned) did not start"; }
wait_until 15 test -s b/cert.crt || { cat serve-b.log >&2; fail "selfsigned wrote no files"; }
[[ -s b/priv.key ]] || fail "selfsigned wrote no key"
assert_eq 644 "$(stat -c %a b/cert.crt)" "mode of the certificate"
assert_eq 600 "$(stat -c %a b/priv.key)" "mode of the key"
F1=$(fp b/cert.crt)
wait_until 10 grep -q "SHA-256 fingerprint $F1" serve-b.log || { cat serve-b.log >&2; fail "fingerprint $F1 not logged"; }
t=$(certtool -i --infile b/cert.crt)
assert_eq "CN=localhost" "$(subject_of <<<"$t")" "selfsigned subject"
assert_eq "CN=localhost" "$(issuer_of <<<"$t")" "selfsigned issuer"
assert_contains "$t" "DNSname: dev.example.test" "selfsigned SAN"
assert_contains "$t" "IPAddress: 127.0.0.1" "selfsigned IP SAN"
end=$(date -d "$(openssl x509 -in b/cert.crt -noout -enddate | sed 's/^notAfter=//')" +%s)
days=$(( (end - $(date +%s)) / 86400 ))
[[ $days -ge 364 && $days -le 365 ]] || fail "selfsigned lifetime: $days days"
assert_eq "$F1" "$(served_fp dev.example.test)" "served selfsigned certificate"
st=$(api /api/v1/cert/status)
assert_contains "$st" '"state":"unmanaged"' "selfsigned state"
stop_daemon
# a restart keeps a valid pair and logs its fingerprint again
start_daemon b.yml serve-b2
wait_until 15 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SS_PORT" || fail "serve (selfsigned, 2) did not start"
assert_eq "$F1" "$(fp b/cert.crt)" "a valid pair is kept"
wait_until 10 grep -q "SHA-256 fingerprint $F1" serve-b2.log || fail "fingerprint not logged at start"
stop_daemon

# a pair that expires while the daemon runs: regenerated at the timer
now=$(date -u +%s)
{
  echo 'cn = "localhost"'
  echo 'dns_name = "localhost"'
  echo 'dns_name = "dev.example.test"'
  echo 'ip_address = "127.0.0.1"'
  echo "activation_date = \"$(date -u -d "@$((now - 3600))" '+%Y-%m-%d %H:%M:%S')\""
  echo "expiration_date = \"$(date -u -d "@$((now + 8))" '+%Y-%m-%d %H:%M:%S')\""
  echo 'signing_key'
  echo 'tls_www_server'
} >short.tmpl
certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 --no-text --outfile b/priv.key 2>/dev/null
certtool --generate-self-signed --load-privkey b/priv.key --template short.tmpl --outfile b/cert.crt 2>/dev/null
F2=$(fp b/cert.crt)
start_daemon b.yml serve-b3
wait_until 15 bash -c "exec 3<>/dev/tcp/127.0.0.1/$SS_PORT" || fail "serve (selfsigned, 3) did not start"
wait_until 10 grep -q "SHA-256 fingerprint $F2" serve-b3.log || { cat serve-b3.log >&2; fail "short-lived pair not kept at start"; }
wait_until 60 bash -c "[[ \"\$(openssl x509 -in b/cert.crt -noout -fingerprint -sha256)\" != *'$F2' ]]" ||
  { cat serve-b3.log >&2; fail "the expired pair was not regenerated"; }
F3=$(fp b/cert.crt)
wait_until 10 grep -q "renewed: written.*SHA-256 fingerprint $F3" serve-b3.log || { cat serve-b3.log >&2; fail "regeneration not logged"; }
assert_eq "$F3" "$(served_fp localhost)" "the regenerated pair is served without a restart"
echo "PASS"
