#!/usr/bin/env bash
# The local (-c FILE) forms of `renew` and `revoke` against Pebble (issue 10
# item 2: both used to hang, revoke after revoking at the CA): progress lines as
# the --admin forms print them, a new certificate on disk, Pebble's "Revoked",
# exit codes 0 / 1 / 2, and no fight with a daemon running on the same
# configuration: while the daemon's order holds the set, the CLI says who holds
# it and exits 1.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
source "$(dirname "$0")/serve_lib.sh"
testenv_init
start_challtestsrv
start_pebble
cd "$TESTENV_DIR"
pebble_root root.pem

write_config c.yml challtestsrv '[example.test]' \
  "  extra:" "    - domains: [api.example.test]" \
  "      cert_path: certs/api.crt" "      key_path: certs/api.key"
"$AUTOCERT_BIN" obtain -c c.yml >obtain.log 2>&1 || { cat obtain.log >&2; fail "obtain failed"; }
s0=$(serial_of certs/cert.crt)
a0=$(serial_of certs/api.crt)

# --- renew one set: progress, ok, new serial, exit 0 ---------------------------
set +e
timeout 120 "$AUTOCERT_BIN" renew -c c.yml main >renew1.out 2>&1; rc=$?
set -e
assert_eq 0 "$rc" "exit status of renew -c main (124 = hung) $(cat renew1.out)"
assert_contains "$(cat renew1.out)" "  [main] " "progress lines"
assert_contains "$(cat renew1.out)" "main: ok" "result line"
check_pair certs/cert.crt certs/priv.key root.pem example.test
s1=$(serial_of certs/cert.crt)
[[ "$s1" != "$s0" ]] || fail "renew kept serial $s0"
assert_eq "$a0" "$(serial_of certs/api.crt)" "extra[1] untouched by renew main"

# --- renew every set ---------------------------------------------------------------
set +e
timeout 120 "$AUTOCERT_BIN" renew -c c.yml >renew2.out 2>&1; rc=$?
set -e
assert_eq 0 "$rc" "exit status of renew -c (every set) $(cat renew2.out)"
assert_contains "$(cat renew2.out)" "main: ok" "main result"
assert_contains "$(cat renew2.out)" "extra[1]: ok" "extra[1] result"
[[ "$(serial_of certs/api.crt)" != "$a0" ]] || fail "renew of every set kept extra[1]'s serial"

# --- unknown set: exit 2 -------------------------------------------------------------
set +e
timeout 30 "$AUTOCERT_BIN" renew -c c.yml nope.example >renew3.out 2>&1; rc=$?
set -e
assert_eq 2 "$rc" "exit status of renew of an unknown name"

# --- revoke: Pebble shows Revoked, a new pair is on disk, exit 0 -------------------------
old=$(serial_of certs/api.crt | tr -d ':' | tr 'A-F' 'a-f')
set +e
timeout 120 "$AUTOCERT_BIN" revoke -c c.yml --reason superseded extra1 >revoke.out 2>&1; rc=$?
set -e
assert_eq 0 "$rc" "exit status of revoke -c (124 = hung) $(cat revoke.out)"
assert_contains "$(cat revoke.out)" "revoking the certificate of extra[1]" "revoke progress"
assert_contains "$(cat revoke.out)" "  [extra[1]] " "renewal progress after the revocation"
assert_contains "$(cat revoke.out)" "extra[1]: ok" "revoke result"
status=$(curl -s --cacert "$PEBBLE_CA_CERT" "$PEBBLE_MGMT_URL/cert-status-by-serial/$old")
assert_contains "$status" "Revoked" "Pebble's status of $old"
check_pair certs/api.crt certs/api.key root.pem api.example.test
new=$(serial_of certs/api.crt | tr -d ':' | tr 'A-F' 'a-f')
[[ "$new" != "$old" ]] || fail "the revoked certificate is still on disk"

# --- a daemon on the same configuration ------------------------------------------------
# Idle daemon: the CLI renews (the set's lock is free).
start_daemon c.yml serve1
wait_until 20 grep -q "serving; pid" serve1.log || { cat serve1.log >&2; fail "daemon did not start"; }
set +e
timeout 120 "$AUTOCERT_BIN" renew -c c.yml main >renew4.out 2>&1; rc=$?
set -e
assert_eq 0 "$rc" "renew -c next to an idle daemon $(cat renew4.out)"
stop_daemon

# Daemon in the middle of an order (slow DNS provider): the CLI does not fight it.
write_slow_dns "$TESTENV_DIR/slow.sh"
write_config s.yml exec '[example.test]' \
  "  options:" "    program: $TESTENV_DIR/slow.sh" "    propagation_timeout: 120"
echo 10 >slow.sh.delay
start_daemon s.yml serve2
wait_until 20 grep -q "serving; pid" serve2.log || { cat serve2.log >&2; fail "daemon did not start"; }
kill -USR1 "$SERVE_PID"
wait_until 30 test -s slow.sh.present || { cat serve2.log >&2; fail "daemon's order did not reach the DNS step"; }
set +e
timeout 60 "$AUTOCERT_BIN" renew -c s.yml main >renew5.out 2>&1; rc=$?
set -e
assert_eq 1 "$rc" "renew -c while the daemon renews $(cat renew5.out)"
assert_contains "$(cat renew5.out)" "being renewed by another autocert process (pid $SERVE_PID)" \
  "message naming the daemon"
assert_eq 1 "$(wc -l <slow.sh.present)" "the CLI placed no order of its own"
wait_until 60 grep -q "in service" serve2.log || { cat serve2.log >&2; fail "the daemon's order did not finish"; }
stop_daemon
echo "PASS"
