#!/usr/bin/env bash
# test_preferred_chain.sh - preferred_chain against Pebble started with
# PEBBLE_ALTERNATE_ROOTS=1, which offers a second chain (its Link:
# rel="alternate") ending under another root (management /roots/1). With
# preferred_chain set to that root's CN (read from /roots/1) the written chain
# is the alternate one: its top certificate's issuer (certtool) is that CN,
# it verifies against root 1 and not against root 0; an extra inherits the
# setting from main; an extra whose preferred_chain names no offered root
# keeps the default chain (top issuer root 0's CN) and says so in the log.
# `autocert serve` then serves the alternate chain (gnutls-cli verifies it
# against root 1 only).
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
source "$(dirname "$0")/serve_lib.sh"
testenv_init
start_challtestsrv
start_pebble --alternate-roots 1
cd "$TESTENV_DIR"
pebble_root root0.pem 0
pebble_root root1.pem 1

# subject_cn PEM: the subject CN of the first certificate in PEM
subject_cn() { certtool -i --infile "$1" 2>/dev/null | sed -n 's/^.*Subject: .*CN=\([^,]*\).*$/\1/p' | head -n1; }
# top_issuer PEM: the issuer CN of the last certificate of the chain in PEM
top_issuer() { certtool -i --infile "$1" 2>/dev/null | sed -n 's/^.*Issuer: .*CN=\([^,]*\).*$/\1/p' | tail -n1; }
verifies() { certtool --verify --load-ca-certificate "$2" --infile "$1" >/dev/null 2>&1; }

CN0=$(subject_cn root0.pem)
CN1=$(subject_cn root1.pem)
[[ -n "$CN0" && -n "$CN1" && "$CN0" != "$CN1" ]] || fail "two distinct Pebble roots expected: '$CN0' '$CN1'"
SERVE_PORT=$(free_port)

write_config pc.yml challtestsrv '[pc.example.test]' \
  "  preferred_chain: \"$CN1\"" \
  "  extra:" \
  "    - domains: [inherit.example.test]" \
  "      cert_path: certs/inherit.crt" \
  "      key_path: certs/inherit.key" \
  "    - domains: [nomatch.example.test]" \
  "      preferred_chain: No Such Root CA" \
  "      cert_path: certs/nomatch.crt" \
  "      key_path: certs/nomatch.key" \
  "serve:" "  listen: 127.0.0.1:$SERVE_PORT"
out=$("$AUTOCERT_BIN" obtain -c pc.yml 2>obtain.log) || { cat obtain.log >&2; fail "obtain failed: $out"; }
assert_contains "$out" "main: obtained certificate"
assert_contains "$out" "extra[2]: obtained certificate"

# main and the extra that inherits it: the alternate chain, under root 1
for c in certs/cert.crt certs/inherit.crt; do
  assert_eq "$CN1" "$(top_issuer "$c")" "top issuer of $c (preferred_chain)"
  verifies "$c" root1.pem || fail "$c does not verify against the alternate root"
  ! verifies "$c" root0.pem || fail "$c verifies against the default root: not the alternate chain"
done
check_pair certs/cert.crt certs/priv.key root1.pem pc.example.test
# no chain matches: the default chain, and a warning naming the setting
assert_eq "$CN0" "$(top_issuer certs/nomatch.crt)" "top issuer without a matching chain"
check_pair certs/nomatch.crt certs/nomatch.key root0.pem nomatch.example.test
grep -q 'No Such Root CA" (preferred_chain); keeping the default chain' obtain.log ||
  { cat obtain.log >&2; fail "no warning for a preferred_chain no chain matches"; }

# served as written: gnutls-cli verifies the served chain against root 1
start_daemon pc.yml serve
wait_until 30 handshake_ok "$SERVE_PORT" pc.example.test root1.pem ||
  { cat serve.log >&2; fail "the alternate chain is not served"; }
! handshake_ok "$SERVE_PORT" pc.example.test root0.pem ||
  fail "the served chain verifies against the default root"
stop_daemon
echo PASS
