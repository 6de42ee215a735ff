#!/usr/bin/env bash
# test_api_oneoff.sh - obtain, renew and revoke through the public API
# (tests/api_driver, autocert.h only) against real Pebble + challtestsrv, with
# the renewal engine never started: the one-off operations run on workers of
# their own (the `autocert renew -c` hang of issue 10 came from that gap).
# Progress notes and one result per set reach the callbacks; the events
# (obtained, renewed, changed) reach the host callback in order; the change fd
# counts the changes; Pebble shows the revoked serial as Revoked; a selector
# that matches nothing fails before anything starts.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
DRIVER=$AUTOCERT_BUILD_DIR/tests/api_driver
[[ -x "$DRIVER" ]] || fail "$DRIVER not built"
testenv_init
start_challtestsrv
start_pebble
cd "$TESTENV_DIR"
pebble_root root.pem

write_config c.yml challtestsrv '[example.test]' \
  "  extra:" "    - domains: [api.example.test]" \
  "      cert_path: certs/api.crt" "      key_path: certs/api.key"

# --- obtain every set, then status --------------------------------------------------
timeout 120 "$DRIVER" -c c.yml obtain status >o1.out 2>o1.err ||
  { cat o1.out o1.err >&2; fail "obtain through the API"; }
assert_contains "$(cat o1.out)" "step obtain 0" "obtain step"
assert_contains "$(cat o1.out)" "result main ok" "main's result"
assert_contains "$(cat o1.out)" "result extra[1] ok" "extra[1]'s result"
assert_contains "$(cat o1.out)" "note main " "progress notes"
assert_contains "$(cat o1.out)" "status main valid" "main valid afterwards"
assert_contains "$(cat o1.out)" "event obtained main" "obtained event"
assert_contains "$(cat o1.out)" "event obtained extra[1]" "obtained event of extra[1]"
assert_contains "$(cat o1.out)" "event changed -" "changed event"
grep -q "^changed [1-9]" o1.out || fail "the change fd counted nothing: $(cat o1.out)"
check_pair certs/cert.crt certs/priv.key root.pem example.test
check_pair certs/api.crt certs/api.key root.pem api.example.test
s0=$(serial_of certs/cert.crt)
a0=$(serial_of certs/api.crt)
# obtained events before the changed event of the same run? (order of delivery)
first=$(grep -n "^event " o1.out | head -1)
[[ "$first" == *"event obtained"* || "$first" == *"event changed"* ]] || fail "event order: $first"

# --- a second obtain finds everything present ---------------------------------------
timeout 60 "$DRIVER" -c c.yml obtain >o2.out 2>o2.err || { cat o2.out o2.err >&2; fail "second obtain"; }
assert_eq "$s0" "$(serial_of certs/cert.crt)" "serial after a second obtain"
grep -q "^event obtained\|^event renewed" o2.out && fail "second obtain ordered: $(cat o2.out)"

# --- renew main by a domain it covers ---------------------------------------------------
timeout 120 "$DRIVER" -c c.yml renew example.test >r.out 2>r.err ||
  { cat r.out r.err >&2; fail "renew through the API"; }
assert_contains "$(cat r.out)" "result main ok" "renew result"
assert_contains "$(cat r.out)" "event renewed main" "renewed event"
[[ "$(serial_of certs/cert.crt)" != "$s0" ]] || fail "renew kept serial $s0"
assert_eq "$a0" "$(serial_of certs/api.crt)" "extra[1] untouched by the renewal of main"

# --- revoke extra[1]: revoked at Pebble, a new pair on disk -----------------------------
old=$(serial_of certs/api.crt | tr -d ':' | tr 'A-F' 'a-f')
timeout 120 "$DRIVER" -c c.yml revoke extra1 >v.out 2>v.err ||
  { cat v.out v.err >&2; fail "revoke through the API"; }
assert_contains "$(cat v.out)" "result extra[1] ok" "revoke result"
status=$(curl -s --cacert "$PEBBLE_CA_CERT" "$PEBBLE_MGMT_URL/cert-status-by-serial/$old")
assert_contains "$status" "Revoked" "Pebble's status of $old"
check_pair certs/api.crt certs/api.key root.pem api.example.test
[[ "$(serial_of certs/api.crt | tr -d ':' | tr 'A-F' 'a-f')" != "$old" ]] || fail "revoked certificate still on disk"

# --- no set covers it: refused before anything starts -----------------------------------
set +e
timeout 30 "$DRIVER" -c c.yml renew nope.example.org >n.out 2>n.err; rc=$?
set -e
assert_eq 1 "$rc" "exit status for a selector that matches nothing"
assert_contains "$(cat n.out)" "step renew -1 select.no_match" "no-match kind"
echo "PASS"
