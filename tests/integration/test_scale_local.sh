#!/usr/bin/env bash
# test_scale_local.sh - 10,000 local sets in GoDoxy's form (main plus 9,999
# `extra:` entries, each its own P-256 certificate for site<i>.example<i%100>.com
# and its wildcard, written by bench/scale_gen.py): `autocert check` accepts
# the file; `autocert serve` loads every set once, logs one start-up summary
# (per-set lines only at debug level), and serves the right certificate by SNI
# for a sample of sets (exact names and wildcards); a SIGHUP with one set's
# files rewritten re-reads only that set and serves its new certificate; after
# that reload the watch on local files still serves a rewritten set.
# RESOURCE_LOCK heavy (tests/CMakeLists.txt): never beside another many-set test.
set -euo pipefail
source "${AUTOCERT_SOURCE_DIR:?}/scripts/testenv.sh"
source "$(dirname "$0")/serve_lib.sh"
testenv_init
cd "$TESTENV_DIR"
N=10000
TLS_PORT=$(free_port)
API_PORT=$(free_port)

python3 "$AUTOCERT_SOURCE_DIR/bench/scale_gen.py" sets "$N" \
  --serve-listen "127.0.0.1:$TLS_PORT" --admin-listen "127.0.0.1:$API_PORT" ||
  fail "scale_gen.py failed"
cd sets
extras=$(grep -c '^    - provider: local' autocert.yml)
assert_eq $((N - 1)) "$extras" "extra: entries in the generated file"

# --- check accepts 10,000 sets (the former cap was 100 extras) --------------------
set +e
"$AUTOCERT_BIN" check -c autocert.yml >check.out 2>&1; rc=$?
set -e
assert_eq 0 "$rc" "autocert check of $N sets: $(tail -5 check.out)"

# --- serve: every set loaded once, one summary line -------------------------------
start_daemon autocert.yml serve
wait_until 600 grep -q "serving; pid" "$TESTENV_DIR/serve.log" ||
  { tail -20 "$TESTENV_DIR/serve.log" >&2; fail "serve did not start"; }
LOG=$TESTENV_DIR/serve.log
assert_contains "$(cat "$LOG")" "$N of $N set(s) hold a certificate" "load count"
summary=$(grep -c "start-up: $N sets (" "$LOG" || true)
assert_eq 1 "$summary" "start-up summary lines"
assert_contains "$(grep "start-up: $N sets" "$LOG")" "$N unmanaged" "summary counts by state"
assert_contains "$(grep "start-up: $N sets" "$LOG")" "earliest expiry 20" "summary expiry"
# per-set lines are at debug level above 1,000 sets
per_set=$(grep -c -e "certificate loaded" -e "\] serving site" "$LOG" || true)
assert_eq 0 "$per_set" "per-set info lines at start-up"

# --- the right certificate by SNI for a sample ---------------------------------------
# cn_served PORT SNI: the CN of the leaf the daemon presents (no verification:
# the sets' CA is the generator's own)
cn_served() {
  openssl s_client -connect "127.0.0.1:$1" -servername "$2" </dev/null 2>/dev/null |
    openssl x509 -noout -subject -nameopt multiline 2>/dev/null |
    awk -F'= ' '/commonName/ {print $2; exit}'
}
for i in 0 1 2 99 100 101 998 1000 1001 4242 5000 7777 9000 9998 9999; do
  host="site$i.example$((i % 100)).com"
  assert_eq "$host" "$(cn_served "$TLS_PORT" "$host")" "certificate for SNI $host"
  assert_eq "$host" "$(cn_served "$TLS_PORT" "www.$host")" "certificate for SNI www.$host"
done
# a name no set covers gets main's certificate
assert_eq "site0.example0.com" "$(cn_served "$TLS_PORT" nobody.example.net)" "no match -> main"
# one set's status over the API by name
status=$(curl -fsS "http://127.0.0.1:$API_PORT/api/v1/cert/status?name=extra%5B4242%5D")
assert_contains "$status" '"extra[4242]"' "status of extra[4242]"

# --- SIGHUP with one set changed: only that set is re-read ----------------------------
old_serial=$(openssl x509 -noout -serial -in certs/3/s3210.crt)
python3 "$AUTOCERT_SOURCE_DIR/bench/scale_gen.py" . "$N" --only 3210 || fail "rewrite failed"
new_serial=$(openssl x509 -noout -serial -in certs/3/s3210.crt)
[[ "$old_serial" != "$new_serial" ]] || fail "the rewritten certificate kept its serial"
kill -HUP "$SERVE_PID"
wait_until 300 grep -q "configuration reloaded" "$LOG" || { tail -20 "$LOG" >&2; fail "no reload"; }
# the watch on local files may have re-read the set before the signal came
line=$(grep "reload: .* of $N set(s) had changed files" "$LOG" | tail -1)
[[ "$line" =~ reload:\ [01]\ of\ $N\ set ]] || fail "reload re-read more than the changed set: $line"
served=$(openssl s_client -connect "127.0.0.1:$TLS_PORT" -servername site3210.example10.com \
  </dev/null 2>/dev/null | openssl x509 -noout -serial)
assert_eq "$new_serial" "$served" "the changed set's new certificate after SIGHUP"
# at start-up and in the reload's batch the per-set lines are at debug level;
# the one set re-read on its own (the watch on local files) may say so
loaded=$(grep "certificate loaded" "$LOG" | grep -vc '\[extra\[3210\]\]' || true)
assert_eq 0 "$loaded" "info-level 'certificate loaded' lines of sets that did not change"

# --- after a reload that kept every set (the watch index is kept, not rebuilt),
# the watch on local files still serves a rewritten set without a signal ------------
serves_serial() { # SNI SERIAL
  [[ "$(openssl s_client -connect "127.0.0.1:$TLS_PORT" -servername "$1" </dev/null 2>/dev/null |
    openssl x509 -noout -serial 2>/dev/null)" == "$2" ]]
}
old_serial=$(openssl x509 -noout -serial -in certs/4/s4321.crt)
python3 "$AUTOCERT_SOURCE_DIR/bench/scale_gen.py" . "$N" --only 4321 || fail "rewrite failed"
new_serial=$(openssl x509 -noout -serial -in certs/4/s4321.crt)
[[ "$old_serial" != "$new_serial" ]] || fail "the rewritten certificate kept its serial"
wait_until 120 serves_serial site4321.example21.com "$new_serial" ||
  { tail -20 "$LOG" >&2; fail "the watch did not serve extra[4321]'s new certificate after a reload"; }
stop_daemon
