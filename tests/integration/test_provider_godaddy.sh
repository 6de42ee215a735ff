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

BUILD=${AUTOCERT_BUILD_DIR:?}
SRC=${AUTOCERT_SOURCE_DIR:?}
DRIVER=$BUILD/tests/dns_driver
TMP=$(mktemp -d /tmp/ac-godaddy-XXXXXX)
MOCK_PID=
cleanup() {
    if [ -n "$MOCK_PID" ]; then kill "$MOCK_PID" 2>/dev/null || true; wait "$MOCK_PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT

KEY=gdk-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
SECRET=gds-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
python3 "$SRC/tests/integration/mock_godaddy.py" "$TMP/port" "$KEY" "$SECRET" &
MOCK_PID=$!
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
PORT=$(cat "$TMP/port")
export AUTOCERT_GODADDY_BASE_URL=http://127.0.0.1:$PORT
ctl() { curl -sf -X POST "http://127.0.0.1:$PORT/__control/$1" >/dev/null; }
state() { curl -sf "http://127.0.0.1:$PORT/__control/state"; }
records() { state | python3 -c 'import json,sys; print(" ".join(sorted("%s:%s=%s/%d" % (r["domain"], r["name"], r["data"], r["ttl"]) for r in json.load(sys.stdin)["records"])))'; }
fail() { echo "FAIL: $*" >&2; exit 1; }
gd() { "$DRIVER" "$1" godaddy "$2" "$3" api_key="$KEY" api_secret="$SECRET" follow_cname=false "${@:4}"; }

# 1. a foreign value at the name survives our presents; two values coexist
ctl "add?domain=example.com&name=_acme-challenge&data=foreign&ttl=3600"
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
gd cleanup example.com valueA
[ "$(records)" = "example.com:_acme-challenge=foreign/3600 example.com:_acme-challenge=valueB/900 sub.example.com:_acme-challenge.a=deep/600" ] \
    || fail "after cleanup: $(records)"
gd cleanup example.com valueA
gd cleanup example.com valueB
gd cleanup a.sub.example.com deep
[ "$(records)" = "example.com:_acme-challenge=foreign/3600" ] || fail "only foreign left: $(records)"

# 4. auth failure: clear error naming provider and options, no secret
if "$DRIVER" present godaddy example.com x api_key="$KEY" api_secret=wrong-secret-123456 follow_cname=false 2>"$TMP/err"; then
    fail "wrong secret accepted"
fi
grep -q "provider.auth" "$TMP/err" || fail "kind: $(cat "$TMP/err")"
grep -q "godaddy" "$TMP/err" || fail "provider not named: $(cat "$TMP/err")"
grep -q "api_key/api_secret" "$TMP/err" || fail "options not named: $(cat "$TMP/err")"
if grep -q -e "wrong-secret-123456" -e "$SECRET" "$TMP/err"; then fail "secret leaked"; fi
if "$DRIVER" validate godaddy api_key="$KEY" 2>"$TMP/err"; then fail "no secret accepted"; fi
grep -q "api_secret" "$TMP/err" || fail "validate: $(cat "$TMP/err")"
if grep -q "$KEY" "$TMP/err"; then fail "key leaked by validate"; fi

# 5. one 429 with Retry-After: 1 is waited out
ctl "ratelimit?count=1"
start=$(date +%s%N)
gd present example.com afterwait
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$elapsed_ms" -ge 900 ] || fail "did not wait for Retry-After ($elapsed_ms ms)"
records | grep -q "=afterwait/" || fail "not created after 429"
gd cleanup example.com afterwait

# 6. a persistent 429 ends as rate limiting after bounded retries
ctl "ratelimit?count=50"
if gd present example.com never 2>"$TMP/err"; then fail "persistent 429 succeeded"; fi
grep -q "dns.rate_limited" "$TMP/err" || fail "kind: $(cat "$TMP/err")"
ctl "ratelimit?count=0"
[ "$(records)" = "example.com:_acme-challenge=foreign/3600" ] || fail "final: $(records)"

# 7. every request had the documented form; the exact writes
state > "$TMP/state.json"
python3 - "$TMP/state.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["violations"] == [], s["violations"]
log = [l for l in s["log"] if l.get("answer") not in (401, 429)]
P = "/v1/domains/example.com/records/TXT/_acme-challenge"
writes = [(l["method"], l["path"], l["body"] and json.loads(l["body"])) for l in log
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
assert writes == expect, writes
assert all(l["content_type"] == "application/json" for l in log if l["method"] == "PUT")
gets = [l["path"] for l in log if l["method"] == "GET"]
assert "/v1/domains/a.sub.example.com" in gets and "/v1/domains/sub.example.com" in gets, gets
n429 = [l for l in s["log"] if l.get("answer") == 429]
assert len(n429) == 1 + 4, len(n429)
print("requests ok:", len(s["log"]))
PY

# 8. batch (apex + wildcard of one order): both values at one name in ONE
# PUT, cleanup removes both in one PUT, the foreign value stays
writes() { state | python3 -c 'import json,sys; print(json.dumps([l for l in json.load(sys.stdin)["log"] if l["method"] in ("POST", "PATCH", "PUT", "DELETE")]))'; }
before=$(writes | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
"$DRIVER" present2 godaddy example.com batchA batchB api_key="$KEY" api_secret="$SECRET" follow_cname=false
[ "$(records)" = "example.com:_acme-challenge=batchA/600 example.com:_acme-challenge=batchB/600 example.com:_acme-challenge=foreign/3600" ] || fail "batch: $(records)"
"$DRIVER" cleanup2 godaddy example.com batchA batchB api_key="$KEY" api_secret="$SECRET" follow_cname=false
[ "$(records)" = "example.com:_acme-challenge=foreign/3600" ] || fail "batch cleanup: $(records)"
writes | python3 -c '
import json, sys
w = json.load(sys.stdin)[int(sys.argv[1]):]
assert [l["method"] for l in w] == ["PUT", "PUT"], w
assert sorted(r["data"] for r in json.loads(w[0]["body"])) == ["batchA", "batchB", "foreign"], w[0]
assert [r["data"] for r in json.loads(w[1]["body"])] == ["foreign"], w[1]' "$before"
echo "PASS"
