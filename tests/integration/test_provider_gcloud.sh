#!/usr/bin/env bash
# gcloud (Google Cloud DNS) provider against mock_gcloud.py (token endpoint,
# IAM Credentials and Cloud DNS v1 as documented): the service-account JWT is
# checked by the mock (claims, RS256 signature with the test key) and again
# here with openssl; append-only present (two values next to a foreign one,
# as one atomic change replacing the set as read), zone walk-up, private zones
# skipped unless allow_private_zone, a concurrent change (412) retried,
# pending change polled, cleanup removes exactly ours, one token per provider
# instance, impersonation, auth failures name the provider and option and
# never the secret, 429 waited out, persistent 429 -> dns.rate_limited.
set -euo pipefail

BUILD=${AUTOCERT_BUILD_DIR:?}
SRC=${AUTOCERT_SOURCE_DIR:?}
DRIVER=$BUILD/tests/dns_driver
TMP=$(mktemp -d /tmp/ac-gcloud-XXXXXX)
MOCK_PID=
KNOT_PID=
cleanup() {
    if [ -n "$MOCK_PID" ]; then kill "$MOCK_PID" 2>/dev/null || true; wait "$MOCK_PID" 2>/dev/null || true; fi
    if [ -n "$KNOT_PID" ]; then kill "$KNOT_PID" 2>/dev/null || true; wait "$KNOT_PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT
# No CNAME look-up except in part 11, which names a loopback Knot as
# dns_resolvers (this machine's resolv.conf points outside loopback).
REAL_DRIVER=$DRIVER
printf '#!/bin/sh\nexec "%s" "$@" follow_cname=false\n' "$REAL_DRIVER" > "$TMP/driver"
chmod +x "$TMP/driver"
DRIVER=$TMP/driver
fail() { echo "FAIL: $*" >&2; exit 1; }
unset GOOGLE_APPLICATION_CREDENTIALS

EMAIL=autocert@my-proj.iam.gserviceaccount.com
TARGET=dns-admin@my-proj.iam.gserviceaccount.com
openssl genrsa -out "$TMP/key.pem" 2048 2>/dev/null
openssl genrsa -out "$TMP/other.pem" 2048 2>/dev/null
openssl rsa -in "$TMP/key.pem" -pubout -out "$TMP/pub.pem" 2>/dev/null
MOD=$(openssl rsa -in "$TMP/key.pem" -noout -modulus | sed 's/^Modulus=//')

python3 "$SRC/tests/integration/mock_gcloud.py" "$TMP/port" "$EMAIL" "$MOD" "$TARGET" &
MOCK_PID=$!
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
PORT=$(cat "$TMP/port")
export AUTOCERT_GCLOUD_BASE_URL=http://127.0.0.1:$PORT/dns/v1
export AUTOCERT_GCLOUD_IAM_URL=http://127.0.0.1:$PORT
keyfile() { # keyfile <pem> <out>
    python3 - "$1" "$2" "$EMAIL" "http://127.0.0.1:$PORT/token" <<'EOF2'
import json, sys
pem, out, email, uri = sys.argv[1:5]
json.dump({"type": "service_account", "project_id": "my-proj", "private_key_id": "k1",
           "private_key": open(pem).read(), "client_email": email, "client_id": "1",
           "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": uri}, open(out, "w"))
EOF2
}
keyfile "$TMP/key.pem" "$TMP/sa.json"
keyfile "$TMP/other.pem" "$TMP/wrong.json"
state() { curl -sf "http://127.0.0.1:$PORT/__control/state"; }
records() { state | python3 -c '
import json,sys
s = json.load(sys.stdin)["rrsets"]
print(" ".join(sorted(z + ":" + r["name"] + "=" + d.strip("\"") for z in s for r in s[z] for d in r["rrdatas"])))'; }
A=(project=my-proj service_account_file="$TMP/sa.json")
K=example-com:_acme-challenge

# 1. two values at one name next to a foreign one
"$DRIVER" present gcloud example.com valueA "${A[@]}"
"$DRIVER" present gcloud example.com valueB "${A[@]}" ttl=300
[ "$(records)" = "$K.example.com.=keep-me $K.example.com.=valueA $K.example.com.=valueB" ] || fail "both values: $(records)"

# 2. zone found by walking up; a private zone is skipped unless allowed
"$DRIVER" present gcloud a.b.example.com deep "${A[@]}"
"$DRIVER" present gcloud x.internal.example.com pub "${A[@]}"
"$DRIVER" present gcloud x.internal.example.com priv "${A[@]}" allow_private_zone=true
records | grep -q "$K.a.b.example.com.=deep" || fail "deep name: $(records)"
records | grep -q "$K.x.internal.example.com.=pub" || fail "private zone used: $(records)"
records | grep -q "internal-example-com:_acme-challenge.x.internal.example.com.=priv" || fail "allow_private_zone: $(records)"

# 3. cleanup removes exactly one value; absent is success; zone_id skips the walk
"$DRIVER" cleanup gcloud example.com valueA "${A[@]}"
[ "$(records | tr ' ' '\n' | grep -c "^$K.example.com.=")" = 2 ] || fail "after cleanup: $(records)"
records | grep -q "=valueA" && fail "valueA still there: $(records)"
"$DRIVER" cleanup gcloud example.com valueA "${A[@]}"
"$DRIVER" cleanup gcloud example.com valueB "${A[@]}" zone_id=example-com
"$DRIVER" cleanup gcloud a.b.example.com deep "${A[@]}"
"$DRIVER" cleanup gcloud x.internal.example.com pub "${A[@]}"
"$DRIVER" cleanup gcloud x.internal.example.com priv "${A[@]}" allow_private_zone=true
[ "$(records)" = "$K.example.com.=keep-me" ] || fail "not clean: $(records)"

# 4. a concurrent writer changes the set between read and change: retried
curl -sf -X POST "http://127.0.0.1:$PORT/__control/conflict" >/dev/null
"$DRIVER" present gcloud example.com valueC "${A[@]}"
[ "$(records)" = "$K.example.com.=intruder $K.example.com.=keep-me $K.example.com.=valueC" ] || fail "conflict: $(records)"
"$DRIVER" cleanup gcloud example.com valueC "${A[@]}"
[ "$(records)" = "$K.example.com.=intruder $K.example.com.=keep-me" ] || fail "conflict cleanup: $(records)"

# 5. one instance: one token for present, present, cleanup
before=$(state | python3 -c 'import json,sys; print(sum(l["path"] == "/token" for l in json.load(sys.stdin)["log"]))')
"$DRIVER" seq gcloud example.com s1 s2 "${A[@]}"
after=$(state | python3 -c 'import json,sys; print(sum(l["path"] == "/token" for l in json.load(sys.stdin)["log"]))')
[ $((after - before)) = 1 ] || fail "token not cached: $((after - before)) token requests"
"$DRIVER" cleanup gcloud example.com s2 "${A[@]}"

# 6. impersonation
"$DRIVER" present gcloud example.com imp "${A[@]}" impersonate_service_account=$TARGET
records | grep -q "=imp" || fail "impersonation: $(records)"
"$DRIVER" cleanup gcloud example.com imp "${A[@]}" impersonate_service_account=$TARGET
if "$DRIVER" present gcloud example.com x "${A[@]}" impersonate_service_account=nobody@my-proj.iam.gserviceaccount.com 2>"$TMP/err"; then
    fail "impersonating a foreign account accepted"
fi
grep -q "provider.auth" "$TMP/err" && grep -q "impersonate_service_account" "$TMP/err" || fail "impersonation error: $(cat "$TMP/err")"

# 7. auth failure (a key the account does not have): provider, option, no secret
if "$DRIVER" present gcloud example.com x project=my-proj service_account_file="$TMP/wrong.json" 2>"$TMP/err"; then
    fail "wrong key accepted"
fi
grep -q "provider.auth" "$TMP/err" || fail "kind: $(cat "$TMP/err")"
grep -q "gcloud" "$TMP/err" && grep -q "service_account_file" "$TMP/err" || fail "not named: $(cat "$TMP/err")"
grep -q "PRIVATE KEY\|ya29\|eyJ" "$TMP/err" && fail "secret leaked: $(cat "$TMP/err")"
if "$DRIVER" validate gcloud service_account_file="$TMP/sa.json" 2>"$TMP/err"; then fail "no project accepted"; fi
grep -q "option project" "$TMP/err" || fail "validate project: $(cat "$TMP/err")"
if "$DRIVER" validate gcloud project=my-proj 2>"$TMP/err"; then fail "no key file accepted"; fi
grep -q "service_account_file" "$TMP/err" || fail "validate key file: $(cat "$TMP/err")"
if "$DRIVER" present gcloud example.com x project=my-proj service_account_file="$TMP/pub.pem" 2>"$TMP/err"; then
    fail "non-JSON key file accepted"
fi
grep -q "config.invalid.*service_account_file" "$TMP/err" || fail "bad key file: $(cat "$TMP/err")"
if "$DRIVER" present gcloud example.com x "${A[@]}" allow_private_zone=maybe 2>"$TMP/err"; then fail "bad bool"; fi
grep -q "allow_private_zone" "$TMP/err" || fail "bool: $(cat "$TMP/err")"

# 8. one 429 with Retry-After: 1 is waited out; a persistent one is rate limiting
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=1" >/dev/null
start=$(date +%s%N)
"$DRIVER" present gcloud example.com afterwait "${A[@]}"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$elapsed_ms" -ge 900 ] || fail "did not wait for Retry-After ($elapsed_ms ms)"
records | grep -q "=afterwait" || fail "not created after 429"
"$DRIVER" cleanup gcloud example.com afterwait "${A[@]}"
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=50" >/dev/null
if "$DRIVER" present gcloud example.com never "${A[@]}" 2>"$TMP/err"; then fail "persistent 429 succeeded"; fi
grep -q "dns.rate_limited" "$TMP/err" || fail "kind: $(cat "$TMP/err")"
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=0" >/dev/null

# 9. every request had the documented form; exact first exchange; the JWT
# verifies with the public key
state > "$TMP/state.json"
python3 - "$TMP/state.json" "$TMP" <<'EOF2'
import base64, json, sys
s = json.load(open(sys.argv[1]))
assert s["violations"] == [], s["violations"]
L = s["log"]
seq = [(l["method"], l["path"].replace("/dns/v1/projects/my-proj", "")) for l in L[:5]]
assert seq == [("POST", "/token"), ("GET", "/managedZones"),
               ("GET", "/managedZones/example-com/rrsets"),
               ("POST", "/managedZones/example-com/changes"),
               ("GET", "/managedZones/example-com/changes/1")], seq
assert L[1]["query"] == "dnsName=example.com.", L[1]
assert L[2]["query"] == "name=_acme-challenge.example.com.&type=TXT", L[2]
assert json.loads(L[3]["body"]) == {
    "additions": [{"name": "_acme-challenge.example.com.", "type": "TXT", "ttl": 120,
                   "rrdatas": ["\"keep-me\"", "\"valueA\""]}],
    "deletions": [{"name": "_acme-challenge.example.com.", "type": "TXT", "ttl": 300,
                   "rrdatas": ["\"keep-me\""]}]}, L[3]["body"]
walk = [l["query"] for l in L if l["path"].endswith("/managedZones")]
assert "dnsName=b.example.com." in walk and "dnsName=a.b.example.com." in walk, walk
assert sum(1 for l in L if l.get("answer") == 412) == 1
assert sum(1 for l in L if l.get("answer") == 429) == 1 + 4
jwt = s["assertions"][0].split(".")
d = lambda x: base64.urlsafe_b64decode(x + "=" * (-len(x) % 4))
open(sys.argv[2] + "/jwt.in", "w").write(jwt[0] + "." + jwt[1])
open(sys.argv[2] + "/jwt.sig", "wb").write(d(jwt[2]))
c = json.loads(d(jwt[1]))
assert c["scope"] == "https://www.googleapis.com/auth/ndev.clouddns.readwrite", c
print("requests ok:", len(L))
EOF2
openssl dgst -sha256 -verify "$TMP/pub.pem" -signature "$TMP/jwt.sig" "$TMP/jwt.in" >/dev/null || fail "JWT signature does not verify"

# 10. batch (apex + wildcard of one order): both values at one name in ONE
# change, cleanup removes both in one change, the foreign values stay
count_changes() { state | python3 -c 'import json,sys; print(sum(l["method"] == "POST" and l["path"].endswith("/changes") for l in json.load(sys.stdin)["log"]))'; }
before=$(count_changes)
"$DRIVER" present2 gcloud example.com batchA batchB "${A[@]}"
[ "$(records)" = "$K.example.com.=batchA $K.example.com.=batchB $K.example.com.=intruder $K.example.com.=keep-me" ] || fail "batch: $(records)"
[ $(( $(count_changes) - before )) = 1 ] || fail "batch present: $(( $(count_changes) - before )) changes"
state | python3 -c '
import json, sys
p = [l for l in json.load(sys.stdin)["log"] if l["method"] == "POST" and l["path"].endswith("/changes")][-1]
b = json.loads(p["body"])
assert sorted(b["additions"][0]["rrdatas"]) == ["\"batchA\"", "\"batchB\"", "\"intruder\"", "\"keep-me\""], b'
before=$(count_changes)
"$DRIVER" cleanup2 gcloud example.com batchA batchB "${A[@]}"
[ "$(records)" = "$K.example.com.=intruder $K.example.com.=keep-me" ] || fail "batch cleanup: $(records)"
[ $(( $(count_changes) - before )) = 1 ] || fail "batch cleanup: $(( $(count_changes) - before )) changes"

# 11. a CNAME on _acme-challenge is followed: Knot (authoritative for
# example.com on loopback, named by dns_resolvers) answers
# _acme-challenge.a.example.com CNAME _acme-challenge.b.example.com
KPORT=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$TMP/knot/run" "$TMP/knot/db" "$TMP/knot/zones"
printf '$ORIGIN example.com.\n$TTL 60\n@ SOA ns1 hostmaster 1 3600 600 86400 60\n@ NS ns1\nns1 A 127.0.0.1\n_acme-challenge.a CNAME _acme-challenge.b.example.com.\n' > "$TMP/knot/zones/example.com.zone"
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
EOF
knotd -c "$TMP/knot/knot.conf" >"$TMP/knot.log" 2>&1 &
KNOT_PID=$!
for _ in $(seq 100); do
    kdig +short +timeout=1 +retry=0 @127.0.0.1 -p "$KPORT" SOA example.com 2>/dev/null | grep -q hostmaster && break
    sleep 0.1
done
"$REAL_DRIVER" present gcloud a.example.com cnamed "${A[@]}" dns_resolvers="127.0.0.1:$KPORT"
records | grep -q "$K.b.example.com.=cnamed" || fail "CNAME not followed: $(records)"
records | grep -q "$K.a.example.com.=cnamed" && fail "written at the CNAME itself: $(records)"
"$REAL_DRIVER" cleanup gcloud a.example.com cnamed "${A[@]}" dns_resolvers="127.0.0.1:$KPORT"
records | grep -q "=cnamed" && fail "CNAME target not cleaned: $(records)"
echo "PASS"
