#!/usr/bin/env bash
# Vultr provider against mock_vultr.py (API v2 as documented): append-only
# present (two values at one name), the most specific domain found by walking
# up (GET /domains/<name>), cleanup (through cursor pages) deletes exactly our value, an auth failure names
# the provider and the option (never the secret), a 429 with Retry-After is
# waited out, a persistent 429 is reported as rate limiting, and every
# request matched the documented form.
set -euo pipefail
source "${AUTOCERT_SOURCE_DIR:?}/tests/integration/provider_lib.sh"
pl_init

TOKEN=$(pl_secret vu-)
pl_start_mock vultr "$TOKEN"
export AUTOCERT_VULTR_BASE_URL=$MOCK_URL/v2
records() { pl_state | python3 -c 'import json,sys; print(" ".join(sorted("%s:%s=%s" % (r["domain"], r["name"], r["data"]) for r in json.load(sys.stdin)["records"])))'; }
vultr() { "$DRIVER" "$1" vultr "$2" "$3" api_key="$TOKEN" "${@:4}"; }

# 1. two values at one name
vultr present example.com valueA
vultr present example.com valueB ttl=300
[ "$(records)" = "example.com:_acme-challenge=\"valueA\" example.com:_acme-challenge=\"valueB\"" ] || fail "both values: $(records)"

# 2. the most specific domain (sub.example.com), found by walking up
vultr present a.sub.example.com deep
records | grep -q "sub.example.com:_acme-challenge.a=\"deep\"" || fail "deep: $(records)"

# 3. cleanup finds our value on a later page (the mock pages by 2)
vultr present example.com valueC
vultr cleanup example.com valueC
records | grep -q valueC && fail "valueC kept: $(records)"
# cleanup removes exactly one value; absent is success
pl_cleanup_each vultr a.sub.example.com 'example.com:_acme-challenge="valueB" sub.example.com:_acme-challenge.a="deep"' ""

# 4. auth failure: clear error naming provider and option, no secret
pl_token_auth vultr api_key "$TOKEN"

# 5. one 429 with Retry-After: 1 is waited out; a persistent one ends as rate
# limiting after bounded retries
pl_throttling vultr

# 6. every request had the documented form; the exact POST body
pl_check_requests <<'PY'
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
PY
echo "PASS"
