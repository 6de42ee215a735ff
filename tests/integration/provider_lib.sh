# shellcheck shell=bash
# provider_lib.sh - what the DNS provider tests (test_provider_*.sh) share,
# on top of scripts/testenv.sh. Sourced; call the functions in the test's
# main shell (they set variables there).
#
#   source "$AUTOCERT_SOURCE_DIR/tests/integration/provider_lib.sh"
#   pl_init                     testenv_init; sets BUILD, SRC, TMP (the test's
#                               work dir, removed at exit), REAL_DRIVER (the dns
#                               driver) and DRIVER (the driver with
#                               follow_cname=false: the mocks have no DNS server
#                               behind them, dns_api.h).
#   pl_secret PREFIX            Prints PREFIX and 24 random hex digits.
#   pl_start_mock NAME ARGS...  Starts tests/integration/mock_NAME.py on a free
#                               loopback port (tracked by PID, stopped at exit;
#                               requests also in $TMP/NAME.requests as JSON
#                               lines) and waits for it. Sets PORT, MOCK_URL
#                               (http://127.0.0.1:PORT), MOCK_PID.
#   pl_state                    Prints the mock's /__control/state.
#   pl_ctl WHAT                 POST /__control/WHAT (WHAT may carry a query).
#   pl_ratelimit N [AFTER]      The next N API requests (after AFTER more) get 429.
#   pl_auth_fails WHAT OPTION SECRET... -- CMD...
#                               CMD must fail with provider.auth, naming WHAT
#                               (the provider) and OPTION, and print none of
#                               the SECRETs; its stderr stays in $TMP/err.
#   pl_validate_fails OPTION -- CMD...
#                               CMD must fail naming OPTION.
#   pl_waits_429 CMD...         With one 429 (Retry-After: 1) scripted, CMD
#                               must succeed and take at least 900 ms.
#   pl_rate_limited CMD...      With a persistent 429, CMD must fail with
#                               dns.rate_limited (the 429s are reset after).
#   pl_check_requests <<'PY'    Runs the python on stdin with s = the mock's
#                               state, after asserting s["violations"] == [];
#                               prints "requests ok: N" at the end.

# shellcheck source=../../scripts/testenv.sh
source "${AUTOCERT_SOURCE_DIR:?}/scripts/testenv.sh"

pl_init() {
  BUILD=${AUTOCERT_BUILD_DIR:?}
  SRC=${AUTOCERT_SOURCE_DIR:?}
  testenv_init
  TMP=$TESTENV_DIR
  REAL_DRIVER=$BUILD/tests/dns_driver
  printf '#!/bin/sh\nexec "%s" "$@" follow_cname=false\n' "$REAL_DRIVER" > "$TMP/driver"
  chmod +x "$TMP/driver"
  DRIVER=$TMP/driver
}

pl_secret() { printf '%s%s\n' "$1" "$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"; }

pl_start_mock() { # name args...
  local name=$1
  shift
  PORT=$(free_port)
  MOCK_URL=http://127.0.0.1:$PORT
  MOCK_REQUEST_LOG=$TMP/$name.requests testenv_spawn "mock_$name" \
    python3 "$SRC/tests/integration/mock_$name.py" "$PORT" "$@"
  MOCK_PID=$TESTENV_LAST_PID
  wait_until 10 curl -sf -o /dev/null "$MOCK_URL/__control/state" \
    || fail "mock_$name did not start: $(cat "$TMP/mock_$name.log")"
}

pl_state() { curl -sf "$MOCK_URL/__control/state"; }
pl_ctl() { curl -sf -X POST "$MOCK_URL/__control/$1" >/dev/null || fail "control $1"; }
pl_ratelimit() { pl_ctl "ratelimit?count=$1&after=${2:-0}"; }

pl_auth_fails() { # what option secret... -- cmd...
  local what=$1 option=$2 s
  local -a secrets=()
  shift 2
  while [[ $# -gt 0 && $1 != -- ]]; do secrets+=("$1"); shift; done
  shift
  if "$@" 2>"$TMP/err"; then fail "bad credentials accepted: $*"; fi
  grep -q "provider.auth" "$TMP/err" || fail "kind: $(cat "$TMP/err")"
  grep -q -- "$what" "$TMP/err" || fail "provider not named: $(cat "$TMP/err")"
  grep -q -- "$option" "$TMP/err" || fail "option not named: $(cat "$TMP/err")"
  for s in "${secrets[@]}"; do
    if grep -qF -- "$s" "$TMP/err"; then fail "secret leaked: $(cat "$TMP/err")"; fi
  done
}

pl_validate_fails() { # option -- cmd...
  local option=$1
  shift 2
  if "$@" 2>"$TMP/err"; then fail "missing option accepted: $*"; fi
  grep -q -- "$option" "$TMP/err" || fail "validate: $(cat "$TMP/err")"
}

pl_waits_429() { # cmd...
  local start elapsed_ms
  pl_ratelimit 1
  start=$(date +%s%N)
  "$@" || fail "not done after one 429: $*"
  elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
  [ "$elapsed_ms" -ge 900 ] || fail "did not wait for Retry-After ($elapsed_ms ms)"
}

pl_rate_limited() { # cmd...
  pl_ratelimit 50
  if "$@" 2>"$TMP/err"; then fail "persistent 429 succeeded"; fi
  grep -q "dns.rate_limited" "$TMP/err" || fail "kind: $(cat "$TMP/err")"
  pl_ratelimit 0
}

pl_check_requests() {
  pl_state > "$TMP/state.json" || fail "no state"
  python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))
assert s["violations"] == [], s["violations"]
exec(sys.argv[2])
print("requests ok:", len(s["log"]))' "$TMP/state.json" "$(cat)" || fail "requests"
}
