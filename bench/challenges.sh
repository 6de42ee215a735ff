#!/usr/bin/env bash
# bench/challenges.sh - issue 13's figure: the time `autocert obtain` takes to
# issue one certificate for one name from a local Pebble with each challenge
# that needs no DNS provider: http-01 (the responder on serve.http_listen) and
# tls-alpn-01 (the TLS listener on serve.listen), and dns-01 through
# challtestsrv for comparison. Pebble's VA knocks on the ports the listeners
# use (PEBBLE_VA_NOSLEEP=1); a fresh account per run, so every run validates.
# Prints the median and the range of RUNS (default 5) wall times per challenge,
# with the 1-minute load average (the machine may be shared).
#   AUTOCERT_BIN=path   use this autocert (default: build-bench/, Release)
set -euo pipefail
RUNS=${RUNS:-5}
source "$(dirname "$0")/bench_lib.sh"
start_challtestsrv
HTTP_PORT=$(free_port)
TLS_PORT=$(free_port)
start_pebble --http-port "$HTTP_PORT" --tls-port "$TLS_PORT"
cd "$TESTENV_DIR"

config() { # file challenge run
  local f=$1 ch=$2 r=$3
  {
    echo "autocert:"
    if [ "$ch" = dns-01 ]; then
      echo "  provider: challtestsrv"
      echo "  options: {url: $CHALLTESTSRV_URL, polling_interval: 1s}"
      echo "  resolvers: [127.0.0.1:$CHALLTESTSRV_DNS_PORT]"
    else
      echo "  provider: acme"
      echo "  challenge: $ch"
    fi
    echo "  email: bench@example.test"
    echo "  domains: [$ch-$r.bench.test]"
    echo "  certificate_key_type: EC256"
    echo "  cert_path: $ch-$r/cert.crt"
    echo "  key_path: $ch-$r/cert.key"
    echo "  acme_key_path: $ch-$r/acme.key"
    echo "  ca_dir_url: $PEBBLE_DIR_URL"
    echo "  ca_certs: [$PEBBLE_CA_CERT]"
    echo "serve:"
    echo "  listen: 127.0.0.1:$TLS_PORT"
    echo "  http_listen: 127.0.0.1:$HTTP_PORT"
    echo "admin:"
    echo "  listen: 127.0.0.1:$(free_port)"
  } > "$f"
}

load() { cut -d' ' -f1 /proc/loadavg; }
for ch in http-01 tls-alpn-01 dns-01; do
  : > "$ch.times"
  l=$(load)
  for r in $(seq 1 "$RUNS"); do
    config "$ch-$r.yml" "$ch" "$r"
    t0=$(date +%s.%N)
    "$BIN" obtain -q -c "$ch-$r.yml" > "$ch-$r.log" 2>&1 || { cat "$ch-$r.log" >&2; fail "$ch run $r failed"; }
    t1=$(date +%s.%N)
    [ -s "$ch-$r/cert.crt" ] || fail "$ch run $r wrote no certificate"
    echo "$t1 - $t0" | bc -l >> "$ch.times"
  done
  sort -n "$ch.times" | awk -v ch="$ch" -v l="$l" '{a[NR]=$1} END {
    printf "%-12s median %.2f s (%.2f-%.2f s over %d runs; load average %s)\n",
      ch, a[int((NR+1)/2)], a[1], a[NR], NR, l }'
done
