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
pl_cleanup_each linode a.sub.example.com "1234:_acme-challenge=valueB 5678:_acme-challenge.a=deep" ""

# 4. auth failure: clear error naming provider and option, no secret
pl_token_auth linode token "$TOKEN"

# 5. one 429 with Retry-After: 1 is waited out; a persistent one ends as rate
# limiting after bounded retries
pl_throttling linode

# 6. every request had the documented form; the exact POST body
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
