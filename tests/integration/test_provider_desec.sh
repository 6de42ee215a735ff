#!/usr/bin/env bash
# deSEC provider against mock_desec.py (API v1 as documented): present adds our
# value to the RRset keeping a foreign value (read, then PATCH with all), a new
# RRset is POSTed with the domain's minimum TTL, cleanup removes exactly our
# value (the last one removes the set), an auth failure names the provider and
# the option (never the secret), a 429 with Retry-After is waited out, a
# persistent 429 is reported as rate limiting, and every request matched the
# documented form.
set -euo pipefail

BUILD=${AUTOCERT_BUILD_DIR:?}
SRC=${AUTOCERT_SOURCE_DIR:?}
DRIVER=$BUILD/tests/dns_driver
TMP=$(mktemp -d /tmp/ac-desec-XXXXXX)
MOCK_PID=
cleanup() {
    if [ -n "$MOCK_PID" ]; then kill "$MOCK_PID" 2>/dev/null || true; wait "$MOCK_PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT
# The mock has no DNS server behind it: no CNAME look-up (dns_api.h).
printf '#!/bin/sh\nexec "%s" "$@" follow_cname=false\n' "$DRIVER" > "$TMP/driver"
chmod +x "$TMP/driver"
DRIVER=$TMP/driver

TOKEN=ds-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
python3 "$SRC/tests/integration/mock_desec.py" "$TMP/port" "$TOKEN" &
MOCK_PID=$!
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
PORT=$(cat "$TMP/port")
export AUTOCERT_DESEC_BASE_URL=http://127.0.0.1:$PORT/api/v1
state() { curl -sf "http://127.0.0.1:$PORT/__control/state"; }
records() { state | python3 -c '
import json,sys
s=json.load(sys.stdin)["rrsets"]
print(" ".join(sorted(k.split("|")[1]+"."+k.split("|")[0]+"="+r for k,v in s.items() for r in v["records"])))'; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. a new RRset, then a second value appended (apex + wildcard of one order)
"$DRIVER" present desec example.com valueA token="$TOKEN"
"$DRIVER" present desec example.com valueB token="$TOKEN"
[ "$(records)" = '_acme-challenge.example.com="valueA" _acme-challenge.example.com="valueB"' ] || fail "both values: $(records)"
# the same value again changes nothing
"$DRIVER" present desec example.com valueA token="$TOKEN"

# 2. a foreign value is kept by present and cleanup; most specific domain
curl -sf -X POST "http://127.0.0.1:$PORT/__control/seed?sub=_acme-challenge.www&value=foreign" >/dev/null
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
if "$DRIVER" present desec example.com x token=wrong-token-123456 2>"$TMP/err"; then
    fail "wrong token accepted"
fi
grep -q "provider.auth" "$TMP/err" || fail "kind: $(cat "$TMP/err")"
grep -q "desec" "$TMP/err" || fail "provider not named: $(cat "$TMP/err")"
grep -q "token" "$TMP/err" || fail "option not named: $(cat "$TMP/err")"
if grep -q -e "wrong-token-123456" -e "$TOKEN" "$TMP/err"; then fail "secret leaked"; fi
if "$DRIVER" validate desec 2>"$TMP/err"; then fail "no token accepted"; fi
grep -q "token" "$TMP/err" || fail "validate: $(cat "$TMP/err")"

# 5. one 429 with Retry-After: 1 is waited out
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=1" >/dev/null
start=$(date +%s%N)
"$DRIVER" present desec example.com afterwait token="$TOKEN"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$elapsed_ms" -ge 900 ] || fail "did not wait for Retry-After ($elapsed_ms ms)"
records | grep -q '="afterwait"' || fail "not created after 429"
"$DRIVER" cleanup desec example.com afterwait token="$TOKEN"

# 6. a persistent 429 ends as rate limiting after bounded retries
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=50" >/dev/null
if "$DRIVER" present desec example.com never token="$TOKEN" 2>"$TMP/err"; then
    fail "persistent 429 succeeded"
fi
grep -q "dns.rate_limited" "$TMP/err" || fail "kind: $(cat "$TMP/err")"
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=0" >/dev/null

# 7. every request had the documented form; exact bodies
state > "$TMP/state.json"
python3 - "$TMP/state.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["violations"] == [], s["violations"]
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
print("requests ok:", len(s["log"]))
PY

# 8. batch (apex + wildcard of one order): both values at one name in ONE
# write of the RRset, cleanup removes both in one, the foreign value stays
writes() { state | python3 -c 'import json,sys; print(json.dumps([l for l in json.load(sys.stdin)["log"] if l["method"] in ("POST", "PATCH", "PUT", "DELETE")]))'; }
before=$(writes | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
"$DRIVER" present2 desec www.example.com batchA batchB token="$TOKEN"
[ "$(records)" = '_acme-challenge.www.example.com="batchA" _acme-challenge.www.example.com="batchB" _acme-challenge.www.example.com="foreign"' ] || fail "batch: $(records)"
"$DRIVER" cleanup2 desec www.example.com batchA batchB token="$TOKEN"
[ "$(records)" = '_acme-challenge.www.example.com="foreign"' ] || fail "batch cleanup: $(records)"
writes | python3 -c '
import json, sys
w = json.load(sys.stdin)[int(sys.argv[1]):]
assert len(w) == 2, w
assert sorted(json.loads(w[0]["body"])["records"]) == ["\"batchA\"", "\"batchB\"", "\"foreign\""], w[0]
assert json.loads(w[1]["body"])["records"] == ["\"foreign\""], w[1]' "$before"
echo "PASS"
