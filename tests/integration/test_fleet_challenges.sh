#!/usr/bin/env bash
# Any node answers a challenge (issue 14): node 1 orders, the CA validates at
# node 2 (Pebble's http-01 and tls-alpn-01 ports point at node 2's
# listeners). Node 2 answers http-01 and tls-alpn-01 from what node 1 put in
# the store (node 2 builds its own tls-alpn-01 certificate), and both nodes
# end up serving node 1's certificates.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
source "$(dirname "$0")/serve_lib.sh"
source "$(dirname "$0")/fleet_lib.sh"
testenv_init
start_challtestsrv
NODE_HTTP[2]=$(free_port)
NODE_TLS[2]=$(free_port)
start_pebble --http-port "${NODE_HTTP[2]}" --tls-port "${NODE_TLS[2]}"
start_postgres
cd "$TESTENV_DIR"
pebble_root root.pem
FLEET_DB_URL=$(pg_new_db fleet)

FLEET_PROVIDER=acme
for n in 1 2; do
  fleet_node "$n" '[h.fleet.test]' "  challenge: http-01" \
    "  extra:" "    - domains: [t.fleet.test]" "      cert_path: certs/t.crt" \
    "      key_path: certs/t.key" "      challenge: tls-alpn-01"
done

# node 2 first: it obtains both certificates (the CA reaches it directly)
fleet_start 2
wait_until 60 bash -c 'grep -c "in service: obtained" "$0" | grep -qx 2' "$TESTENV_DIR/node2.log" ||
  { tail -n 30 node2.log >&2; fail "node 2 did not obtain both certificates"; }
h1=$(node_serial 2 h.fleet.test); t1=$(node_serial 2 t.fleet.test)
# node 1 takes them from the store
fleet_start 1
wait_until 30 node_serves 1 h.fleet.test "$h1" || { tail -n 30 node1.log >&2; fail "node 1 did not take the http-01 set"; }
wait_until 30 node_serves 1 t.fleet.test "$t1" || fail "node 1 did not take the tls-alpn-01 set"
assert_eq 2 "$(pebble_orders)" "orders so far (node 1 ordered nothing)"

# node 1 renews both; the CA validates at node 2
node_renew 1 main >r1.out || { cat r1.out >&2; tail -n 40 node1.log node2.log >&2; fail "http-01 renewal through node 2 failed"; }
node_renew 1 extra1 >r2.out || { cat r2.out >&2; tail -n 40 node1.log node2.log >&2; fail "tls-alpn-01 renewal through node 2 failed"; }
grep -q "answering http-01 for h.fleet.test" node1.log || fail "node 1 did not order the http-01 set"
grep -q "answering tls-alpn-01 for t.fleet.test" node1.log || fail "node 1 did not order the tls-alpn-01 set"
grep -q "answered an http-01 validation request" node2.log || { tail -n 30 node2.log >&2; fail "node 2 answered no http-01 validation"; }
h2=$(node_serial 1 h.fleet.test); t2=$(node_serial 1 t.fleet.test)
[[ "$h2" != "$h1" && "$t2" != "$t1" ]] || fail "node 1 does not serve the renewed certificates"
wait_until 20 node_serves 2 h.fleet.test "$h2" || fail "node 2 did not take the renewed http-01 certificate"
wait_until 20 node_serves 2 t.fleet.test "$t2" || fail "node 2 did not take the renewed tls-alpn-01 certificate"
assert_eq 4 "$(pebble_orders)" "orders in all"
for n in 1 2; do fleet_stop "$n"; done
echo "PASS"
