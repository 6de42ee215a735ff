#!/usr/bin/env bash
# Run-time sets against real Pebble + challtestsrv (issue 12 item 1): a set
# added through autocert_manager_add_set while the engine runs is obtained by
# the engine (its pair on disk verifies, its status turns valid, the host gets
# its "obtained" event under its own name) and handshakes-free status shows it
# after the YAML sets; removing a set whose order is running cancels that
# order at once (the log says cancelled before the engine's stop) and the
# other set's files stay on disk.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
source "$(dirname "$0")/serve_lib.sh"
DRIVER=$AUTOCERT_BUILD_DIR/tests/api_driver
[[ -x "$DRIVER" ]] || fail "$DRIVER not built"
testenv_init
start_challtestsrv
start_pebble
cd "$TESTENV_DIR"
pebble_root root.pem
write_slow_dns "$TESTENV_DIR/slow.sh"
echo hang >"$TESTENV_DIR/slow.sh.delay"

write_config c.yml challtestsrv '[example.test]'
cat >rt1.yml <<YAML
domains: [rt1.example.test]
cert_path: certs/rt1.crt
key_path: certs/rt1.key
YAML
# a set whose DNS provider never publishes: its order waits in the
# propagation check until it is cancelled
cat >slow.yml <<YAML
domains: [slow.example.test]
provider: exec
options:
  program: $TESTENV_DIR/slow.sh
  propagation_timeout: 600
cert_path: certs/slow.crt
key_path: certs/slow.key
YAML

timeout 300 "$DRIVER" -c c.yml obtain start add rt1 rt1.yml wait rt1 valid 120 status \
  add slow slow.yml wait slow renewing 60 remove slow status stop >o.out 2>o.err ||
  { cat o.out o.err >&2; fail "the run-time set steps"; }
cat o.out
assert_contains "$(cat o.out)" "step add 0" "add"
assert_contains "$(cat o.out)" "step wait 0" "rt1 obtained by the engine"
assert_contains "$(cat o.out)" "status rt1 valid" "rt1 valid"
check_pair certs/rt1.crt certs/rt1.key root.pem rt1.example.test
assert_contains "$(cat o.out)" "event obtained rt1" "the obtained event names the set"
# order: YAML sets, then run-time sets
order=$(grep '^status ' o.out | head -2 | awk '{print $2}' | paste -sd, -)
assert_eq "main,rt1" "$order" "status order"
assert_contains "$(cat o.out)" "step remove 0" "remove"
last=$(grep '^status ' o.out | tail -2 | awk '{print $2}' | paste -sd, -)
assert_eq "main,rt1" "$last" "status after the removal"
# the order of the removed set was cancelled before the engine stopped
awk '/step remove 0/ {r=1} r && /\[slow\]/ && /cancelled/ {print; exit}' o.err | grep -q . ||
  { cat o.err >&2; fail "the removed set's order was not cancelled by the removal"; }
cancel_line=$(grep -n '\[slow\].*cancelled' o.err | head -1 | cut -d: -f1)
stop_line=$(grep -n '^step stop' o.err | head -1 | cut -d: -f1)
(( cancel_line < stop_line )) || fail "cancelled only at the stop (line $cancel_line, stop at $stop_line)"
[[ -s certs/rt1.crt ]] || fail "files removed"
echo ok
