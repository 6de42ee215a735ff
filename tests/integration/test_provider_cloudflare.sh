#!/usr/bin/env bash
# Cloudflare provider against mock_cloudflare.py (the API as documented):
# append-only present (two values at one name), zone found by walking up,
# cleanup deletes exactly our value, token and email+key auth, an auth failure
# names the provider and the option (never the secret), a 429 with
# Retry-After is waited out, a persistent 429 is reported as rate limiting,
# and every request matched the documented form.
set -euo pipefail

BUILD=${AUTOCERT_BUILD_DIR:?}
SRC=${AUTOCERT_SOURCE_DIR:?}
DRIVER=$BUILD/tests/dns_driver
TMP=$(mktemp -d /tmp/ac-cf-XXXXXX)
MOCK_PID=
KNOT_PID=
cleanup() {
    if [ -n "$MOCK_PID" ]; then kill "$MOCK_PID" 2>/dev/null || true; wait "$MOCK_PID" 2>/dev/null || true; fi
    if [ -n "$KNOT_PID" ]; then kill "$KNOT_PID" 2>/dev/null || true; wait "$KNOT_PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT
# The mock has no DNS server behind it: no CNAME look-up (dns_api.h).
printf '#!/bin/sh\nexec "%s" "$@" follow_cname=false\n' "$DRIVER" > "$TMP/driver"
chmod +x "$TMP/driver"
REAL_DRIVER=$DRIVER
DRIVER=$TMP/driver

TOKEN=cf-token-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
KEY=cf-key-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
python3 "$SRC/tests/integration/mock_cloudflare.py" "$TMP/port" "$TOKEN" ops@example.com "$KEY" &
MOCK_PID=$!
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
PORT=$(cat "$TMP/port")
BASE=http://127.0.0.1:$PORT/client/v4
state() { curl -sf "http://127.0.0.1:$PORT/__control/state"; }
records() { state | python3 -c 'import json,sys; print(" ".join(sorted(r["name"]+"="+r["content"] for r in json.load(sys.stdin)["records"])))'; }
fail() { echo "FAIL: $*" >&2; exit 1; }

# 1. two values at one name (apex + wildcard of one order), token auth
"$DRIVER" present cloudflare example.com valueA auth_token="$TOKEN" base_url="$BASE"
"$DRIVER" present cloudflare example.com valueB auth_token="$TOKEN" base_url="$BASE" ttl=300
[ "$(records)" = "_acme-challenge.example.com=valueA _acme-challenge.example.com=valueB" ] || fail "both values: $(records)"
# the same value again is not an error (identical record, 81058)
"$DRIVER" present cloudflare example.com valueA auth_token="$TOKEN" base_url="$BASE"

# 2. zone found by walking up from a deeper name
"$DRIVER" present cloudflare a.b.example.com deep auth_token="$TOKEN" base_url="$BASE"
records | grep -q "_acme-challenge.a.b.example.com=deep" || fail "deep name: $(records)"

# 3. cleanup removes exactly one value; absent is success
"$DRIVER" cleanup cloudflare example.com valueA auth_token="$TOKEN" base_url="$BASE"
[ "$(records)" = "_acme-challenge.a.b.example.com=deep _acme-challenge.example.com=valueB" ] || fail "after cleanup: $(records)"
"$DRIVER" cleanup cloudflare example.com valueA auth_token="$TOKEN" base_url="$BASE"

# 4. email + global key auth
"$DRIVER" cleanup cloudflare example.com valueB auth_email=ops@example.com auth_key="$KEY" base_url="$BASE"
"$DRIVER" cleanup cloudflare a.b.example.com deep auth_email=ops@example.com auth_key="$KEY" base_url="$BASE"
[ "$(records)" = "" ] || fail "not empty: $(records)"

# 5. auth failure: clear error naming provider and option, no secret
if "$DRIVER" present cloudflare example.com x auth_token=wrong-token-123456 base_url="$BASE" 2>"$TMP/err"; then
    fail "wrong token accepted"
fi
grep -q "provider.auth" "$TMP/err" || fail "kind: $(cat "$TMP/err")"
grep -q "cloudflare" "$TMP/err" || fail "provider not named: $(cat "$TMP/err")"
grep -q "auth_token" "$TMP/err" || fail "option not named: $(cat "$TMP/err")"
if grep -q "wrong-token-123456\|$TOKEN" "$TMP/err"; then fail "secret leaked"; fi
if "$DRIVER" present cloudflare example.com x auth_email=ops@example.com auth_key=badkey-0000000000 base_url="$BASE" 2>"$TMP/err"; then
    fail "wrong key accepted"
fi
grep -q "auth_email and auth_key" "$TMP/err" || fail "options not named: $(cat "$TMP/err")"
if grep -q "badkey-0000000000" "$TMP/err"; then fail "secret leaked"; fi
# missing credentials are a validation error
if "$DRIVER" validate cloudflare auth_email=ops@example.com 2>"$TMP/err"; then fail "no key accepted"; fi
grep -q "auth_key" "$TMP/err" || fail "validate: $(cat "$TMP/err")"

# 6. one 429 with Retry-After: 1 is waited out
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=1" >/dev/null
start=$(date +%s%N)
"$DRIVER" present cloudflare example.com afterwait auth_token="$TOKEN" base_url="$BASE"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$elapsed_ms" -ge 900 ] || fail "did not wait for Retry-After ($elapsed_ms ms)"
records | grep -q "=afterwait" || fail "not created after 429"
"$DRIVER" cleanup cloudflare example.com afterwait auth_token="$TOKEN" base_url="$BASE"

# 7. a persistent 429 ends as rate limiting after bounded retries
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=50" >/dev/null
if "$DRIVER" present cloudflare example.com never auth_token="$TOKEN" base_url="$BASE" 2>"$TMP/err"; then
    fail "persistent 429 succeeded"
fi
grep -q "dns.rate_limited" "$TMP/err" || fail "kind: $(cat "$TMP/err")"
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=0" >/dev/null

# 8. every request had the documented form; check the exact POST body and headers
state > "$TMP/state.json"
python3 - "$TMP/state.json" <<'EOF'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["violations"] == [], s["violations"]
posts = [l for l in s["log"] if l["method"] == "POST" and l["answer"] == 200]
first = json.loads(posts[0]["body"])
assert first == {"type": "TXT", "name": "_acme-challenge.example.com", "content": "valueA", "ttl": 120}, first
assert json.loads(posts[1]["body"])["ttl"] == 300
assert all(p["content_type"] == "application/json" for p in posts)
zones = [l["query"] for l in s["log"] if l["path"] == "/client/v4/zones"]
assert "name=a.b.example.com" in zones and "name=b.example.com" in zones, zones
dels = [l for l in s["log"] if l["method"] == "DELETE"]
assert len(dels) == 4, dels   # valueA, valueB, deep, afterwait: never another record
assert any(l["auth"] == "email_key" for l in s["log"])
n429 = [l for l in s["log"] if l.get("answer") == 429]
assert len(n429) == 1 + 4, len(n429)  # one waited out; 1 + 3 retries then give up
print("requests ok:", len(s["log"]))
EOF

# 9. a CNAME on _acme-challenge is followed to the zone that really holds the
# record: Knot (authoritative for example.com and other.org) answers
# _acme-challenge.a.example.com CNAME _acme-challenge.b.other.org, so the
# record goes into zone other.org under the CNAME's target name.
KPORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$TMP/knot/run" "$TMP/knot/db" "$TMP/knot/zones"
printf '$ORIGIN example.com.\n$TTL 60\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n@ NS ns1\nns1 A 127.0.0.1\n_acme-challenge.a CNAME _acme-challenge.b.other.org.\n' > "$TMP/knot/zones/example.com.zone"
printf '$ORIGIN other.org.\n$TTL 60\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n@ NS ns1\nns1 A 127.0.0.1\n' > "$TMP/knot/zones/other.org.zone"
cat > "$TMP/knot/knot.conf" <<EOF
server:
    rundir: "$TMP/knot/run"
    listen: 127.0.0.1@$KPORT
database:
    storage: "$TMP/knot/db"
control:
    listen: "$TMP/knot/run/knot.sock"
template:
  - id: default
    storage: "$TMP/knot/zones"
    file: "%s.zone"
zone:
  - domain: example.com.
  - domain: other.org.
EOF
knotd -c "$TMP/knot/knot.conf" 2>"$TMP/knot/log" &
KNOT_PID=$!
for _ in $(seq 100); do
    kdig +short +timeout=1 +retry=0 @127.0.0.1 -p "$KPORT" SOA other.org 2>/dev/null | grep -q hostmaster && break
    sleep 0.1
done
C=(auth_token="$TOKEN" base_url="$BASE" dns_resolvers="127.0.0.1:$KPORT")
"$REAL_DRIVER" present cloudflare a.example.com cnamed "${C[@]}"
records | grep -q "_acme-challenge.b.other.org=cnamed" || fail "CNAME not followed: $(records)"
if records | grep -q "_acme-challenge.a.example.com=cnamed"; then fail "written at the CNAME itself: $(records)"; fi
state | python3 -c '
import json, sys
s = json.load(sys.stdin)
p = [l for l in s["log"] if l["method"] == "POST"][-1]
assert p["path"] == "/client/v4/zones/9a7806061c88ada191ed06f989cc3dac/dns_records", p
assert json.loads(p["body"])["name"] == "_acme-challenge.b.other.org", p'
"$REAL_DRIVER" cleanup cloudflare a.example.com cnamed "${C[@]}"
if records | grep -q "=cnamed"; then fail "CNAME target record not cleaned: $(records)"; fi
# without a CNAME the name is used as it is
"$REAL_DRIVER" present cloudflare c.example.com plain "${C[@]}"
records | grep -q "_acme-challenge.c.example.com=plain" || fail "plain name: $(records)"
"$REAL_DRIVER" cleanup cloudflare c.example.com plain "${C[@]}"
echo "PASS"
