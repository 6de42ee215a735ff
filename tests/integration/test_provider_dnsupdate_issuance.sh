#!/usr/bin/env bash
# Full issuance through RFC 2136: `autocert obtain` with provider dnsupdate
# (TSIG hmac-sha256) against a real Knot, with Pebble's -dnsserver pointed at
# Knot so the CA validates through it: apex + wildcard, chain verified, the TXT
# records gone afterwards; a wrong TSIG secret is refused with an error naming
# the provider and tsig_secret (secret not printed). Then, as a figure, the
# wall time of the same issuance with lego's rfc2136 provider on the same
# servers when AUTOCERT_LEGO_FIGURE=1 (a figure, not a check; lego gets --dns.disable-cp:
# its own authoritative-NS check resolves ns1.example.test through the system
# resolver, which cannot know the test zone; it still polls the resolver given.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
testenv_init
start_knot example.test
start_pebble --dns "127.0.0.1:$KNOT_PORT" --authz-reuse 0
cd "$TESTENV_DIR"
pebble_root root.pem

conf() { # file secret cert_dir
  cat > "$1" <<EOF
autocert:
  provider: dnsupdate
  email: admin@example.test
  domains: [example.test, "*.example.test"]
  ca_dir_url: $PEBBLE_DIR_URL
  ca_certs: [$PEBBLE_CA_CERT]
  cert_path: $3/cert.crt
  key_path: $3/priv.key
  resolvers: [127.0.0.1:$KNOT_PORT]
  options:
    nameserver: 127.0.0.1:$KNOT_PORT
    tsig_key: $KNOT_TSIG_NAME
    tsig_secret: $2
    tsig_algorithm: $KNOT_TSIG_ALG
    ttl: 60
    propagation_timeout: 30
    polling_interval: 1
EOF
}
txt() { kdig @127.0.0.1 -p "$KNOT_PORT" +short +timeout=2 +retry=0 TXT _acme-challenge.example.test; }

# --- wrong TSIG secret: refused, clear error, no secret ------------------------
WRONG=$(head -c 32 /dev/urandom | base64)
conf wrong.yml "$WRONG" wrongcerts
if "$AUTOCERT_BIN" obtain -c wrong.yml >wrong.out 2>wrong.log; then fail "obtain with a wrong TSIG secret succeeded"; fi
assert_contains "$(cat wrong.out wrong.log)" "dnsupdate"
assert_contains "$(cat wrong.out wrong.log)" "tsig_secret"
if grep -qF "$WRONG" wrong.out wrong.log; then fail "the wrong secret was printed"; fi
if grep -qF "$KNOT_TSIG_SECRET" wrong.out wrong.log; then fail "the secret was printed"; fi
[ ! -s wrongcerts/cert.crt ] || fail "a certificate was written after the failure"
assert_eq "" "$(txt)" "no TXT left after the failed attempt"

# --- full issuance --------------------------------------------------------------
conf ok.yml "$KNOT_TSIG_SECRET" certs
t0=$(date +%s%N)
"$AUTOCERT_BIN" obtain -c ok.yml >ok.out 2>ok.log || { cat ok.log >&2; fail "obtain through rfc2136 failed: $(cat ok.out)"; }
t1=$(date +%s%N)
check_pair certs/cert.crt certs/priv.key root.pem example.test '*.example.test'
assert_eq "" "$(txt)" "TXT records removed after issuance"
ours_ms=$(( (t1 - t0) / 1000000 ))
echo "figure: autocert obtain apex+wildcard via rfc2136+Knot+Pebble: ${ours_ms} ms"

# --- lego on the same servers (figure only) -------------------------------------
if [ "${AUTOCERT_LEGO_FIGURE:-0}" = 1 ] && command -v lego >/dev/null; then
  t0=$(date +%s%N)
  if LEGO_CA_CERTIFICATES=$PEBBLE_CA_CERT \
     RFC2136_NAMESERVER=127.0.0.1:$KNOT_PORT RFC2136_TSIG_KEY=$KNOT_TSIG_NAME \
     RFC2136_TSIG_SECRET=$KNOT_TSIG_SECRET RFC2136_TSIG_ALGORITHM=$KNOT_TSIG_ALG. \
     RFC2136_TTL=60 RFC2136_PROPAGATION_TIMEOUT=15 RFC2136_POLLING_INTERVAL=1 \
     lego --server "$PEBBLE_DIR_URL" --accept-tos --email admin@example.test --path lego \
          --key-type ec256 --dns rfc2136 --dns.resolvers "127.0.0.1:$KNOT_PORT" --dns.disable-cp \
          -d example.test -d '*.example.test' run >lego.log 2>&1; then
    t1=$(date +%s%N)
    echo "figure: lego run apex+wildcard via rfc2136+Knot+Pebble: $(( (t1 - t0) / 1000000 )) ms"
    cut -c1-200 lego.log | grep -v '^$' | tail -25 >&2
  else
    echo "figure: lego run failed (see below); no comparison" >&2
    tail -5 lego.log >&2
  fi
fi
echo PASS
