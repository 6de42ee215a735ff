#!/usr/bin/env bash
# Fencing (issue 14): node 1 holds the set's lease in the middle of an order
# (its DNS-01 program waits for a file) and is paused (SIGSTOP) past its
# lease; node 2 takes the lease over (a larger fencing token) and commits its
# certificate. Node 1 is resumed: its order completes at the CA, but its write
# is refused by the store (logged as such), and it serves node 2's
# certificate; no node ever serves node 1's certificate.
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

# The DNS-01 program: while <node dir>/hold exists, `present` says so
# (<node dir>/held) and waits; then it publishes the record in challtestsrv.
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
for n in 1 2; do fleet_node "$n" '[fence.test]' "  options:" "    program: $TESTENV_DIR/dns.sh"; done

touch node1/hold
fleet_start 1
wait_until 60 test -e node1/held || { tail -n 30 node1.log >&2; fail "node 1 did not reach its DNS-01 step"; }
kill -STOP "${NODE_PID[1]}"
testenv_on_exit "kill -CONT ${NODE_PID[1]} 2>/dev/null || true"
# past node 1's lease, by the database's clock
wait_until 30 bash -c '[[ "$(psql "$0" -XAtqc "select count(*) from autocert_leases where expires_at < now()")" == 1 ]]' "$FLEET_DB_URL" ||
  fail "node 1's lease did not expire"

fleet_start 2
wait_until 60 bash -c 'grep -q "in service: obtained" "$0"' "$TESTENV_DIR/node2.log" ||
  { tail -n 30 node2.log >&2; fail "node 2 did not take over"; }
serial2=$(node_serial 2 fence.test)
[[ -n "$serial2" ]] || fail "node 2 serves nothing"
issued_before=$(pebble_issued)

# node 1 wakes up and finishes its order
rm node1/hold
kill -CONT "${NODE_PID[1]}"
wait_until 60 grep -q "new certificate is refused" node1.log ||
  { tail -n 40 node1.log >&2; fail "node 1's stale write was not refused"; }
assert_eq $((issued_before + 1)) "$(pebble_issued)" "node 1's order reached the CA"
grep -q "store.fenced" node1.log || fail "the refusal does not say why"
wait_until 20 node_serves 1 fence.test "$serial2" || { tail -n 20 node1.log >&2; fail "node 1 does not serve node 2's certificate"; }
assert_eq "$serial2" "$(serial_of node1/certs/cert.crt | tr -d ':' | tr 'A-F' 'a-f')" "node 1's file cache"
# and it stays so: the stale certificate is never served, on either node
sleep 3
node_serves 1 fence.test "$serial2" || fail "node 1 changed its certificate"
node_serves 2 fence.test "$serial2" || fail "node 2 changed its certificate"
for n in 1 2; do fleet_stop "$n"; done
echo "PASS"
