#!/usr/bin/env bash
# Adding store.url to a single node never causes an order (issue 14): a node
# that obtained its certificate with the file store starts with store.url
# set and imports its pair into the empty database under the set's lease; a
# second node then serves that same certificate. The CA sees one order in all.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
source "$(dirname "$0")/serve_lib.sh"
source "$(dirname "$0")/fleet_lib.sh"
fleet_init

fleet_node 1 '[up.test]'
fleet_node 2 '[up.test]'
sed '/^store:/,/node_id:/d' node1/d.yml >node1/plain.yml
grep -q '^store:' node1/plain.yml && fail "plain.yml still has the store"
(cd node1 && "$AUTOCERT_BIN" obtain -c plain.yml) >obtain.out 2>&1 || { cat obtain.out >&2; fail "obtain failed"; }
s1=$(serial_of node1/certs/cert.crt | tr -d ':' | tr 'A-F' 'a-f')
assert_eq 1 "$(pebble_orders)" "orders with the file store"

fleet_start 1
wait_until 30 grep -q "store: this node's certificate (serial $s1) imported" node1.log ||
  { tail -n 20 node1.log >&2; fail "node 1 did not import its certificate"; }
fleet_sql "select convert_from(chain, 'UTF8') from autocert_sets" >stored.pem
assert_eq "$s1" "$(serial_of stored.pem | tr -d ':' | tr 'A-F' 'a-f')" "the stored certificate"
fleet_start 2
wait_until 30 node_serves 2 up.test "$s1" || { tail -n 20 node2.log >&2; fail "node 2 does not serve the imported certificate"; }
node_serves 1 up.test "$s1" || fail "node 1 changed its certificate"
assert_eq 1 "$(pebble_orders)" "orders after adding the store"
for n in 1 2; do fleet_stop "$n"; done
echo "PASS"
