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
#   pl_waits_429 [--after N] CMD...
#                               With one 429 (Retry-After: 1) scripted (after N
#                               more API requests, default 0), CMD must succeed
#                               and take at least 900 ms, and the request after
#                               the 429 must come at least 900 ms after it.
#   pl_rate_limited CMD...      With a persistent 429, CMD must fail with
#                               dns.rate_limited (the 429s are reset after).
#   pl_check_requests [ARG...] <<'PY'
#                               Runs the python on stdin with s = the mock's
#                               state, args = [ARG...] and writes(log) (the
#                               POST/PUT/PATCH/DELETE entries of log), after
#                               asserting s["violations"] == []; prints
#                               "requests ok: N" at the end.
#   pl_log_len                  Prints how many API requests the mock has logged.
#   pl_knot ZONE:RECORD...      Starts Knot (tracked) on a free loopback port,
#                               authoritative for each ZONE (SOA, NS and the
#                               zone-file line RECORD, if any), and waits for
#                               it. Sets KPORT.
#
# With FN a function of the test (FN OP NAME VALUE: runs the driver's OP for
# the provider with its credentials) and records (prints the records):
#   pl_token_auth PROVIDER OPTION SECRET [OPTIONS...]
#                               A wrong OPTION fails as pl_auth_fails (SECRET
#                               never printed); validate without OPTION fails
#                               naming it (OPTIONS given to both).
#   pl_cleanup_each FN DEEP AFTER_A FINAL
#                               Cleanup of valueA at example.com leaves exactly
#                               records AFTER_A; again (absent) is success; then
#                               valueB and DEEP's value "deep" go: FINAL is left.
#   pl_throttling FN            One 429 is waited out (value afterwait at
#                               example.com written, then cleaned up); a
#                               persistent 429 is dns.rate_limited.

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

pl_waits_429() { # [--after N] cmd...
  local start elapsed_ms after=0
  if [[ $1 == --after ]]; then after=$2; shift 2; fi
  pl_ratelimit 1 "$after"
  start=$(date +%s%N)
  "$@" || fail "not done after one 429: $*"
  elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
  [ "$elapsed_ms" -ge 900 ] || fail "did not wait for Retry-After ($elapsed_ms ms)"
  pl_state | python3 -c 'import json, sys
log = json.load(sys.stdin)["log"]
i = max(i for i, l in enumerate(log) if l.get("answer") == 429)
assert i + 1 < len(log), "no request after the 429"
gap = log[i + 1]["t"] - log[i]["t"]
assert gap >= 0.9, "retried %.3f s after the 429" % gap' || fail "did not wait for Retry-After before retrying"
}

pl_rate_limited() { # cmd...
  pl_ratelimit 50
  if "$@" 2>"$TMP/err"; then fail "persistent 429 succeeded"; fi
  grep -q "dns.rate_limited" "$TMP/err" || fail "kind: $(cat "$TMP/err")"
  pl_ratelimit 0
}

pl_knot() { # zone:record...
  local d=$TMP/knot z last=
  KPORT=$(free_port)
  mkdir -p "$d/run" "$d/db" "$d/zones"
  printf 'server:\n    rundir: "%s/run"\n    listen: 127.0.0.1@%s\ndatabase:\n    storage: "%s/db"\ncontrol:\n    listen: "%s/run/knot.sock"\ntemplate:\n  - id: default\n    storage: "%s/zones"\n    file: "%%s.zone"\nzone:\n' \
    "$d" "$KPORT" "$d" "$d" "$d" > "$d/knot.conf"
  for z in "$@"; do
    last=${z%%:*}
    printf '$ORIGIN %s.\n$TTL 60\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n@ NS ns1\nns1 A 127.0.0.1\n%s\n' \
      "$last" "${z#*:}" > "$d/zones/$last.zone"
    printf '  - domain: %s.\n' "$last" >> "$d/knot.conf"
  done
  testenv_spawn knot knotd -c "$d/knot.conf"
  wait_until 10 _pl_knot_up "$last" || fail "knot did not start: $(cat "$TMP/knot.log")"
}

_pl_knot_up() { kdig +short +timeout=1 +retry=0 @127.0.0.1 -p "$KPORT" SOA "$1" | grep -q hostmaster; }

pl_log_len() { pl_state | python3 -c 'import json, sys; print(len(json.load(sys.stdin)["log"]))'; }

pl_check_requests() { # [arg...]
  pl_state > "$TMP/state.json" || fail "no state"
  python3 -c 'import json, sys
s = json.load(open(sys.argv[1]))
args = sys.argv[3:]
def writes(log):
    return [l for l in log if l["method"] in ("POST", "PUT", "PATCH", "DELETE")]
assert s["violations"] == [], s["violations"]
exec(sys.argv[2])
print("requests ok:", len(s["log"]))' "$TMP/state.json" "$(cat)" "$@" || fail "requests"
}

pl_token_auth() { # provider option secret [options...]
  local p=$1 o=$2 secret=$3
  shift 3
  pl_auth_fails "$p" "$o" wrong-token-123456 "$secret" -- \
    "$DRIVER" present "$p" example.com x "$o=wrong-token-123456" "$@"
  pl_validate_fails "$o" -- "$DRIVER" validate "$p" "$@"
}

pl_cleanup_each() { # fn deep after_a final
  "$1" cleanup example.com valueA
  [ "$(records)" = "$3" ] || fail "after cleanup of valueA: $(records)"
  "$1" cleanup example.com valueA
  "$1" cleanup example.com valueB
  "$1" cleanup "$2" deep
  [ "$(records)" = "$4" ] || fail "after all cleanups: $(records)"
}

pl_throttling() { # fn
  pl_waits_429 "$1" present example.com afterwait
  records | grep -q afterwait || fail "not created after 429: $(records)"
  "$1" cleanup example.com afterwait
  if records | grep -q afterwait; then fail "afterwait not cleaned: $(records)"; fi
  pl_rate_limited "$1" present example.com never
}
