#!/usr/bin/env bash
# Issue 10 item 8: text from a CA cannot forge log lines or reach a terminal
# raw. A scripted ACME server (HTTPS on loopback) answers the new-account
# request with a problem whose detail holds a newline and a forged log line
# ("\n2026-01-01T00:00:00Z error forged"), a terminal escape and bytes that
# are not UTF-8. Then:
#  - `autocert obtain` (text log) prints no line starting with the forged
#    timestamp, no ESC byte, only valid UTF-8; the detail is shown escaped;
#  - `autocert serve --log-format json`: every log line is one JSON object,
#    none starts with the forged timestamp;
#  - GET /api/v1/cert/status and the .state-*.json file are valid JSON (UTF-8)
#    whose last_error.message holds the detail escaped.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$AUTOCERT_SOURCE_DIR/tests/integration/serve_lib.sh"
testenv_init
pebble_certs
cd "$TESTENV_DIR"

CA_PORT=$(free_port)
cat >ca.py <<'EOF'
import json, ssl, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port, cert, key = int(sys.argv[1]), sys.argv[2], sys.argv[3]
base = "https://127.0.0.1:%d" % port
DETAIL = (b'{"type":"urn:ietf:params:acme:error:malformed","detail":'
          b'"refused\\n2026-01-01T00:00:00Z error forged \\u001b[31mred\\u001b[0m \xff\xfe end"}')
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def send(self, status, body, ctype="application/json"):
        self.send_response(status)
        self.send_header("Replay-Nonce", "bm9uY2Utbm9uY2U")
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_HEAD(self):
        self.send_response(200)
        self.send_header("Replay-Nonce", "bm9uY2Utbm9uY2U")
        self.send_header("Content-Length", "0")
        self.end_headers()
    def do_GET(self):
        if self.path == "/dir":
            return self.send(200, json.dumps({k: base + "/" + k for k in
                ("newNonce", "newAccount", "newOrder", "revokeCert", "keyChange")}).encode())
        if self.path == "/newNonce":
            return self.send(204, b"")
        self.send(404, b"{}")
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send(400, DETAIL, "application/problem+json")
srv = ThreadingHTTPServer(("127.0.0.1", port), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
srv.serve_forever()
EOF
testenv_spawn ca python3 ca.py "$CA_PORT" "$PEBBLE_TLS_CERT" "$PEBBLE_TLS_KEY"
wait_until 10 curl -sf --cacert "$PEBBLE_CA_CERT" "https://127.0.0.1:$CA_PORT/dir" ||
  fail "scripted CA did not start: $(cat ca.log)"

ADMIN=127.0.0.1:$(free_port)
cat >c.yml <<EOF
autocert:
  provider: custom
  email: admin@example.test
  domains: [forge.example.test]
  ca_dir_url: https://127.0.0.1:$CA_PORT/dir
  ca_certs: [$PEBBLE_CA_CERT]
  retry_min: 1s
  retry_max: 2s
  failure_cooldown: 1s
admin:
  listen: $ADMIN
EOF

# clean FILE: no forged line, no ESC or other C0 control but tab, valid UTF-8
clean() {
  if grep -q '^2026-01-01T00:00:00Z' "$1"; then cat -A "$1" >&2; fail "forged log line in $1"; fi
  if LC_ALL=C grep -q $'[\x01-\x08\x0b-\x1f\x7f]' "$1"; then cat -A "$1" >&2; fail "control character in $1"; fi
  python3 -c 'import sys; open(sys.argv[1], "rb").read().decode("utf-8")' "$1" ||
    fail "$1 is not valid UTF-8"
}

# --- 1. obtain, text log ------------------------------------------------------------
if "$AUTOCERT_BIN" obtain -c c.yml >obtain.out 2>obtain.err; then
  fail "obtain succeeded against a CA that refuses the account"
fi
clean obtain.out
clean obtain.err
grep -qF 'refused\n2026-01-01T00:00:00Z error forged \x1b[31mred' obtain.out obtain.err ||
  { cat obtain.out obtain.err >&2; fail "the CA's detail is not shown escaped"; }
grep -qF '\xff\xfe end' obtain.out obtain.err || fail "invalid UTF-8 not shown escaped"

# --- 2. the daemon, JSON log; /status and the state file ------------------------------
testenv_spawn serve "$AUTOCERT_BIN" serve -c c.yml --log-format json
SERVE_PID=$TESTENV_LAST_PID
wait_until 60 bash -c 'ls certs/.state-*.json >/dev/null 2>&1 && grep -q forged certs/.state-*.json' ||
  { cat serve.log >&2; fail "the daemon did not record the failure"; }
wait_until 30 bash -c "curl -fsS http://$ADMIN/api/v1/cert/status >status.json && grep -q forged status.json" ||
  fail "no last_error in /status: $(cat status.json)"
stop_daemon
clean serve.log
python3 - serve.log status.json certs/.state-*.json <<'EOF' || fail "log or JSON documents wrong"
import json, sys
log, status, state = sys.argv[1:4]
n = 0
for line in open(log, encoding="utf-8"):
    json.loads(line)  # one JSON object per line
    n += 1
assert n > 0
want = "refused\\n2026-01-01T00:00:00Z error forged \\x1b[31mred\\x1b[0m \\xff\\xfe end"
for doc, msg in ((status, lambda d: d[0]["last_error"]["message"]),
                 (state, lambda d: d["last_error"]["message"])):
    d = json.load(open(doc, encoding="utf-8"))
    assert want in msg(d), (doc, msg(d))
EOF
echo "PASS"
