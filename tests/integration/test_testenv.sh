#!/usr/bin/env bash
# test_testenv.sh - proves the shared harness (scripts/testenv.sh): challtestsrv
# and Pebble start on loopback and answer (directory over HTTPS trusting the
# throwaway CA, issuing root parsed by certtool), challtestsrv serves a TXT
# record set through its management API, Knot accepts a TSIG-signed TXT update
# and serves it back, a Pebble restart reuses its ports, and every process is
# gone (checked by PID) after the harness stops them.
set -uo pipefail
src=${AUTOCERT_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=../../scripts/testenv.sh
source "$src/scripts/testenv.sh"
testenv_init

alive() { kill -0 "$1" 2>/dev/null && [[ "$(ps -o stat= -p "$1" 2>/dev/null)" != Z* ]]; }

# --- challtestsrv + Pebble ---
start_challtestsrv
start_pebble --validity 300
[[ "$CHALLTESTSRV_DNS_PORT" =~ ^[0-9]+$ ]] || fail "CHALLTESTSRV_DNS_PORT not a number"
[[ "$PEBBLE_PORT" != "$PEBBLE_MGMT_PORT" && "$PEBBLE_PORT" != "$CHALLTESTSRV_DNS_PORT" ]] ||
  fail "ports collide"
alive "$PEBBLE_PID" || fail "pebble not running"
alive "$CHALLTESTSRV_PID" || fail "challtestsrv not running"

dir=$(curl -fsS --cacert "$PEBBLE_CA_CERT" "$PEBBLE_DIR_URL") || fail "directory fetch failed"
assert_contains "$dir" '"newAccount"' "Pebble directory"
assert_contains "$dir" '"newNonce"' "Pebble directory"
# Without the throwaway CA the HTTPS API must be refused (verification is on).
if curl -fsS --max-time 5 "$PEBBLE_DIR_URL" -o /dev/null 2>/dev/null; then
  fail "curl trusted Pebble without PEBBLE_CA_CERT"
fi
pebble_root "$TESTENV_DIR/root.pem"
info=$(certtool -i --infile "$TESTENV_DIR/root.pem") || fail "certtool cannot parse the root"
assert_contains "$info" "Pebble Root CA" "issuing root subject"

# challtestsrv: set a TXT through the management API, read it over DNS.
curl -fsS -X POST -d '{"host":"_acme-challenge.example.test.","value":"challtest-value"}' \
  "$CHALLTESTSRV_URL/set-txt" || fail "set-txt failed"
txt=$(kdig +short @127.0.0.1 -p "$CHALLTESTSRV_DNS_PORT" _acme-challenge.example.test TXT)
assert_eq '"challtest-value"' "$txt" "challtestsrv TXT"

# --- Knot with TSIG-signed updates ---
start_knot example.org
alive "$KNOT_PID" || fail "knot not running"
assert_eq hmac-sha256 "$KNOT_TSIG_ALG" "TSIG algorithm"
knsupdate -y "$KNOT_TSIG_ALG:$KNOT_TSIG_NAME:$KNOT_TSIG_SECRET" <<EOF || fail "knsupdate failed"
server 127.0.0.1 $KNOT_PORT
zone example.org.
update add _acme-challenge.example.org. 60 TXT "knot-value"
send
EOF
txt=$(kdig +short @127.0.0.1 -p "$KNOT_PORT" _acme-challenge.example.org TXT)
assert_eq '"knot-value"' "$txt" "Knot TXT after update"
# An update without the key must be refused.
out=$(knsupdate 2>&1 <<EOF
server 127.0.0.1 $KNOT_PORT
zone example.org.
update add evil.example.org. 60 TXT "x"
send
EOF
)
txt=$(kdig +short @127.0.0.1 -p "$KNOT_PORT" evil.example.org TXT)
assert_eq "" "$txt" "unsigned update must not land (knsupdate said: $out)"

# --- restart keeps the ports ---
old_pid=$PEBBLE_PID old_url=$PEBBLE_DIR_URL
stop_pebble
alive "$old_pid" && fail "pebble still running after stop_pebble"
start_pebble
assert_eq "$old_url" "$PEBBLE_DIR_URL" "directory URL after restart"
[[ "$PEBBLE_PID" != "$old_pid" ]] || fail "restart reused the PID"
curl -fsS --cacert "$PEBBLE_CA_CERT" "$PEBBLE_DIR_URL" -o /dev/null || fail "restarted pebble"

# --- stop everything, nothing left ---
pids=("$PEBBLE_PID" "$CHALLTESTSRV_PID" "$KNOT_PID")
for p in "${pids[@]}"; do testenv_stop "$p"; done
for p in "${pids[@]}"; do
  alive "$p" && fail "pid $p still running after testenv_stop"
done
assert_eq 0 "${#TESTENV_PIDS[@]}" "tracked processes left"
# --- the EXIT trap: hooks run, spawned processes die, the dir goes, rc kept ---
inner=$TESTENV_DIR/inner
mkdir -p "$inner"
bash -c 'source "$1/scripts/testenv.sh"; testenv_init
  testenv_spawn sleeper sleep 300
  echo "$TESTENV_LAST_PID" >"$2/pid"; echo "$TESTENV_DIR" >"$2/dir"
  testenv_on_exit "echo hook-ran >\"$2/hook\""
  port=$(free_port); echo "$port" >"$2/port"
  exit 3' inner "$src" "$inner"
assert_eq 3 "$?" "exit status through the trap"
alive "$(cat "$inner/pid")" && fail "spawned process survived the EXIT trap"
[[ -d "$(cat "$inner/dir")" ]] && fail "TESTENV_DIR not removed"
assert_eq hook-ran "$(cat "$inner/hook")" "testenv_on_exit hook"
[[ -e "/tmp/autocert-testenv-ports/$(cat "$inner/port")" ]] && fail "port reservation kept"

echo "ok: testenv harness works"
