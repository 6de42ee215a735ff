#!/usr/bin/env bash
# test_ca_misbehaviour.sh - `autocert obtain` and `autocert serve` against a
# misbehaving CA (tests/integration/mock_acme.py), issue 10 items 3, 4, 16:
#
#  obtain: a certificate for other names, an expired one, one not yet valid,
#    one for another key, garbage bodies and a 60 KB Replay-Nonce each fail
#    with their error kind printed, and the pair on disk stays byte-identical;
#  serve: one daemon, sets due for renewal, each ordering from a bad mode
#    (expired, wrong names, endless 429 with Retry-After: 99999999) or from a
#    CA whose good certificates are due again at once (as with a host clock
#    far ahead): each set places at most a couple of orders in ~20 s (no order
#    storm), the bad ones keep their pair byte-identical, and the next attempt
#    (status API and .state-*.json) is within retry_max - also for a state
#    file that holds a retry_at years ahead.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
testenv_init
MOCK=$AUTOCERT_SOURCE_DIR/tests/integration/mock_acme.py
W=$TESTENV_DIR

# ---------------------------------------------------------------- obtain ----
start_mock_acme ok
cat >"$W/obtain.yml" <<EOF
autocert:
  provider: custom
  email: admin@example.test
  domains: [a.example.test, b.example.test]
  cert_path: $W/o/cert.crt
  key_path: $W/o/priv.key
  acme_key_path: $W/acme.key
  ca_dir_url: $MOCK_ACME_URL
  ca_certs: [$MOCK_ACME_CA]
admin:
  listen: 127.0.0.1:$(free_port)
EOF
"$AUTOCERT_BIN" obtain -c "$W/obtain.yml" >"$W/obtain-ok.out" 2>&1 ||
  { cat "$W/obtain-ok.out" >&2; fail "obtain in mode ok failed"; }
cp "$W/o/cert.crt" "$W/good.crt"
cp "$W/o/priv.key" "$W/good.key"

check_refused() { # MODE KIND TEXT
  local rc=0
  mock_acme_control "{\"mode\":\"$1\"}"
  "$AUTOCERT_BIN" obtain --force -c "$W/obtain.yml" >"$W/obtain-$1.out" 2>&1 || rc=$?
  assert_eq 1 "$rc" "obtain exit status in mode $1"
  assert_contains "$(cat "$W/obtain-$1.out")" "[$2]" "error kind in mode $1"
  assert_contains "$(cat "$W/obtain-$1.out")" "$3" "message in mode $1"
  cmp -s "$W/good.crt" "$W/o/cert.crt" || fail "mode $1: cert_path changed"
  cmp -s "$W/good.key" "$W/o/priv.key" || fail "mode $1: key_path changed"
}
check_refused wrong_cert ca.bad_certificate "evil.example not ordered"
check_refused expired_cert ca.bad_certificate "has already expired"
check_refused not_yet_valid_cert ca.bad_certificate "is not valid yet"
check_refused wrong_key ca.bad_certificate "not the CSR's key"
check_refused garbage ca.bad_response "malformed JSON"
check_refused big_nonce ca.bad_response "Replay-Nonce header too long"
# and a good answer is still taken
mock_acme_control '{"mode":"ok"}'
"$AUTOCERT_BIN" obtain --force -c "$W/obtain.yml" >"$W/obtain-ok2.out" 2>&1 ||
  { cat "$W/obtain-ok2.out" >&2; fail "obtain in mode ok (again) failed"; }
cmp -s "$W/good.crt" "$W/o/cert.crt" && fail "mode ok: the certificate was not replaced"
testenv_stop "$MOCK_ACME_PID"

# ----------------------------------------------------------------- serve ----
# Good certificates from this CA are 2 h long and issued 100 min in the past:
# due again the moment they arrive, as with a host clock far ahead.
start_mock_acme ok --retry-after 99999999 --validity 7200 --backdate 6000
RETRY_MAX=3600
# name -> the per-order mode of the mock; every set starts with a valid pair
# that is due for renewal (81 days old, 9 days left).
declare -A NAME=([main]=mode-expired-cert.example.test [x1]=mode-wrong-cert.example.test
  [x2]=mode-endless-429.example.test [x3]=mode-ok.example.test [x4]=stale-state.example.test)
for s in main x1 x2 x3 x4; do
  mkdir -p "$W/$s"
  python3 "$MOCK" pair --cert "$W/$s/cert.crt" --key "$W/$s/priv.key" --from -7000000 \
    --to 800000 "${NAME[$s]}"
  cp "$W/$s/cert.crt" "$W/$s/orig.crt"
  cp "$W/$s/priv.key" "$W/$s/orig.key"
