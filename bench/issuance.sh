#!/usr/bin/env bash
# bench/issuance.sh - DESIGN.md 7 "Issuance": one `autocert obtain` run against a
# local Pebble (PEBBLE_VA_NOSLEEP=1, PEBBLE_WFE_NONCEREJECT=0,
# PEBBLE_AUTHZREUSE=0) and challtestsrv, fresh account, main wild.example.test +
# *.wild.example.test and ten extras d1..d10.example.test, EC256. Prints wall
# time, CPU time (user+sys) and peak RSS of the whole run (GNU time), median of
# RUNS (default 3), with the 1-minute load average before each run (the machine
# may be shared: compare figures taken at similar loads); then the issuance
# success count out of 10 single-set issuances at 50 % and at 90 % nonce
# rejection (skipped with NONCE_RUNS=0).
#   AUTOCERT_BIN=path  use this autocert (default: build-bench/, Release)
#   OBTAIN_FLAGS=...   flags of the timed obtain runs (default -q; " " keeps
#                      the log, with TESTENV_KEEP=1 to read it afterwards)
set -euo pipefail
RUNS=${RUNS:-3}
NONCE_RUNS=${NONCE_RUNS:-10}
[ -x /usr/bin/time ] || { echo "needs GNU time (/usr/bin/time): apt-get install time" >&2; exit 2; }
source "$(dirname "$0")/bench_lib.sh"
start_challtestsrv

config() { # file dir [extras]
  local f=$1 d=$2 extras=${3:-10}
  {
    echo "autocert:"
    echo "  provider: challtestsrv"
    echo "  email: bench@example.test"
    echo "  domains: [wild.example.test, \"*.wild.example.test\"]"
    echo "  certificate_key_type: EC256"
    echo "  cert_path: $d/wild.crt"
    echo "  key_path: $d/wild.key"
    echo "  acme_key_path: $d/acme.key"
    echo "  ca_dir_url: $PEBBLE_DIR_URL"
    echo "  ca_certs: [$PEBBLE_CA_CERT]"
    echo "  resolvers: [127.0.0.1:$CHALLTESTSRV_DNS_PORT]"
    echo "  options: {url: $CHALLTESTSRV_URL, polling_interval: 1s}"
    if [ "$extras" -gt 0 ]; then
      echo "  extra:"
      for i in $(seq 1 "$extras"); do
        echo "    - domains: [d$i.example.test]"
        echo "      cert_path: $d/d$i.crt"
        echo "      key_path: $d/d$i.key"
      done
    fi
  } > "$f"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

start_pebble --nonce-reject 0
: > "$TESTENV_DIR/wall"; : > "$TESTENV_DIR/cpu"; : > "$TESTENV_DIR/rss"
load() { cut -d' ' -f1 /proc/loadavg; }
: > "$TESTENV_DIR/load"
for r in $(seq 1 "$RUNS"); do
  d=$TESTENV_DIR/run$r; mkdir -p "$d"
  load >> "$TESTENV_DIR/load"
  config "$d/autocert.yml" "$d"
  /usr/bin/time -v -o "$d/time" "$BIN" obtain ${OBTAIN_FLAGS--q} -c "$d/autocert.yml" > "$d/out" 2>&1 ||
    { cat "$d/out"; fail "run $r failed"; }
  n=$(ls "$d"/*.crt | wc -l); [ "$n" = 11 ] || fail "run $r: $n certificates, want 11"
  awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,t,":"); s=0; for(i=1;i<=n;i++) s=s*60+t[i]; print s}' "$d/time" >> "$TESTENV_DIR/wall"
  awk -F': ' '/User time/ {u=$2} /System time/ {s=$2} END {print u+s}' "$d/time" >> "$TESTENV_DIR/cpu"
  awk -F': ' '/Maximum resident/ {print $2}' "$d/time" >> "$TESTENV_DIR/rss"
  echo "run $r: wall $(tail -1 "$TESTENV_DIR/wall") s, cpu $(tail -1 "$TESTENV_DIR/cpu") s, rss $(tail -1 "$TESTENV_DIR/rss") KiB (load $(tail -1 "$TESTENV_DIR/load"))"
done
echo "issuance (11 sets, 12 names, EC256), median of $RUNS:" \
  "wall $(median < "$TESTENV_DIR/wall") s," \
  "cpu $(median < "$TESTENV_DIR/cpu") s," \
  "peak RSS $(median < "$TESTENV_DIR/rss") KiB" \
  "(load average $(median < "$TESTENV_DIR/load"))"
stop_pebble

[ "$NONCE_RUNS" -gt 0 ] || exit 0
for pct in 50 90; do
  start_pebble --nonce-reject "$pct"
  ok=0
  for i in $(seq 1 "$NONCE_RUNS"); do
    d=$TESTENV_DIR/nonce$pct-$i; mkdir -p "$d"
    config "$d/autocert.yml" "$d" 0
    if timeout 300 "$BIN" obtain -q -c "$d/autocert.yml" > "$d/out" 2>&1; then ok=$((ok + 1)); fi
  done
  echo "badNonce $pct %: $ok/$NONCE_RUNS issuances succeeded"
  stop_pebble
done
