# serve_lib.sh - helpers for the `autocert serve` integration tests (sourced
# after scripts/testenv.sh and obtain_lib.sh).

# start_daemon CONFIG LOG: runs `autocert serve` in the background (SERVE_PID).
start_daemon() {
  testenv_spawn "$2" "$AUTOCERT_BIN" serve -c "$1"
  SERVE_PID=$TESTENV_LAST_PID
}

stop_daemon() {
  [[ -n "${SERVE_PID:-}" ]] || return 0
  testenv_stop "$SERVE_PID"
  SERVE_PID=
}

# served_serial PORT SNI ROOT: serial (lowercase hex, no separators) of the
# leaf the daemon presents for SNI; empty when the handshake fails.
served_serial() {
  local out
  out=$(gnutls-cli --port "$1" --sni-hostname "$2" --x509cafile "$3" --verify-hostname "$2" \
      --print-cert 127.0.0.1 </dev/null 2>/dev/null) || return 1
  printf '%s\n' "$out" | sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p' |
    awk '/END CERTIFICATE/ {print; exit} {print}' >"$TESTENV_DIR/served.pem"
  certtool -i --infile "$TESTENV_DIR/served.pem" 2>/dev/null |
    awk -F': ' '/Serial Number/ {print $2; exit}'
}

# hello PORT SNI ROOT: the body the daemon answers over HTTPS.
hello() {
  curl -fsS --max-time 5 --cacert "$3" --resolve "$2:$1:127.0.0.1" "https://$2:$1/"
}

# handshake_ok PORT SNI ROOT
handshake_ok() { [[ -n "$(served_serial "$@")" ]]; }

# served_is PORT SNI ROOT SERIAL: the daemon presents the leaf with SERIAL
# (any case, colons ignored).
served_is() {
  local got
  got=$(served_serial "$1" "$2" "$3" | tr -d ':' | tr 'A-F' 'a-f')
  [[ -n "$got" && "$got" == "$(echo "$4" | tr -d ':' | tr 'A-F' 'a-f')" ]]
}

# write_slow_dns SCRIPT: an `exec` DNS provider program for orders that take a
# while. `present` appends its name to SCRIPT.present, then reads SCRIPT.delay:
# a number of seconds to sleep before publishing the value in challtestsrv, or
# "hang" to publish nothing (the order then waits in the propagation check).
# `cleanup` appends the name to SCRIPT.cleanup and clears it. Use with
# options: program: SCRIPT.
write_slow_dns() {
  local script=$1
  cat >"$script" <<SH
#!/usr/bin/env bash
case \$1 in
present)
  echo "\$2" >>"$script.present"
  d=\$(cat "$script.delay" 2>/dev/null || echo 0)
  [[ "\$d" == hang ]] && exit 0
  sleep "\$d"
  curl -fsS -X POST -d "{\"host\":\"\$2\",\"value\":\"\$3\"}" "$CHALLTESTSRV_URL/set-txt" >/dev/null ;;
cleanup)
  echo "\$2" >>"$script.cleanup"
  curl -fsS -X POST -d "{\"host\":\"\$2\"}" "$CHALLTESTSRV_URL/clear-txt" >/dev/null ;;
esac
SH
  chmod 755 "$script"
  echo 0 >"$script.delay"
}

# elapsed_ms T0: milliseconds since T0 (a `date +%s%N` value).
elapsed_ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# wait_exit PID SECONDS: waits for PID (a child of this shell) to exit; its
# status in WAIT_RC. Fails when it still runs after SECONDS.
wait_exit() {
  local pid=$1 secs=$2
  wait_until "$secs" bash -c '! kill -0 "$0" 2>/dev/null || [[ "$(ps -o stat= -p "$0")" == Z* ]]' "$pid" ||
    return 1
  set +e; wait "$pid"; WAIT_RC=$?; set -e
  return 0
}
