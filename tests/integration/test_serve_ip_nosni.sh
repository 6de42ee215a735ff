#!/usr/bin/env bash
# test_serve_ip_nosni.sh - IP-address certificates (RFC 8738) for clients that
# send no SNI: a `local` extra whose self-signed certificate (certtool) has
# the IP SAN 127.0.0.1 is served to `gnutls-cli --disable-sni` and to
# `openssl s_client -noservername` on 127.0.0.1, while a client without SNI on
# ::1 gets main; a client with SNI is unaffected. Checked for the example
# gateway (two listeners: 127.0.0.1 and [::1]) and for `autocert serve`
# (whose answer names the set). A client offering acme-tls/1 with no
# challenge pending gets a normal certificate.
set -euo pipefail
source "${AUTOCERT_SOURCE_DIR:?}/scripts/testenv.sh"
source "$(dirname "$0")/serve_lib.sh"
testenv_init
[[ -x "${AUTOCERT_GATEWAY:-}" ]] || fail "AUTOCERT_GATEWAY not built"
D=$TESTENV_DIR

# make_cert NAME CN [dns_name=...|ip_address=...]...: self-signed ECDSA P-256
make_cert() {
  local name=$1 cn=$2 line
  shift 2
  {
    echo "cn = \"$cn\""
    for line in "$@"; do echo "${line%%=*} = \"${line#*=}\""; done
    echo "expiration_days = 30"
    echo "signing_key"
    echo "tls_www_server"
  } >"$D/$name.tmpl"
  certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 --no-text \
    --outfile "$D/$name.key" 2>/dev/null
  certtool --generate-self-signed --load-privkey "$D/$name.key" \
    --template "$D/$name.tmpl" --outfile "$D/$name.crt" 2>/dev/null
}

make_cert main main-cert dns_name=main.example.test
make_cert ip ip-cert ip_address=127.0.0.1
certtool -i --infile "$D/ip.crt" | grep -q "IPAddress: 127.0.0.1" || fail "no IP SAN in ip.crt"

P4=$(free_port)
P6=$(free_port)
PD=$(free_port)
cat >"$D/autocert.yml" <<EOF
autocert:
  provider: local
  cert_path: $D/main.crt
  key_path: $D/main.key
  extra:
    - cert_path: $D/ip.crt
      key_path: $D/ip.key
serve:
  listen: 127.0.0.1:$PD
EOF

# cn_gnutls HOST PORT OPTS...: subject CN of the certificate gnutls-cli gets
cn_gnutls() {
  local host=$1 port=$2 out
  shift 2
  out=$(gnutls-cli --no-ca-verification --print-cert -p "$port" "$@" "$host" \
        </dev/null 2>/dev/null) || return 1
  sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p;/END CERTIFICATE/q' <<<"$out" \
    | certtool -i 2>/dev/null | sed -n 's/^.*Subject: CN=\(.*\)$/\1/p' | head -n1
}

# cn_openssl HOST PORT OPTS...: the same through openssl s_client
cn_openssl() {
  local host=$1 port=$2
  shift 2
  openssl s_client -connect "$host:$port" "$@" </dev/null 2>/dev/null \
    | openssl x509 -noout -subject 2>/dev/null | sed -n 's/^subject=.*CN *= *\(.*\)$/\1/p'
}

expect() { # description expected actual
  assert_eq "$2" "$3" "$1"
}

testenv_spawn gw4 "$AUTOCERT_GATEWAY" -c "$D/autocert.yml" --listen "127.0.0.1:$P4"
testenv_spawn gw6 "$AUTOCERT_GATEWAY" -c "$D/autocert.yml" --listen "[::1]:$P6"
wait_until 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$P4" || fail "gateway (127.0.0.1) did not start"
wait_until 10 bash -c "exec 3<>/dev/tcp/::1/$P6" || fail "gateway ([::1]) did not start"

expect "gateway, no SNI on 127.0.0.1 (gnutls-cli)" ip-cert \
  "$(cn_gnutls 127.0.0.1 "$P4" --disable-sni)"
expect "gateway, no SNI on 127.0.0.1 (openssl)" ip-cert \
  "$(cn_openssl 127.0.0.1 "$P4" -noservername)"
expect "gateway, SNI main.example.test on 127.0.0.1" main-cert \
  "$(cn_gnutls 127.0.0.1 "$P4" --sni-hostname main.example.test)"
expect "gateway, unknown SNI on 127.0.0.1" main-cert \
  "$(cn_gnutls 127.0.0.1 "$P4" --sni-hostname other.test)"
expect "gateway, no SNI on ::1 (gnutls-cli)" main-cert \
  "$(cn_gnutls ::1 "$P6" --disable-sni)"
expect "gateway, no SNI on ::1 (openssl)" main-cert \
  "$(cn_openssl '[::1]' "$P6" -noservername)"
expect "gateway, acme-tls/1 without a pending challenge" main-cert \
  "$(cn_gnutls 127.0.0.1 "$P4" --alpn acme-tls/1 --sni-hostname main.example.test)"
# the request still works over the connection without SNI
body=$(curl -fsS --max-time 5 -k "https://127.0.0.1:$P4/") || fail "curl to the gateway failed"
expect "gateway answer without SNI" "hello (no sni) from ip-cert" "$body"

testenv_spawn daemon "$AUTOCERT_BIN" serve -c "$D/autocert.yml"
wait_until 15 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PD" || fail "autocert serve did not start"
expect "autocert serve, no SNI on 127.0.0.1" ip-cert \
  "$(cn_gnutls 127.0.0.1 "$PD" --disable-sni)"
expect "autocert serve, SNI main.example.test" main-cert \
  "$(cn_gnutls 127.0.0.1 "$PD" --sni-hostname main.example.test)"
body=$(curl -fsS --max-time 5 -k "https://127.0.0.1:$PD/") || fail "curl to autocert serve failed"
expect "autocert serve answer without SNI" "hello (no sni) from extra[1]" "$body"
echo "PASS"
