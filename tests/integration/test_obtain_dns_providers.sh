#!/usr/bin/env bash
# The exec and httpreq DNS providers each obtain a certificate from Pebble: the
# exec program and the httpreq endpoint (a small local server) publish the TXT
# values through pebble-challtestsrv's management API.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
testenv_init
start_challtestsrv
start_pebble
cd "$TESTENV_DIR"
pebble_root root.pem

# --- exec: program present|cleanup <fqdn.> <value> --------------------------------
cat > dns-exec.sh <<SH
#!/bin/sh
echo "\$@" >> $TESTENV_DIR/exec-calls.log
case "\$1" in
  present) curl -fsS -d "{\"host\":\"\$2\",\"value\":\"\$3\"}" $CHALLTESTSRV_URL/set-txt ;;
  cleanup) curl -fsS -d "{\"host\":\"\$2\"}" $CHALLTESTSRV_URL/clear-txt ;;
  *) exit 2 ;;
esac
SH
chmod +x dns-exec.sh
write_config exec.yml exec '[exec.example.test, "*.exec.example.test"]' \
  "  options:" \
  "    program: $TESTENV_DIR/dns-exec.sh"
"$AUTOCERT_BIN" obtain -c exec.yml >exec.out 2>exec.log || { cat exec.log >&2; fail "exec provider obtain failed: $(cat exec.out)"; }
check_pair certs/cert.crt certs/priv.key root.pem exec.example.test '*.exec.example.test'
assert_eq 2 "$(grep -c '^present _acme-challenge.exec.example.test. ' exec-calls.log)" "exec present calls (apex + wildcard)"
assert_eq 2 "$(grep -c '^cleanup _acme-challenge.exec.example.test. ' exec-calls.log)" "exec cleanup calls"
rm -rf certs

# --- httpreq: POST {endpoint}/present and /cleanup with {"fqdn","value"} -------------
port=$(free_port)
python3 - "$port" "$CHALLTESTSRV_URL" "$TESTENV_DIR/httpreq-calls.log" >httpreq-server.log 2>&1 <<'PY' &
import base64, json, sys, urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer
port, upstream, logpath = int(sys.argv[1]), sys.argv[2], sys.argv[3]
class H(BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        auth = self.headers.get("Authorization", "")
        ok = auth == "Basic " + base64.b64encode(b"acme:s3cret-password").decode()
        with open(logpath, "a") as f:
            f.write("%s %s %s %s\n" % (self.path, body["fqdn"], self.headers.get("Content-Type"), "auth-ok" if ok else "auth-bad"))
        if not ok:
            self.send_response(401); self.end_headers(); return
        if self.path == "/dns/present":
            data = json.dumps({"host": body["fqdn"], "value": body["value"]}).encode()
            urllib.request.urlopen(upstream + "/set-txt", data)
        elif self.path == "/dns/cleanup":
            urllib.request.urlopen(upstream + "/clear-txt", json.dumps({"host": body["fqdn"]}).encode())
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
HTTPServer(("127.0.0.1", port), H).serve_forever()
PY
TESTENV_PIDS+=("$!")
wait_until 10 curl -s -o /dev/null "http://127.0.0.1:$port/" || true
write_config httpreq.yml httpreq '[httpreq.example.test]' \
  "  options:" \
  "    endpoint: http://127.0.0.1:$port/dns" \
  "    username: acme" \
  "    password: s3cret-password"
"$AUTOCERT_BIN" obtain -c httpreq.yml >httpreq.out 2>httpreq.log || { cat httpreq.log >&2; fail "httpreq provider obtain failed: $(cat httpreq.out)"; }
check_pair certs/cert.crt certs/priv.key root.pem httpreq.example.test
grep -q '^/dns/present _acme-challenge.httpreq.example.test. application/json auth-ok$' httpreq-calls.log || { cat httpreq-calls.log >&2; fail "httpreq present request not as expected"; }
grep -q '^/dns/cleanup _acme-challenge.httpreq.example.test. application/json auth-ok$' httpreq-calls.log || fail "httpreq cleanup request not as expected"
if grep -q "s3cret-password" httpreq.out httpreq.log; then fail "httpreq password leaked"; fi
echo "PASS: test_obtain_dns_providers"
