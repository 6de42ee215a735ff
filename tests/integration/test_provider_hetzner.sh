#!/usr/bin/env bash
# Hetzner provider against mock_hetzner.py (the Cloud API v1 DNS endpoints as
# documented): present appends one quoted value with add_records next to a
# foreign one, zone found by walking up, the asynchronous action is polled,
# cleanup removes exactly our value with remove_records (a missing RRSet is
# success), an auth failure names the provider and the option (never the
# secret), the legacy api_key is refused with a hint, a 429 with Retry-After
# is waited out, a persistent 429 is reported as rate limiting, and every
# request matched the documented form.
set -euo pipefail

BUILD=${AUTOCERT_BUILD_DIR:?}
SRC=${AUTOCERT_SOURCE_DIR:?}
DRIVER=$BUILD/tests/dns_driver
TMP=$(mktemp -d /tmp/ac-hz-XXXXXX)
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

TOKEN=hz-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
python3 "$SRC/tests/integration/mock_hetzner.py" "$TMP/port" "$TOKEN" &
MOCK_PID=$!
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
PORT=$(cat "$TMP/port")
export AUTOCERT_HETZNER_BASE_URL=http://127.0.0.1:$PORT/v1
state() { curl -sf "http://127.0.0.1:$PORT/__control/state"; }
sets() { state | python3 -c '
import json,sys
s = json.load(sys.stdin)["rrsets"]
print(" ".join("%s/%d=%s" % (k, v["ttl"], ",".join(sorted(v["values"]))) for k, v in sorted(s.items())))'; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. two values at one name next to a foreign one
"$DRIVER" present hetzner example.com valueA api_token="$TOKEN"
"$DRIVER" present hetzner example.com valueB api_token="$TOKEN" ttl=300
[ "$(sets)" = '4711|_acme-challenge|TXT/3600="keep-me","valueA","valueB"' ] || fail "both values: $(sets)"

# 2. zone found by walking up; a new RRSet gets our TTL
"$DRIVER" present hetzner a.b.example.com deep api_token="$TOKEN"
sets | grep -q '4711|_acme-challenge.a.b|TXT/120="deep"' || fail "deep name: $(sets)"

# 3. cleanup removes exactly one value; a missing RRSet is success
"$DRIVER" cleanup hetzner example.com valueA api_token="$TOKEN"
"$DRIVER" cleanup hetzner a.b.example.com deep api_token="$TOKEN"
"$DRIVER" cleanup hetzner a.b.example.com deep api_token="$TOKEN"
"$DRIVER" cleanup hetzner example.com valueB api_token="$TOKEN"
[ "$(sets)" = '4711|_acme-challenge|TXT/3600="keep-me"' ] || fail "after cleanup: $(sets)"

# 4. auth failure: clear error naming provider and option, no secret
if "$DRIVER" present hetzner example.com x api_token=wrong-token-123456 2>"$TMP/err"; then
    fail "wrong token accepted"
fi
grep -q "provider.auth" "$TMP/err" || fail "kind: $(cat "$TMP/err")"
grep -q "hetzner" "$TMP/err" || fail "provider not named: $(cat "$TMP/err")"
grep -q "api_token" "$TMP/err" || fail "option not named: $(cat "$TMP/err")"
if grep -q "wrong-token-123456\|$TOKEN" "$TMP/err"; then fail "secret leaked"; fi
if "$DRIVER" validate hetzner api_key=legacy-key-999 2>"$TMP/err"; then fail "legacy key accepted"; fi
grep -q "api_key" "$TMP/err" && grep -q "api_token" "$TMP/err" || fail "validate: $(cat "$TMP/err")"
if grep -q "legacy-key-999" "$TMP/err"; then fail "secret leaked"; fi

# 5. one 429 with Retry-After: 1 is waited out
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=1" >/dev/null
start=$(date +%s%N)
"$DRIVER" present hetzner example.com afterwait api_token="$TOKEN"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$elapsed_ms" -ge 900 ] || fail "did not wait for Retry-After ($elapsed_ms ms)"
sets | grep -q '"afterwait"' || fail "not created after 429"
"$DRIVER" cleanup hetzner example.com afterwait api_token="$TOKEN"

# 6. a persistent 429 ends as rate limiting after bounded retries
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=50" >/dev/null
if "$DRIVER" present hetzner example.com never api_token="$TOKEN" 2>"$TMP/err"; then
    fail "persistent 429 succeeded"
fi
grep -q "dns.rate_limited" "$TMP/err" || fail "kind: $(cat "$TMP/err")"
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=0" >/dev/null

# 7. every request had the documented form; exact bodies
state > "$TMP/state.json"
python3 - "$TMP/state.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["violations"] == [], s["violations"]
ok = [l for l in s["log"] if l["answer"] == 200]
posts = [l for l in ok if l["method"] == "POST"]
assert posts[0]["path"] == "/v1/zones/4711/rrsets/_acme-challenge/TXT/actions/add_records", posts[0]
assert json.loads(posts[0]["body"]) == {"ttl": 120, "records": [{"value": '"valueA"'}]}, posts[0]["body"]
assert json.loads(posts[1]["body"])["ttl"] == 300
rm = [l for l in posts if l["path"].endswith("remove_records")]
assert json.loads(rm[0]["body"]) == {"records": [{"value": '"valueA"'}]}, rm[0]["body"]
assert all(p["content_type"] == "application/json" for p in posts)
zq = [l["query"] for l in ok if l["path"] == "/v1/zones"]
assert "name=a.b.example.com" in zq and "name=b.example.com" in zq, zq
assert any(l["path"].startswith("/v1/actions/") for l in ok)
n429 = [l for l in s["log"] if l.get("answer") == 429]
assert len(n429) == 1 + 4, len(n429)
print("requests ok:", len(s["log"]))
EOF
echo "PASS"
