#!/usr/bin/env bash
# OVH provider against mock_ovh.py (API 1.0 as documented; the mock recomputes
# every request signature and runs its clock 5000 s ahead, so signing with the
# server's time from /auth/time is proven): append-only present (a foreign
# value and two of ours at one name), each write followed by a zone refresh,
# the most specific zone found by walking up, cleanup deletes exactly ours
# (GET of each listed id), OAuth2 access_token mode, auth failures name the
# provider and the options (never a secret), a 429 is waited out and the
# retried request signed again, a persistent 429 is reported as rate
# limiting, and every request matched the documented form.
set -euo pipefail

source "${AUTOCERT_SOURCE_DIR:?}/tests/integration/provider_lib.sh"
pl_init

AK=$(pl_secret ak); AS=$(pl_secret as); CK=$(pl_secret ck); TOKEN=$(pl_secret tok)
pl_start_mock ovh "$AK" "$AS" "$CK" "$TOKEN"
EP=$MOCK_URL/1.0
recs() { pl_state | python3 -c 'import json,sys; s=json.load(sys.stdin); print(" ".join(sorted("%s:%s=%s" % (r["zone"], r["subDomain"], r["target"]) for r in s[sys.argv[1]])))' "${1:-records}"; }
# records: what pl_cleanup_each compares; also asserts every write was published
records() { local r; r=$(recs); [ "$(recs published)" = "$r" ] || r="$r (not published: $(recs published))"; echo "$r"; }
ovh() { "$DRIVER" "$1" ovh "$2" "$3" api_endpoint="$EP" application_key="$AK" application_secret="$AS" consumer_key="$CK" "${@:4}"; }
ntime() { pl_state | python3 -c 'import json,sys; print(sum(l["path"] == "/1.0/auth/time" for l in json.load(sys.stdin)["log"]))'; }

# 1. a foreign value and two of ours coexist; every write is published (refresh)
pl_ctl "add?zone=example.com&sub=_acme-challenge&target=foreign"
ovh present example.com valueA
ovh present example.com valueB ttl=300
[ "$(recs)" = "example.com:_acme-challenge=foreign example.com:_acme-challenge=valueA example.com:_acme-challenge=valueB" ] \
    || fail "coexistence: $(recs)"
[ "$(recs published)" = "$(recs)" ] || fail "not refreshed: $(recs published)"

# 2. the most specific zone (sub.example.com), found by walking up
ovh present a.sub.example.com deep
recs | grep -q "sub.example.com:_acme-challenge.a=deep" || fail "deep: $(recs)"

# 3. cleanup removes exactly ours (published); absent is success
pl_cleanup_each ovh a.sub.example.com \
    "example.com:_acme-challenge=foreign example.com:_acme-challenge=valueB sub.example.com:_acme-challenge.a=deep" \
    "example.com:_acme-challenge=foreign"
[ "$(recs published)" = "$(recs)" ] || fail "cleanup not refreshed: $(recs published)"

# 4. one instance asks /auth/time once (the offset is kept)
before=$(ntime)
"$DRIVER" seq ovh example.com s1 s2 api_endpoint="$EP" application_key="$AK" application_secret="$AS" consumer_key="$CK"
[ $(( $(ntime) - before )) -eq 1 ] || fail "/auth/time asked $(( $(ntime) - before )) times by one instance"
ovh cleanup example.com s2

# 5. OAuth2 access token
"$DRIVER" present ovh example.com bearer api_endpoint="$EP" access_token="$TOKEN"
recs | grep -q "=bearer" || fail "bearer: $(recs)"
"$DRIVER" cleanup ovh example.com bearer api_endpoint="$EP" access_token="$TOKEN"
[ "$(recs)" = "example.com:_acme-challenge=foreign" ] || fail "bearer cleanup: $(recs)"

