#!/usr/bin/env bash
# test_admin_hostile.sh - the default admin API (loopback, no token) of a real
# `autocert serve` against hostile HTTP clients (issue 10 items 6, 8, 9, 16,
# 17): a foreign or rebinding Host (421), a cross-site POST from
# Origin: http://evil.example and an <img>-style GET renew (403, nothing
# renewed or revoked), while curl from the shell keeps working (also
# `curl -N` on the event stream); request bytes echoed as valid UTF-8 JSON;
# JSON 414/431; 40 slow-loris clients that keep dripping header lines are
# closed at the whole-request deadline with a JSON 408 while /healthz and
# /status answer; 70 of them from one address: 503 JSON for that address,
# /healthz and other addresses still served; 500 concurrent requests: an
# answer each, no reset, and the warnings are rate-limited; a second daemon
# on the same config prints one clear error line; a bearer token followed by
# whitespace is accepted.
set -euo pipefail
source "${AUTOCERT_SOURCE_DIR:?}/scripts/testenv.sh"
testenv_init
D=$TESTENV_DIR
BIN=$AUTOCERT_BIN
CLIENT="python3 $AUTOCERT_SOURCE_DIR/tests/integration/admin_hostile_client.py"

cat >"$D/cert.tmpl" <<EOF
cn = "main.example.test"
dns_name = "main.example.test"
expiration_days = 30
signing_key
tls_www_server
EOF
certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 --no-text \
  --outfile "$D/main.key" 2>/dev/null
certtool --generate-self-signed --load-privkey "$D/main.key" --template "$D/cert.tmpl" \
  --outfile "$D/main.crt" 2>/dev/null

APORT=$(free_port)
URL=http://127.0.0.1:$APORT
cat >"$D/autocert.yml" <<EOF
autocert:
  provider: local
  cert_path: $D/main.crt
  key_path: $D/main.key
admin:
  listen: 127.0.0.1:$APORT
EOF
testenv_spawn serve "$BIN" serve -c "$D/autocert.yml"
SERVE_PID=$TESTENV_LAST_PID
wait_until 20 curl -sf "$URL/healthz" || fail "admin API did not come up"
LOG=$D/serve.log

code() { curl -s -o "$D/body" -D "$D/headers" -w '%{http_code}' "$@"; }
json_field() { python3 -c 'import json,sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
renewals() { grep -c "requested through the API" "$LOG" || true; }
raw() { $CLIENT raw "$APORT" "$@"; }

# ---- legitimate local clients keep working ----
assert_eq 200 "$(code "$URL/healthz")" "healthz"
assert_eq 200 "$(code "$URL/api/v1/cert/status")" "status from curl"
assert_eq 200 "$(code -H "Host: localhost:$APORT" "$URL/api/v1/cert/status")" "Host localhost:port"
assert_eq 200 "$(code -H "Host: localhost" "$URL/api/v1/cert/status")" "Host localhost"
assert_eq 200 "$(code -H "Host: [::1]:$APORT" "$URL/api/v1/cert/status")" "Host [::1]:port"
curl -sN --max-time 60 "$URL/api/v1/cert/renew" >"$D/sse"
assert_contains "$(cat "$D/sse")" "event: result" "curl -N on the event stream"
assert_eq 200 "$(code -X POST "$URL/api/v1/cert/renew")" "POST renew from curl"
assert_eq 200 "$(code -X POST -H "Origin: http://127.0.0.1:$APORT" "$URL/api/v1/cert/renew")" \
  "POST renew with our own Origin"
assert_eq 200 "$(code -H "Sec-Fetch-Site: same-origin" "$URL/api/v1/cert/renew")" \
  "same-origin GET renew"

# ---- DNS rebinding: a foreign Host is refused everywhere ----
assert_eq 421 "$(code -H "Host: evil.example:$APORT" "$URL/api/v1/cert/status")" "foreign Host"
assert_eq "Host 'evil.example:$APORT' is not served here" "$(json_field message <"$D/body")" \
  "421 body"
assert_eq 421 "$(code -H "Host: rebind.attacker.test:$APORT" "$URL/healthz")" "rebinding Host"
assert_eq 421 "$(code -H "Host: 127.0.0.1:1" "$URL/api/v1/cert/status")" "another port"
out=$(raw $'GET /api/v1/cert/status HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n')
assert_eq 421 "$(json_field status <<<"$out")" "two Host headers"

# ---- cross-site requests: refused, nothing renewed or revoked ----
before=$(renewals)
assert_eq 403 "$(code -X POST -H "Origin: http://evil.example" -H "Content-Type: text/plain" \
  --data x "$URL/api/v1/cert/revoke?name=main")" "text/plain POST revoke from evil.example"
