#!/usr/bin/env bash
# test_ocsp.sh - OCSP stapling (issue 13 item 7) with a CA made here
# (scripts/ocsp_fixtures.py, python3-cryptography: second-granular
# nextUpdate) and a responder on 127.0.0.1 (ocsp_responder.py) that answers
# whatever response file the test puts in place.
#
# `autocert serve` (GnuTLS): the staple of a `local` set whose leaf names the
# responder is seen by openssl s_client -status (TLS 1.3 and 1.2) and by
# gnutls-cli (and verifies against the CA); a set without an OCSP URL gets
# none and causes no request; the staple is refreshed before its nextUpdate
# (at half its validity); with the responder stopped handshakes go on, the
# old staple is served until its nextUpdate and then dropped, and the
# failure is logged once. examples/gateway-openssl (OpenSSL): a garbage
# answer is refused, logged once over several retries, nothing is stapled;
# once the responder answers well the staple is served (s_client, gnutls-cli).
set -euo pipefail
source "${AUTOCERT_SOURCE_DIR:?}/scripts/testenv.sh"
source "$(dirname "$0")/serve_lib.sh"
testenv_init
GW=${AUTOCERT_BUILD_DIR:?}/examples/gateway-openssl
[[ -x "$GW" ]] || fail "no $GW: the OpenSSL gateway was not built"
cd "$TESTENV_DIR"
FX=$AUTOCERT_SOURCE_DIR/scripts/ocsp_fixtures.py
RESPONDER=$(cd "$(dirname "$0")" && pwd)/ocsp_responder.py

OP=$(free_port)
python3 "$FX" pki pki "http://127.0.0.1:$OP/" ocsp.test || fail "cannot make the test PKI"

# resp ARGS...: the responder's next answer (ocsp_fixtures.py resp ARGS)
resp() { python3 "$FX" resp pki next.der "$@" && mv next.der resp.der; }
start_responder() {
  testenv_spawn responder python3 "$RESPONDER" "$OP" resp.der
  RESP_PID=$TESTENV_LAST_PID
  wait_until 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$OP" || fail "the responder did not start"
}
nreq() { if [[ -f resp.der.log ]]; then wc -l <resp.der.log; else echo 0; fi; }

# staple_ossl PORT SNI [OPTS...]: the "This Update" of the good staple
# openssl s_client gets (the chain verified against the test CA); empty
# when the handshake has none. Fails when the handshake itself fails.
staple_ossl() {
  local port=$1 sni=$2 out
  shift 2
  out=$(openssl s_client -connect "127.0.0.1:$port" -servername "$sni" -status \
        -CAfile pki/ca.crt -verify_return_error "$@" </dev/null 2>/dev/null) || return 1
  grep -q "BEGIN CERTIFICATE" <<<"$out" || return 1
  grep -q "Cert Status: good" <<<"$out" || return 0
  sed -n 's/^ *This Update: //p' <<<"$out" | head -n1
}
# staple_gnutls PORT SNI: the same through gnutls-cli (--save-ocsp), the
# staple verified with openssl ocsp against the CA for the leaf.
staple_gnutls() {
  local out
  rm -f g.der
  gnutls-cli -p "$1" --sni-hostname "$2" --verify-hostname "$2" --x509cafile pki/ca.crt \
    --save-ocsp=g.der 127.0.0.1 </dev/null >gnutls-cli.out 2>&1 || return 1
  [[ -s g.der ]] || return 0
  out=$(openssl ocsp -respin g.der -issuer pki/ca.crt -cert pki/leaf.crt -CAfile pki/ca.crt \
        -resp_text 2>&1) || { echo "openssl ocsp refused the staple: $out" >&2; return 1; }
  grep -q "Response verify OK" <<<"$out" || return 1
  grep -q "leaf.crt: good" <<<"$out" || return 1
  sed -n 's/^ *This Update: //p' <<<"$out" | head -n1
}
has_staple() { [[ -n "$(staple_ossl "$@")" ]]; }
no_staple() { local t; t=$(staple_ossl "$@") && [[ -z "$t" ]]; }
staple_differs() { local t; t=$(staple_ossl "$1" "$2") && [[ -n "$t" && "$t" != "$3" ]]; }
# status_field SET PY-EXPR: a value of /api/v1/cert/status for SET
status_field() {
  curl -fsS "http://127.0.0.1:$AP/api/v1/cert/status" >status.json
  python3 -c 'import json,sys
for s in json.load(open("status.json")):
    if s["name"] == sys.argv[1]:
        print(eval(sys.argv[2], {}, {"s": s}))' "$1" "$2"
}

# ---- autocert serve (GnuTLS) ----------------------------------------------
resp --this -5 --next 30
start_responder
SP=$(free_port)
AP=$(free_port)
cat >serve.yml <<YAML
autocert:
  provider: local
  cert_path: pki/chain.pem
  key_path: pki/leaf.key
  extra:
    - cert_path: pki/noocsp_chain.pem
      key_path: pki/noocsp.key
serve:
  listen: 127.0.0.1:$SP
admin:
  listen: 127.0.0.1:$AP
