#!/usr/bin/env bash
# Vultr provider against mock_vultr.py (API v2 as documented): append-only
# present (two values at one name), the most specific domain found by walking
# up (GET /domains/<name>), cleanup (through cursor pages) deletes exactly our value, an auth failure names
# the provider and the option (never the secret), a 429 with Retry-After is
# waited out, a persistent 429 is reported as rate limiting, and every
# request matched the documented form.
set -euo pipefail

BUILD=${AUTOCERT_BUILD_DIR:?}
SRC=${AUTOCERT_SOURCE_DIR:?}
DRIVER=$BUILD/tests/dns_driver
TMP=$(mktemp -d /tmp/ac-vultr-XXXXXX)
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

TOKEN=vu-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
python3 "$SRC/tests/integration/mock_vultr.py" "$TMP/port" "$TOKEN" &
MOCK_PID=$!
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
PORT=$(cat "$TMP/port")
export AUTOCERT_VULTR_BASE_URL=http://127.0.0.1:$PORT/v2
state() { curl -sf "http://127.0.0.1:$PORT/__control/state"; }
records() { state | python3 -c 'import json,sys; print(" ".join(sorted("%s:%s=%s" % (r["domain"], r["name"], r["data"]) for r in json.load(sys.stdin)["records"])))'; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. two values at one name
"$DRIVER" present vultr example.com valueA api_key="$TOKEN"
"$DRIVER" present vultr example.com valueB api_key="$TOKEN" ttl=300
[ "$(records)" = "example.com:_acme-challenge=\"valueA\" example.com:_acme-challenge=\"valueB\"" ] || fail "both values: $(records)"

# 2. the most specific domain (sub.example.com), found by walking up
"$DRIVER" present vultr a.sub.example.com deep api_key="$TOKEN"
records | grep -q "sub.example.com:_acme-challenge.a=\"deep\"" || fail "deep: $(records)"

# 3. cleanup finds our value on a later page (the mock pages by 2)
"$DRIVER" present vultr example.com valueC api_key="$TOKEN"
"$DRIVER" cleanup vultr example.com valueC api_key="$TOKEN"
records | grep -q valueC && fail "valueC kept: $(records)"
# cleanup removes exactly one value; absent is success
"$DRIVER" cleanup vultr example.com valueA api_key="$TOKEN"
[ "$(records)" = "example.com:_acme-challenge=\"valueB\" sub.example.com:_acme-challenge.a=\"deep\"" ] || fail "after cleanup: $(records)"
"$DRIVER" cleanup vultr example.com valueA api_key="$TOKEN"
"$DRIVER" cleanup vultr example.com valueB api_key="$TOKEN"
"$DRIVER" cleanup vultr a.sub.example.com deep api_key="$TOKEN"
[ "$(records)" = "" ] || fail "not empty: $(records)"

# 4. auth failure: clear error naming provider and option, no secret
if "$DRIVER" present vultr example.com x api_key=wrong-token-123456 2>"$TMP/err"; then
    fail "wrong token accepted"
fi
grep -q "provider.auth" "$TMP/err" || fail "kind: $(cat "$TMP/err")"
grep -q "vultr" "$TMP/err" || fail "provider not named: $(cat "$TMP/err")"
grep -q "api_key" "$TMP/err" || fail "option not named: $(cat "$TMP/err")"
if grep -q -e "wrong-token-123456" -e "$TOKEN" "$TMP/err"; then fail "secret leaked"; fi
if "$DRIVER" validate vultr 2>"$TMP/err"; then fail "no token accepted"; fi
grep -q "api_key" "$TMP/err" || fail "validate: $(cat "$TMP/err")"

# 5. one 429 with Retry-After: 1 is waited out
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=1" >/dev/null
start=$(date +%s%N)
"$DRIVER" present vultr example.com afterwait api_key="$TOKEN"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$elapsed_ms" -ge 900 ] || fail "did not wait for Retry-After ($elapsed_ms ms)"
records | grep -q '="afterwait"' || fail "not created after 429"
"$DRIVER" cleanup vultr example.com afterwait api_key="$TOKEN"

# 6. a persistent 429 ends as rate limiting after bounded retries
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=50" >/dev/null
if "$DRIVER" present vultr example.com never api_key="$TOKEN" 2>"$TMP/err"; then
    fail "persistent 429 succeeded"
fi
grep -q "dns.rate_limited" "$TMP/err" || fail "kind: $(cat "$TMP/err")"
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=0" >/dev/null

# 7. every request had the documented form; the exact POST body
state > "$TMP/state.json"
python3 - "$TMP/state.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["violations"] == [], s["violations"]
posts = [l for l in s["log"] if l["method"] == "POST" and l["answer"] == 201]
assert posts[0]["path"] == "/v2/domains/example.com/records", posts[0]
assert json.loads(posts[0]["body"]) == {"name": "_acme-challenge", "type": "TXT", "data": '"valueA"', "ttl": 120}, posts[0]
assert json.loads(posts[1]["body"])["ttl"] == 300
assert all(p["content_type"] == "application/json" for p in posts)
paths = [l["path"] for l in s["log"] if l["method"] == "GET"]
assert "/v2/domains/a.sub.example.com" in paths and "/v2/domains/sub.example.com" in paths, paths
assert any("cursor=2" in l["query"] for l in s["log"]), "cursor not followed"
dels = [l for l in s["log"] if l["method"] == "DELETE"]
assert len(dels) == 5, dels   # valueC, valueA, valueB, deep, afterwait
n429 = [l for l in s["log"] if l.get("answer") == 429]
assert len(n429) == 1 + 4, len(n429)
print("requests ok:", len(s["log"]))
PY
echo "PASS"
