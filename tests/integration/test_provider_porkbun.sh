#!/usr/bin/env bash
# Porkbun provider against mock_porkbun.py (API v3 as documented): append-only
# present (two values at one name), the most specific account domain is used,
# cleanup deletes exactly our value, an auth failure names the provider and
# the options (never the secret), a 429 with Retry-After is waited out, a
# persistent 429 is reported as rate limiting, and every request matched the
# documented form (POST, JSON body with the credentials).
set -euo pipefail

BUILD=${AUTOCERT_BUILD_DIR:?}
SRC=${AUTOCERT_SOURCE_DIR:?}
DRIVER=$BUILD/tests/dns_driver
TMP=$(mktemp -d /tmp/ac-pb-XXXXXX)
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

KEY=pk1_$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
SECRET=sk1_$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
python3 "$SRC/tests/integration/mock_porkbun.py" "$TMP/port" "$KEY" "$SECRET" &
MOCK_PID=$!
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
PORT=$(cat "$TMP/port")
export AUTOCERT_PORKBUN_BASE_URL=http://127.0.0.1:$PORT/api/json/v3
state() { curl -sf "http://127.0.0.1:$PORT/__control/state"; }
records() { state | python3 -c 'import json,sys; print(" ".join(sorted(r["name"]+"="+r["content"] for r in json.load(sys.stdin)["records"])))'; }
fail() { echo "FAIL: $*" >&2; exit 1; }
A=(api_key="$KEY" secret_api_key="$SECRET")

# 1. two values at one name
"$DRIVER" present porkbun example.com valueA "${A[@]}"
"$DRIVER" present porkbun example.com valueB "${A[@]}" ttl=900
[ "$(records)" = "_acme-challenge.example.com=valueA _acme-challenge.example.com=valueB" ] || fail "both values: $(records)"

# 2. the most specific domain of the account (sub.example.com, not example.com)
"$DRIVER" present porkbun a.sub.example.com deep "${A[@]}"
state | python3 -c 'import json,sys; r=[r for r in json.load(sys.stdin)["records"] if r["content"]=="deep"]; assert r and r[0]["domain"]=="sub.example.com" and r[0]["name"]=="_acme-challenge.a.sub.example.com", r' || fail "deep: $(records)"

# 3. cleanup removes exactly one value; absent is success
"$DRIVER" cleanup porkbun example.com valueA "${A[@]}"
[ "$(records)" = "_acme-challenge.a.sub.example.com=deep _acme-challenge.example.com=valueB" ] || fail "after cleanup: $(records)"
"$DRIVER" cleanup porkbun example.com valueA "${A[@]}"
"$DRIVER" cleanup porkbun example.com valueB "${A[@]}"
"$DRIVER" cleanup porkbun a.sub.example.com deep "${A[@]}"
[ "$(records)" = "" ] || fail "not empty: $(records)"

# 4. auth failure: clear error naming provider and options, no secret
if "$DRIVER" present porkbun example.com x api_key="$KEY" secret_api_key=sk1_wrong-secret-987654 2>"$TMP/err"; then
    fail "wrong secret accepted"
fi
grep -q "provider.auth" "$TMP/err" || fail "kind: $(cat "$TMP/err")"
grep -q "porkbun" "$TMP/err" || fail "provider not named: $(cat "$TMP/err")"
grep -q "secret_api_key" "$TMP/err" || fail "option not named: $(cat "$TMP/err")"
if grep -q -e "wrong-secret-987654" -e "$KEY" -e "$SECRET" "$TMP/err"; then fail "secret leaked"; fi
if "$DRIVER" validate porkbun api_key="$KEY" 2>"$TMP/err"; then fail "no secret accepted"; fi
grep -q "secret_api_key" "$TMP/err" || fail "validate: $(cat "$TMP/err")"
# the test-only base URL must be https or loopback
if AUTOCERT_PORKBUN_BASE_URL=http://example.net/ "$DRIVER" present porkbun example.com x "${A[@]}" 2>"$TMP/err"; then
    fail "plain http base accepted"
fi

# 5. one 429 with Retry-After: 1 is waited out
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=1" >/dev/null
start=$(date +%s%N)
"$DRIVER" present porkbun example.com afterwait "${A[@]}"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$elapsed_ms" -ge 900 ] || fail "did not wait for Retry-After ($elapsed_ms ms)"
records | grep -q "=afterwait" || fail "not created after 429"
"$DRIVER" cleanup porkbun example.com afterwait "${A[@]}"

# 6. a persistent 429 ends as rate limiting after bounded retries
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=50" >/dev/null
if "$DRIVER" present porkbun example.com never "${A[@]}" 2>"$TMP/err"; then
    fail "persistent 429 succeeded"
fi
grep -q "dns.rate_limited" "$TMP/err" || fail "kind: $(cat "$TMP/err")"
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=0" >/dev/null

# 7. every request had the documented form; the exact create body
state > "$TMP/state.json"
python3 - "$TMP/state.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["violations"] == [], s["violations"]
creates = [l for l in s["log"] if "/dns/create/" in l["path"] and l["answer"] == 200]
assert creates[0]["path"] == "/api/json/v3/dns/create/example.com", creates[0]
assert creates[0]["body"] == {"name": "_acme-challenge", "type": "TXT", "content": "valueA", "ttl": "120"}, creates[0]
assert creates[1]["body"]["ttl"] == "900"
assert creates[2]["path"] == "/api/json/v3/dns/create/sub.example.com"
assert creates[2]["body"]["name"] == "_acme-challenge.a"
assert all(l["method"] == "POST" and l["content_type"] == "application/json" for l in s["log"])
dels = [l for l in s["log"] if "/dns/delete/" in l["path"]]
assert len(dels) == 4, dels   # valueA, valueB, deep, afterwait: never another record
assert any(l["path"] == "/api/json/v3/dns/retrieveByNameType/example.com/TXT/_acme-challenge" for l in s["log"])
n429 = [l for l in s["log"] if l.get("answer") == 429]
assert len(n429) == 1 + 4, len(n429)
print("requests ok:", len(s["log"]))
PY
echo "PASS"
