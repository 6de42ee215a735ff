#!/usr/bin/env bash
# Issue 10 item 13: a FIFO as the configuration file, cert_path or key_path is
# refused at once ("<path>: not a regular file (a FIFO): refused"), never
# waited on: `check`, `info` and `serve` answer promptly (each run under
# `timeout 10`, so a hang fails the test instead of blocking ctest), and a
# `serve` whose cert_path is a FIFO still starts and stops on SIGTERM.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
testenv_init
cd "$TESTENV_DIR"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout real.key \
  -out real.crt -subj /CN=fifo.example.test -addext subjectAltName=DNS:fifo.example.test \
  -days 3 >/dev/null 2>&1 || fail "openssl could not make a certificate"

write_cfg() { # file cert key
  printf 'autocert:\n  provider: local\n  cert_path: %s\n  key_path: %s\nadmin:\n  listen: 127.0.0.1:%s\n' \
    "$2" "$3" "$(free_port)" >"$1"
}

# run_prompt EXPECTED_RC NEEDLE WHAT cmd...: runs cmd under timeout 10; it must
# exit with EXPECTED_RC and print NEEDLE (stdout or stderr).
run_prompt() {
  local want=$1 needle=$2 what=$3 rc=0 out
  shift 3
  out=$(timeout 10 "$@" 2>&1) || rc=$?
  [[ $rc -ne 124 ]] || fail "$what: hung (killed by timeout after 10 s)"
  assert_eq "$want" "$rc" "$what: exit code"
  assert_contains "$out" "$needle" "$what"
}

# --- the configuration file is a FIFO ----------------------------------------
mkfifo cfg.fifo
run_prompt 2 "cfg.fifo:0:0: not a regular file (a FIFO): refused" "check, config FIFO" \
  "$AUTOCERT_BIN" check -c cfg.fifo
run_prompt 2 "not a regular file (a FIFO)" "info, config FIFO" "$AUTOCERT_BIN" info -c cfg.fifo main
run_prompt 2 "not a regular file (a FIFO)" "serve, config FIFO" "$AUTOCERT_BIN" serve -c cfg.fifo

# --- cert_path is a FIFO -----------------------------------------------------
mkfifo cert.fifo
write_cfg c.yml cert.fifo real.key
run_prompt 0 "ok" "check, cert_path FIFO" "$AUTOCERT_BIN" check -c c.yml
run_prompt 1 "cert.fifo: not a regular file (a FIFO): refused" "info, cert_path FIFO" \
  "$AUTOCERT_BIN" info -c c.yml main

# --- key_path is a FIFO ------------------------------------------------------
mkfifo key.fifo
write_cfg k.yml real.crt key.fifo
run_prompt 1 "key.fifo: not a regular file (a FIFO): refused" "info, key_path FIFO" \
  "$AUTOCERT_BIN" info -c k.yml main

# --- serve with a FIFO as cert_path: starts, says why, stops on SIGTERM ------
testenv_spawn serve "$AUTOCERT_BIN" serve -c c.yml
pid=$TESTENV_LAST_PID
wait_until 10 grep -q "serving; pid" serve.log || { cat serve.log >&2; fail "serve did not start"; }
grep -q "cert.fifo: not a regular file (a FIFO): refused" serve.log || { cat serve.log >&2; fail "serve did not name the FIFO"; }
kill -TERM "$pid"
stopped() { ! kill -0 "$pid" 2>/dev/null || [[ "$(ps -o stat= -p "$pid" 2>/dev/null)" == Z* ]]; }
wait_until 10 stopped || fail "serve ignored SIGTERM"
testenv_stop "$pid"

# the FIFOs were never opened for writing by anyone: nothing may have waited
echo "PASS: test_store_fifo"
