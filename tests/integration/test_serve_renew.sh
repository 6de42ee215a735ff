#!/usr/bin/env bash
# `autocert serve` against Pebble issuing 60 s certificates:
#  (c) started with the CA unreachable and valid certificates on disk, the
#      daemon answers handshakes before any ACME attempt has finished;
#  (a) a certificate past its renewal moment is renewed by the running daemon
#      with no request, and the next handshake gets the new one;
#  (b) with Pebble stopped, renewal fails and backs off while the old
#      certificate keeps being served; after Pebble comes back (new accounts,
#      new root) the daemon succeeds by itself.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
source "$(dirname "$0")/serve_lib.sh"
testenv_init
start_challtestsrv
start_pebble --validity 60
cd "$TESTENV_DIR"
pebble_root root.pem
PORT=$(free_port)

write_config d.yml challtestsrv '[example.test]' \
  "  retry_min: 1s" "  retry_max: 3s" "  failure_cooldown: 1s" \
  "serve:" "  listen: 127.0.0.1:$PORT"
"$AUTOCERT_BIN" obtain -c d.yml >obtain.log 2>&1 || { cat obtain.log >&2; fail "obtain failed"; }
serial0=$(serial_of certs/cert.crt)
[[ -n "$serial0" ]] || fail "no serial"

# --- (c) CA unreachable at boot: the on-disk certificate is served at once ----
stop_pebble
t0=$(date +%s%N)
start_daemon d.yml serve1
wait_until 10 handshake_ok "$PORT" example.test root.pem || { cat serve1.log >&2; fail "no handshake with the CA down"; }
t1=$(date +%s%N)
echo "figure: start to first handshake with the CA unreachable: $(( (t1 - t0) / 1000000 )) ms"
body=$(hello "$PORT" example.test root.pem) || fail "no HTTPS answer"
assert_eq "hello example.test from main" "$body" "HTTPS answer"
got=$(served_serial "$PORT" example.test root.pem | tr -d ':' | tr 'A-F' 'a-f')
assert_eq "$(echo "$serial0" | tr -d ':' | tr 'A-F' 'a-f')" "$got" "serial served at boot"

# --- (b) renewal fails (CA down), backs off, old certificate still served -----
# renewal moment is 40 s into the 60 s life; wait for two failed attempts
wait_until 60 grep -q "renewal failed" serve1.log || { cat serve1.log >&2; fail "no failed renewal logged"; }
wait_until 15 bash -c '[ "$(grep -c "renewal failed" "$0")" -ge 2 ]' serve1.log ||
  { cat serve1.log >&2; fail "backoff not re-armed"; }
handshake_ok "$PORT" example.test root.pem || fail "old certificate not served during the outage"
# the failure was recorded in the state file with its kind
state=$(cat certs/.state-*.json)
assert_contains "$state" '"failures"' "state file"
assert_contains "$state" 'net.' "state file error kind"

# --- Pebble back (new root, accounts lost): the daemon recovers alone ---------
PEBBLE_PORT_SAVED=$PEBBLE_PORT
start_pebble --validity 60
[[ "$PEBBLE_PORT" == "$PEBBLE_PORT_SAVED" ]] || fail "pebble came back on another port"
pebble_root root2.pem
wait_until 40 grep -q "in service: renewed" serve1.log || { cat serve1.log >&2; fail "no renewal after the CA came back"; }
check_pair certs/cert.crt certs/priv.key root2.pem example.test
serial1=$(serial_of certs/cert.crt)
[[ "$serial1" != "$serial0" ]] || fail "serial unchanged after renewal"

# --- (a) the next handshake gets the new certificate --------------------------
got=$(served_serial "$PORT" example.test root2.pem | tr -d ':' | tr 'A-F' 'a-f')
assert_eq "$(echo "$serial1" | tr -d ':' | tr 'A-F' 'a-f')" "$got" "serial served after renewal"
# and a second, timed renewal happens with no request (40 s into the new life)
wait_until 50 bash -c '[ "$(grep -c "in service: renewed" "$0")" -ge 2 ]' serve1.log ||
  { cat serve1.log >&2; fail "no second timed renewal"; }
serial2=$(serial_of certs/cert.crt)
[[ "$serial2" != "$serial1" ]] || fail "second renewal did not change the serial"
wait_until 5 served_is "$PORT" example.test root2.pem "$serial2" ||
  fail "handshake does not present the renewed certificate"
[ ! -e certs/.last_failure-68435196b59a ] || fail "failure marker left after success"

# --- graceful stop --------------------------------------------------------------
kill -TERM "$SERVE_PID"
wait_until 10 bash -c '! kill -0 "$0" 2>/dev/null || [[ "$(ps -o stat= -p "$0")" == Z* ]]' "$SERVE_PID" ||
  fail "daemon ignored SIGTERM"
set +e; wait "$SERVE_PID"; rc=$?; set -e
assert_eq 0 "$rc" "exit status after SIGTERM"
SERVE_PID=
echo "PASS"
