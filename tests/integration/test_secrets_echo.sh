#!/usr/bin/env bash
# Issue 10 item 7: a DNS API that echoes the request (token included) in a 500
# body must not get the token into anything autocert stores or emits.
# mock_duckdns.py in echo mode repeats the request line and query raw,
# fully percent-encoded (both hex cases, the token cut short by the body
# snippet limit) and form-encoded. Then:
#  - `autocert obtain` fails, naming HTTP 500, with the token masked in its
#    stdout and stderr;
#  - `autocert serve` fails the same order: the daemon log, GET
#    /api/v1/cert/status (last_error.message), the POST /api/v1/cert/renew
#    answer, the .state-*.json file and the webhook body carry no token;
#  - a state file written before the fix (token in last_error.message) is
#    scrubbed when the daemon loads it.
# Every output is searched for the token raw, its first 8 characters raw and
# percent-encoded in both cases.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/tests/integration/provider_lib.sh"
source "$AUTOCERT_SOURCE_DIR/tests/integration/obtain_lib.sh"
source "$AUTOCERT_SOURCE_DIR/tests/integration/serve_lib.sh"
pl_init
start_challtestsrv
start_pebble
cd "$TESTENV_DIR"

TOKEN=$(python3 -c 'import uuid; print(uuid.uuid4())')
ATOK=admin-$(pl_secret t)
pl_start_mock duckdns "$TOKEN" mygw
export AUTOCERT_DUCKDNS_BASE_URL=$MOCK_URL
pct() { python3 -c 'import sys; print("".join("%%%02X" % b for b in sys.argv[1].encode()))' "$1"; }
FORMS=("$TOKEN" "${TOKEN:0:8}" "$(pct "${TOKEN:0:8}")" "$(pct "${TOKEN:0:8}" | tr 'A-F' 'a-f')"
  "$ATOK")

# no_token FILE...: none of the token's forms appears in any FILE
no_token() {
  local f form
  for f in "$@"; do
    for form in "${FORMS[@]}"; do
      if grep -qiF -- "$form" "$f"; then
        cat "$f" >&2
        fail "secret form '$form' found in $f"
      fi
    done
  done
}

HOOKPORT=$(free_port)
cat >receiver.py <<'EOF'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        with open("webhook.jsonl", "ab") as f:
            f.write(self.rfile.read(n) + b"\n")
        self.send_response(204); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
testenv_spawn receiver python3 receiver.py "$HOOKPORT"
wait_until 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$HOOKPORT" || fail "receiver did not start"

write_config d.yml duckdns '[mygw.duckdns.org]' \
  "  retry_min: 1s" "  retry_max: 2s" "  failure_cooldown: 1s" \
  "  options:" "    token: $TOKEN" "    follow_cname: false" \
  "notify:" "  webhook: http://127.0.0.1:$HOOKPORT/hook" \
  "  headers: ['X-Hook-Secret: hook-secret-value-0123']"
printf '  token: %s\n' "$ATOK" >>d.yml
ADMIN=$(awk '/listen:/ {print $2}' d.yml)

# --- 1. obtain, once per echo form ------------------------------------------------
for mode in raw pct pctlower plus; do
  pl_ctl "echo?mode=$mode"
  if "$AUTOCERT_BIN" obtain -c d.yml >"obtain-$mode.out" 2>"obtain-$mode.err"; then
    fail "obtain succeeded against an endpoint answering 500 ($mode)"
  fi
  # the echo reached the error (else this test proves nothing), masked
  grep -q "HTTP 500" "obtain-$mode.out" "obtain-$mode.err" ||
    { cat "obtain-$mode.out" "obtain-$mode.err" >&2; fail "no HTTP 500 error shown ($mode)"; }
  grep -qF "[redacted]" "obtain-$mode.out" "obtain-$mode.err" ||
    { cat "obtain-$mode.err" >&2; fail "the echoed token was not shown masked ($mode)"; }
  no_token "obtain-$mode.out" "obtain-$mode.err"
done
grep -q "domains=mygw" obtain-raw.err obtain-raw.out || fail "the echoed request line is not shown at all"

# --- 2. the daemon: log, /status, POST renew, state file, webhook -----------------
pl_ctl "echo?mode=raw"
start_daemon d.yml serve
wait_until 60 bash -c 'ls certs/.state-*.json >/dev/null 2>&1 && grep -q last_error certs/.state-*.json && grep -q "\"failed\"" webhook.jsonl' ||
  { cat serve.log >&2; fail "the daemon did not record the failure"; }
wait_until 30 bash -c "curl -fsS -H 'Authorization: Bearer $ATOK' http://$ADMIN/api/v1/cert/status >status.json && grep -q HTTP status.json" ||
  fail "no last_error in /status: $(cat status.json)"
curl -sS -X POST -H "Authorization: Bearer $ATOK" "http://$ADMIN/api/v1/cert/renew" >renew.json ||
  fail "POST renew failed"
grep -q '"ok":false' renew.json || fail "renew answer: $(cat renew.json)"
grep -qF "[redacted]" renew.json || fail "renew answer without the masked echo: $(cat renew.json)"
grep -qF "[redacted]" status.json || fail "status without the masked echo: $(cat status.json)"
grep -qF "[redacted]" webhook.jsonl || fail "webhook without the masked echo: $(cat webhook.jsonl)"
no_token serve.log status.json renew.json certs/.state-*.json webhook.jsonl
grep -q "hook-secret-value-0123" serve.log status.json webhook.jsonl && fail "header secret leaked"
stop_daemon

# --- 3. a state file from before the fix is scrubbed on load ----------------------
pl_ctl "echo?mode=off"
python3 - "$TOKEN" certs/.state-*.json <<'EOF'
import json, sys
token, path = sys.argv[1], sys.argv[2]
s = json.load(open(path))
s["last_error"]["message"] = "old: GET /update?token=%s\nforged line" % token
s["retry_at"] = 4102444800  # no new attempt overwrites it during the test
json.dump(s, open(path, "w"))
EOF
start_daemon d.yml serve2
wait_until 30 bash -c "curl -fsS -H 'Authorization: Bearer $ATOK' http://$ADMIN/api/v1/cert/status >status2.json" ||
  fail "daemon did not answer after restart"
grep -q 'old: GET /update?token=\[redacted\]\\\\nforged line' status2.json ||
  fail "old state message not scrubbed as expected: $(cat status2.json)"
no_token status2.json serve2.log
stop_daemon
echo "PASS"