done
ADMIN=127.0.0.1:$(free_port)
{
  echo "autocert:"
  echo "  provider: custom"
  echo "  email: admin@example.test"
  echo "  domains: [${NAME[main]}]"
  echo "  cert_path: $W/main/cert.crt"
  echo "  key_path: $W/main/priv.key"
  echo "  acme_key_path: $W/acme2.key"
  echo "  ca_dir_url: $MOCK_ACME_URL"
  echo "  ca_certs: [$MOCK_ACME_CA]"
  echo "  retry_max: 1h"
  echo "  extra:"
  for s in x1 x2 x3 x4; do
    echo "    - domains: [${NAME[$s]}]"
    echo "      cert_path: $W/$s/cert.crt"
    echo "      key_path: $W/$s/priv.key"
    echo "      retry_max: 1h"
  done
  echo "admin:"
  echo "  listen: $ADMIN"
} >"$W/serve.yml"
# x4: a state file written by an older version, retry_at 1,157 days ahead
now=$(date +%s)
state_file() { ls "$W/$1"/.state-*.json 2>/dev/null | head -1; }
# the store's naming: .state-<first 12 hex of sha256("cert_path|key_path")>.json
h=$(printf '%s|%s' "$W/x4/cert.crt" "$W/x4/priv.key" | sha256sum | cut -c1-12)
printf '{"version":1,"failures":1,"last_success":0,"retry_at":%d}\n' $((now + 99999999)) \
  >"$W/x4/.state-$h.json"

"$AUTOCERT_BIN" serve -c "$W/serve.yml" >"$W/serve.log" 2>&1 &
SERVE_PID=$!
TESTENV_PIDS+=("$SERVE_PID")
status() { curl -fsS --max-time 5 "http://$ADMIN/api/v1/cert/status"; }
failed_all() { # every ordering set has recorded a failure
  status | python3 -c '
import json, sys
st = {s["name"]: s for s in json.load(sys.stdin)}
want = ["main", "extra[1]", "extra[2]", "extra[3]"]
sys.exit(0 if all(st[n]["last_error"] for n in want) else 1)'
}
wait_until 60 failed_all || { status >&2 || true; tail -30 "$W/serve.log" >&2; fail "not every set failed within 60 s"; }
# watch ~20 s more for further orders
sleep 20
status >"$W/status.json"
now=$(date +%s)
python3 - "$W/status.json" "$now" "$RETRY_MAX" <<'PY' || { cat "$W/status.json" >&2; tail -40 "$W/serve.log" >&2; fail "status check failed"; }
import json, sys
st = {s["name"]: s for s in json.load(open(sys.argv[1]))}
now, retry_max = int(sys.argv[2]), int(sys.argv[3])
want = {"main": "ca.bad_certificate", "extra[1]": "ca.bad_certificate",
        "extra[2]": "ca.rate_limited", "extra[3]": "schedule.due_at_once"}
bad = []
for name, kind in want.items():
    s = st[name]
    if (s["last_error"] or {}).get("kind") != kind:
        bad.append("%s: last_error %r, want %s" % (name, s["last_error"], kind))
    if s["state"] != "backoff":
        bad.append("%s: state %s, want backoff" % (name, s["state"]))
for name in list(want) + ["extra[4]"]:
    na = st[name]["next_attempt"]
    if na is None or na > now + retry_max + 5:
        bad.append("%s: next_attempt %s is past now + retry_max (%d)" % (name, na, now + retry_max))
if bad:
    print("\n".join(bad), file=sys.stderr)
    sys.exit(1)
PY
for s in main x1 x2 x3 x4; do
  n=$(mock_acme_count "POST /new-order ${NAME[$s]}")
  testenv_log "$s (${NAME[$s]}): $n newOrder"
  ((n <= 2)) || fail "$s placed $n orders in ~25 s (order storm)"
done
assert_eq 0 "$(mock_acme_count "POST /new-order ${NAME[x4]}")" "orders of the set with a future retry_at"
for s in main x1 x2 x4; do
  cmp -s "$W/$s/orig.crt" "$W/$s/cert.crt" || fail "$s: cert_path changed"
  cmp -s "$W/$s/orig.key" "$W/$s/priv.key" || fail "$s: key_path changed"
done
cmp -s "$W/x3/orig.crt" "$W/x3/cert.crt" && fail "x3: the good (if due) certificate was not installed"
# the persisted retry_at of every set that ordered is within retry_max too
# (x4's old file is only read, and capped when read: its status shows that)
for s in main x1 x2 x3; do
  f=$(state_file "$s")
  [[ -n "$f" ]] || fail "$s: no state file"
  ra=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("retry_at", 0))' "$f")
  ((ra <= now + RETRY_MAX + 5)) || fail "$s: persisted retry_at $ra is past now + retry_max"
done
assert_contains "$(cat "$W/serve.log")" "due for renewal at once" "log of the due-at-once set"
testenv_log "ok"
