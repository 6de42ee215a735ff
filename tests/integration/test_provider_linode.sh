#!/usr/bin/env bash
# Linode provider against mock_linode.py (API v4 as documented): append-only
# present (two values at one name), the most specific domain found by walking
# up with X-Filter, cleanup deletes exactly our value, an auth failure names
# the provider and the option (never the secret), a 429 with Retry-After is
# waited out, a persistent 429 is reported as rate limiting, and every
# request matched the documented form.
set -euo pipefail

BUILD=${AUTOCERT_BUILD_DIR:?}
SRC=${AUTOCERT_SOURCE_DIR:?}
DRIVER=$BUILD/tests/dns_driver
TMP=$(mktemp -d /tmp/ac-linode-XXXXXX)
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

TOKEN=ln-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
python3 "$SRC/tests/integration/mock_linode.py" "$TMP/port" "$TOKEN" &
MOCK_PID=$!
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
PORT=$(cat "$TMP/port")
export AUTOCERT_LINODE_BASE_URL=http://127.0.0.1:$PORT/v4
state() { curl -sf "http://127.0.0.1:$PORT/__control/state"; }
records() { state | python3 -c 'import json,sys; print(" ".join(sorted("%d:%s=%s" % (r["domain_id"], r["name"], r["target"]) for r in json.load(sys.stdin)["records"])))'; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. two values at one name
"$DRIVER" present linode example.com valueA token="$TOKEN"
"$DRIVER" present linode example.com valueB token="$TOKEN" ttl=300
[ "$(records)" = "1234:_acme-challenge=valueA 1234:_acme-challenge=valueB" ] || fail "both values: $(records)"

# 2. the most specific domain (sub.example.com), found by walking up
"$DRIVER" present linode a.sub.example.com deep token="$TOKEN"
records | grep -q "5678:_acme-challenge.a=deep" || fail "deep: $(records)"

# 3. cleanup removes exactly one value; absent is success
"$DRIVER" cleanup linode example.com valueA token="$TOKEN"
[ "$(records)" = "1234:_acme-challenge=valueB 5678:_acme-challenge.a=deep" ] || fail "after cleanup: $(records)"
"$DRIVER" cleanup linode example.com valueA token="$TOKEN"
"$DRIVER" cleanup linode example.com valueB token="$TOKEN"
"$DRIVER" cleanup linode a.sub.example.com deep token="$TOKEN"
[ "$(records)" = "" ] || fail "not empty: $(records)"

# 4. auth failure: clear error naming provider and option, no secret
if "$DRIVER" present linode example.com x token=wrong-token-123456 2>"$TMP/err"; then
    fail "wrong token accepted"
fi
grep -q "provider.auth" "$TMP/err" || fail "kind: $(cat "$TMP/err")"
grep -q "linode" "$TMP/err" || fail "provider not named: $(cat "$TMP/err")"
grep -q "token" "$TMP/err" || fail "option not named: $(cat "$TMP/err")"
if grep -q -e "wrong-token-123456" -e "$TOKEN" "$TMP/err"; then fail "secret leaked"; fi
if "$DRIVER" validate linode 2>"$TMP/err"; then fail "no token accepted"; fi
grep -q "token" "$TMP/err" || fail "validate: $(cat "$TMP/err")"

# 5. one 429 with Retry-After: 1 is waited out
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=1" >/dev/null
start=$(date +%s%N)
"$DRIVER" present linode example.com afterwait token="$TOKEN"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$elapsed_ms" -ge 900 ] || fail "did not wait for Retry-After ($elapsed_ms ms)"
records | grep -q "=afterwait" || fail "not created after 429"
"$DRIVER" cleanup linode example.com afterwait token="$TOKEN"

# 6. a persistent 429 ends as rate limiting after bounded retries
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=50" >/dev/null
if "$DRIVER" present linode example.com never token="$TOKEN" 2>"$TMP/err"; then
    fail "persistent 429 succeeded"
fi
grep -q "dns.rate_limited" "$TMP/err" || fail "kind: $(cat "$TMP/err")"
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=0" >/dev/null

# 7. every request had the documented form; the exact POST body
state > "$TMP/state.json"
python3 - "$TMP/state.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["violations"] == [], s["violations"]
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
print("requests ok:", len(s["log"]))
PY
echo "PASS"
