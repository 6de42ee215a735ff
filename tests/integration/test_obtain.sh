#!/usr/bin/env bash
# `autocert obtain` against real Pebble + pebble-challtestsrv: apex + wildcard
# with EC256 and RSA2048, chains verified against Pebble's issuing root, modes,
# key/leaf match, a second run reuses the account and re-issues nothing, main +
# two extras in one run, --force re-issues.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
testenv_init
start_challtestsrv
start_pebble
cd "$TESTENV_DIR"
pebble_root root.pem

# --- EC256 apex + wildcard, plus two extras in the same run -------------------
write_config ec.yml challtestsrv '[example.test, "*.example.test"]' \
  "  extra:" \
  "    - domains: [api.example.test]" \
  "      cert_path: certs/api.crt" \
  "      key_path: certs/api.key" \
  "    - domains: [rsa.example.test, \"*.rsa.example.test\"]" \
  "      certificate_key_type: RSA2048" \
  "      cert_path: certs/rsa.crt" \
  "      key_path: certs/rsa.key"
out=$("$AUTOCERT_BIN" obtain -c ec.yml 2>obtain1.log) || { cat obtain1.log >&2; fail "first obtain failed: $out"; }
assert_contains "$out" "main: obtained certificate"
assert_contains "$out" "extra[1]: obtained certificate"
assert_contains "$out" "extra[2]: obtained certificate"
check_pair certs/cert.crt certs/priv.key root.pem example.test '*.example.test'
check_pair certs/api.crt certs/api.key root.pem api.example.test
check_pair certs/rsa.crt certs/rsa.key root.pem rsa.example.test '*.rsa.example.test'
certtool -i --infile certs/cert.crt | grep -q 'Subject Public Key Algorithm: EC/ECDSA' || fail "main key is not EC"
certtool -i --infile certs/rsa.crt | grep -q 'Subject Public Key Algorithm: RSA' || fail "extra[2] key is not RSA"
certtool -i --infile certs/rsa.crt | grep -q 'Algorithm Security Level: Medium (2048 bits)' || fail "extra[2] is not RSA 2048"
acct=$(ls certs/acme_*.key)
assert_eq 600 "$(stat -c %a "$acct")" "account key mode"
acct_sum=$(sha256sum "$acct")
[ ! -e certs/.last_failure-68435196b59a ] || fail "failure marker left after success"

# --- second run: account reused, nothing re-issued ---------------------------
serial1=$(serial_of certs/cert.crt)
out=$("$AUTOCERT_BIN" obtain -c ec.yml 2>obtain2.log) || fail "second obtain failed: $out"
assert_contains "$out" "main: certificate present"
assert_contains "$out" "extra[2]: certificate present"
assert_eq "$serial1" "$(serial_of certs/cert.crt)" "serial after a second run"
assert_eq "$acct_sum" "$(sha256sum "$acct")" "account key unchanged"

# --- --force re-issues with the same account ----------------------------------
out=$("$AUTOCERT_BIN" obtain -c ec.yml --force main 2>obtain3.log) || { cat obtain3.log >&2; fail "forced obtain failed"; }
assert_contains "$out" "main: obtained certificate"
[ "$serial1" != "$(serial_of certs/cert.crt)" ] || fail "--force did not re-issue"
check_pair certs/cert.crt certs/priv.key root.pem example.test '*.example.test'
grep -q "created a new ACME account key" obtain3.log && fail "account key re-created on the third run"
# the account was found again, not registered anew (Pebble keeps one per key)
assert_eq "$acct_sum" "$(sha256sum "$acct")" "account key unchanged after --force"

# --- usage errors exit 2 -------------------------------------------------------
set +e
"$AUTOCERT_BIN" obtain -c ec.yml --bogus >/dev/null 2>&1; rc=$?
set -e
assert_eq 2 "$rc" "exit code for an unknown option"
set +e
"$AUTOCERT_BIN" obtain -c ec.yml nosuchset >/dev/null 2>&1; rc=$?
set -e
assert_eq 2 "$rc" "exit code for an unknown set"
echo "PASS: test_obtain"
