#!/usr/bin/env bash
# Linode provider against mock_linode.py (API v4 as documented): append-only
# present (two values at one name), the most specific domain found by walking
# up with X-Filter, cleanup deletes exactly our value, an auth failure names
# the provider and the option (never the secret), a 429 with Retry-After is
# waited out, a persistent 429 is reported as rate limiting, and every
# request matched the documented form.
set -euo pipefail
source "${AUTOCERT_SOURCE_DIR:?}/tests/integration/provider_lib.sh"
pl_init

TOKEN=$(pl_secret ln-)
pl_start_mock linode "$TOKEN"
export AUTOCERT_LINODE_BASE_URL=$MOCK_URL/v4
records() { pl_state | python3 -c 'import json,sys; print(" ".join(sorted("%d:%s=%s" % (r["domain_id"], r["name"], r["target"]) for r in json.load(sys.stdin)["records"])))'; }
linode() { "$DRIVER" "$1" linode "$2" "$3" token="$TOKEN" "${@:4}"; }

# 1. two values at one name
linode present example.com valueA
linode present example.com valueB ttl=300
[ "$(records)" = "1234:_acme-challenge=valueA 1234:_acme-challenge=valueB" ] || fail "both values: $(records)"

# 2. the most specific domain (sub.example.com), found by walking up
linode present a.sub.example.com deep
records | grep -q "5678:_acme-challenge.a=deep" || fail "deep: $(records)"

# 3. cleanup removes exactly one value; absent is success
linode cleanup example.com valueA
[ "$(records)" = "1234:_acme-challenge=valueB 5678:_acme-challenge.a=deep" ] || fail "after cleanup: $(records)"
linode cleanup example.com valueA
linode cleanup example.com valueB
linode cleanup a.sub.example.com deep
[ "$(records)" = "" ] || fail "not empty: $(records)"

# 4. auth failure: clear error naming provider and option, no secret
pl_auth_fails linode token wrong-token-123456 "$TOKEN" -- \
    "$DRIVER" present linode example.com x token=wrong-token-123456
pl_validate_fails token -- "$DRIVER" validate linode

# 5. one 429 with Retry-After: 1 is waited out
pl_waits_429 linode present example.com afterwait
records | grep -q "=afterwait" || fail "not created after 429"
linode cleanup example.com afterwait

# 6. a persistent 429 ends as rate limiting after bounded retries
pl_rate_limited linode present example.com never

# 7. every request had the documented form; the exact POST body
pl_check_requests <<'PY'
posts = [l for l in s["log"] if l["method"] == "POST" and l["answer"] == 200]
assert posts[0]["path"] == "/v4/domains/1234/records", posts[0]
assert json.loads(posts[0]["body"]) == {"type": "TXT", "name": "_acme-challenge", "target": "valueA", "ttl_sec": 120}, posts[0]
assert json.loads(posts[1]["body"])["ttl_sec"] == 300
assert all(p["content_type"] == "application/json" for p in posts)
filters = [json.loads(l["filter"]) for l in s["log"] if l["path"] == "/v4/domains" and l["filter"]]
assert {"domain": "a.sub.example.com"} in filters and {"domain": "sub.example.com"} in filters, filters
dels = [l for l in s["log"] if l["method"] == "DELETE"]
assert len(dels) == 4, dels
n429 = [l for l in s["log"] if l.get("answer") == 429]
assert len(n429) == 1 + 4, len(n429)
PY
echo "PASS"
