#!/usr/bin/env bash
# DuckDNS provider against mock_duckdns.py (the update API as documented):
# present sets the subdomain's TXT value (exact parameters asserted), cleanup
# clears it, and since DuckDNS holds one value per subdomain, a cleanup of a
# value already replaced by a later present of the same process sends nothing
# (the newer value stays); a refused update (KO) is an auth error naming the
# provider and the option (never the token), a name outside duckdns.org is
# refused, a 429 with Retry-After is waited out, a persistent 429 is reported
# as rate limiting.
set -euo pipefail

BUILD=${AUTOCERT_BUILD_DIR:?}
SRC=${AUTOCERT_SOURCE_DIR:?}
DRIVER=$BUILD/tests/dns_driver
TMP=$(mktemp -d /tmp/ac-dd-XXXXXX)
MOCK_PID=
cleanup() {
    if [ -n "$MOCK_PID" ]; then kill "$MOCK_PID" 2>/dev/null || true; wait "$MOCK_PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT
# The mock has no DNS server behind it: no CNAME look-up (dns_api.h).
printf '#!/bin/sh\nexec "%s" "$@" follow_cname=false\n' "$DRIVER" > "$TMP/driver"
chmod +x "$TMP/driver"
DRIVER=$TMP/driver

TOKEN=$(python3 -c 'import uuid; print(uuid.uuid4())')
python3 "$SRC/tests/integration/mock_duckdns.py" "$TMP/port" "$TOKEN" mygw &
MOCK_PID=$!
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
PORT=$(cat "$TMP/port")
export AUTOCERT_DUCKDNS_BASE_URL=http://127.0.0.1:$PORT
state() { curl -sf "http://127.0.0.1:$PORT/__control/state"; }
txt() { state | python3 -c 'import json,sys; print(json.load(sys.stdin)["txt"]["mygw"])'; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. present sets the value, cleanup clears it (also for a deeper name)
"$DRIVER" present duckdns mygw.duckdns.org valueA token="$TOKEN"
[ "$(txt)" = valueA ] || fail "present: $(txt)"
"$DRIVER" cleanup duckdns mygw.duckdns.org valueA token="$TOKEN"
[ "$(txt)" = "" ] || fail "cleanup: $(txt)"
"$DRIVER" present duckdns www.mygw.duckdns.org deep token="$TOKEN"
[ "$(txt)" = deep ] || fail "deep: $(txt)"

# 2. one instance: present v1, present v2, cleanup v1 keeps v2 (v1 already gone)
"$DRIVER" seq duckdns mygw.duckdns.org v1 v2 token="$TOKEN"
[ "$(txt)" = v2 ] || fail "seq: $(txt)"
"$DRIVER" cleanup duckdns mygw.duckdns.org v2 token="$TOKEN"
[ "$(txt)" = "" ] || fail "cleanup v2: $(txt)"

# 3. refused update (KO): auth error naming provider and option, no token
BAD=00000000-1111-2222-3333-444444444444
if "$DRIVER" present duckdns mygw.duckdns.org x token=$BAD 2>"$TMP/err"; then fail "bad token accepted"; fi
grep -q "provider.auth" "$TMP/err" || fail "kind: $(cat "$TMP/err")"
grep -q "duckdns" "$TMP/err" || fail "provider not named: $(cat "$TMP/err")"
grep -q "token" "$TMP/err" || fail "option not named: $(cat "$TMP/err")"
if grep -q "$BAD\|$TOKEN" "$TMP/err"; then fail "secret leaked"; fi
if "$DRIVER" present duckdns example.com x token="$TOKEN" 2>"$TMP/err"; then fail "non-duckdns name accepted"; fi
grep -q "duckdns.org" "$TMP/err" || fail "outside: $(cat "$TMP/err")"
if "$DRIVER" validate duckdns 2>"$TMP/err"; then fail "no token accepted"; fi
grep -q "token" "$TMP/err" || fail "validate: $(cat "$TMP/err")"

# 4. one 429 with Retry-After: 1 is waited out
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=1" >/dev/null
start=$(date +%s%N)
"$DRIVER" present duckdns mygw.duckdns.org afterwait token="$TOKEN"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$elapsed_ms" -ge 900 ] || fail "did not wait for Retry-After ($elapsed_ms ms)"
[ "$(txt)" = afterwait ] || fail "not set after 429"

# 5. a persistent 429 ends as rate limiting after bounded retries
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=50" >/dev/null
if "$DRIVER" present duckdns mygw.duckdns.org never token="$TOKEN" 2>"$TMP/err"; then
    fail "persistent 429 succeeded"
fi
grep -q "dns.rate_limited" "$TMP/err" || fail "kind: $(cat "$TMP/err")"
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=0" >/dev/null

# 6. exact requests
state > "$TMP/state.json"
python3 - "$TMP/state.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["violations"] == [], s["violations"]
ok = [l for l in s["log"] if l.get("answer") == "OK"]
assert ok[0]["params"] == {"domains": "mygw", "token": "<token>", "txt": "valueA", "verbose": "true"}, ok[0]
assert ok[1]["params"] == {"domains": "mygw", "token": "<token>", "txt": "", "clear": "true",
                           "verbose": "true"}, ok[1]
# seq: v1, v2 and no clear in between; then the clear of v2
seq = [l["params"].get("txt") or ("clear" if "clear" in l["params"] else "") for l in ok[3:6]]
assert seq == ["v1", "v2", "clear"], seq
n429 = [l for l in s["log"] if l.get("answer") == 429]
assert len(n429) == 1 + 4, len(n429)
print("requests ok:", len(s["log"]))
EOF
echo "PASS"
