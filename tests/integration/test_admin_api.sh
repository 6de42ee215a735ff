#!/usr/bin/env bash
# test_admin_api.sh - the admin API and the CLI against a running `autocert
# serve` that issues from a local Pebble: 200/401/404/405/413, the SSE stream's
# final `result` event, /metrics through promtool, CLI output equal to the API,
# revoke (Pebble shows "Revoked", the listener serves a new certificate), and
# the refusal of a non-loopback admin.listen without a token (exit 2).
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
testenv_init
start_challtestsrv
start_pebble

BIN=$AUTOCERT_BIN
D=$TESTENV_DIR
APORT=$(free_port)
SPORT=$(free_port)
TOKEN=admin-token-for-the-test-0123456789
URL=http://127.0.0.1:$APORT
cat > "$D/autocert.yml" <<YAML
autocert:
  provider: challtestsrv
  email: admin@demo.test
  domains: [demo.test, "*.demo.test"]
  cert_path: $D/certs/cert.crt
  key_path: $D/certs/priv.key
  acme_key_path: $D/certs/acme.key
  ca_dir_url: $PEBBLE_DIR_URL
  ca_certs: [$PEBBLE_CA_CERT]
  resolvers: [127.0.0.1:$CHALLTESTSRV_DNS_PORT]
  options:
    url: $CHALLTESTSRV_URL
  extra:
    - domains: [api.demo.test]
      cert_path: $D/certs/api.crt
      key_path: $D/certs/api.key
admin:
  listen: 127.0.0.1:$APORT
  token: $TOKEN
serve:
  listen: 127.0.0.1:$SPORT
YAML

# A non-loopback admin.listen without a token: refused, exit 2, clear message.
sed -e "s/127.0.0.1:$APORT/0.0.0.0:$APORT/" -e '/token:/d' "$D/autocert.yml" > "$D/public.yml"
set +e
"$BIN" serve -c "$D/public.yml" > "$D/public.out" 2>&1
rc=$?
set -e
assert_eq 2 "$rc" "exit status of serve with 0.0.0.0 and no token"
assert_contains "$(cat "$D/public.out")" "admin.token" "refusal message"

testenv_spawn serve "$BIN" serve -c "$D/autocert.yml"
SERVE_PID=$TESTENV_LAST_PID
wait_until 20 curl -sf "$URL/healthz" >/dev/null || fail "admin API did not come up"

api() { curl -s -H "Authorization: Bearer $TOKEN" "$@"; }
code() { curl -s -o "$D/body" -D "$D/headers" -w '%{http_code}' "$@"; }
all_valid() {
  local s
  s=$(api "$URL/api/v1/cert/status") || return 1
  [ "$(printf '%s' "$s" | grep -o '"state":"valid"' | wc -l)" = 2 ]
}
wait_until 120 all_valid || { api "$URL/api/v1/cert/status"; fail "sets not valid in time"; }

assert_eq 200 "$(code "$URL/healthz")" "healthz without token"
assert_eq '{"ok":true}' "$(cat "$D/body")" "healthz body"
assert_eq 401 "$(code "$URL/api/v1/cert/info")" "info without token"
assert_contains "$(cat "$D/body")" '"message"' "401 body is JSON"
assert_eq 401 "$(code -H "Authorization: Bearer wrong" "$URL/api/v1/cert/info")" "wrong token"
assert_eq 200 "$(code -H "Authorization: Bearer $TOKEN" "$URL/api/v1/cert/info")" "info"
assert_contains "$(cat "$D/body")" '"name":"main"' "info has main"
assert_contains "$(cat "$D/body")" '"name":"extra[1]"' "info has extra[1]"
if grep -q "PRIVATE KEY" "$D/body"; then fail "key material in info"; fi
assert_eq 404 "$(code -H "Authorization: Bearer $TOKEN" "$URL/api/v1/nothing")" "unknown path"
assert_eq 405 "$(code -X DELETE -H "Authorization: Bearer $TOKEN" "$URL/api/v1/cert/status")" "DELETE status"
assert_contains "$(cat "$D/headers")" "Allow: GET, HEAD" "Allow header"
head -c 10000 /dev/zero | tr '\0' x > "$D/big"
assert_eq 413 "$(code -X POST -H "Authorization: Bearer $TOKEN" --data-binary @"$D/big" "$URL/api/v1/cert/renew")" "big body"
assert_eq 404 "$(code -X POST -H "Authorization: Bearer $TOKEN" "$URL/api/v1/cert/renew?name=extra7")" "unknown set"
assert_eq 404 "$(code -X POST -H "Authorization: Bearer $TOKEN" "$URL/api/v1/cert/renew?domain=nope.example")" "unknown domain"

