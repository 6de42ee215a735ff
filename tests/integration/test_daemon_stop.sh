#!/usr/bin/env bash
# SIGTERM while an order waits (issue 10 item 11: the daemon used to wait for
# the whole order, up to order_timeout, while the admin API was already gone):
# the order is cancelled, an API client waiting in POST /api/v1/cert/renew gets
# "shutting down", the daemon exits 0 within a few seconds, the DNS record is
# cleaned up, the pair on disk is untouched and the cancel counts no failure.
# The slow order: an `exec` DNS provider that publishes nothing, so the order
# sits in the propagation check (propagation_timeout 300 s).
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

write_slow_dns "$TESTENV_DIR/slow.sh"
write_config s.yml exec '[example.test]' \
  "  options:" "    program: $TESTENV_DIR/slow.sh" "    propagation_timeout: 300"
sed -i "s/^  listen: 127.0.0.1:.*/  listen: 127.0.0.1:$APORT/" s.yml
# The first pair comes through another ACME account: Pebble reuses a valid
# authorization of the same account even at PEBBLE_AUTHZREUSE=0 (1 time in 100:
# it reuses unless rand.Intn(100) > 0), and then the daemon's order would never
# reach the DNS step.
sed 's/^autocert:$/autocert:\n  acme_key_path: obtain-acme.key/' s.yml >o.yml
"$AUTOCERT_BIN" obtain -c o.yml >obtain.log 2>&1 || { cat obtain.log >&2; fail "obtain failed"; }
sum0=$(cat certs/cert.crt certs/priv.key | sha256sum)
rm -f slow.sh.present slow.sh.cleanup

echo hang >slow.sh.delay
start_daemon s.yml serve
wait_until 20 curl -sf "http://127.0.0.1:$APORT/healthz" || { cat serve.log >&2; fail "admin API did not come up"; }
curl -s -X POST "http://127.0.0.1:$APORT/api/v1/cert/renew" >renew.json 2>&1 &
CURL=$!
wait_until 60 test -s slow.sh.present || { cat serve.log >&2; fail "the order did not reach the DNS step"; }
sleep 2 # well inside the propagation check

t0=$(date +%s%N)
kill -TERM "$SERVE_PID"
wait_exit "$SERVE_PID" 60 || fail "daemon still runs 60 s after SIGTERM"
ms=$(elapsed_ms "$t0")
SERVE_PID=
echo "figure: SIGTERM during an order to exit: $ms ms"
assert_eq 0 "$WAIT_RC" "exit status after SIGTERM"
(( ms <= 10000 )) || { cat serve.log >&2; fail "stop took $ms ms"; }

wait_exit "$CURL" 10 || fail "the API client still waits"
assert_contains "$(cat renew.json)" "shutting down" "answer to the waiting API client"
assert_contains "$(cat renew.json)" '"ok":false' "the renewal is not reported as done"
assert_eq "$sum0" "$(cat certs/cert.crt certs/priv.key | sha256sum)" "pair on disk after the cancel"
check_pair certs/cert.crt certs/priv.key root.pem example.test
wait_until 10 test -s slow.sh.cleanup || fail "the DNS record was not cleaned up"
if grep -q '"failures": *[1-9]' certs/.state-*.json 2>/dev/null; then
  fail "the cancel was counted as a failure: $(cat certs/.state-*.json)"
fi
if grep -q "renewal failed" serve.log; then fail "the cancel was logged as a failed renewal"; fi
echo "PASS"
