#!/usr/bin/env bash
# test_acme_pebble.sh - the ACME client (lib/acme*.c, lib/http.c) against a
# real Pebble + pebble-challtestsrv, through tests/acme_driver:
#   1. example.test + *.example.test issued (apex and wildcard share one TXT
#      name; both values coexist); the chain verifies against Pebble's root;
#      every presented record is cleaned up; one wait() per order.
#   2. a second run with the same key finds the same account.
#   3. PEBBLE_WFE_NONCEREJECT=50: ten orders in a row succeed.
#   4. EAB required: without EAB a clear ca.external_account_required error;
#      with EAB an account and a certificate.
#   5. PEBBLE_VA_ALWAYS_VALID=1 with no solver (custom mode) works.
#   6. Pebble restarted between account and order (account forgotten, nonce
#      stale): re-registration with the same key, order succeeds.
set -uo pipefail

SRC=${AUTOCERT_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${AUTOCERT_BUILD_DIR:?AUTOCERT_BUILD_DIR must be set}
DRIVER=$BUILD/tests/acme_driver
[[ -x "$DRIVER" ]] || { echo "FAIL: $DRIVER not built" >&2; exit 1; }
# shellcheck source=../../scripts/testenv.sh
source "$SRC/scripts/testenv.sh"
testenv_init
W=$TESTENV_DIR

drv() { "$DRIVER" --dir "$PEBBLE_DIR_URL" --ca "$PEBBLE_CA_CERT" --mgmt "$CHALLTESTSRV_URL" "$@"; }

start_challtestsrv

# --- 1 + 2: wildcard order, account reuse -----------------------------------
start_pebble
out=$(drv --key "$W/acct1.key" --email admin@example.test --out "$W/chain1.pem" \
      example.test '*.example.test' 2>"$W/drv1.err") || { cat "$W/drv1.err" >&2; fail "order 1: $out"; }
assert_contains "$out" "issued 1" "wildcard order"
assert_contains "$out" "solver presented=2 cleaned=2 waited=1" "both records presented, cleaned, one wait"
acct1=$(awk '$1 == "account" {print $2}' <<<"$out")
[[ -n "$acct1" ]] || fail "no account URL printed"
pebble_root "$W/root.pem"
certtool --verify --load-ca-certificate "$W/root.pem" --infile "$W/chain1.pem" >"$W/verify1" 2>&1 ||
  { cat "$W/verify1" >&2; fail "issued chain does not verify against Pebble's root"; }
certtool -i --infile "$W/chain1.pem" >"$W/info1" 2>&1
assert_contains "$(cat "$W/info1")" "DNSname: *.example.test" "wildcard SAN"
assert_contains "$(cat "$W/info1")" "DNSname: example.test" "apex SAN"

out=$(drv --key "$W/acct1.key" --orders 0 2>"$W/drv2.err") || { cat "$W/drv2.err" >&2; fail "account 2: $out"; }
acct2=$(awk '$1 == "account" {print $2}' <<<"$out")
assert_eq "$acct1" "$acct2" "same key finds the existing account"
out=$(drv --key "$W/acct-other.key" --orders 0 2>/dev/null) || fail "account 3: $out"
acct3=$(awk '$1 == "account" {print $2}' <<<"$out")
[[ -n "$acct3" && "$acct3" != "$acct1" ]] || fail "a new key should get a new account ($acct3)"

# revocation with the account key; a second one is refused
out=$(drv --key "$W/acct1.key" --revoke rev.example.test 2>"$W/drv-rev.err") ||
  { tail -20 "$W/drv-rev.err" >&2; fail "revoke: $out"; }
assert_contains "$out" "revoked" "revocation"
assert_contains "$out" "revoke again: ca.rejected" "second revocation refused"

# a wrong TXT value: the authorization fails with the challenge's error; cleanup runs
out=$(drv --key "$W/acct1.key" --bad-value bad.example.test 2>/dev/null) && fail "bad TXT must fail: $out"
assert_contains "$out" "error ca.challenge_failed" "challenge failure kind"
assert_contains "$out" "bad.example.test" "failure names the identifier"
assert_contains "$out" "solver presented=1 cleaned=1" "cleanup after failure"

# the whole order is bounded: a slow propagation wait ends in ca.order_timeout
out=$(drv --key "$W/acct1.key" --timeout-ms 1000 --wait-ms 1500 slow.example.test 2>/dev/null) &&
  fail "slow order must time out: $out"
assert_contains "$out" "error ca.order_timeout" "order timeout kind"
assert_contains "$out" "waiting for DNS propagation" "timeout names the stage"
assert_contains "$out" "solver presented=1 cleaned=1" "cleanup after timeout"
stop_pebble

# --- 3: 50 % of nonces rejected -------------------------------------------------
start_pebble --nonce-reject 50
out=$(drv --key "$W/acct-n.key" --orders 10 n1.example.test 2>"$W/drv3.err") ||
  { tail -20 "$W/drv3.err" >&2; fail "orders with badNonce: $out"; }
assert_contains "$out" "issued 10" "ten orders with 50% nonce rejection"
nerr=$(awk '$1 == "request" && $2 == "errors" {print $3}' <<<"$out")
(( nerr > 5 )) || fail "expected many badNonce rejections to be retried, saw $nerr"
stop_pebble

# --- 4: EAB -------------------------------------------------------------------
start_pebble --eab
out=$(drv --key "$W/acct-eab.key" --orders 0 2>/dev/null) && fail "account without EAB must fail: $out"
assert_contains "$out" "error ca.external_account_required" "EAB missing error kind"
assert_contains "$out" "External Account Binding" "EAB missing message"
[[ "$out" != *"$PEBBLE_EAB_HMAC"* ]] || fail "HMAC key leaked into output"
out=$(drv --key "$W/acct-eab.key" --eab-kid "$PEBBLE_EAB_KID" --eab-hmac "$PEBBLE_EAB_HMAC" \
      eab.example.test 2>"$W/drv4.err") || { tail -20 "$W/drv4.err" >&2; fail "EAB order: $out"; }
assert_contains "$out" "issued 1" "order with EAB"
out=$(drv --key "$W/acct-eab2.key" --eab-kid "$PEBBLE_EAB_KID2" --eab-hmac "$PEBBLE_EAB_HMAC" \
      --orders 0 2>/dev/null) && fail "wrong EAB HMAC must fail: $out"
assert_contains "$out" "error ca." "wrong EAB HMAC is a CA error"
stop_pebble

# --- 5: always-valid CA, no DNS solver -------------------------------------------
start_pebble --always-valid
out=$(drv --key "$W/acct-c.key" --custom custom.example.test '*.custom.example.test' \
      2>"$W/drv5.err") || { tail -20 "$W/drv5.err" >&2; fail "custom mode: $out"; }
assert_contains "$out" "issued 1" "custom mode order"
assert_contains "$out" "solver presented=0 cleaned=0" "custom mode publishes nothing"
stop_pebble

# --- 6: Pebble restarted (account forgotten) -----------------------------------
start_pebble
pause=$W/pause
"$DRIVER" --dir "$PEBBLE_DIR_URL" --ca "$PEBBLE_CA_CERT" --mgmt "$CHALLTESTSRV_URL" \
  --key "$W/acct-r.key" --pause-file "$pause" restart.example.test >"$W/drv6.out" 2>"$W/drv6.err" &
drv_pid=$!
wait_until 30 test -f "$pause" || { kill "$drv_pid"; fail "driver did not reach the pause"; }
old_acct=$(awk '$1 == "account" {print $2}' "$W/drv6.out")
stop_pebble
start_pebble
rm -f "$pause"
wait "$drv_pid" || { tail -20 "$W/drv6.err" >&2; fail "order after restart: $(cat "$W/drv6.out")"; }
assert_contains "$(cat "$W/drv6.out")" "issued 1" "order after CA restart"
assert_contains "$(cat "$W/drv6.err")" "registering again" "re-registration happened"
[[ -n "$old_acct" ]] || fail "no account before restart"

echo "PASS: test_acme_pebble"