# 6. auth failures: kind, provider and options named, never a secret
expect_auth() { # <options named> <secret> <driver args...>
    local names=$1 secret=$2; shift 2
    pl_auth_fails ovh "$names" "$secret" "$AS" "$CK" "$TOKEN" -- "$DRIVER" present ovh example.com x "$@"
}
expect_auth application_secret wrong-as-123456 api_endpoint="$EP" application_key="$AK" application_secret=wrong-as-123456 consumer_key="$CK"
expect_auth consumer_key wrong-ck-123456 api_endpoint="$EP" application_key="$AK" application_secret="$AS" consumer_key=wrong-ck-123456
expect_auth access_token wrong-token-123456 api_endpoint="$EP" access_token=wrong-token-123456
pl_validate_fails consumer_key -- "$DRIVER" validate ovh api_endpoint=ovh-eu application_key="$AK" application_secret="$AS"
pl_validate_fails access_token -- "$DRIVER" validate ovh api_endpoint=ovh-eu access_token="$TOKEN" consumer_key="$CK"
pl_validate_fails api_endpoint -- "$DRIVER" validate ovh api_endpoint=ovh-mars access_token="$TOKEN"
"$DRIVER" validate ovh api_endpoint=kimsufi-ca access_token="$TOKEN" || fail "kimsufi-ca refused"
if grep -q -e "$AS" -e "$CK" -e "$TOKEN" "$TMP/err"; then fail "secret leaked by validate"; fi

# 7. one 429 (on the first signed request) is waited out and signed again
pl_waits_429 --after 1 ovh present example.com afterwait
recs | grep -q "=afterwait" || fail "not created after 429"
ovh cleanup example.com afterwait

# 8. a persistent 429 ends as rate limiting after bounded retries
pl_rate_limited ovh present example.com never
[ "$(recs)" = "example.com:_acme-challenge=foreign" ] || fail "final: $(recs)"

# 9. every request had the documented form
pl_check_requests <<'PY'
log = s["log"]
ok = [l for l in log if l.get("answer") == 200]
Z = "/1.0/domain/zone/example.com"
posts = [l for l in ok if l["method"] == "POST" and l["path"].endswith("/record")]
assert posts[0]["path"] == Z + "/record", posts[0]
assert json.loads(posts[0]["body"]) == {"fieldType": "TXT", "subDomain": "_acme-challenge", "target": "valueA", "ttl": 120}, posts[0]
assert json.loads(posts[1]["body"])["ttl"] == 300
assert json.loads(posts[2]["body"]) == {"fieldType": "TXT", "subDomain": "_acme-challenge.a", "target": "deep", "ttl": 120}
assert posts[2]["path"] == "/1.0/domain/zone/sub.example.com/record"
# every successful record POST / DELETE run is followed by a refresh of its zone
for i, l in enumerate(ok):
    if l["method"] == "POST" and l["path"].endswith("/record"):
        nxt = ok[i + 1]
        assert nxt["method"] == "POST" and nxt["path"] == l["path"][:-len("/record")] + "/refresh", (l, nxt)
lists = [l for l in ok if l["method"] == "GET" and l["path"] == Z + "/record"]
assert all(l["query"] == "fieldType=TXT&subDomain=_acme-challenge" for l in lists), lists
dels = [l for l in ok if l["method"] == "DELETE"]
assert len(dels) == 7, dels   # valueA, valueB, deep, s1, s2, bearer, afterwait
gets = [l["path"] for l in ok if l["method"] == "GET"]
assert "/1.0/domain/zone/a.sub.example.com" in [l["path"] for l in log] and "/1.0/domain/zone/sub.example.com" in gets
assert all(l["auth"] in ("signed", "bearer") for l in log if l["path"].startswith("/1.0/domain") and l.get("answer") != 429)
# the request refused with 429 was sent again, with a later timestamp
i = next(i for i, l in enumerate(log) if l.get("answer") == 429)
assert log[i]["ts"] and log[i + 1]["path"] == log[i]["path"], (log[i], log[i + 1])
assert int(log[i + 1]["ts"]) > int(log[i]["ts"]), (log[i], log[i + 1])
n429 = [l for l in log if l.get("answer") == 429]
assert len(n429) == 1 + 4, len(n429)
PY
echo "PASS"
