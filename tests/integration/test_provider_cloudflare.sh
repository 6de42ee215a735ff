#!/usr/bin/env bash
# Cloudflare provider against mock_cloudflare.py (the API as documented):
# append-only present (two values at one name), zone found by walking up,
# cleanup deletes exactly our value, token and email+key auth, an auth failure
# names the provider and the option (never the secret), a 429 with
# Retry-After is waited out, a persistent 429 is reported as rate limiting,
# and every request matched the documented form.
set -euo pipefail

source "${AUTOCERT_SOURCE_DIR:?}/tests/integration/provider_lib.sh"
pl_init

TOKEN=$(pl_secret cf-token-)
KEY=$(pl_secret cf-key-)
pl_start_mock cloudflare "$TOKEN" ops@example.com "$KEY"
BASE=$MOCK_URL/client/v4
records() { pl_state | python3 -c 'import json,sys; print(" ".join(sorted(r["name"]+"="+r["content"] for r in json.load(sys.stdin)["records"])))'; }

# 1. two values at one name (apex + wildcard of one order), token auth
"$DRIVER" present cloudflare example.com valueA auth_token="$TOKEN" base_url="$BASE"
"$DRIVER" present cloudflare example.com valueB auth_token="$TOKEN" base_url="$BASE" ttl=300
[ "$(records)" = "_acme-challenge.example.com=valueA _acme-challenge.example.com=valueB" ] || fail "both values: $(records)"
# the same value again is not an error (identical record, 81058)
"$DRIVER" present cloudflare example.com valueA auth_token="$TOKEN" base_url="$BASE"

# 2. zone found by walking up from a deeper name
"$DRIVER" present cloudflare a.b.example.com deep auth_token="$TOKEN" base_url="$BASE"
records | grep -q "_acme-challenge.a.b.example.com=deep" || fail "deep name: $(records)"

# 3. cleanup removes exactly one value; absent is success
"$DRIVER" cleanup cloudflare example.com valueA auth_token="$TOKEN" base_url="$BASE"
[ "$(records)" = "_acme-challenge.a.b.example.com=deep _acme-challenge.example.com=valueB" ] || fail "after cleanup: $(records)"
"$DRIVER" cleanup cloudflare example.com valueA auth_token="$TOKEN" base_url="$BASE"

# 4. email + global key auth
"$DRIVER" cleanup cloudflare example.com valueB auth_email=ops@example.com auth_key="$KEY" base_url="$BASE"
"$DRIVER" cleanup cloudflare a.b.example.com deep auth_email=ops@example.com auth_key="$KEY" base_url="$BASE"
[ "$(records)" = "" ] || fail "not empty: $(records)"

# 5. auth failure: clear error naming provider and option, no secret
pl_auth_fails cloudflare auth_token wrong-token-123456 "$TOKEN" -- \
    "$DRIVER" present cloudflare example.com x auth_token=wrong-token-123456 base_url="$BASE"
if "$DRIVER" present cloudflare example.com x auth_email=ops@example.com auth_key=badkey-0000000000 base_url="$BASE" 2>"$TMP/err"; then
    fail "wrong key accepted"
fi
grep -q "auth_email and auth_key" "$TMP/err" || fail "options not named: $(cat "$TMP/err")"
if grep -q "badkey-0000000000" "$TMP/err"; then fail "secret leaked"; fi
# missing credentials are a validation error
pl_validate_fails auth_key -- "$DRIVER" validate cloudflare auth_email=ops@example.com

# 6. one 429 with Retry-After: 1 is waited out
pl_waits_429 "$DRIVER" present cloudflare example.com afterwait auth_token="$TOKEN" base_url="$BASE"
records | grep -q "=afterwait" || fail "not created after 429"
"$DRIVER" cleanup cloudflare example.com afterwait auth_token="$TOKEN" base_url="$BASE"

# 7. a persistent 429 ends as rate limiting after bounded retries
pl_rate_limited "$DRIVER" present cloudflare example.com never auth_token="$TOKEN" base_url="$BASE"

# 8. every request had the documented form; check the exact POST body and headers
pl_check_requests <<'PY'
posts = [l for l in s["log"] if l["method"] == "POST" and l["answer"] == 200]
first = json.loads(posts[0]["body"])
assert first == {"type": "TXT", "name": "_acme-challenge.example.com", "content": "valueA", "ttl": 120}, first
assert json.loads(posts[1]["body"])["ttl"] == 300
assert all(p["content_type"] == "application/json" for p in posts)
zones = [l["query"] for l in s["log"] if l["path"] == "/client/v4/zones"]
assert "name=a.b.example.com" in zones and "name=b.example.com" in zones, zones
dels = [l for l in s["log"] if l["method"] == "DELETE"]
assert len(dels) == 4, dels   # valueA, valueB, deep, afterwait: never another record
assert any(l["auth"] == "email_key" for l in s["log"])
n429 = [l for l in s["log"] if l.get("answer") == 429]
assert len(n429) == 1 + 4, len(n429)  # one waited out; 1 + 3 retries then give up
PY

# 9. a CNAME on _acme-challenge is followed to the zone that really holds the
# record: Knot (authoritative for example.com and other.org) answers
# _acme-challenge.a.example.com CNAME _acme-challenge.b.other.org, so the
# record goes into zone other.org under the CNAME's target name.
pl_knot "example.com:_acme-challenge.a CNAME _acme-challenge.b.other.org." "other.org:"
C=(auth_token="$TOKEN" base_url="$BASE" dns_resolvers="127.0.0.1:$KPORT")
"$REAL_DRIVER" present cloudflare a.example.com cnamed "${C[@]}"
records | grep -q "_acme-challenge.b.other.org=cnamed" || fail "CNAME not followed: $(records)"
if records | grep -q "_acme-challenge.a.example.com=cnamed"; then fail "written at the CNAME itself: $(records)"; fi
pl_state | python3 -c '
import json, sys
s = json.load(sys.stdin)
p = [l for l in s["log"] if l["method"] == "POST"][-1]
assert p["path"] == "/client/v4/zones/9a7806061c88ada191ed06f989cc3dac/dns_records", p
assert json.loads(p["body"])["name"] == "_acme-challenge.b.other.org", p'
"$REAL_DRIVER" cleanup cloudflare a.example.com cnamed "${C[@]}"
if records | grep -q "=cnamed"; then fail "CNAME target record not cleaned: $(records)"; fi
# without a CNAME the name is used as it is
"$REAL_DRIVER" present cloudflare c.example.com plain "${C[@]}"
records | grep -q "_acme-challenge.c.example.com=plain" || fail "plain name: $(records)"
"$REAL_DRIVER" cleanup cloudflare c.example.com plain "${C[@]}"
echo "PASS"
