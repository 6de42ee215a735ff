#!/usr/bin/env bash
# azuredns provider against mock_azuredns.py (Microsoft identity platform
# token endpoint and the ARM DNS API as documented): client-credentials token
# (one per provider instance), append-only present (values next to a foreign
# one, PUT with If-Match of the set as read, If-None-Match: * for a new set),
# zone found by walking up or given by zone_name, private zones
# (privateDnsZones, other api-version and property names), a concurrent
# writer (412) retried, cleanup removes exactly ours and DELETEs an emptied
# set, auth failures name the provider and options and never the secret, 429
# waited out, persistent 429 -> dns.rate_limited.
set -euo pipefail

BUILD=${AUTOCERT_BUILD_DIR:?}
SRC=${AUTOCERT_SOURCE_DIR:?}
DRIVER=$BUILD/tests/dns_driver
TMP=$(mktemp -d /tmp/ac-azure-XXXXXX)
MOCK_PID=
cleanup() {
    if [ -n "$MOCK_PID" ]; then kill "$MOCK_PID" 2>/dev/null || true; wait "$MOCK_PID" 2>/dev/null || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

TENANT=11111111-2222-3333-4444-555555555555
CID=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee
SUB=99999999-8888-7777-6666-555555555555
SECRET="s3cr+et/$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')&x=1"
python3 "$SRC/tests/integration/mock_azuredns.py" "$TMP/port" "$TENANT" "$CID" "$SECRET" "$SUB" &
MOCK_PID=$!
for _ in $(seq 100); do [ -s "$TMP/port" ] && break; sleep 0.05; done
PORT=$(cat "$TMP/port")
export AUTOCERT_AZURE_LOGIN_URL=http://127.0.0.1:$PORT
export AUTOCERT_AZURE_MANAGEMENT_URL=http://127.0.0.1:$PORT/
state() { curl -sf "http://127.0.0.1:$PORT/__control/state"; }
records() { state | python3 -c '
import json,sys
s = json.load(sys.stdin)["sets"]
print(" ".join(sorted(k + "=" + v for k in s for v in s[k]["values"])))'; }
ntoken() { state | python3 -c 'import json,sys; print(sum(l["path"].endswith("/token") for l in json.load(sys.stdin)["log"]))'; }
A=(subscription_id=$SUB resource_group=rg1 tenant_id=$TENANT client_id=$CID client_secret="$SECRET" follow_cname=false)
K=dnsZones/example.com/_acme-challenge

# 1. two values at one name next to a foreign one
"$DRIVER" present azuredns example.com valueA "${A[@]}"
"$DRIVER" present azuredns example.com valueB "${A[@]}" ttl=300
[ "$(records)" = "$K=keep-me $K=valueA $K=valueB" ] || fail "both values: $(records)"

# 2. zone by walk-up (new set: If-None-Match), by zone_name, private zone
"$DRIVER" present azuredns a.b.example.com deep "${A[@]}"
"$DRIVER" present azuredns c.example.com named "${A[@]}" zone_name=Example.com.
"$DRIVER" present azuredns internal.example.com priv "${A[@]}" private_zone=true
records | grep -q "$K.a.b=deep" || fail "deep: $(records)"
records | grep -q "$K.c=named" || fail "zone_name: $(records)"
records | grep -q "privateDnsZones/internal.example.com/_acme-challenge=priv" || fail "private: $(records)"

# 3. cleanup removes exactly one value; absent is success; emptied sets are deleted
"$DRIVER" cleanup azuredns example.com valueA "${A[@]}"
[ "$(records | tr ' ' '\n' | grep -c "^$K=")" = 2 ] && ! records | grep -q "=valueA" || fail "after cleanup: $(records)"
"$DRIVER" cleanup azuredns example.com valueA "${A[@]}"
"$DRIVER" cleanup azuredns example.com valueB "${A[@]}"
"$DRIVER" cleanup azuredns a.b.example.com deep "${A[@]}"
"$DRIVER" cleanup azuredns c.example.com named "${A[@]}" zone_name=example.com
"$DRIVER" cleanup azuredns internal.example.com priv "${A[@]}" private_zone=true
[ "$(records)" = "$K=keep-me" ] || fail "not clean: $(records)"
state | python3 -c 'import json,sys; s = json.load(sys.stdin)["sets"]; assert list(s) == ["dnsZones/example.com/_acme-challenge"], s' || fail "emptied sets not deleted"

# 4. a concurrent writer between read and write (412) is retried
curl -sf -X POST "http://127.0.0.1:$PORT/__control/conflict" >/dev/null
"$DRIVER" present azuredns example.com valueC "${A[@]}"
[ "$(records)" = "$K=intruder $K=keep-me $K=valueC" ] || fail "conflict: $(records)"
curl -sf -X POST "http://127.0.0.1:$PORT/__control/conflict" >/dev/null
"$DRIVER" cleanup azuredns example.com valueC "${A[@]}"
[ "$(records)" = "$K=intruder $K=intruder $K=keep-me" ] || fail "conflict cleanup: $(records)"

# 5. one token per provider instance
before=$(ntoken)
"$DRIVER" seq azuredns example.com s1 s2 "${A[@]}"
[ $(( $(ntoken) - before )) = 1 ] || fail "token not cached"
"$DRIVER" cleanup azuredns example.com s2 "${A[@]}"

# 6. auth failures: provider, options, never the secret
WRONG="wrong-$SECRET"
if "$DRIVER" present azuredns example.com x subscription_id=$SUB resource_group=rg1 tenant_id=$TENANT client_id=$CID client_secret="$WRONG" follow_cname=false 2>"$TMP/err"; then
    fail "wrong secret accepted"
fi
grep -q "provider.auth" "$TMP/err" && grep -q "azuredns" "$TMP/err" && grep -q "client_secret" "$TMP/err" || fail "auth error: $(cat "$TMP/err")"
grep -qF "$SECRET" "$TMP/err" && fail "secret leaked: $(cat "$TMP/err")"
grep -q "invalid_client" "$TMP/err" || fail "no error code: $(cat "$TMP/err")"
if "$DRIVER" present azuredns example.com x subscription_id=$SUB resource_group=rg1 tenant_id=other client_id=$CID client_secret="$SECRET" follow_cname=false 2>"$TMP/err"; then
    fail "wrong tenant accepted"
fi
grep -q "provider.auth.*tenant_id" "$TMP/err" || fail "tenant: $(cat "$TMP/err")"
if "$DRIVER" validate azuredns subscription_id=$SUB resource_group=rg1 tenant_id=$TENANT client_id=$CID 2>"$TMP/err"; then fail "no secret accepted"; fi
grep -q "option client_secret" "$TMP/err" || fail "validate secret: $(cat "$TMP/err")"
if "$DRIVER" validate azuredns subscription_id=$SUB tenant_id=$TENANT client_id=$CID client_secret=x 2>"$TMP/err"; then fail "no resource group accepted"; fi
grep -q "resource_group" "$TMP/err" || fail "validate rg: $(cat "$TMP/err")"
if "$DRIVER" validate azuredns "${A[@]}" environment=mars 2>"$TMP/err"; then fail "bad environment accepted"; fi
grep -q "option environment" "$TMP/err" || fail "validate env: $(cat "$TMP/err")"
"$DRIVER" validate azuredns "${A[@]}" environment=china private_zone=false

# 7. one 429 with Retry-After: 1 is waited out; a persistent one is rate limiting
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=1" >/dev/null
start=$(date +%s%N)
"$DRIVER" present azuredns example.com afterwait "${A[@]}"
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[ "$elapsed_ms" -ge 900 ] || fail "did not wait for Retry-After ($elapsed_ms ms)"
records | grep -q "=afterwait" || fail "not created after 429"
"$DRIVER" cleanup azuredns example.com afterwait "${A[@]}"
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=50" >/dev/null
if "$DRIVER" present azuredns example.com never "${A[@]}" 2>"$TMP/err"; then fail "persistent 429 succeeded"; fi
grep -q "dns.rate_limited" "$TMP/err" || fail "kind: $(cat "$TMP/err")"
curl -sf -X POST "http://127.0.0.1:$PORT/__control/ratelimit?count=0" >/dev/null

# 8. every request had the documented form; the exact first exchange
state > "$TMP/state.json"
python3 - "$TMP/state.json" "$SUB" <<'EOF2'
import json, sys
s = json.load(open(sys.argv[1]))
assert s["violations"] == [], s["violations"]
L = s["log"]
z = "/subscriptions/%s/resourceGroups/rg1/providers/Microsoft.Network/dnsZones/example.com" % sys.argv[2]
seq = [(l["method"], l["path"], l["query"]) for l in L[:4]]
assert seq[0][0:2] == ("POST", "/11111111-2222-3333-4444-555555555555/oauth2/v2.0/token"), seq
assert seq[1:] == [("GET", z, "api-version=2018-05-01"),
                   ("GET", z + "/TXT/_acme-challenge", "api-version=2018-05-01"),
                   ("PUT", z + "/TXT/_acme-challenge", "api-version=2018-05-01")], seq
assert L[3]["if_match"] == "e-0" and L[3]["if_none_match"] is None, L[3]
assert json.loads(L[3]["body"]) == {"properties": {"TTL": 120, "TXTRecords": [
    {"value": ["keep-me"]}, {"value": ["valueA"]}]}}, L[3]["body"]
new = [l for l in L if l["method"] == "PUT" and "_acme-challenge.a.b" in l["path"]][0]
assert new["if_none_match"] == "*" and new["if_match"] is None, new
walk = [l["path"].rsplit("/", 1)[1] for l in L if l["method"] == "GET" and "/TXT/" not in l["path"]
        and "dnsZones/" in l["path"]]
assert "a.b.example.com" in walk and "b.example.com" in walk, walk
priv = [l for l in L if "privateDnsZones" in l["path"] and l["method"] == "PUT"][0]
assert priv["query"] == "api-version=2018-09-01" and \
    json.loads(priv["body"]) == {"properties": {"ttl": 120, "txtRecords": [{"value": ["priv"]}]}}, priv
dels = [l for l in L if l["method"] == "DELETE"]
assert len(dels) == 3 and all(d["if_match"] for d in dels), dels
assert sum(1 for l in L if l["answer"] == 412) == 2
assert sum(1 for l in L if l["answer"] == 429) == 1 + 4
print("requests ok:", len(L))
EOF2

# 10. batch (apex + wildcard of one order): both values at one name in ONE
# PUT, cleanup removes both in one PUT, the foreign value stays
writes() { state | python3 -c 'import json,sys; print(json.dumps([l for l in json.load(sys.stdin)["log"] if l["method"] in ("POST", "PATCH", "PUT", "DELETE") and "/dnsZones/" in l["path"]]))'; }
before=$(writes | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')
keep=$(records | tr ' ' '\n' | grep "^$K=" | grep -v "=batch" | tr '\n' ' ')
"$DRIVER" present2 azuredns example.com batchA batchB "${A[@]}"
records | tr ' ' '\n' | grep -qx "$K=batchA" && records | tr ' ' '\n' | grep -qx "$K=batchB" || fail "batch: $(records)"
"$DRIVER" cleanup2 azuredns example.com batchA batchB "${A[@]}"
[ "$(records | tr ' ' '\n' | grep "^$K=" | tr '\n' ' ')" = "$keep" ] || fail "batch cleanup: $(records)"
writes | python3 -c '
import json, sys
w = json.load(sys.stdin)[int(sys.argv[1]):]
assert [l["method"] for l in w] == ["PUT", "PUT"], [(l["method"], l["path"]) for l in w]
vals = lambda l: sorted("".join(r["value"]) for r in json.loads(l["body"])["properties"]["TXTRecords"])
assert "batchA" in vals(w[0]) and "batchB" in vals(w[0]) and "keep-me" in vals(w[0]), vals(w[0])
assert "batchA" not in vals(w[1]) and "batchB" not in vals(w[1]) and "keep-me" in vals(w[1]), vals(w[1])' "$before"
echo "PASS"
