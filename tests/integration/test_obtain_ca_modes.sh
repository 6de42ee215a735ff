#!/usr/bin/env bash
# `autocert obtain` against Pebble in its other modes: 50 % of nonces rejected
# (ten issuances in a row all succeed), External Account Binding required
# (refused without eab_kid/eab_hmac, accepted with them), and the `custom`
# provider with PEBBLE_VA_ALWAYS_VALID=1 (no challenge solving).
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
testenv_init
start_challtestsrv
cd "$TESTENV_DIR"

# --- badNonce storm -----------------------------------------------------------
start_pebble --nonce-reject 50
pebble_root root.pem
write_config nonce.yml challtestsrv '[nonce.example.test]'
for i in $(seq 1 10); do
  "$AUTOCERT_BIN" obtain -c nonce.yml --force >out.$i 2>log.$i ||
    { cat log.$i >&2; fail "issuance $i of 10 failed with 50% nonce rejection: $(cat out.$i)"; }
done
check_pair certs/cert.crt certs/priv.key root.pem nonce.example.test
grep -qi "badNonce\|bad nonce\|nonce" log.* || echo "note: no badNonce retry was logged (retries may log at debug level)"
stop_pebble
rm -rf certs

# --- EAB required ---------------------------------------------------------------
start_pebble --eab
pebble_root root.pem
write_config noeab.yml challtestsrv '[eab.example.test]'
set +e
out=$("$AUTOCERT_BIN" obtain -c noeab.yml 2>noeab.log); rc=$?
set -e
assert_eq 1 "$rc" "exit code without EAB against a CA that requires it"
assert_contains "$out" "extern" "error mentions the external account requirement"
[ ! -e certs/cert.crt ] || fail "a certificate was written without EAB"
write_config eab.yml challtestsrv '[eab.example.test]' \
  "  eab_kid: $PEBBLE_EAB_KID" \
  "  eab_hmac: $PEBBLE_EAB_HMAC"
"$AUTOCERT_BIN" obtain -c eab.yml >eab.out 2>eab.log || { cat eab.log >&2; fail "obtain with EAB failed: $(cat eab.out)"; }
check_pair certs/cert.crt certs/priv.key root.pem eab.example.test
# the HMAC key never appears in the output or the logs
if grep -qF "$PEBBLE_EAB_HMAC" eab.out eab.log noeab.log; then fail "EAB HMAC leaked into output"; fi
stop_pebble
rm -rf certs

# --- custom provider: no challenge solving ---------------------------------------
start_pebble --always-valid
pebble_root root.pem
write_config custom.yml custom '[custom.example.test, "*.custom.example.test"]'
"$AUTOCERT_BIN" obtain -c custom.yml >custom.out 2>custom.log || { cat custom.log >&2; fail "custom provider obtain failed"; }
check_pair certs/cert.crt certs/priv.key root.pem custom.example.test '*.custom.example.test'
grep -q "publishing TXT" custom.log && fail "custom provider published DNS records"
echo "PASS: test_obtain_ca_modes"
