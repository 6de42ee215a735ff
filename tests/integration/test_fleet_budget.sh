#!/usr/bin/env bash
# The CA budget is the fleet's (issue 14): with `orders_per_3h: 1` for the
# CA, node 1 orders set A and stops; node 2 (a fresh node: no budget file of
# its own) serves A from the store and holds its new set B for the budget
# the store says node 1 spent, instead of ordering.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
source "$(dirname "$0")/serve_lib.sh"
source "$(dirname "$0")/fleet_lib.sh"
testenv_init
start_challtestsrv
start_pebble
start_postgres
cd "$TESTENV_DIR"
pebble_root root.pem
FLEET_DB_URL=$(pg_new_db fleet)

limits=("  acme_limits:" "    - ca_dir_url: $PEBBLE_DIR_URL" "      orders_per_3h: 1")
fleet_node 1 '[a.budget.test]' "${limits[@]}"
fleet_node 2 '[a.budget.test]' "${limits[@]}" \
  "  extra:" "    - domains: [b.budget.test]" "      cert_path: certs/b.crt" "      key_path: certs/b.key"

fleet_start 1
wait_until 60 grep -q "in service: obtained" node1.log || { tail -n 30 node1.log >&2; fail "node 1 did not obtain A"; }
a=$(node_serial 1 a.budget.test)
fleet_stop 1
assert_eq 1 "$(pebble_orders)" "orders after node 1"
[[ -n "$(fleet_sql "select data from autocert_budgets")" ]] || fail "no budget in the store"

fleet_start 2
wait_until 30 node_serves 2 a.budget.test "$a" || { tail -n 30 node2.log >&2; fail "node 2 does not serve A from the store"; }
waits_budget() {
  node_status 2 | python3 -c '
import json, sys
for s in json.load(sys.stdin):
    w = s.get("waiting")
    if s["name"] == "extra[1]" and w and w.get("for") == "budget":
        sys.exit(0)
sys.exit(1)'
}
wait_until 30 waits_budget || { node_status 2 >&2; tail -n 30 node2.log >&2; fail "B does not wait for the fleet's budget"; }
assert_eq 1 "$(pebble_orders)" "orders: B was held by the budget node 1 spent"
[[ ! -e node2/certs/b.crt ]] || fail "B was obtained beyond the budget"
fleet_stop 2
echo "PASS"