assert_contains "$(json_field message <"$D/body")" "cross-origin" "403 body"
assert_eq 403 "$(code -X POST -H "Origin: http://evil.example" "$URL/api/v1/cert/renew")" \
  "POST renew from evil.example"
assert_eq 403 "$(code -X POST -H "Origin: http://localhost:3000" "$URL/api/v1/cert/renew")" \
  "POST renew from another local web app"
assert_eq 403 "$(code -H "Sec-Fetch-Site: cross-site" -H "Sec-Fetch-Mode: no-cors" \
  -H "Sec-Fetch-Dest: image" "$URL/api/v1/cert/renew")" "<img> GET renew, cross-site"
assert_eq 403 "$(code -H "Sec-Fetch-Site: same-site" -H "Sec-Fetch-Dest: image" \
  "$URL/api/v1/cert/renew")" "<img> GET renew from a same-site page"
assert_contains "$(json_field message <"$D/body")" "same-origin" "GET renew refusal body"
assert_eq "$before" "$(renewals)" "renewals/revocations started by refused requests"
if grep -q "revocation of" "$LOG"; then fail "a refused request revoked"; fi

# ---- request bytes echoed as valid UTF-8 JSON ----
out=$(raw $'POST /api/v1/cert/renew?name=%ff%fe%1b[31m HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\n\r\n')
assert_eq 404 "$(json_field status <<<"$out")" "unknown set"
assert_eq True "$(json_field utf8 <<<"$out")" "404 body is UTF-8"
assert_eq True "$(json_field json <<<"$out")" "404 body is JSON"