# /metrics passes promtool.
api "$URL/metrics" > "$D/metrics"
promtool check metrics < "$D/metrics" || fail "promtool rejects /metrics"
assert_contains "$(cat "$D/metrics")" 'autocert_cert_state{set="main",state="valid"} 1' "state metric"
assert_contains "$(cat "$D/metrics")" 'autocert_orders_total{outcome="ok"}' "orders metric"

# Forced renewal streamed as SSE: progress, then exactly one result event, last.
old_api_serial=$(api "$URL/api/v1/cert/info" | python3 -c 'import json,sys; print([x for x in json.load(sys.stdin) if x["name"]=="extra[1]"][0]["serial"])')
api -N "$URL/api/v1/cert/renew?name=extra1" > "$D/sse"
assert_contains "$(cat "$D/sse")" "event: progress" "progress events"
assert_eq 1 "$(grep -c '^event: result$' "$D/sse")" "one result event"
assert_eq "event: result" "$(grep '^event:' "$D/sse" | tail -1)" "result is the last event"
assert_contains "$(grep -A1 '^event: result' "$D/sse")" '"ok":true' "renewal ok"
new_api_serial=$(api "$URL/api/v1/cert/info" | python3 -c 'import json,sys; print([x for x in json.load(sys.stdin) if x["name"]=="extra[1]"][0]["serial"])')
[ "$old_api_serial" != "$new_api_serial" ] || fail "forced renewal kept serial $old_api_serial"

# The CLI against the daemon shows what the API shows.
export AUTOCERT_ADMIN_TOKEN=$TOKEN
cli_serial=$("$BIN" info --admin "$URL" api.demo.test | awk '$1=="serial" {print $2}')
assert_eq "$new_api_serial" "$cli_serial" "serial from CLI vs API"
"$BIN" list --admin "$URL" > "$D/list"
na=$(api "$URL/api/v1/cert/status" | python3 -c 'import json,sys,datetime; print(datetime.datetime.fromtimestamp(json.load(sys.stdin)[0]["not_after"], datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"))')
assert_contains "$(grep '^main ' "$D/list")" "$na" "list shows main's expiry"
assert_contains "$(grep '^main ' "$D/list")" "valid" "list shows main's state"
"$BIN" renew --admin "$URL" main > "$D/renew.out" || fail "CLI renew main failed: $(cat "$D/renew.out")"
assert_contains "$(cat "$D/renew.out")" "main: ok" "CLI renew result"
set +e
AUTOCERT_ADMIN_TOKEN=wrong "$BIN" list --admin "$URL" > /dev/null 2>&1; rc=$?
set -e
assert_eq 1 "$rc" "CLI with a wrong token"

# Revoke through the daemon: Pebble shows Revoked, a new certificate is served.
old=$(api "$URL/api/v1/cert/info" | python3 -c 'import json,sys; print([x for x in json.load(sys.stdin) if x["name"]=="extra[1]"][0]["serial"])')
"$BIN" revoke --admin "$URL" --reason superseded extra1 > "$D/revoke.out" || fail "revoke failed: $(cat "$D/revoke.out")"
status=$(curl -s --cacert "$PEBBLE_CA_CERT" "$PEBBLE_MGMT_URL/cert-status-by-serial/$old")
assert_contains "$status" "Revoked" "Pebble's status of $old"
new=$(api "$URL/api/v1/cert/info" | python3 -c 'import json,sys; print([x for x in json.load(sys.stdin) if x["name"]=="extra[1]"][0]["serial"])')
[ -n "$new" ] && [ "$new" != "$old" ] || fail "no new certificate after revoke"
served=$(gnutls-cli --no-ca-verification --sni-hostname api.demo.test -p "$SPORT" 127.0.0.1 --print-cert < /dev/null 2>/dev/null |
  sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p;/END CERTIFICATE/q' | certtool -i 2>/dev/null |
  awk -F': ' '/Serial Number/ {print $2; exit}' | tr -d ':' | tr 'A-F' 'a-f' | sed 's/^0*//')
assert_eq "$(printf '%s' "$new" | sed 's/^0*//')" "$served" "serial served on the SNI listener"

testenv_stop "$SERVE_PID"
echo "PASS test_admin_api"
