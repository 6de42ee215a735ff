#!/usr/bin/env bash
# Porkbun provider against mock_porkbun.py (API v3 as documented): append-only
# present (two values at one name), the most specific account domain is used,
# cleanup deletes exactly our value, an auth failure names the provider and
# the options (never the secret), a 429 with Retry-After is waited out, a
# persistent 429 is reported as rate limiting, and every request matched the
# documented form (POST, JSON body with the credentials).
set -euo pipefail

source "${AUTOCERT_SOURCE_DIR:?}/tests/integration/provider_lib.sh"
pl_init

KEY=$(pl_secret pk1_)
SECRET=$(pl_secret sk1_)
pl_start_mock porkbun "$KEY" "$SECRET"
export AUTOCERT_PORKBUN_BASE_URL=$MOCK_URL/api/json/v3
records() { pl_state | python3 -c 'import json,sys; print(" ".join(sorted(r["name"]+"="+r["content"] for r in json.load(sys.stdin)["records"])))'; }
A=(api_key="$KEY" secret_api_key="$SECRET")

# 1. two values at one name
"$DRIVER" present porkbun example.com valueA "${A[@]}"
"$DRIVER" present porkbun example.com valueB "${A[@]}" ttl=900
[ "$(records)" = "_acme-challenge.example.com=valueA _acme-challenge.example.com=valueB" ] || fail "both values: $(records)"

# 2. the most specific domain of the account (sub.example.com, not example.com)
"$DRIVER" present porkbun a.sub.example.com deep "${A[@]}"
pl_state | python3 -c 'import json,sys; r=[r for r in json.load(sys.stdin)["records"] if r["content"]=="deep"]; assert r and r[0]["domain"]=="sub.example.com" and r[0]["name"]=="_acme-challenge.a.sub.example.com", r' || fail "deep: $(records)"

# 3. cleanup removes exactly one value; absent is success
"$DRIVER" cleanup porkbun example.com valueA "${A[@]}"
[ "$(records)" = "_acme-challenge.a.sub.example.com=deep _acme-challenge.example.com=valueB" ] || fail "after cleanup: $(records)"
"$DRIVER" cleanup porkbun example.com valueA "${A[@]}"
"$DRIVER" cleanup porkbun example.com valueB "${A[@]}"
"$DRIVER" cleanup porkbun a.sub.example.com deep "${A[@]}"
[ "$(records)" = "" ] || fail "not empty: $(records)"

# 4. auth failure: clear error naming provider and options, no secret
pl_auth_fails porkbun secret_api_key wrong-secret-987654 "$KEY" "$SECRET" -- \
    "$DRIVER" present porkbun example.com x api_key="$KEY" secret_api_key=sk1_wrong-secret-987654
pl_validate_fails secret_api_key -- "$DRIVER" validate porkbun api_key="$KEY"
# the test-only base URL must be https or loopback
if AUTOCERT_PORKBUN_BASE_URL=http://example.net/ "$DRIVER" present porkbun example.com x "${A[@]}" 2>"$TMP/err"; then
    fail "plain http base accepted"
fi

# 5. one 429 with Retry-After: 1 is waited out
pl_waits_429 "$DRIVER" present porkbun example.com afterwait "${A[@]}"
records | grep -q "=afterwait" || fail "not created after 429"
"$DRIVER" cleanup porkbun example.com afterwait "${A[@]}"

# 6. a persistent 429 ends as rate limiting after bounded retries
pl_rate_limited "$DRIVER" present porkbun example.com never "${A[@]}"

# 7. every request had the documented form; the exact create body
pl_check_requests <<'PY'
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
PY
echo "PASS"
