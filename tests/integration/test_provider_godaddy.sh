#!/usr/bin/env bash
# GoDaddy provider against mock_godaddy.py (Domains API v1 as documented): the
# API replaces a name's whole TXT set, so present reads the set and writes it
# back with our value added (a foreign value and its TTL survive), cleanup
# writes it back without ours (DELETE when ours was the last); the longest
# account domain is found by walking up (GET /v1/domains/<name>); ttl is
# raised to GoDaddy's minimum 600; an auth failure names the provider and the
# options (never the secret); a 429 with Retry-After is waited out; a
# persistent 429 is reported as rate limiting; every request matched the
# documented form.
set -euo pipefail

source "${AUTOCERT_SOURCE_DIR:?}/tests/integration/provider_lib.sh"
pl_init

KEY=$(pl_secret gdk-)
SECRET=$(pl_secret gds-)
pl_start_mock godaddy "$KEY" "$SECRET"
export AUTOCERT_GODADDY_BASE_URL=$MOCK_URL
records() { pl_state | python3 -c 'import json,sys; print(" ".join(sorted("%s:%s=%s/%d" % (r["domain"], r["name"], r["data"], r["ttl"]) for r in json.load(sys.stdin)["records"])))'; }
gd() { "$DRIVER" "$1" godaddy "$2" "$3" api_key="$KEY" api_secret="$SECRET" "${@:4}"; }

# 1. a foreign value at the name survives our presents; two values coexist
pl_ctl "add?domain=example.com&name=_acme-challenge&data=foreign&ttl=3600"
gd present example.com valueA
gd present example.com valueB ttl=900
[ "$(records)" = "example.com:_acme-challenge=foreign/3600 example.com:_acme-challenge=valueA/600 example.com:_acme-challenge=valueB/900" ] \
    || fail "coexistence: $(records)"
# presenting a value already there writes nothing
gd present example.com valueA

# 2. the longest account domain (sub.example.com), found by walking up
gd present a.sub.example.com deep
records | grep -q "sub.example.com:_acme-challenge.a=deep/600" || fail "deep: $(records)"

# 3. cleanup removes exactly ours; absent is success; the last value: DELETE
pl_cleanup_each gd a.sub.example.com \
    "example.com:_acme-challenge=foreign/3600 example.com:_acme-challenge=valueB/900 sub.example.com:_acme-challenge.a=deep/600" \
    "example.com:_acme-challenge=foreign/3600"

# 4. auth failure: clear error naming provider and options, no secret
pl_auth_fails godaddy api_key/api_secret wrong-secret-123456 "$SECRET" -- \
    "$DRIVER" present godaddy example.com x api_key="$KEY" api_secret=wrong-secret-123456
pl_validate_fails api_secret -- "$DRIVER" validate godaddy api_key="$KEY"
if grep -q "$KEY" "$TMP/err"; then fail "key leaked by validate"; fi

# 5. one 429 with Retry-After: 1 is waited out; a persistent one ends as rate
# limiting after bounded retries
pl_throttling gd
[ "$(records)" = "example.com:_acme-challenge=foreign/3600" ] || fail "final: $(records)"

# 6. every request had the documented form; the exact writes
pl_check_requests <<'PY'
log = [l for l in s["log"] if l.get("answer") not in (401, 429)]
P = "/v1/domains/example.com/records/TXT/_acme-challenge"
puts = [(l["method"], l["path"], l["body"] and json.loads(l["body"])) for l in log
          if l["method"] in ("PUT", "DELETE")]
expect = [
    ("PUT", P, [{"data": "foreign", "ttl": 3600}, {"data": "valueA", "ttl": 600}]),
    ("PUT", P, [{"data": "foreign", "ttl": 3600}, {"data": "valueA", "ttl": 600}, {"data": "valueB", "ttl": 900}]),
    ("PUT", "/v1/domains/sub.example.com/records/TXT/_acme-challenge.a", [{"data": "deep", "ttl": 600}]),
    ("PUT", P, [{"data": "foreign", "ttl": 3600}, {"data": "valueB", "ttl": 900}]),
    ("PUT", P, [{"data": "foreign", "ttl": 3600}]),
    ("DELETE", "/v1/domains/sub.example.com/records/TXT/_acme-challenge.a", ""),
    ("PUT", P, [{"data": "foreign", "ttl": 3600}, {"data": "afterwait", "ttl": 600}]),
    ("PUT", P, [{"data": "foreign", "ttl": 3600}]),
]
assert puts == expect, puts
assert all(l["content_type"] == "application/json" for l in log if l["method"] == "PUT")
gets = [l["path"] for l in log if l["method"] == "GET"]
assert "/v1/domains/a.sub.example.com" in gets and "/v1/domains/sub.example.com" in gets, gets
n429 = [l for l in s["log"] if l.get("answer") == 429]
assert len(n429) == 1 + 4, len(n429)
PY

# 7. batch (apex + wildcard of one order): both values at one name in ONE
# PUT, cleanup removes both in one PUT, the foreign value stays
before=$(pl_log_len)
"$DRIVER" present2 godaddy example.com batchA batchB api_key="$KEY" api_secret="$SECRET"
[ "$(records)" = "example.com:_acme-challenge=batchA/600 example.com:_acme-challenge=batchB/600 example.com:_acme-challenge=foreign/3600" ] || fail "batch: $(records)"
"$DRIVER" cleanup2 godaddy example.com batchA batchB api_key="$KEY" api_secret="$SECRET"
[ "$(records)" = "example.com:_acme-challenge=foreign/3600" ] || fail "batch cleanup: $(records)"
pl_check_requests "$before" <<'PY'
w = writes(s["log"][int(args[0]):])
assert [l["method"] for l in w] == ["PUT", "PUT"], w
assert sorted(r["data"] for r in json.loads(w[0]["body"])) == ["batchA", "batchB", "foreign"], w[0]
assert [r["data"] for r in json.loads(w[1]["body"])] == ["foreign"], w[1]
PY
echo "PASS"
