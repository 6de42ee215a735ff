#!/usr/bin/env bash
# bench/issuance_fleet.sh - issue 12 "issuance throughput": N certificates (default
# 1000) from a local Pebble through the daemon, beside lego (Debian's `lego`)
# doing the same work one certificate after the other.
#
# Both prove control with http-01 on the same loopback port that Pebble's VA
# knocks on (challtestsrv answers A 127.0.0.1 for every name), one EC P-256
# certificate per name siteI.fleet.test, one ACME account each.
#   autocert: `autocert serve` with main + N-1 extras (provider: acme,
#             challenge: http-01, serve.http_listen); timed from the start of the
#             process until the N-th certificate file is written; the number of
#             orders in flight is sampled every 0.2 s from /metrics
#             (autocert_sets{state="renewing"}).
#   lego:     `lego run` once per name (LEGO_N names, default N; a smaller
#             LEGO_N is extrapolated linearly and said so).
# Prints wall time, certificates per second, CPU time of the daemon, and the
# 1-minute load average before each part (the machine may be shared).
#   AUTOCERT_BIN=path   use this autocert (default: build-bench/, Release)
#   SKIP_LEGO=1         only the autocert part
set -euo pipefail
N=${1:-1000}
LEGO_N=${LEGO_N:-$N}
source "$(dirname "$0")/bench_lib.sh"
start_challtestsrv
HTTP_PORT=$(free_port)
start_pebble --http-port "$HTTP_PORT"
cd "$TESTENV_DIR"
load() { cut -d' ' -f1 /proc/loadavg; }
now() { date +%s.%N; }

# --- autocert -----------------------------------------------------------------
ADMIN_PORT=$(free_port)
mkdir -p ac
{
  echo "autocert:"
  echo "  provider: acme"
  echo "  challenge: http-01"
  echo "  email: bench@example.test"
  echo "  domains: [site0.fleet.test]"
  echo "  certificate_key_type: EC256"
  echo "  cert_path: ac/site0.crt"
  echo "  key_path: ac/site0.key"
  echo "  acme_key_path: ac/acme.key"
  echo "  ca_dir_url: $PEBBLE_DIR_URL"
  echo "  ca_certs: [$PEBBLE_CA_CERT]"
  if [ "$N" -gt 1 ]; then
    echo "  extra:"
    for i in $(seq 1 $((N - 1))); do
      echo "    - {domains: [site$i.fleet.test], cert_path: ac/site$i.crt, key_path: ac/site$i.key}"
    done
  fi
  echo "serve:"
  echo "  listen: 127.0.0.1:$(free_port)"
  echo "  http_listen: 127.0.0.1:$HTTP_PORT"
  echo "admin:"
  echo "  listen: 127.0.0.1:$ADMIN_PORT"
  echo "  metrics_per_set: false"
} > ac.yml
"$BIN" check -c ac.yml > /dev/null || fail "autocert check refuses the generated configuration"

ac_load=$(load)
t0=$(now)
"$BIN" serve -c ac.yml > ac.log 2>&1 &
AC_PID=$!
peak=0 samples=0 sum=0
while :; do
  kill -0 "$AC_PID" 2>/dev/null || { tail -20 ac.log >&2; fail "the daemon died"; }
  have=$(find ac -name 'site*.crt' | wc -l)
  [ "$have" -ge "$N" ] && break
  r=$(curl -s --max-time 2 "http://127.0.0.1:$ADMIN_PORT/metrics" 2>/dev/null |
    awk '/^autocert_sets\{state="renewing"\}/ {print $2}' || true)
  if [ -n "$r" ]; then
    samples=$((samples + 1)); sum=$((sum + r))
    [ "$r" -gt "$peak" ] && peak=$r
  fi
  sleep 0.2
done
t1=$(now)
cpu=$(awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$AC_PID/stat")
rss=$(awk '/VmHWM/ {print $2}' "/proc/$AC_PID/status")
kill -TERM "$AC_PID"; wait "$AC_PID" 2>/dev/null || true
ac_wall=$(echo "$t1 - $t0" | bc -l)
mean=$( [ "$samples" -gt 0 ] && echo "scale=1; $sum / $samples" | bc -l || echo 0)
printf 'autocert: %d certificates in %.1f s (%.1f/s), daemon CPU %s s, peak RSS %s KiB, orders in flight: peak %d, mean %s (load average %s)\n' \
  "$N" "$ac_wall" "$(echo "$N / $ac_wall" | bc -l)" "$cpu" "$rss" "$peak" "$mean" "$ac_load"

[ "${SKIP_LEGO:-0}" = 1 ] && exit 0
command -v lego > /dev/null || fail "lego not installed (apt-get install lego)"

# --- lego, one name after the other ---------------------------------------------
lego_load=$(load)
t0=$(now)
for i in $(seq 0 $((LEGO_N - 1))); do
  LEGO_CA_CERTIFICATES=$PEBBLE_CA_CERT lego --server "$PEBBLE_DIR_URL" --email bench@example.test \
    --accept-tos --path lego --key-type ec256 --domains "site$i.fleet.test" \
    --http --http.port "127.0.0.1:$HTTP_PORT" run > lego.log 2>&1 ||
    { tail -20 lego.log >&2; fail "lego failed for site$i.fleet.test"; }
done
t1=$(now)
lego_wall=$(echo "$t1 - $t0" | bc -l)
have=$(find lego/certificates -name 'site*.fleet.test.crt' | wc -l)
[ "$have" -eq "$LEGO_N" ] || fail "lego wrote $have certificates, want $LEGO_N"
if [ "$LEGO_N" -eq "$N" ]; then
  printf 'lego:     %d certificates in %.1f s (%.1f/s), sequential (load average %s)\n' \
    "$N" "$lego_wall" "$(echo "$N / $lego_wall" | bc -l)" "$lego_load"
else
  printf 'lego:     %d certificates in %.1f s (%.1f/s), sequential; %d extrapolated: %.0f s (load average %s)\n' \
    "$LEGO_N" "$lego_wall" "$(echo "$LEGO_N / $lego_wall" | bc -l)" "$N" \
    "$(echo "$lego_wall * $N / $LEGO_N" | bc -l)" "$lego_load"
fi
printf 'ratio:    autocert %.1fx faster\n' "$(echo "($lego_wall * $N / $LEGO_N) / $ac_wall" | bc -l)"
