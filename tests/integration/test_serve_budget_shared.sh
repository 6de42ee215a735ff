#!/usr/bin/env bash
# Renewal budgets shared by every process on the same files (the file
# store): with autocert.acme_limits giving Pebble's directory 1 new order per
# 3 hours,
#  - a one-off `autocert obtain` (another configuration in the same directory:
#    same account key, same .budget-<h>.json) is charged and writes its
#    charge; the daemon started next holds both its sets for the budget, at the
#    moment the file names;
#  - a second one-off run while the daemon serves, then a forced renewal in
#    the daemon: the daemon's write adds its charge to the file's state
#    instead of writing its own over the run's (the waiting set's moment is
#    three orders after the first, not two).
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
source "$(dirname "$0")/serve_lib.sh"
testenv_init
start_challtestsrv
start_pebble
cd "$TESTENV_DIR"

limits=("  acme_limits:" "    - ca_dir_url: $PEBBLE_DIR_URL" "      orders_per_3h: 1")
write_config d.yml challtestsrv '[s1.shared.test]' \
  "  cert_path: certs/s1.crt" "  key_path: certs/s1.key" "${limits[@]}" \
  "  extra:" "    - domains: [s3.shared.test]" "      cert_path: certs/s3.crt" "      key_path: certs/s3.key"
write_config c.yml challtestsrv '[s2.shared.test]' \
  "  cert_path: certs/s2.crt" "  key_path: certs/s2.key" "${limits[@]}"
APORT=$(awk '/^admin:/ {a=1} a && /listen:/ {split($2, p, ":"); print p[2]; exit}' d.yml)

# tat: the orders bucket's theoretical arrival time in the state file (s)
tat() {
  python3 -c '
import glob, json
f = glob.glob("certs/.budget-*.json")
print(json.load(open(f[0]))["orders_tat_ms"] // 1000 if len(f) == 1 else "none")'
}
tat_is() { [ "$(tat)" = "$1" ]; }
status() { curl -sf "http://127.0.0.1:$APORT/api/v1/cert/status"; }
# budget_waiting: "name until" of each set waiting for the budget
budget_waiting() {
  status | python3 -c '
import json, sys
for s in json.load(sys.stdin):
    w = s.get("waiting")
    if w and w.get("for") == "budget" and w.get("until"):
        print(s["name"], w["until"])'
}
held() { [ "$(budget_waiting | wc -l)" -eq "$1" ]; }
held_until() { [ "$(budget_waiting | awk '{print $2}' | sort -u)" = "$1" ]; }

# --- a one-off run is charged ------------------------------------------------------
"$AUTOCERT_BIN" obtain -c c.yml >obtain1.out 2>obtain1.log || { cat obtain1.log >&2; fail "one-off obtain failed"; }
[ -s certs/s2.crt ] || fail "one-off obtain wrote no certificate"
t1=$(tat)
[ "$t1" != none ] || fail "the one-off run wrote no budget state"
now=$(date +%s)
# one order per 3 h: the bucket is 10800 s ahead of the run's order
[ "$t1" -gt $((now + 10000)) ] && [ "$t1" -le $((now + 10800)) ] ||
  fail "budget state $t1 is not one order after the run's ($now)"

# --- the daemon counts it: both its sets wait -------------------------------------------
start_daemon d.yml serve1
wait_until 30 held 2 || { status >&2; cat serve1.log >&2; fail "both sets should wait for the budget the run spent"; }
wait_until 5 held_until "$t1" || { budget_waiting >&2; fail "the sets should wait until $t1"; }
[ ! -e certs/s1.crt ] && [ ! -e certs/s3.crt ] || fail "an order past the budget"

# --- a run while the daemon serves, then a charge of the daemon's own ---------------------
"$AUTOCERT_BIN" obtain -c c.yml --force main >obtain2.out 2>obtain2.log ||
  { cat obtain2.log >&2; fail "second one-off obtain failed"; }
assert_eq $((t1 + 10800)) "$(tat)" "state after the second run"
code=$(curl -g -s -o renew.json -w '%{http_code}' -X POST \
  "http://127.0.0.1:$APORT/api/v1/cert/renew?name=main")
assert_eq 200 "$code" "forced order of the daemon's main set: $(cat renew.json)"
[ -s certs/s1.crt ] || fail "the forced order wrote no certificate"
wait_until 20 held_until $((t1 + 21600)) ||
  { budget_waiting >&2; cat certs/.budget-*.json >&2; fail "the daemon's budget does not count the three orders"; }
wait_until 20 tat_is $((t1 + 21600)) ||
  { cat certs/.budget-*.json >&2; fail "the daemon wrote its state over the run's charge"; }
[ ! -e certs/s3.crt ] || fail "an order past the budget"
stop_daemon
echo "PASS"