YAML
start_daemon serve.yml serve
wait_until 30 has_staple "$SP" ocsp.test || { cat serve.log >&2; fail "no staple served"; }
T1=$(staple_ossl "$SP" ocsp.test)
assert_eq "$T1" "$(staple_ossl "$SP" ocsp.test -tls1_2)" "the staple over TLS 1.2"
assert_eq "$T1" "$(staple_gnutls "$SP" ocsp.test)" "the staple gnutls-cli gets"
assert_eq good "$(status_field main 's["ocsp"]["state"]')" "status: main's ocsp state"
NU1=$(status_field main 's["ocsp"]["next_update"]')
# no OCSP URL: nothing stapled, nothing asked
no_staple "$SP" noocsp-ocsp.test || fail "a staple for the set without an OCSP URL"
assert_eq none "$(status_field 'extra[1]' 's["ocsp"]["state"]')" "status: extra's ocsp state"
grep -Eq '\[extra\[1\]\] (ocsp:|OCSP)' serve.log && fail "the set without an OCSP URL logged about OCSP"

# refreshed before its nextUpdate (at half the validity) with the new answer
sleep 1 # a thisUpdate one second later
resp --this 0 --next 30
wait_until 40 staple_differs "$SP" ocsp.test "$T1" ||
  { cat serve.log >&2; fail "the staple was not refreshed"; }
(( $(date +%s) < NU1 )) || fail "the refresh came only after the first staple's nextUpdate"
T2=$(staple_ossl "$SP" ocsp.test)
NU2=$(status_field main 's["ocsp"]["next_update"]')

# the responder stops: the staple is kept until its nextUpdate, then dropped
testenv_stop "$RESP_PID"
if (( $(date +%s) < NU2 - 3 )); then
  assert_eq "$T2" "$(staple_ossl "$SP" ocsp.test)" "the staple kept with the responder down"
fi
wait_until 60 no_staple "$SP" ocsp.test || fail "the expired staple is still served"
(( $(date +%s) >= NU2 )) || fail "the staple was dropped before its nextUpdate"
staple_ossl "$SP" ocsp.test >/dev/null || fail "no handshake without a staple"
handshake_ok "$SP" ocsp.test pki/ca.crt || fail "no gnutls-cli handshake without a staple"
state=$(status_field main 's["ocsp"]["state"]')
[[ "$state" == error || "$state" == expired ]] || fail "status after the nextUpdate: $state"
n=$(grep -c 'warn .*\[main\] ocsp: responder .*failed' serve.log || true)
assert_eq 1 "$n" "the unreachable responder is logged once"
stop_daemon

# ---- examples/gateway-openssl (OpenSSL) ---------------------------------------
head -c 300 /dev/urandom >resp.der
: >resp.der.log
start_responder
GP=$(free_port)
sed '/^serve:/,$d' serve.yml >gw.yml
testenv_spawn gateway-openssl "$GW" -c gw.yml --listen "127.0.0.1:$GP"
wait_until 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$GP" || fail "the gateway did not start"
# three garbage answers (at once, then after the 5 s and 10 s backoffs)
wait_until 60 bash -c "(( \$(wc -l <resp.der.log) >= 3 ))" ||
  { cat gateway-openssl.log >&2; fail "the responder was not asked again"; }
no_staple "$GP" ocsp.test || fail "a garbage answer was stapled"
n=$(grep -c 'ocsp: responder .*not an OCSP response' gateway-openssl.log || true)
assert_eq 1 "$n" "the garbage answer is logged once over $(nreq) answers"
# a good answer again: stapled at the next retry
resp --this -5 --next 120
wait_until 60 has_staple "$GP" ocsp.test || { cat gateway-openssl.log >&2; fail "no staple"; }
has_staple "$GP" ocsp.test -tls1_2 || fail "no staple over TLS 1.2 (OpenSSL)"
[[ -n "$(staple_gnutls "$GP" ocsp.test)" ]] || fail "gnutls-cli got no staple from OpenSSL"
grep -q 'OCSP staple fetched again' gateway-openssl.log || fail "the recovery is not logged"
no_staple "$GP" noocsp-ocsp.test || fail "OpenSSL stapled the set without an OCSP URL"

# ---- ocsp_stapling: false ------------------------------------------------------
# a boolean or a positioned error
printf 'autocert:\n  provider: local\n  cert_path: pki/chain.pem\n  key_path: pki/leaf.key\n  ocsp_stapling: maybe\n' >bad.yml
out=$("$AUTOCERT_BIN" check -c bad.yml 2>&1) && fail "ocsp_stapling: maybe accepted"
assert_contains "$out" "bad.yml:5:3: autocert.ocsp_stapling: 'maybe' is not a boolean" "the error"
sed 's/^  key_path: pki\/leaf.key$/&\n  ocsp_stapling: false/' serve.yml >off.yml
grep -q "ocsp_stapling: false" off.yml || fail "off.yml not written"
before=$(nreq)
start_daemon off.yml serve-off
wait_until 20 handshake_ok "$SP" ocsp.test pki/ca.crt || { cat serve-off.log >&2; fail "no daemon"; }
assert_eq off "$(status_field main 's["ocsp"]["state"]')" "status with ocsp_stapling: false"
no_staple "$SP" ocsp.test || fail "a staple with ocsp_stapling: false"
assert_eq "$before" "$(nreq)" "requests with ocsp_stapling: false"
stop_daemon
echo "PASS"