# ---- our limits on the request head answer JSON ----
long=$(head -c 3000 /dev/zero | tr '\0' a)
out=$(raw "GET /api/v1/cert/status?x=$long HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
assert_eq 414 "$(json_field status <<<"$out")" "long URI"
assert_eq True "$(json_field json <<<"$out")" "414 body is JSON"
pad=$(head -c 9000 /dev/zero | tr '\0' b)
out=$(raw "GET /api/v1/cert/status HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: $pad\r\n\r\n")
assert_eq 431 "$(json_field status <<<"$out")" "large header"
assert_eq True "$(json_field json <<<"$out")" "431 body is JSON"
# Beyond libmicrohttpd's own buffer or syntax, it answers by itself (HTML,
# documented): an answer and a close, nothing else.
out=$(raw $'GET / HTTP/2.0\r\nHost: 127.0.0.1\r\n\r\n')
assert_eq 505 "$(json_field status <<<"$out")" "HTTP/2.0 request line"

# ---- slow-loris: closed at the deadline while the API answers ----
$CLIENT slowloris "$APORT" --count 40 --interval 2 --hold 45 --ready "$D/ready" >"$D/slow.json" &
SLOW=$!
wait_until 20 test -s "$D/ready" || fail "slow-loris clients did not connect"
for path in /healthz /api/v1/cert/status; do
  assert_eq 200 "$(code --max-time 5 "$URL$path")" "$path while 40 slow clients are connected"
done
wait "$SLOW" || fail "slow-loris client failed"
cat "$D/slow.json" >&2
assert_eq 40 "$(json_field closed_by_server <"$D/slow.json")" "slow clients closed by the server"
assert_eq 40 "$(json_field json_408 <"$D/slow.json")" "JSON 408 answers"

# ---- over the per-address cap: 503 JSON for that address only ----
rm -f "$D/ready"
$CLIENT slowloris "$APORT" --count 70 --interval 2 --hold 45 --ready "$D/ready" >"$D/slow2.json" &
SLOW=$!
wait_until 20 test -s "$D/ready" || fail "slow-loris clients did not connect"
assert_eq 503 "$(code --max-time 10 "$URL/api/v1/cert/status")" "status over the per-address cap"
assert_eq True "$(python3 -c 'import json,sys; print(isinstance(json.load(sys.stdin)["message"], str))' <"$D/body")" "503 body is JSON"
assert_contains "$(cat "$D/headers")" "Retry-After: 1" "Retry-After"
for i in 1 2 3 4 5; do # held-back warnings, counted later
  assert_eq 503 "$(code --max-time 10 "$URL/api/v1/cert/status")" "status over the cap ($i)"
done
assert_eq 200 "$(code --max-time 10 "$URL/healthz")" "healthz over the cap"
assert_eq 200 "$(code --max-time 10 --interface 127.0.0.2 "$URL/api/v1/cert/status")" \
  "another address"
wait "$SLOW" || fail "slow-loris client failed"
assert_eq 70 "$(json_field closed_by_server <"$D/slow2.json")" "second slow clients closed"

# ---- 500 concurrent requests: an answer each (200, or 503 over a cap), no reset ----
$CLIENT burst "$APORT" --count 500 --path /api/v1/cert/status >"$D/burst.json"
cat "$D/burst.json" >&2
python3 - "$D/burst.json" <<'EOF' || fail "burst: not every request was answered 200/503"
import json, sys
r = json.load(open(sys.argv[1]))
answers = r["answers"]
assert r["resets"] == 0 and not r["errors"], r
assert set(answers) <= {"200", "503"}, r
assert sum(answers.values()) == 500, r
EOF
# Rate-limited warnings: one line per kind and 10 s, then a count.
n503=$(grep -c "answered 503 to" "$LOG" || true)
(( n503 >= 1 && n503 <= 3 )) || fail "expected 1-3 lines about 503 answers, got $n503"
wait_until 30 grep -q "more requests answered 503 (connection limit) in the last 10 s" "$LOG" ||
  fail "no summary of the held-back 503 warnings"
nclosed=$(grep -c "did not send a whole request" "$LOG" || true)
(( nclosed >= 1 && nclosed <= 4 )) || fail "expected 1-4 lines about the deadline, got $nclosed"
assert_eq 200 "$(code "$URL/api/v1/cert/status")" "status after the storm"

# ---- a second daemon on the same config: one clear error line ----
set +e
timeout 60 "$BIN" serve -c "$D/autocert.yml" >"$D/second.out" 2>&1
rc=$?
set -e
[[ $rc -ne 0 && $rc -ne 124 ]] || fail "second daemon: exit status $rc"
cat "$D/second.out" >&2
assert_eq 1 "$(grep -c ' error ' "$D/second.out" || true)" "error lines of the second daemon"
assert_contains "$(cat "$D/second.out")" "admin.listen 127.0.0.1:$APORT: address already in use" \
  "second daemon's error"
if grep -qi "failed to bind\|http server:" "$D/second.out"; then
  fail "libmicrohttpd's own message reached the log"
fi

# ---- with a token: OWS after it is not part of it ----
TPORT=$(free_port)
TOKEN=hostile-test-token-0123456789
sed -e "s/127.0.0.1:$APORT/127.0.0.1:$TPORT/" "$D/autocert.yml" >"$D/token.yml"
echo "  token: $TOKEN" >>"$D/token.yml"
testenv_spawn serve2 "$BIN" serve -c "$D/token.yml"
wait_until 20 curl -sf "http://127.0.0.1:$TPORT/healthz" || fail "second API did not come up"
out=$($CLIENT raw "$TPORT" "GET /api/v1/cert/status HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer $TOKEN  \t\r\n\r\n")
assert_eq 200 "$(json_field status <<<"$out")" "token followed by whitespace"
out=$($CLIENT raw "$TPORT" "GET /api/v1/cert/status HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}x\r\n\r\n")
assert_eq 401 "$(json_field status <<<"$out")" "wrong token"

kill -0 "$SERVE_PID" || fail "daemon died"
echo "ok"
