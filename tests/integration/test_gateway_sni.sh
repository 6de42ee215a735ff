#!/usr/bin/env bash
# test_gateway_sni.sh - the example gateway serves the certificate chosen by SNI
# (gnutls-cli), picks up replaced files on SIGHUP while an older connection
# keeps working, and fails handshakes when main holds no certificate.
set -euo pipefail
source "${AUTOCERT_SOURCE_DIR:?}/scripts/testenv.sh"
testenv_init
[[ -x "${AUTOCERT_GATEWAY:-}" ]] || fail "AUTOCERT_GATEWAY not built"
D=$TESTENV_DIR

# make_cert NAME CN DNS...: self-signed ECDSA P-256 pair $D/NAME.{crt,key}
make_cert() {
  local name=$1 cn=$2 dns
  shift 2
  {
    echo "cn = \"$cn\""
    for dns in "$@"; do echo "dns_name = \"$dns\""; done
    echo "expiration_days = 30"
    echo "signing_key"
    echo "tls_www_server"
  } >"$D/$name.tmpl"
  certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 --no-text \
    --outfile "$D/$name.key.new" 2>/dev/null
  certtool --generate-self-signed --load-privkey "$D/$name.key.new" \
    --template "$D/$name.tmpl" --outfile "$D/$name.crt.new" 2>/dev/null
  mv "$D/$name.key.new" "$D/$name.key"
  mv "$D/$name.crt.new" "$D/$name.crt"
}

make_cert main main-wild '*.example.test' example.test
make_cert api api-exact api.example.test
make_cert deep deep-wild '*.deep.example.test'

cat >"$D/autocert.yml" <<EOF
autocert:
  provider: local
  cert_path: $D/main.crt
  key_path: $D/main.key
  extra:
    - cert_path: $D/api.crt
      key_path: $D/api.key
    - cert_path: $D/deep.crt
      key_path: $D/deep.key
EOF

PORT=$(free_port)
start_gateway() {
  testenv_spawn gateway "$AUTOCERT_GATEWAY" -c "$D/autocert.yml" --listen "127.0.0.1:$PORT"
  GW_PID=$TESTENV_LAST_PID
  wait_until 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" || fail "gateway did not start"
}

# served_cn [gnutls-cli options...]: subject CN of the certificate received
served_cn() {
  local out
  out=$(gnutls-cli --no-ca-verification --print-cert -p "$PORT" "$@" 127.0.0.1 \
        </dev/null 2>/dev/null) || return 1
  sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p;/END CERTIFICATE/q' <<<"$out" \
    | certtool -i 2>/dev/null | sed -n 's/^.*Subject: CN=\(.*\)$/\1/p' | head -n1
}

expect() { # sni expected-cn
  local got
  got=$(served_cn --sni-hostname="$1") || fail "handshake failed for SNI $1"
  assert_eq "$2" "$got" "certificate for SNI $1"
}

start_gateway
expect api.example.test api-exact
expect API.Example.Test api-exact
expect www.example.test main-wild
expect example.test main-wild
expect x.deep.example.test deep-wild
expect Y.Deep.Example.Test deep-wild
expect deep.example.test main-wild
expect a.b.deep.example.test main-wild
expect other.test main-wild
expect a.b.example.test main-wild
got=$(served_cn --disable-sni) || fail "handshake without SNI failed"
assert_eq main-wild "$got" "certificate without SNI"

# A long-lived connection opened before the replacement keeps working and keeps
# its certificate; the next handshake gets the new one.
cat >"$D/client.py" <<'EOF'
import socket, ssl, sys, os, time
port, go, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="api.example.test")
def ask():
    s.sendall(b"GET / HTTP/1.1\r\nHost: api.example.test\r\n\r\n")
    data = b""
    while b"\n" not in data.split(b"\r\n\r\n", 1)[-1] or b"\r\n\r\n" not in data:
        chunk = s.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n\r\n", 1)[-1].decode().strip()
with open(out, "w") as f:
    f.write(ask() + "\n"); f.flush()
    for _ in range(200):
        if os.path.exists(go):
            break
        time.sleep(0.05)
    f.write(ask() + "\n")
EOF
python3 "$D/client.py" "$PORT" "$D/go" "$D/client.out" &
CLIENT=$!
TESTENV_PIDS+=("$CLIENT")
wait_until 10 grep -q hello "$D/client.out" || fail "long-lived client got no answer"

make_cert api api-exact-2 api.example.test
kill -HUP "$GW_PID"
wait_until 10 bash -c "[[ \$(gnutls-cli --no-ca-verification --print-cert -p $PORT \
  --sni-hostname=api.example.test 127.0.0.1 </dev/null 2>/dev/null | \
  sed -n '/BEGIN CERT/,/END CERT/p' | certtool -i 2>/dev/null | grep -c 'CN=api-exact-2') -ge 1 ]]" \
  || fail "new certificate not served after SIGHUP"
expect api.example.test api-exact-2
expect www.example.test main-wild
touch "$D/go"
wait "$CLIENT" || fail "long-lived client failed"
mapfile -t answers <"$D/client.out"
assert_eq "hello api.example.test from api-exact" "${answers[0]}" "first answer"
assert_eq "hello api.example.test from api-exact" "${answers[1]:-}" \
  "answer on the connection opened before the reload"

# Broken new files: the certificate in memory keeps being served.
echo "not a certificate" >"$D/api.crt"
kill -HUP "$GW_PID"
sleep 0.5
expect api.example.test api-exact-2

# Main without a certificate: every handshake fails, even for an extra's name.
testenv_stop "$GW_PID"
rm -f "$D/main.crt" "$D/main.key"
start_gateway
if served_cn --sni-hostname=x.deep.example.test >/dev/null; then
  fail "handshake succeeded although main holds no certificate"
fi
if served_cn --disable-sni >/dev/null; then
  fail "handshake without SNI succeeded although main holds no certificate"
fi
echo "PASS"
