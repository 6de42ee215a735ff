#!/usr/bin/env bash
# Three `autocert serve` nodes sharing one PostgreSQL store (issue 14):
#  - started at once with no certificate anywhere, the CA sees exactly one
#    order and issues one certificate, and all three serve the same serial;
#  - a forced renewal through one node's admin API reaches the other two
#    within seconds, again with exactly one more order;
#  - the key in the database is encrypted (no PEM key in the row);
#  - /api/v1/cert/status names each node and /metrics says the store is up.
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

for n in 1 2 3; do fleet_node "$n" '[fleet.test]'; done
orders0=$(pebble_orders)
for n in 1 2 3; do fleet_start "$n"; done

same_serial() {
  local s1 s2 s3
  s1=$(node_serial 1 fleet.test) && s2=$(node_serial 2 fleet.test) && s3=$(node_serial 3 fleet.test) || return 1
  [[ -n "$s1" && "$s1" == "$s2" && "$s2" == "$s3" ]]
}
wait_until 90 same_serial || { tail -n 30 node1.log node2.log node3.log >&2; fail "the three nodes do not serve one certificate"; }
serial1=$(node_serial 1 fleet.test)
t_orders=$(( $(pebble_orders) - orders0 ))
assert_eq 1 "$t_orders" "orders for the first certificate across three nodes"
assert_eq 1 "$(pebble_issued)" "certificates issued for three nodes"
for n in 1 2 3; do
  check_pair "node$n/certs/cert.crt" "node$n/certs/priv.key" root.pem fleet.test
  assert_eq "$serial1" "$(serial_of "node$n/certs/cert.crt" | tr -d ':' | tr 'A-F' 'a-f')" "node$n's file cache"
done
echo "figure: orders for one certificate on three nodes: $t_orders"

# the key in the database is ciphertext
keyrow=$(fleet_sql "select encode(key_ct, 'escape') from autocert_sets" || true)
[[ -n "$keyrow" ]] || fail "no key in the database"
[[ "$keyrow" != *"PRIVATE KEY"* ]] || fail "the database holds a PEM key in clear"

# status names the node and the store; metrics say the store is up
st=$(node_status 2)
assert_contains "$st" '"node":"node2"' "status of node 2"
assert_contains "$(curl -fsS "http://${NODE_ADMIN[2]}/metrics")" "autocert_store_up 1" "metrics of node 2"

# a forced renewal on node 1 reaches nodes 2 and 3, with one more order
orders1=$(pebble_orders)
node_renew 1 main >renew.out || { cat renew.out >&2; tail -n 30 node1.log >&2; fail "forced renewal failed"; }
serial2=$(node_serial 1 fleet.test)
[[ -n "$serial2" && "$serial2" != "$serial1" ]] || fail "node 1 does not serve the renewed certificate"
t0=$(date +%s%N)
wait_until 20 node_serves 2 fleet.test "$serial2" || { tail -n 20 node2.log >&2; fail "node 2 did not take the renewal"; }
wait_until 20 node_serves 3 fleet.test "$serial2" || { tail -n 20 node3.log >&2; fail "node 3 did not take the renewal"; }
echo "figure: commit on node 1 to the new serial on nodes 2 and 3: $(elapsed_ms "$t0") ms (after the API call returned)"
assert_eq 1 "$(( $(pebble_orders) - orders1 ))" "orders for the forced renewal"
assert_eq 2 "$(pebble_issued)" "certificates issued in all"
grep -q "certificate committed by another node" node2.log || fail "node 2 did not log the pull"
for n in 1 2 3; do fleet_stop "$n"; done
echo "PASS"
