#!/usr/bin/env bash
# Route 53 provider against mock_route53.py (the API as documented, SigV4
# signatures recomputed by the mock): present appends to the TXT set through
# an atomic DELETE(current)+CREATE(current+ours) batch and keeps a foreign
# value and its TTL, a new name is CREATEd, cleanup removes exactly our value
# (DELETE only when the set becomes empty), a concurrent writer between read
# and write is detected and retried without losing its value, GetChange is
# polled, the private zone of the same name is skipped, an auth failure names
# the provider and the options (never the secret), a 429 with Retry-After is
# waited out, a persistent 429 is reported as rate limiting, and every request
# matched the documented form.
set -euo pipefail

source "${AUTOCERT_SOURCE_DIR:?}/tests/integration/provider_lib.sh"
pl_init

AKID=AKIAMOCK$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
SECRET=sk-$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
pl_start_mock route53 "$AKID" "$SECRET"
export AUTOCERT_ROUTE53_BASE_URL=$MOCK_URL
sets() { pl_state | python3 -c '
import json,sys
s = json.load(sys.stdin)["sets"]
print(" ".join("%s/%d=%s" % (k.split("|")[1], v["ttl"], ",".join(sorted(v["values"]))) for k, v in sorted(s.items())))'; }
A=(access_key_id="$AKID" secret_access_key="$SECRET" region=us-east-1 polling_interval=1)

# 1. append to an existing set: the foreign value and its TTL stay
"$DRIVER" present route53 example.com valueA "${A[@]}"
"$DRIVER" present route53 example.com valueB "${A[@]}" ttl=300
[ "$(sets)" = '_acme-challenge.example.com./600="keep-me","valueA","valueB"' ] || fail "append: $(sets)"
# the same value again changes nothing
"$DRIVER" present route53 example.com valueA "${A[@]}"

# 2. a new name in the zone (found by walking up) is created with our TTL
"$DRIVER" present route53 a.b.example.com deep "${A[@]}"
sets | grep -q '_acme-challenge.a.b.example.com./120="deep"' || fail "deep: $(sets)"

# 3. a concurrent writer between our read and our write keeps its value
pl_ctl "sneak?value=intruder"
"$DRIVER" present route53 example.com valueC "${A[@]}"
[ "$(sets | tr ' ' '\n' | grep '^_acme-challenge.example.com')" = \
  '_acme-challenge.example.com./600="intruder","keep-me","valueA","valueB","valueC"' ] || fail "race: $(sets)"

# 4. cleanup removes exactly our value; absent is success; empty set is deleted
"$DRIVER" cleanup route53 example.com valueA "${A[@]}"
"$DRIVER" cleanup route53 example.com valueA "${A[@]}"
"$DRIVER" cleanup route53 example.com valueB "${A[@]}" hosted_zone_id=Z1EXAMPLE
"$DRIVER" cleanup route53 example.com valueC "${A[@]}"
"$DRIVER" cleanup route53 a.b.example.com deep "${A[@]}"
[ "$(sets)" = '_acme-challenge.example.com./600="intruder","keep-me"' ] || fail "after cleanup: $(sets)"

# 5. auth failure: clear error naming provider and options, no secret
pl_auth_fails route53 secret_access_key wrong-secret-123456 "$SECRET" -- \
    "$DRIVER" present route53 example.com x access_key_id="$AKID" secret_access_key=wrong-secret-123456 region=us-east-1
pl_validate_fails secret_access_key -- "$DRIVER" validate route53 access_key_id="$AKID" region=us-east-1
pl_validate_fails region -- "$DRIVER" validate route53 access_key_id="$AKID" secret_access_key=x

# 6. one 429 with Retry-After: 1 is waited out
pl_waits_429 "$DRIVER" present route53 example.com afterwait "${A[@]}"
sets | grep -q '"afterwait"' || fail "not created after 429"
"$DRIVER" cleanup route53 example.com afterwait "${A[@]}"

# 7. a persistent 429 ends as rate limiting after bounded retries
pl_rate_limited "$DRIVER" present route53 example.com never "${A[@]}" max_retries=2

# 8. every request had the documented form; check exact change batches
pl_check_requests <<'PY'
import xml.etree.ElementTree as ET
NS = "{https://route53.amazonaws.com/doc/2013-04-01/}"
ok = [l for l in s["log"] if l["answer"] == 200]
assert all(l["scope"] == "us-east-1/route53" for l in ok)
assert all("host" in l["signed_headers"].split(";") for l in ok)
posts = [l for l in ok if l["method"] == "POST"]
def batch(l):
    r = ET.fromstring(l["body"])
    out = []
    for c in r.iter(NS + "Change"):
        rs = c.find(NS + "ResourceRecordSet")
        out.append((c.findtext(NS + "Action"), rs.findtext(NS + "Name"), int(rs.findtext(NS + "TTL")),
                    sorted(v.text for v in rs.iter(NS + "Value"))))
    return out
n = "_acme-challenge.example.com."
assert batch(posts[0]) == [("DELETE", n, 600, ['"keep-me"']),
                           ("CREATE", n, 600, ['"keep-me"', '"valueA"'])], batch(posts[0])
assert all(p["content_type"] == "application/xml" for p in posts)
# the deep name: CREATE only, then DELETE only
deep = [batch(p) for p in posts if "a.b.example.com" in p["body"]]
assert deep == [[("CREATE", "_acme-challenge.a.b.example.com.", 120, ['"deep"'])],
                [("DELETE", "_acme-challenge.a.b.example.com.", 120, ['"deep"'])]], deep
# the race: one batch refused (400) and the retry carried the intruder
assert any(l["answer"] == 400 and l["method"] == "POST" for l in s["log"])
# hosted_zone_id given: no look-up in that run; private zone never used
assert not any("Z9PRIVATE" in l["path"] for l in s["log"])
# GetChange polled after each change
assert len([l for l in ok if l["path"].startswith("/2013-04-01/change/")]) == len(posts)
n429 = [l for l in s["log"] if l.get("answer") == 429]
assert len(n429) == 1 + 3, len(n429)  # one waited out; 1 + 2 retries then give up
PY

# 9. batch (apex + wildcard of one order): both values at one name go out in
# ONE change batch, cleanup removes both in one, the foreign values stay
before=$(pl_log_len)
"$DRIVER" present2 route53 example.com batchA batchB "${A[@]}"
[ "$(sets | tr ' ' '\n' | grep '^_acme-challenge.example.com')" = \
  '_acme-challenge.example.com./600="batchA","batchB","intruder","keep-me"' ] || fail "batch: $(sets)"
"$DRIVER" cleanup2 route53 example.com batchA batchB "${A[@]}"
[ "$(sets)" = '_acme-challenge.example.com./600="intruder","keep-me"' ] || fail "batch cleanup: $(sets)"
pl_check_requests "$before" <<'PY'
import xml.etree.ElementTree as ET
NS = "{https://route53.amazonaws.com/doc/2013-04-01/}"
log = s["log"][int(args[0]):]
posts = [l for l in log if l["method"] == "POST"]
assert len(posts) == 2, [w["body"] for w in posts]
def creates(l):
    r = ET.fromstring(l["body"])
    return [sorted(v.text for v in c.iter(NS + "Value")) for c in r.iter(NS + "Change")
            if c.findtext(NS + "Action") == "CREATE"]
assert creates(posts[0]) == [['"batchA"', '"batchB"', '"intruder"', '"keep-me"']], creates(posts[0])
assert creates(posts[1]) == [['"intruder"', '"keep-me"']], creates(posts[1])
PY
echo "PASS"
