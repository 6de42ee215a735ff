#!/usr/bin/env bash
# DigitalOcean provider against mock_digitalocean.py (the API v2 as
# documented): append-only present (two values plus a foreign one at one
# name), domain found by walking up, record name relative to the domain,
# cleanup deletes exactly our value, an auth failure names the provider and
# the option (never the secret), a 429 with Retry-After is waited out, a
# persistent 429 is reported as rate limiting, every request matched the
# documented form.
set -euo pipefail

source "${AUTOCERT_SOURCE_DIR:?}/tests/integration/provider_lib.sh"
pl_init
DRIVER=$REAL_DRIVER   # follow_cname=false is in A

TOKEN=$(pl_secret dop_v1_)
pl_start_mock digitalocean "$TOKEN"
BASE=$MOCK_URL
records() { pl_state | python3 -c 'import json,sys; print(" ".join(sorted(r["name"]+"."+r["domain"]+"="+r["data"] for r in json.load(sys.stdin)["records"])))'; }
A=(auth_token="$TOKEN" base_url="$BASE" follow_cname=false)

# 1. two values at one name next to a foreign one
"$DRIVER" present digitalocean example.com valueA "${A[@]}"
"$DRIVER" present digitalocean example.com valueB "${A[@]}" ttl=300
[ "$(records)" = "_acme-challenge.example.com=keep-me _acme-challenge.example.com=valueA _acme-challenge.example.com=valueB" ] || fail "both values: $(records)"

# 2. domain found by walking up from a deeper name
"$DRIVER" present digitalocean a.b.example.com deep "${A[@]}"
records | grep -q "_acme-challenge.a.b.example.com=deep" || fail "deep name: $(records)"

# 3. cleanup removes exactly one value; absent is success
"$DRIVER" cleanup digitalocean example.com valueA "${A[@]}"
[ "$(records)" = "_acme-challenge.a.b.example.com=deep _acme-challenge.example.com=keep-me _acme-challenge.example.com=valueB" ] || fail "after cleanup: $(records)"
"$DRIVER" cleanup digitalocean example.com valueA "${A[@]}"
"$DRIVER" cleanup digitalocean example.com valueB "${A[@]}"
"$DRIVER" cleanup digitalocean a.b.example.com deep "${A[@]}"
[ "$(records)" = "_acme-challenge.example.com=keep-me" ] || fail "not clean: $(records)"

# 4. auth failure: clear error naming provider and option, no secret
pl_auth_fails digitalocean auth_token wrong-token-123456 "$TOKEN" -- \
    "$DRIVER" present digitalocean example.com x auth_token=wrong-token-123456 base_url="$BASE" follow_cname=false
pl_validate_fails auth_token -- "$DRIVER" validate digitalocean base_url="$BASE"

# 5. one 429 with Retry-After: 1 is waited out
pl_waits_429 "$DRIVER" present digitalocean example.com afterwait "${A[@]}"
records | grep -q "=afterwait" || fail "not created after 429"
"$DRIVER" cleanup digitalocean example.com afterwait "${A[@]}"

# 6. a persistent 429 ends as rate limiting after bounded retries
pl_rate_limited "$DRIVER" present digitalocean example.com never "${A[@]}"

# 7. every request had the documented form; exact POST body and headers
pl_check_requests <<'PY'
posts = [l for l in s["log"] if l["method"] == "POST" and l["answer"] == 201]
assert posts[0]["path"] == "/v2/domains/example.com/records", posts[0]
assert json.loads(posts[0]["body"]) == {"type": "TXT", "name": "_acme-challenge", "data": "valueA", "ttl": 120}
assert json.loads(posts[1]["body"])["ttl"] == 300
assert json.loads(posts[2]["body"])["name"] == "_acme-challenge.a.b"
assert all(p["content_type"] == "application/json" for p in posts)
doms = [l["path"] for l in s["log"] if l["method"] == "GET" and "/records" not in l["path"]]
assert "/v2/domains/a.b.example.com" in doms and "/v2/domains/b.example.com" in doms, doms
dels = [l for l in s["log"] if l["method"] == "DELETE"]
assert len(dels) == 4 and all(not d["path"].endswith("/1") for d in dels), dels
n429 = [l for l in s["log"] if l.get("answer") == 429]
assert len(n429) == 1 + 4, len(n429)
PY
echo "PASS"
