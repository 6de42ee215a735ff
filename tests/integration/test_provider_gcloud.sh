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

# No CNAME look-up ($DRIVER) except in part 11 ($REAL_DRIVER), which names a
# loopback Knot as dns_resolvers (this machine's resolv.conf points outside
# loopback).
source "${AUTOCERT_SOURCE_DIR:?}/tests/integration/provider_lib.sh"
pl_init
unset GOOGLE_APPLICATION_CREDENTIALS

EMAIL=autocert@my-proj.iam.gserviceaccount.com
TARGET=dns-admin@my-proj.iam.gserviceaccount.com
openssl genrsa -out "$TMP/key.pem" 2048 2>/dev/null
openssl genrsa -out "$TMP/other.pem" 2048 2>/dev/null
openssl rsa -in "$TMP/key.pem" -pubout -out "$TMP/pub.pem" 2>/dev/null
MOD=$(openssl rsa -in "$TMP/key.pem" -noout -modulus | sed 's/^Modulus=//')

pl_start_mock gcloud "$EMAIL" "$MOD" "$TARGET"
export AUTOCERT_GCLOUD_BASE_URL=$MOCK_URL/dns/v1
export AUTOCERT_GCLOUD_IAM_URL=$MOCK_URL
keyfile() { # keyfile <pem> <out>
    python3 - "$1" "$2" "$EMAIL" "$MOCK_URL/token" <<'EOF2'
import json, sys
pem, out, email, uri = sys.argv[1:5]
json.dump({"type": "service_account", "project_id": "my-proj", "private_key_id": "k1",
           "private_key": open(pem).read(), "client_email": email, "client_id": "1",
           "auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": uri}, open(out, "w"))
EOF2
}
keyfile "$TMP/key.pem" "$TMP/sa.json"
keyfile "$TMP/other.pem" "$TMP/wrong.json"
records() { pl_state | python3 -c '
import json,sys
s = json.load(sys.stdin)["rrsets"]
print(" ".join(sorted(z + ":" + r["name"] + "=" + d.strip("\"") for z in s for r in s[z] for d in r["rrdatas"])))'; }
A=(project=my-proj service_account_file="$TMP/sa.json")
K=example-com:_acme-challenge
gc() { "$DRIVER" "$1" gcloud "$2" "$3" "${A[@]}" "${@:4}"; }
ntoken() { pl_state | python3 -c 'import json,sys; print(sum(l["path"] == "/token" for l in json.load(sys.stdin)["log"]))'; }

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
pl_ctl conflict
"$DRIVER" present gcloud example.com valueC "${A[@]}"
[ "$(records)" = "$K.example.com.=intruder $K.example.com.=keep-me $K.example.com.=valueC" ] || fail "conflict: $(records)"
"$DRIVER" cleanup gcloud example.com valueC "${A[@]}"
[ "$(records)" = "$K.example.com.=intruder $K.example.com.=keep-me" ] || fail "conflict cleanup: $(records)"

# 5. one instance: one token for present, present, cleanup
before=$(ntoken)
"$DRIVER" seq gcloud example.com s1 s2 "${A[@]}"
after=$(ntoken)
[ $((after - before)) = 1 ] || fail "token not cached: $((after - before)) token requests"
"$DRIVER" cleanup gcloud example.com s2 "${A[@]}"

# 6. impersonation
"$DRIVER" present gcloud example.com imp "${A[@]}" impersonate_service_account=$TARGET
records | grep -q "=imp" || fail "impersonation: $(records)"
"$DRIVER" cleanup gcloud example.com imp "${A[@]}" impersonate_service_account=$TARGET
pl_auth_fails gcloud impersonate_service_account "PRIVATE KEY" ya29 eyJ -- \
    "$DRIVER" present gcloud example.com x "${A[@]}" impersonate_service_account=nobody@my-proj.iam.gserviceaccount.com

# 7. auth failure (a key the account does not have): provider, option, no secret
pl_auth_fails gcloud service_account_file "PRIVATE KEY" ya29 eyJ -- \
    "$DRIVER" present gcloud example.com x project=my-proj service_account_file="$TMP/wrong.json"
pl_validate_fails "option project" -- "$DRIVER" validate gcloud service_account_file="$TMP/sa.json"
pl_validate_fails service_account_file -- "$DRIVER" validate gcloud project=my-proj
pl_validate_fails "config.invalid.*service_account_file" -- \
    "$DRIVER" present gcloud example.com x project=my-proj service_account_file="$TMP/pub.pem"
pl_validate_fails allow_private_zone -- "$DRIVER" present gcloud example.com x "${A[@]}" allow_private_zone=maybe

# 8. one 429 with Retry-After: 1 is waited out; a persistent one is rate limiting
pl_throttling gc

# 9. every request had the documented form; exact first exchange; the JWT
# verifies with the public key
pl_check_requests "$TMP" <<'PY'
import base64
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
open(args[0] + "/jwt.in", "w").write(jwt[0] + "." + jwt[1])
open(args[0] + "/jwt.sig", "wb").write(d(jwt[2]))
c = json.loads(d(jwt[1]))
assert c["scope"] == "https://www.googleapis.com/auth/ndev.clouddns.readwrite", c
PY
openssl dgst -sha256 -verify "$TMP/pub.pem" -signature "$TMP/jwt.sig" "$TMP/jwt.in" >/dev/null || fail "JWT signature does not verify"

# 10. batch (apex + wildcard of one order): both values at one name in ONE
# change, cleanup removes both in one change, the foreign values stay
before=$(pl_log_len)
"$DRIVER" present2 gcloud example.com batchA batchB "${A[@]}"
[ "$(records)" = "$K.example.com.=batchA $K.example.com.=batchB $K.example.com.=intruder $K.example.com.=keep-me" ] || fail "batch: $(records)"
pl_check_requests "$before" <<'PY'
w = [l for l in writes(s["log"][int(args[0]):]) if l["path"].endswith("/changes")]
assert len(w) == 1, ("batch present: changes", w)
b = json.loads(w[0]["body"])
assert sorted(b["additions"][0]["rrdatas"]) == ["\"batchA\"", "\"batchB\"", "\"intruder\"", "\"keep-me\""], b
PY
before=$(pl_log_len)
"$DRIVER" cleanup2 gcloud example.com batchA batchB "${A[@]}"
[ "$(records)" = "$K.example.com.=intruder $K.example.com.=keep-me" ] || fail "batch cleanup: $(records)"
pl_check_requests "$before" <<'PY'
w = [l for l in writes(s["log"][int(args[0]):]) if l["path"].endswith("/changes")]
assert len(w) == 1, ("batch cleanup: changes", w)
PY

# 11. a CNAME on _acme-challenge is followed: Knot (authoritative for
# example.com on loopback, named by dns_resolvers) answers
# _acme-challenge.a.example.com CNAME _acme-challenge.b.example.com
pl_knot "example.com:_acme-challenge.a CNAME _acme-challenge.b.example.com."
"$REAL_DRIVER" present gcloud a.example.com cnamed "${A[@]}" dns_resolvers="127.0.0.1:$KPORT"
records | grep -q "$K.b.example.com.=cnamed" || fail "CNAME not followed: $(records)"
records | grep -q "$K.a.example.com.=cnamed" && fail "written at the CNAME itself: $(records)"
"$REAL_DRIVER" cleanup gcloud a.example.com cnamed "${A[@]}" dns_resolvers="127.0.0.1:$KPORT"
records | grep -q "=cnamed" && fail "CNAME target not cleaned: $(records)"
echo "PASS"
