#!/usr/bin/env bash
# DigitalOcean provider against mock_digitalocean.py (the API v2 as
# documented): append-only present (two values plus a foreign one at one
# name), domain found by walking up, record name relative to the domain,
# cleanup deletes exactly our value, an auth failure names the provider and
# the option (never the secret), a 429 with Retry-After is waited out, a
# persistent 429 is reported as rate limiting, every request matched the
# documented form.
set -euo pipefail

BUILD=${AUTOCERT_BUILD_DIR:?}
SRC=${AUTOCERT_SOURCE_DIR:?}
DRIVER=$BUILD/tests/dns_driver
TMP=$(mktemp -d /tmp/ac-do-XXXXXX)
MOCK_PID=
cleanup() {
    if [ -n "$MOCK_PID" ]; then kill "$MOCK_PID" 2>/dev/null || true; wait "$MOCK_PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

TOKEN=dop_v1_$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
python3 "$SRC/tests/integration/mock_digitalocean.py" "$TMP/port" "$TOKEN" &
MOCK_PID=$!
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
PORT=$(cat "$TMP/port")
BASE=http://127.0.0.1:$PORT
state() { curl -sf "http://127.0.0.1:$PORT/__control/state"; }
records() { state | python3 -c 'import json,sys; print(" ".join(sorted(r["name"]+"."+r["domain"]+"="+r["data"] for r in json.load(sys.stdin)["records"])))'; }
fail() { echo "FAIL: $*" >&2; exit 1; }
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
if "$DRIVER" present digitalocean example.com x auth_token=wrong-token-123456 base_url="$BASE" follow_cname=false 2>"$TMP/err"; then
    fail "wrong token accepted"
fi
grep -q "provider.auth" "$TMP/err" || fail "kind: $(cat "$TMP/err")"
grep -q "digitalocean" "$TMP/err" || fail "provider not named: $(cat "$TMP/err")"
grep -q "auth_token" "$TMP/err" || fail "option not named: $(cat "$TMP/err")"
if grep -q "wrong-token-123456\|$TOKEN" "$TMP/err"; then fail "secret leaked"; fi
if "$DRIVER" validate digitalocean base_url="$BASE" 2>"$TMP/err"; then fail "no token accepted"; fi
grep -q "auth_token" "$TMP/err" || fail "validate: $(cat "$TMP/err")"

# 5. one 429 with Retry-After: 1 is waited out
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=1" >/dev/null
start=$(date +%s%N)
"$DRIVER" present digitalocean example.com afterwait "${A[@]}"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$elapsed_ms" -ge 900 ] || fail "did not wait for Retry-After ($elapsed_ms ms)"
records | grep -q "=afterwait" || fail "not created after 429"
"$DRIVER" cleanup digitalocean example.com afterwait "${A[@]}"

# 6. a persistent 429 ends as rate limiting after bounded retries
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=50" >/dev/null
if "$DRIVER" present digitalocean example.com never "${A[@]}" 2>"$TMP/err"; then
    fail "persistent 429 succeeded"
fi
grep -q "dns.rate_limited" "$TMP/err" || fail "kind: $(cat "$TMP/err")"
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=0" >/dev/null

# 7. every request had the documented form; exact POST body and headers
state > "$TMP/state.json"
python3 - "$TMP/state.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["violations"] == [], s["violations"]
posts = [l for l in s["log"] if l["method"] == "POST" and l["answer"] == 200]
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
print("requests ok:", len(s["log"]))
EOF
echo "PASS"
