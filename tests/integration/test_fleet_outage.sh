#!/usr/bin/env bash
# PostgreSQL outages (issue 14), two nodes, certificates of 45 s (renewed
# 15 s before they end):
#  - the database is stopped while a timed renewal runs: no node stops
#    serving, the ordering node's commit fails and leaves the files and the
#    database as they were, and the renewal completes by itself once the
#    database is back; both nodes then serve the new certificate;
#  - a node started while the database is down serves its file cache at once
#    and says the store is down (/metrics, /api/v1/cert/status).
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
source "$(dirname "$0")/serve_lib.sh"
source "$(dirname "$0")/fleet_lib.sh"
testenv_init
start_challtestsrv
start_pebble --validity 45
start_postgres
cd "$TESTENV_DIR"
pebble_root root.pem
FLEET_DB_URL=$(pg_new_db fleet)

cat >dns.sh <<SH
#!/usr/bin/env bash
case \$1 in
present)
  if [[ -e hold ]]; then touch held; while [[ -e hold ]]; do sleep 0.1; done; fi
  curl -fsS -X POST -d "{\"host\":\"\$2\",\"value\":\"\$3\"}" "$CHALLTESTSRV_URL/set-txt" >/dev/null ;;
cleanup)
  curl -fsS -X POST -d "{\"host\":\"\$2\"}" "$CHALLTESTSRV_URL/clear-txt" >/dev/null ;;
esac
SH
chmod 755 dns.sh
FLEET_PROVIDER=exec FLEET_LEASE_TTL=5s
for n in 1 2; do fleet_node "$n" '[down.test]' "  options:" "    program: $TESTENV_DIR/dns.sh"; done
fleet_start 1
fleet_start 2
both_serve() { local a b; a=$(node_serial 1 down.test) && b=$(node_serial 2 down.test) && [[ -n "$a" && "$a" == "$b" ]]; }
wait_until 60 both_serve || { tail -n 30 node1.log node2.log >&2; fail "the nodes do not serve one certificate"; }
s1=$(node_serial 1 down.test)

# the next (timed) renewal waits in its DNS-01 step on whichever node orders
touch node1/hold node2/hold
wait_until 60 bash -c '[[ -e node1/held || -e node2/held ]]' || fail "no timed renewal started"
fleet_db_stop
node_serves 1 down.test "$s1" || fail "node 1 stopped serving with the database down"
node_serves 2 down.test "$s1" || fail "node 2 stopped serving with the database down"
rm -f node1/hold node2/hold
# the order completes at the CA; its commit finds no store
wait_until 60 bash -c 'cat "$0" "$1" | grep -A4 "certificate downloaded" | grep -q "(store.down)"' \
  "$TESTENV_DIR/node1.log" "$TESTENV_DIR/node2.log" || { tail -n 30 node1.log node2.log >&2; fail "the commit did not fail on the store"; }
for n in 1 2; do
  assert_eq "$s1" "$(serial_of "node$n/certs/cert.crt" | tr -d ':' | tr 'A-F' 'a-f')" "node $n's files during the outage"
  check_pair "node$n/certs/cert.crt" "node$n/certs/priv.key" root.pem down.test
  node_serves "$n" down.test "$s1" || fail "node $n stopped serving"
done
assert_contains "$(curl -fsS "http://${NODE_ADMIN[1]}/metrics")" "autocert_store_up 0" "metrics with the store down"

# the database returns: the renewal completes by itself
fleet_db_start
renewed_from() { local a; a=$(node_serial 1 down.test); [[ -n "$a" && "$a" != "$1" ]]; }
wait_until 60 renewed_from "$s1" || { tail -n 30 node1.log node2.log >&2; fail "no renewal after the database came back"; }
s2=$(node_serial 1 down.test)
wait_until 20 node_serves 2 down.test "$s2" || fail "node 2 does not serve the renewal"
for n in 1 2; do
  check_pair "node$n/certs/cert.crt" "node$n/certs/priv.key" root.pem down.test
done

# start-up with the database down: the file cache is served at once
fleet_db_stop
fleet_stop 2
fleet_start 2
wait_until 10 handshake_ok "${NODE_TLS[2]}" down.test root.pem || { tail -n 20 node2.log >&2; fail "node 2 does not serve its cache with the database down"; }
st=$(node_status 2)
assert_contains "$st" '"up":false' "status of node 2 with the store down"
for n in 1 2; do fleet_stop "$n"; done
echo "PASS"
