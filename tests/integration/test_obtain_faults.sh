#!/usr/bin/env bash
# Failures of `autocert obtain` are clear and bounded: an unreachable CA, a CA
# that accepts connections but never answers (bounded by the request timeout),
# an unreachable DNS provider (named), an unreadable account key (never
# replaced), and a valid certificate on disk that survives all of it.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
testenv_init
start_challtestsrv
start_pebble
cd "$TESTENV_DIR"

# --- unreachable CA: connection refused -----------------------------------------
dead=$(free_port)
write_config dead.yml challtestsrv '[dead.example.test]'
sed -i "s|ca_dir_url: .*|ca_dir_url: https://127.0.0.1:$dead/dir|" dead.yml
start=$(date +%s)
set +e
out=$("$AUTOCERT_BIN" obtain -c dead.yml 2>dead.log); rc=$?
set -e
assert_eq 1 "$rc" "exit code with an unreachable CA"
assert_contains "$out" "127.0.0.1:$dead" "error names the CA's address"
[ $(( $(date +%s) - start )) -lt 30 ] || fail "unreachable CA took more than 30 s to report"

# --- a CA that never answers: bounded by the 30 s request timeout -----------------
silent=$(free_port)
python3 - "$silent" >silent.log 2>&1 <<'PY' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(8)
conns = []
end = time.time() + 90
while time.time() < end:
    s.settimeout(1)
    try: conns.append(s.accept()[0])
    except OSError: pass
PY
silent_pid=$!
TESTENV_PIDS+=("$silent_pid")
wait_until 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$silent" || fail "silent listener did not start"
write_config silent.yml challtestsrv '[silent.example.test]'
sed -i "s|ca_dir_url: .*|ca_dir_url: https://127.0.0.1:$silent/dir|" silent.yml
start=$(date +%s)
set +e
out=$("$AUTOCERT_BIN" obtain -c silent.yml 2>silent.log); rc=$?
set -e
took=$(( $(date +%s) - start ))
assert_eq 1 "$rc" "exit code with a silent CA"
assert_contains "$out" "timed out" "error says the CA timed out"
[ $took -le 45 ] || fail "silent CA took ${took}s (request timeout is 30 s)"
kill "$silent_pid" 2>/dev/null || true

# --- unreachable DNS provider ---------------------------------------------------------
dnsdead=$(free_port)
write_config dnsdead.yml challtestsrv '[dnsdead.example.test]'
sed -i "s|^    url: .*|    url: http://127.0.0.1:$dnsdead|" dnsdead.yml
set +e
out=$("$AUTOCERT_BIN" obtain -c dnsdead.yml 2>dnsdead.log); rc=$?
set -e
assert_eq 1 "$rc" "exit code with an unreachable DNS provider"
assert_contains "$out" "challtestsrv" "error names the DNS provider"
[ -e certs/.last_failure-68435196b59a ] || fail "failure marker not written after a failed attempt"
grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' certs/.last_failure-68435196b59a || fail "failure marker is not RFC 3339"

# --- unreadable account key: an error, never replaced ------------------------------
mkdir -p badacct
echo "not a key" > badacct/acme.key
write_config badacct.yml challtestsrv '[badacct.example.test]' "  acme_key_path: badacct/acme.key"
set +e
out=$("$AUTOCERT_BIN" obtain -c badacct.yml 2>badacct.log); rc=$?
set -e
assert_eq 1 "$rc" "exit code with an unreadable account key"
assert_contains "$out" "badacct/acme.key" "error names the account key file"
assert_eq "not a key" "$(cat badacct/acme.key)" "unreadable account key left as it was"

# --- a valid pair on disk survives a failed forced renewal ------------------------------
write_config good.yml challtestsrv '[good.example.test]'
"$AUTOCERT_BIN" obtain -c good.yml >/dev/null 2>good.log || { cat good.log >&2; fail "good obtain failed"; }
before=$(sha256sum certs/cert.crt certs/priv.key)
sed -i "s|^    url: .*|    url: http://127.0.0.1:$dnsdead|" good.yml
set +e
"$AUTOCERT_BIN" obtain -c good.yml --force >/dev/null 2>&1; rc=$?
set -e
assert_eq 1 "$rc" "forced obtain with a dead DNS provider"
assert_eq "$before" "$(sha256sum certs/cert.crt certs/priv.key)" "pair untouched by the failed attempt"
echo "PASS: test_obtain_faults"
