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

source "${AUTOCERT_SOURCE_DIR:?}/tests/integration/provider_lib.sh"
pl_init

TOKEN=$(pl_secret hz-)
pl_start_mock hetzner "$TOKEN"
export AUTOCERT_HETZNER_BASE_URL=$MOCK_URL/v1
sets() { pl_state | python3 -c '
import json,sys
s = json.load(sys.stdin)["rrsets"]
print(" ".join("%s/%d=%s" % (k, v["ttl"], ",".join(sorted(v["values"]))) for k, v in sorted(s.items())))'; }

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
pl_auth_fails hetzner api_token wrong-token-123456 "$TOKEN" -- \
    "$DRIVER" present hetzner example.com x api_token=wrong-token-123456
if "$DRIVER" validate hetzner api_key=legacy-key-999 2>"$TMP/err"; then fail "legacy key accepted"; fi
grep -q "api_key" "$TMP/err" && grep -q "api_token" "$TMP/err" || fail "validate: $(cat "$TMP/err")"
if grep -q "legacy-key-999" "$TMP/err"; then fail "secret leaked"; fi

# 5. one 429 with Retry-After: 1 is waited out
pl_waits_429 "$DRIVER" present hetzner example.com afterwait api_token="$TOKEN"
sets | grep -q '"afterwait"' || fail "not created after 429"
"$DRIVER" cleanup hetzner example.com afterwait api_token="$TOKEN"

# 6. a persistent 429 ends as rate limiting after bounded retries
pl_rate_limited "$DRIVER" present hetzner example.com never api_token="$TOKEN"

# 7. every request had the documented form; exact bodies
pl_check_requests <<'PY'
ok = [l for l in s["log"] if l["answer"] not in (401, 429)]  # past auth and throttling
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
PY
echo "PASS"
