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

source "${AUTOCERT_SOURCE_DIR:?}/tests/integration/provider_lib.sh"
pl_init

TENANT=11111111-2222-3333-4444-555555555555
CID=aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee
SUB=99999999-8888-7777-6666-555555555555
SECRET="s3cr+et/$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')&x=1"
pl_start_mock azuredns "$TENANT" "$CID" "$SECRET" "$SUB"
export AUTOCERT_AZURE_LOGIN_URL=$MOCK_URL
export AUTOCERT_AZURE_MANAGEMENT_URL=$MOCK_URL/
records() { pl_state | python3 -c '
import json,sys
s = json.load(sys.stdin)["sets"]
print(" ".join(sorted(k + "=" + v for k in s for v in s[k]["values"])))'; }
ntoken() { pl_state | python3 -c 'import json,sys; print(sum(l["path"].endswith("/token") for l in json.load(sys.stdin)["log"]))'; }
A=(subscription_id=$SUB resource_group=rg1 tenant_id=$TENANT client_id=$CID client_secret="$SECRET")
K=dnsZones/example.com/_acme-challenge
az() { "$DRIVER" "$1" azuredns "$2" "$3" "${A[@]}" "${@:4}"; }

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
pl_state | python3 -c 'import json,sys; s = json.load(sys.stdin)["sets"]; assert list(s) == ["dnsZones/example.com/_acme-challenge"], s' || fail "emptied sets not deleted"

# 4. a concurrent writer between read and write (412) is retried
pl_ctl conflict
"$DRIVER" present azuredns example.com valueC "${A[@]}"
[ "$(records)" = "$K=intruder $K=keep-me $K=valueC" ] || fail "conflict: $(records)"
pl_ctl conflict
"$DRIVER" cleanup azuredns example.com valueC "${A[@]}"
[ "$(records)" = "$K=intruder $K=intruder $K=keep-me" ] || fail "conflict cleanup: $(records)"

# 5. one token per provider instance
before=$(ntoken)
"$DRIVER" seq azuredns example.com s1 s2 "${A[@]}"
[ $(( $(ntoken) - before )) = 1 ] || fail "token not cached"
"$DRIVER" cleanup azuredns example.com s2 "${A[@]}"

# 6. auth failures: provider, options, never the secret
WRONG="wrong-$SECRET"
pl_auth_fails azuredns client_secret "$SECRET" -- "$DRIVER" present azuredns example.com x \
    subscription_id=$SUB resource_group=rg1 tenant_id=$TENANT client_id=$CID client_secret="$WRONG"
grep -q "invalid_client" "$TMP/err" || fail "no error code: $(cat "$TMP/err")"
pl_auth_fails azuredns tenant_id "$SECRET" -- "$DRIVER" present azuredns example.com x \
    subscription_id=$SUB resource_group=rg1 tenant_id=other client_id=$CID client_secret="$SECRET"
grep -q "provider.auth.*tenant_id" "$TMP/err" || fail "tenant: $(cat "$TMP/err")"
pl_validate_fails "option client_secret" -- "$DRIVER" validate azuredns subscription_id=$SUB resource_group=rg1 tenant_id=$TENANT client_id=$CID
pl_validate_fails resource_group -- "$DRIVER" validate azuredns subscription_id=$SUB tenant_id=$TENANT client_id=$CID client_secret=x
pl_validate_fails "option environment" -- "$DRIVER" validate azuredns "${A[@]}" environment=mars
"$DRIVER" validate azuredns "${A[@]}" environment=china private_zone=false

# 7. one 429 with Retry-After: 1 is waited out; a persistent one is rate limiting
pl_throttling az

# 8. every request had the documented form; the exact first exchange
pl_check_requests "$SUB" <<'PY'
L = s["log"]
z = "/subscriptions/%s/resourceGroups/rg1/providers/Microsoft.Network/dnsZones/example.com" % args[0]
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
PY

# 9. batch (apex + wildcard of one order): both values at one name in ONE
# PUT, cleanup removes both in one PUT, the foreign value stays
before=$(pl_log_len)
keep=$(records | tr ' ' '\n' | grep "^$K=" | grep -v "=batch" | tr '\n' ' ')
"$DRIVER" present2 azuredns example.com batchA batchB "${A[@]}"
records | tr ' ' '\n' | grep -qx "$K=batchA" && records | tr ' ' '\n' | grep -qx "$K=batchB" || fail "batch: $(records)"
"$DRIVER" cleanup2 azuredns example.com batchA batchB "${A[@]}"
[ "$(records | tr ' ' '\n' | grep "^$K=" | tr '\n' ' ')" = "$keep" ] || fail "batch cleanup: $(records)"
pl_check_requests "$before" <<'PY'
w = [l for l in writes(s["log"][int(args[0]):]) if "/dnsZones/" in l["path"]]
assert [l["method"] for l in w] == ["PUT", "PUT"], [(l["method"], l["path"]) for l in w]
vals = lambda l: sorted("".join(r["value"]) for r in json.loads(l["body"])["properties"]["TXTRecords"])
assert "batchA" in vals(w[0]) and "batchB" in vals(w[0]) and "keep-me" in vals(w[0]), vals(w[0])
assert "batchA" not in vals(w[1]) and "batchB" not in vals(w[1]) and "keep-me" in vals(w[1]), vals(w[1])
PY
echo "PASS"
