#!/usr/bin/env bash
# deSEC provider against mock_desec.py (API v1 as documented): present adds our
# value to the RRset keeping a foreign value (read, then PATCH with all), a new
# RRset is POSTed with the domain's minimum TTL, cleanup removes exactly our
# value (the last one removes the set), an auth failure names the provider and
# the option (never the secret), a 429 with Retry-After is waited out, a
# persistent 429 is reported as rate limiting, and every request matched the
# documented form.
set -euo pipefail

source "${AUTOCERT_SOURCE_DIR:?}/tests/integration/provider_lib.sh"
pl_init

TOKEN=$(pl_secret ds-)
pl_start_mock desec "$TOKEN"
export AUTOCERT_DESEC_BASE_URL=$MOCK_URL/api/v1
records() { pl_state | python3 -c '
import json,sys
s=json.load(sys.stdin)["rrsets"]
print(" ".join(sorted(k.split("|")[1]+"."+k.split("|")[0]+"="+r for k,v in s.items() for r in v["records"])))'; }
desec() { "$DRIVER" "$1" desec "$2" "$3" token="$TOKEN" "${@:4}"; }

# 1. a new RRset, then a second value appended (apex + wildcard of one order)
"$DRIVER" present desec example.com valueA token="$TOKEN"
"$DRIVER" present desec example.com valueB token="$TOKEN"
[ "$(records)" = '_acme-challenge.example.com="valueA" _acme-challenge.example.com="valueB"' ] || fail "both values: $(records)"
# the same value again changes nothing
"$DRIVER" present desec example.com valueA token="$TOKEN"

# 2. a foreign value is kept by present and cleanup; most specific domain
pl_ctl "seed?sub=_acme-challenge.www&value=foreign"
"$DRIVER" present desec www.example.com ours token="$TOKEN"
"$DRIVER" present desec a.sub.example.com deep token="$TOKEN" ttl=120
records | grep -q '_acme-challenge.a.sub.example.com="deep"' || fail "deep: $(records)"
"$DRIVER" cleanup desec www.example.com ours token="$TOKEN"
records | grep -q '_acme-challenge.www.example.com="foreign"' || fail "foreign lost: $(records)"
records | grep -q '"ours"' && fail "ours kept: $(records)"

# 3. cleanup removes exactly one value; absent is success; last one removes the set
"$DRIVER" cleanup desec example.com valueA token="$TOKEN"
"$DRIVER" cleanup desec example.com valueA token="$TOKEN"
"$DRIVER" cleanup desec example.com valueB token="$TOKEN"
"$DRIVER" cleanup desec a.sub.example.com deep token="$TOKEN"
[ "$(records)" = '_acme-challenge.www.example.com="foreign"' ] || fail "after cleanup: $(records)"

# 4. auth failure: clear error naming provider and option, no secret
pl_token_auth desec token "$TOKEN"

# 5. one 429 with Retry-After: 1 is waited out; a persistent one ends as rate
# limiting after bounded retries
pl_throttling desec

# 6. every request had the documented form; exact bodies
pl_check_requests <<'PY'
log = [l for l in s["log"] if l["answer"] != 429]
posts = [l for l in log if l["method"] == "POST"]
assert posts[0]["path"] == "/api/v1/domains/example.com/rrsets/", posts[0]
assert json.loads(posts[0]["body"]) == {"records": ['"valueA"'], "subname": "_acme-challenge", "type": "TXT", "ttl": 3600}, posts[0]
deep = [json.loads(p["body"]) for p in posts if p["path"] == "/api/v1/domains/sub.example.com/rrsets/"]
assert deep == [{"records": ['"deep"'], "subname": "_acme-challenge.a", "type": "TXT", "ttl": 120}], deep
patches = [l for l in log if l["method"] == "PATCH"]
assert patches[0]["path"] == "/api/v1/domains/example.com/rrsets/_acme-challenge/TXT/"
assert json.loads(patches[0]["body"]) == {"records": ['"valueA"', '"valueB"']}, patches[0]
www = [json.loads(p["body"]) for p in patches if "_acme-challenge.www" in p["path"]]
assert www == [{"records": ['"foreign"', '"ours"']}, {"records": ['"foreign"']}], www
assert all(l["content_type"] == "application/json" for l in log if l["method"] in ("POST", "PATCH"))
assert "owns_qname=_acme-challenge.example.com" in [l["query"] for l in log]
n429 = [l for l in s["log"] if l.get("answer") == 429]
assert len(n429) == 1 + 4, len(n429)
PY

# 7. batch (apex + wildcard of one order): both values at one name in ONE
# write of the RRset, cleanup removes both in one, the foreign value stays
before=$(pl_log_len)
"$DRIVER" present2 desec www.example.com batchA batchB token="$TOKEN"
[ "$(records)" = '_acme-challenge.www.example.com="batchA" _acme-challenge.www.example.com="batchB" _acme-challenge.www.example.com="foreign"' ] || fail "batch: $(records)"
"$DRIVER" cleanup2 desec www.example.com batchA batchB token="$TOKEN"
[ "$(records)" = '_acme-challenge.www.example.com="foreign"' ] || fail "batch cleanup: $(records)"
pl_check_requests "$before" <<'PY'
w = writes(s["log"][int(args[0]):])
assert len(w) == 2, w
assert sorted(json.loads(w[0]["body"])["records"]) == ["\"batchA\"", "\"batchB\"", "\"foreign\""], w[0]
assert json.loads(w[1]["body"])["records"] == ["\"foreign\""], w[1]
PY
echo "PASS"
