#!/usr/bin/env bash
# test_gateway_godoxy.sh - examples/gateway as GoDoxy's shape in one process
# (issue 11 §3), built in the tree: against Pebble + challtestsrv, with no
# certificate on disk, the gateway's engine obtains main and an extra, the
# handshakes serve them by SNI without a restart, and a POST
# /api/v1/cert/renew on the gateway's own admin API (admin: section, token)
# changes the served serial. A taken admin port is logged and TLS serving
# goes on.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
source "$(dirname "$0")/serve_lib.sh"
[[ -x "${AUTOCERT_GATEWAY:-}" ]] || { echo "SKIP: no gateway binary"; exit 0; }
testenv_init
start_challtestsrv
start_pebble
cd "$TESTENV_DIR"
pebble_root root.pem

APORT=$(free_port)
TOKEN=gateway-admin-token-0123456789
write_config g.yml challtestsrv '[example.test]' \
  "  extra:" "    - domains: [api.example.test]" \
  "      cert_path: certs/api.crt" "      key_path: certs/api.key"
sed -i "s/^  listen: 127.0.0.1:.*/  listen: 127.0.0.1:$APORT\n  token: $TOKEN/" g.yml
PORT=$(free_port)
testenv_spawn gateway "$AUTOCERT_GATEWAY" -c g.yml --listen "127.0.0.1:$PORT"
GW_PID=$TESTENV_LAST_PID

# --- obtained by the engine, served by SNI ---------------------------------------
wait_until 90 handshake_ok "$PORT" example.test root.pem || { cat gateway.log >&2; fail "main never served"; }
wait_until 60 handshake_ok "$PORT" api.example.test root.pem || { cat gateway.log >&2; fail "extra never served"; }
check_pair certs/cert.crt certs/priv.key root.pem example.test
s0=$(served_serial "$PORT" example.test root.pem | tr -d ':' | tr 'A-F' 'a-f')
[[ -n "$s0" ]] || fail "no serial served"
assert_contains "$(hello "$PORT" api.example.test root.pem)" "hello api.example.test from api.example.test" "the extra answers"

# --- the admin API of the same process: token, then a forced renewal ---------------
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$APORT/api/v1/cert/renew?name=main")
assert_eq 401 "$code" "renewal without the token"
out=$(curl -s --max-time 120 -X POST -H "Authorization: Bearer $TOKEN" \
  "http://127.0.0.1:$APORT/api/v1/cert/renew?name=main")
assert_contains "$out" '"ok":true' "renewal answer"
serial_changed() {
  local s
  s=$(served_serial "$PORT" example.test root.pem | tr -d ':' | tr 'A-F' 'a-f')
  [[ -n "$s" && "$s" != "$s0" ]]
}
wait_until 20 serial_changed ||
  { cat gateway.log >&2; fail "the served serial did not change after the renewal"; }
info=$(curl -s -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$APORT/api/v1/cert/info")
assert_contains "$info" '"name":"extra[1]"' "cert info lists the extra"
testenv_stop "$GW_PID"

# --- the admin port is taken: logged, TLS serving goes on ------------------------------
PORT2=$(free_port)
testenv_spawn gateway2 "$AUTOCERT_GATEWAY" -c g.yml --listen "127.0.0.1:$PORT2"
GW2=$TESTENV_LAST_PID
testenv_spawn gateway3 "$AUTOCERT_GATEWAY" -c g.yml --listen "127.0.0.1:$(free_port)"
GW3=$TESTENV_LAST_PID
wait_until 30 handshake_ok "$PORT2" example.test root.pem || { cat gateway2.log >&2; fail "second gateway does not serve"; }
wait_until 30 grep -q "admin API" gateway2.log || { cat gateway2.log >&2; fail "second gateway did not report its admin API"; }
wait_until 30 grep -q "admin API" gateway3.log || { cat gateway3.log >&2; fail "third gateway did not report its admin API"; }
if grep -q "admin API not started" gateway2.log; then loser=gateway2.log; else loser=gateway3.log; fi
grep -q "admin API not started" "$loser" || fail "a taken admin port was not reported"
testenv_stop "$GW2"
testenv_stop "$GW3"
echo "PASS"
