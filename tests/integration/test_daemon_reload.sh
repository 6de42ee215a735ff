#!/usr/bin/env bash
# SIGHUP while an order runs (issue 10 item 12: the reload joined the old
# scheduler mid-order, so the API answered 503 for the whole order and SIGTERM
# waited): the reload completes at once, /healthz and /api/v1/cert/status keep
# answering 200 (the set shows "renewing"), the order finishes in the
# background, the new configuration picks its certificate up instead of
# ordering again (exactly one order), and a SIGTERM after a SIGHUP still stops
# within seconds, also while the old configuration's order runs.
# The slow order: an `exec` DNS provider that waits before publishing.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
source "$(dirname "$0")/serve_lib.sh"
testenv_init
start_challtestsrv
start_pebble
cd "$TESTENV_DIR"
pebble_root root.pem
APORT=$(free_port)
URL=http://127.0.0.1:$APORT

write_slow_dns "$TESTENV_DIR/slow.sh"
write_config r.yml exec '[example.test]' \
  "  options:" "    program: $TESTENV_DIR/slow.sh" "    propagation_timeout: 300"
sed -i "s/^  listen: 127.0.0.1:.*/  listen: 127.0.0.1:$APORT/" r.yml
"$AUTOCERT_BIN" obtain -c r.yml >obtain.log 2>&1 || { cat obtain.log >&2; fail "obtain failed"; }
serial0=$(serial_of certs/cert.crt | tr -d ':' | tr 'A-F' 'a-f')
issued() { grep -c "Issued certificate serial" "$TESTENV_DIR/pebble.log" || true; }
issued0=$(issued)
rm -f slow.sh.present

echo 12 >slow.sh.delay
start_daemon r.yml serve
wait_until 20 curl -sf "$URL/healthz" || { cat serve.log >&2; fail "admin API did not come up"; }
kill -USR1 "$SERVE_PID"
wait_until 60 test -s slow.sh.present || { cat serve.log >&2; fail "the order did not reach the DNS step"; }

# --- SIGHUP in the middle of the order -----------------------------------------------
kill -HUP "$SERVE_PID"
wait_until 8 grep -q "configuration reloaded" serve.log ||
  { cat serve.log >&2; fail "the reload waited for the running order"; }
codes=() states=()
while ! grep -q "in service: renewed" serve.log; do
  codes+=("$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$URL/healthz")")
  st=$(curl -s --max-time 5 -w ' %{http_code}' "$URL/api/v1/cert/status")
  codes+=("${st##* }")
  states+=("$(printf '%s' "$st" | grep -o '"state":"[a-z]*"' | head -1)")
  (( ${#codes[@]} < 400 )) || { cat serve.log >&2; fail "the order did not finish"; }
  sleep 0.2
done
echo "answers during the order: ${codes[*]}"
for c in "${codes[@]}"; do
  [[ "$c" == 200 ]] || fail "the API answered $c during the order after the reload: ${codes[*]}"
done
assert_contains "${states[*]}" '"state":"renewing"' "main's state during the handed-over order"

# --- exactly one order; the new configuration serves its result ---------------------------
serial1=$(serial_of certs/cert.crt | tr -d ':' | tr 'A-F' 'a-f')
[[ "$serial1" != "$serial0" ]] || fail "no new certificate"
check_pair certs/cert.crt certs/priv.key root.pem example.test
api_serial_is() {
  local got
  got=$(curl -s "$URL/api/v1/cert/info" | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["serial"])')
  [[ "$(sed 's/^0*//' <<<"$got")" == "$(sed 's/^0*//' <<<"$1")" ]]
}
wait_until 20 api_serial_is "$serial1" ||
  { cat serve.log >&2; fail "the reloaded configuration does not serve the new certificate"; }
sleep 3 # time for a needless second order to start, if one would
assert_eq 1 "$(wc -l <slow.sh.present)" "orders after the reload (DNS presents)"
assert_eq $((issued0 + 1)) "$(issued)" "certificates Pebble issued"
curl -s "$URL/api/v1/cert/status" | grep -q '"state":"valid"' || fail "main not valid after the handover"

# --- SIGTERM after SIGHUP, while the old configuration's order still runs -----------------
echo hang >slow.sh.delay
kill -USR1 "$SERVE_PID"
wait_until 60 bash -c '[ "$(wc -l <slow.sh.present)" -ge 2 ]' || { cat serve.log >&2; fail "second order did not start"; }
kill -HUP "$SERVE_PID"
wait_until 8 bash -c '[ "$(grep -c "configuration reloaded" serve.log)" -ge 2 ]' ||
  { cat serve.log >&2; fail "second reload waited for the order"; }
t0=$(date +%s%N)
kill -TERM "$SERVE_PID"
wait_exit "$SERVE_PID" 60 || fail "daemon still runs 60 s after SIGTERM"
ms=$(elapsed_ms "$t0")
SERVE_PID=
echo "figure: SIGTERM after SIGHUP during an order to exit: $ms ms"
assert_eq 0 "$WAIT_RC" "exit status"
(( ms <= 10000 )) || { cat serve.log >&2; fail "stop after a reload took $ms ms"; }
assert_eq "$serial1" "$(serial_of certs/cert.crt | tr -d ':' | tr 'A-F' 'a-f')" "pair kept after the cancelled order"
echo "PASS"
