#!/usr/bin/env bash
# Renewal budgets end to end (issue 12 item 3): `autocert serve` against
# Pebble with autocert.acme_limits giving Pebble's directory 2 new orders per
# 3 hours and four sets to obtain:
#  - two are obtained, the other two wait, and /api/v1/cert/status says why
#    (waiting: {for: "budget", until: the moment the budget allows them});
#  - the budget is kept next to the account key (.budget-<h>.json);
#  - a forced renewal (admin API) passes the budget (and is counted: the
#    waiting set's moment moves later);
#  - after a restart the budget still holds the last set (the state file was
#    read back), at the same moment.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
source "$(dirname "$0")/serve_lib.sh"
testenv_init
start_challtestsrv
start_pebble
cd "$TESTENV_DIR"
pebble_root root.pem

write_config b.yml challtestsrv '[a1.test]' \
  "  cert_path: certs/a1.crt" "  key_path: certs/a1.key" \
  "  max_concurrent_orders: 2" \
  "  acme_limits:" "    - ca_dir_url: $PEBBLE_DIR_URL" "      orders_per_3h: 2" \
  "  extra:" \
  "    - domains: [a2.test]" "      cert_path: certs/a2.crt" "      key_path: certs/a2.key" \
  "    - domains: [a3.test]" "      cert_path: certs/a3.crt" "      key_path: certs/a3.key" \
  "    - domains: [a4.test]" "      cert_path: certs/a4.crt" "      key_path: certs/a4.key"
APORT=$(awk '/^admin:/ {a=1} a && /listen:/ {split($2, p, ":"); print p[2]; exit}' b.yml)
"$AUTOCERT_BIN" check -c b.yml >check.log 2>&1 || { cat check.log >&2; fail "config refused"; }

status() { curl -sf "http://127.0.0.1:$APORT/api/v1/cert/status"; }
# budget_waiting: the names of the sets waiting for the budget, one per line
budget_waiting() {
  status | python3 -c '
import json, sys
for s in json.load(sys.stdin):
    w = s.get("waiting")
    if w and w.get("for") == "budget" and w.get("until"):
        print(s["name"], w["until"])'
}
held() { [ "$(budget_waiting | wc -l)" -eq "$1" ]; }
certs() { ls certs/a?.crt 2>/dev/null | wc -l; }

start_daemon b.yml serve1
wait_until 120 bash -c '[ "$(ls certs/a?.crt 2>/dev/null | wc -l)" -ge 2 ]' ||
  { cat serve1.log >&2; fail "no certificate obtained"; }
wait_until 30 held 2 || { status >&2; cat serve1.log >&2; fail "two sets should wait for the budget"; }
assert_eq 2 "$(certs)" "certificates obtained within the budget"
now=$(date +%s)
first=$(budget_waiting | sed -n 1p)  # (sed reads it all: no broken pipe)
name=${first% *}
until1=${first#* }
# the budget refills one order per 3 h / 2 = 5400 s
[ "$until1" -gt $((now + 3000)) ] && [ "$until1" -le $((now + 5400)) ] ||
  fail "budget moment $until1 not about 1.5 h after $now"
ls certs/.budget-*.json >/dev/null 2>&1 || fail "no budget state next to the account key"
assert_contains "$(cat certs/.budget-*.json)" '"orders_tat_ms"' "budget state"

# --- a forced renewal passes the budget ----------------------------------------
code=$(curl -g -s -o renew.json -w '%{http_code}' -X POST \
  "http://127.0.0.1:$APORT/api/v1/cert/renew?name=$name")
assert_eq 200 "$code" "forced renewal of $name: $(cat renew.json)"
assert_eq 3 "$(certs)" "certificates after the forced renewal"
wait_until 20 held 1 || { status >&2; fail "one set should still wait"; }
last=$(budget_waiting)
lname=${last% *}
later_than() { [ "$(budget_waiting | awk '{print $2}')" -gt "$1" ]; }
wait_until 20 later_than "$until1" || fail "the forced order was not counted in the budget"
until2=$(budget_waiting | awk '{print $2}')

# --- a restart keeps the budget ---------------------------------------------------
kill -TERM "$SERVE_PID"
wait_exit "$SERVE_PID" 20 || fail "daemon did not stop"
SERVE_PID=
start_daemon b.yml serve2
wait_until 30 held 1 || { status >&2; cat serve2.log >&2; fail "after a restart the budget should still hold a set"; }
again=$(budget_waiting)
assert_eq "$lname" "${again% *}" "the set still held"
until3=${again#* }
[ "$until3" -ge $((until2 - 2)) ] && [ "$until3" -le $((until2 + 2)) ] ||
  fail "budget moment after the restart $until3, before $until2"
assert_eq 3 "$(certs)" "no order past the budget after the restart"
stop_daemon
echo "PASS"
