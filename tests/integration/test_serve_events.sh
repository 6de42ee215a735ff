#!/usr/bin/env bash
# `autocert serve` with main + two extras against Pebble:
#  - the daemon obtains the three missing certificates by itself and serves
#    each set by SNI ("hello <sni> from <set>");
#  (d) SIGUSR1 (sent twice at once: the second joins the first) makes exactly
#      one new order per set: three new serials, three orders in the log;
#  (e) a webhook receiver gets obtained / renewed / failed events with the
#      right fields and the configured header; the deploy hook sees the right
#      environment; a failing CA yields "failed" events with the error kind.
#  - SIGHUP with a broken config is refused and the daemon keeps serving.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
source "$(dirname "$0")/serve_lib.sh"
testenv_init
start_challtestsrv
start_pebble
cd "$TESTENV_DIR"
pebble_root root.pem
PORT=$(free_port)
HOOKPORT=$(free_port)

cat >receiver.py <<'EOF'
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(n))
        body["_token"] = self.headers.get("X-Token")
        body["_ctype"] = self.headers.get("Content-Type")
        with open("events.jsonl", "a") as f:
            f.write(json.dumps(body) + "\n")
        self.send_response(204); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF
testenv_spawn receiver python3 receiver.py "$HOOKPORT"
wait_until 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$HOOKPORT" || fail "receiver did not start"

write_config d.yml challtestsrv '[example.test]' \
  "  retry_min: 1s" "  retry_max: 2s" "  failure_cooldown: 1s" \
  "  extra:" \
  "    - domains: [api.example.test]" \
  "      cert_path: certs/api.crt" \
  "      key_path: certs/api.key" \
  "    - domains: [www.example.test]" \
  "      cert_path: certs/www.crt" \
  "      key_path: certs/www.key" \
  "serve:" "  listen: 127.0.0.1:$PORT" \
  "hooks:" "  deploy: 'env | grep ^AUTOCERT_ | sort >> hook.env; echo --- >> hook.env'" \
  "notify:" "  webhook: http://127.0.0.1:$HOOKPORT/hook" "  headers: ['X-Token: tok-123456']"

start_daemon d.yml serve
wait_until 60 bash -c '[ "$(grep -c "in service: obtained" serve.log)" -ge 3 ]' ||
  { cat serve.log >&2; fail "the daemon did not obtain the three certificates"; }
wait_until 10 handshake_ok "$PORT" api.example.test root.pem || fail "no handshake for api"
assert_eq "hello api.example.test from extra[1]" "$(hello "$PORT" api.example.test root.pem)"
assert_eq "hello www.example.test from extra[2]" "$(hello "$PORT" www.example.test root.pem)"
assert_eq "hello example.test from main" "$(hello "$PORT" example.test root.pem)"
wait_until 10 bash -c '[ "$(grep -c obtained events.jsonl)" -ge 3 ]' || fail "webhook: no obtained events"

# --- (d) forced renewal: one order per set, concurrent requests join ---------
s_main=$(serial_of certs/cert.crt); s_api=$(serial_of certs/api.crt); s_www=$(serial_of certs/www.crt)
orders0=$(grep -c "starting an order" serve.log)
kill -USR1 "$SERVE_PID"; kill -USR1 "$SERVE_PID"
wait_until 60 grep -q "forced renewal: every set succeeded" serve.log || { cat serve.log >&2; fail "forced renewal did not finish"; }
sleep 2
orders1=$(grep -c "starting an order" serve.log)
assert_eq 3 "$((orders1 - orders0))" "orders made by two joined SIGUSR1"
[[ "$(serial_of certs/cert.crt)" != "$s_main" ]] || fail "main not renewed"
[[ "$(serial_of certs/api.crt)" != "$s_api" ]] || fail "extra[1] not renewed"
[[ "$(serial_of certs/www.crt)" != "$s_www" ]] || fail "extra[2] not renewed"
check_pair certs/api.crt certs/api.key root.pem api.example.test
wait_until 5 served_is "$PORT" api.example.test root.pem "$(serial_of certs/api.crt)" ||
  fail "extra[1]'s new certificate not served"

# --- (e) webhook and deploy-hook contents ------------------------------------------
wait_until 10 bash -c '[ "$(grep -c "\"renewed\"" events.jsonl)" -ge 3 ]' || { cat events.jsonl >&2; fail "webhook: renewed events missing"; }
python3 - <<'EOF' || fail "webhook payloads wrong"
import json
ev = [json.loads(l) for l in open("events.jsonl")]
r = [e for e in ev if e["event"] == "renewed" and e["set"] == "extra[1]"]
assert r, ev
e = r[0]
assert set(e) == {"event", "set", "domains", "not_after", "time", "error", "_token", "_ctype"}, e
assert e["domains"] == ["api.example.test"], e
assert e["error"] is None, e
assert e["not_after"].endswith("Z") and e["time"].endswith("Z"), e
assert e["_token"] == "tok-123456", e
assert e["_ctype"] == "application/json", e
EOF
wait_until 10 bash -c '[ "$(grep -c "AUTOCERT_EVENT=renewed" hook.env)" -ge 3 ]' || { cat hook.env serve.log >&2; fail "deploy hook not run"; }
awk 'BEGIN{RS="---\n"} index($0, "AUTOCERT_SET=extra[1]\n") {print; exit}' hook.env >hook1.env
[[ -s hook1.env ]] || fail "no hook run for extra[1]"
assert_contains "$(cat hook1.env)" "AUTOCERT_DOMAINS=api.example.test"
assert_contains "$(cat hook1.env)" "AUTOCERT_CERT_PATH=certs/api.crt"
assert_contains "$(cat hook1.env)" "AUTOCERT_KEY_PATH=certs/api.key"
grep -q "AUTOCERT_DOMAINS=example.test$" hook.env || fail "main's domains missing in the hook environment"
grep -q "tok-123456" serve.log && fail "webhook header value leaked into the log"

# --- SIGHUP with a broken config: refused, still serving --------------------------
cp d.yml d.good
echo "  bogus_key: [" >>d.yml
kill -HUP "$SERVE_PID"
wait_until 10 grep -q "reload refused" serve.log || { cat serve.log >&2; fail "broken config not refused"; }
handshake_ok "$PORT" example.test root.pem || fail "not serving after a refused reload"
cp d.good d.yml
kill -HUP "$SERVE_PID"
wait_until 10 grep -q "configuration reloaded" serve.log || { cat serve.log >&2; fail "good config not reloaded"; }
handshake_ok "$PORT" www.example.test root.pem || fail "not serving after a reload"

# --- failed events: the CA is gone ----------------------------------------------------
stop_pebble
kill -USR1 "$SERVE_PID"
wait_until 30 bash -c '[ "$(grep -c "\"failed\"" events.jsonl)" -ge 3 ]' || { cat serve.log >&2; fail "webhook: failed events missing"; }
python3 - <<'EOF' || fail "failed payload wrong"
import json
ev = [json.loads(l) for l in open("events.jsonl") if '"failed"' in l]
e = [x for x in ev if x["set"] == "main"][0]
assert e["error"]["kind"].startswith("net."), e
assert e["error"]["message"], e
assert e["domains"] == ["example.test"], e
assert e["not_after"] is not None, e
EOF
grep -q "AUTOCERT_EVENT=failed" hook.env && fail "deploy hook ran although no file changed"
handshake_ok "$PORT" example.test root.pem || fail "not serving after failures"
echo PASS
