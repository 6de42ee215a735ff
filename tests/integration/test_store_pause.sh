#!/usr/bin/env bash
# Issue 10 item 1 through the binaries: `autocert obtain --force` against Pebble
# is paused inside its pair commit (AUTOCERT_TEST_COMMIT_PAUSE, builds with
# -DAUTOCERT_TEST_HOOKS=ON) after staging the key (step 1), after staging the
# chain (step 2) and after promoting the key (step 4). Meanwhile `autocert info`
# loads the set and a running `autocert serve` on the same configuration is
# sent SIGHUP (its reload loads every set). Then the commit resumes: obtain
# must exit 0, the pair on disk must match (key = leaf), its serial must be the
# one obtain logged, and after one more SIGHUP the daemon serves it.
# Before the fix the loaders deleted the staged files as an "interrupted
# commit", and obtain still reported success with the new certificate and the
# old key (step 1) or the old certificate (step 2).
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
source "$(dirname "$0")/obtain_lib.sh"
source "$(dirname "$0")/serve_lib.sh"

if ! grep -q '^AUTOCERT_TEST_HOOKS:BOOL=ON' "$AUTOCERT_BUILD_DIR/CMakeCache.txt" 2>/dev/null; then
  echo "SKIP: built without -DAUTOCERT_TEST_HOOKS=ON (no commit pause hook)"
  exit 0
fi

testenv_init
start_challtestsrv
start_pebble
cd "$TESTENV_DIR"
pebble_root root.pem

tls_port=$(free_port)
write_config p.yml challtestsrv '[example.test]' "serve:" "  listen: 127.0.0.1:$tls_port"
"$AUTOCERT_BIN" obtain -c p.yml >obtain0.log 2>&1 || { cat obtain0.log >&2; fail "first obtain failed"; }
check_pair certs/cert.crt certs/priv.key root.pem example.test

start_daemon p.yml serve
wait_until 60 grep -q "certificate loaded" serve.log || { cat serve.log >&2; fail "serve did not load the certificate"; }

norm() { tr -d ':' | tr 'A-F' 'a-f' | sed 's/^0*//'; }
reloads() { grep -c "configuration reloaded" serve.log || true; }
reloaded_since() { (( $(reloads) > $1 )); }

for step in 1 2 4; do
  old=$(serial_of certs/cert.crt | norm)
  pause="$TESTENV_DIR/pause$step"
  mkdir "$pause"
  AUTOCERT_TEST_COMMIT_PAUSE="$step:$pause" "$AUTOCERT_BIN" obtain -c p.yml --force \
    >"obtain$step.out" 2>"obtain$step.log" &
  obtain_pid=$!
  TESTENV_PIDS+=("$obtain_pid")
  wait_until 120 test -e "$pause/paused" || { cat "obtain$step.log" >&2; fail "step $step: obtain never reached the pause"; }

  # a loader in another process: `autocert info`
  info=$("$AUTOCERT_BIN" info -c p.yml main 2>"info$step.log") || { cat "info$step.log" >&2; fail "step $step: info failed: $info"; }
  shown=$(printf '%s\n' "$info" | awk '$1 == "serial" {print $2}' | norm)
  if (( step <= 2 )); then
    assert_eq "$old" "$shown" "step $step: info shows the pair before the commit point"
  else
    [[ "$shown" != "$old" ]] || fail "step $step: info shows the old pair after the commit point"
  fi
  # the daemon's reload loads every set
  n=$(reloads)
  kill -HUP "$SERVE_PID"
  wait_until 60 reloaded_since "$n" || { cat serve.log >&2; fail "step $step: SIGHUP reload did not finish"; }
  [[ -e certs/priv.key.new || $step -ge 4 ]] || fail "step $step: the staged key was deleted during the pause"
  [[ -e certs/cert.crt.new || $step -lt 2 ]] || fail "step $step: the staged chain was deleted during the pause"

  touch "$pause/resume"
  rc=0
  wait "$obtain_pid" || rc=$?
  TESTENV_PIDS=("${TESTENV_PIDS[@]/$obtain_pid}")
  [[ $rc -eq 0 ]] || { cat "obtain$step.out" "obtain$step.log" >&2; fail "step $step: obtain exited $rc"; }
  assert_contains "$(cat "obtain$step.out")" "main: obtained certificate" "step $step"
  check_pair certs/cert.crt certs/priv.key root.pem example.test
  new_raw=$(serial_of certs/cert.crt)
  new=$(echo "$new_raw" | norm)
  [[ "$new" != "$old" ]] || fail "step $step: the old certificate is still on disk"
  logged=$(grep -o 'certificate obtained (serial [0-9a-f]*' "obtain$step.log" | awk '{print $4}' | norm)
  assert_eq "$logged" "$new" "step $step: serial on disk is the one obtain reported"
  [[ ! -e certs/priv.key.new && ! -e certs/cert.crt.new ]] || fail "step $step: staged files left"
  ls certs/.commit-* >/dev/null 2>&1 && fail "step $step: commit journal left"

  # the daemon picks up exactly that pair
  n=$(reloads)
  kill -HUP "$SERVE_PID"
  wait_until 60 reloaded_since "$n" || fail "step $step: second reload did not finish"
  wait_until 30 served_is "$tls_port" example.test root.pem "$new_raw" ||
    fail "step $step: the daemon does not serve serial $new"
done
grep -q "does not match" serve.log && fail "the daemon saw a mismatched pair"
echo "PASS: test_store_pause"
