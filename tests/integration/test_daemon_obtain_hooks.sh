#!/usr/bin/env bash
# `autocert obtain` runs hooks.deploy and notify.webhook as the daemon does
# (issue 10 item 14: it ran neither, so a cron'd obtain never reloaded nginx):
# "obtained" for a first certificate, "renewed" with --force, "failed" for a
# set whose DNS provider fails (webhook only, no deploy hook), nothing when the
# certificate is present; the same body, headers and AUTOCERT_* environment as
# the daemon; obtain waits for the hook before it exits.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
testenv_init
start_challtestsrv
start_pebble
cd "$TESTENV_DIR"
HOOKPORT=$(free_port)

cat >receiver.py <<'PY'
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
PY
testenv_spawn receiver python3 receiver.py "$HOOKPORT"
wait_until 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$HOOKPORT" || fail "receiver did not start"

# The hook sleeps a little: obtain must wait for it, not exit under it.
write_config o.yml challtestsrv '[example.test, www.example.test]' \
  "hooks:" "  deploy: 'sleep 1; env | grep -E \"^AUTOCERT_(EVENT|SET|DOMAINS|CERT_PATH|KEY_PATH)=\" | sort >> hook.env; echo --- >> hook.env'" \
  "notify:" "  webhook: http://127.0.0.1:$HOOKPORT/hook" "  headers: ['X-Token: tok-123456']"

"$AUTOCERT_BIN" obtain -c o.yml >o1.out 2>&1 || { cat o1.out >&2; fail "obtain failed"; }
[ -s hook.env ] || { cat o1.out >&2; fail "deploy hook did not run (or obtain did not wait for it)"; }
assert_eq "AUTOCERT_CERT_PATH=certs/cert.crt
AUTOCERT_DOMAINS=example.test www.example.test
AUTOCERT_EVENT=obtained
AUTOCERT_KEY_PATH=certs/priv.key
AUTOCERT_SET=main
---" "$(cat hook.env)" "deploy hook environment"
assert_eq 1 "$(grep -c '"obtained"' events.jsonl)" "webhook: one obtained event"

# Present and valid: no order, no event.
"$AUTOCERT_BIN" obtain -c o.yml >o2.out 2>&1 || { cat o2.out >&2; fail "second obtain failed"; }
assert_eq 1 "$(grep -c -- --- hook.env)" "no hook when nothing changed"
assert_eq 1 "$(wc -l <events.jsonl)" "no event when nothing changed"

# --force: renewed.
"$AUTOCERT_BIN" obtain -c o.yml --force >o3.out 2>&1 || { cat o3.out >&2; fail "obtain --force failed"; }
assert_eq 2 "$(grep -c -- --- hook.env)" "hook after obtain --force"
assert_contains "$(tail -6 hook.env)" "AUTOCERT_EVENT=renewed" "hook event after --force"
python3 - <<'PY' || fail "webhook payloads wrong"
import json
ev = [json.loads(l) for l in open("events.jsonl")]
assert [e["event"] for e in ev] == ["obtained", "renewed"], ev
for e in ev:
    assert e["set"] == "main", e
    assert e["domains"] == ["example.test", "www.example.test"], e
    assert e["not_after"] and e["not_after"].endswith("Z"), e
    assert e["time"].endswith("Z"), e
    assert e["error"] is None, e
    assert e["_token"] == "tok-123456", e
    assert e["_ctype"] == "application/json", e
PY

# A failing set: "failed" on the webhook with the error, no deploy hook, exit 1.
cat >fail.sh <<'SH'
#!/bin/sh
echo "zone not found" >&2
exit 3
SH
chmod 755 fail.sh
write_config f.yml exec '[fail.example.test]' \
  "  cert_path: certs/fail.crt" "  key_path: certs/fail.key" \
  "  options:" "    program: $TESTENV_DIR/fail.sh" \
  "hooks:" "  deploy: 'echo ran >> hook2.env'" \
  "notify:" "  webhook: http://127.0.0.1:$HOOKPORT/hook"
set +e
"$AUTOCERT_BIN" obtain -c f.yml >o4.out 2>&1; rc=$?
set -e
assert_eq 1 "$rc" "exit status of a failed obtain"
[ ! -e hook2.env ] || fail "deploy hook ran for a failure"
python3 - <<'PY' || fail "failed event wrong"
import json
ev = [json.loads(l) for l in open("events.jsonl")][-1]
assert ev["event"] == "failed" and ev["set"] == "main", ev
assert ev["error"] and ev["error"]["kind"] and "zone not found" in ev["error"]["message"], ev
PY
echo "PASS"
