#!/usr/bin/env bash
# DuckDNS provider against mock_duckdns.py (the update API as documented):
# present sets the subdomain's TXT value (exact parameters asserted), cleanup
# clears it, and since DuckDNS holds one value per subdomain, a cleanup of a
# value already replaced by a later present of the same process sends nothing
# (the newer value stays); a refused update (KO) is an auth error naming the
# provider and the option (never the token), a name outside duckdns.org is
# refused, a 429 with Retry-After is waited out, a persistent 429 is reported
# as rate limiting.
set -euo pipefail

source "${AUTOCERT_SOURCE_DIR:?}/tests/integration/provider_lib.sh"
pl_init

TOKEN=$(python3 -c 'import uuid; print(uuid.uuid4())')
pl_start_mock duckdns "$TOKEN" mygw
export AUTOCERT_DUCKDNS_BASE_URL=$MOCK_URL
txt() { pl_state | python3 -c 'import json,sys; print(json.load(sys.stdin)["txt"]["mygw"])'; }

# 1. present sets the value, cleanup clears it (also for a deeper name)
"$DRIVER" present duckdns mygw.duckdns.org valueA token="$TOKEN"
[ "$(txt)" = valueA ] || fail "present: $(txt)"
"$DRIVER" cleanup duckdns mygw.duckdns.org valueA token="$TOKEN"
[ "$(txt)" = "" ] || fail "cleanup: $(txt)"
"$DRIVER" present duckdns www.mygw.duckdns.org deep token="$TOKEN"
[ "$(txt)" = deep ] || fail "deep: $(txt)"

# 2. one instance: present v1, present v2, cleanup v1 keeps v2 (v1 already gone)
"$DRIVER" seq duckdns mygw.duckdns.org v1 v2 token="$TOKEN"
[ "$(txt)" = v2 ] || fail "seq: $(txt)"
"$DRIVER" cleanup duckdns mygw.duckdns.org v2 token="$TOKEN"
[ "$(txt)" = "" ] || fail "cleanup v2: $(txt)"

# 3. refused update (KO): auth error naming provider and option, no token
BAD=00000000-1111-2222-3333-444444444444
pl_auth_fails duckdns token "$BAD" "$TOKEN" -- "$DRIVER" present duckdns mygw.duckdns.org x token=$BAD
pl_validate_fails duckdns.org -- "$DRIVER" present duckdns example.com x token="$TOKEN"
pl_validate_fails token -- "$DRIVER" validate duckdns

# 4. one 429 with Retry-After: 1 is waited out
pl_waits_429 "$DRIVER" present duckdns mygw.duckdns.org afterwait token="$TOKEN"
[ "$(txt)" = afterwait ] || fail "not set after 429"

# 5. a persistent 429 ends as rate limiting after bounded retries
pl_rate_limited "$DRIVER" present duckdns mygw.duckdns.org never token="$TOKEN"

# 6. exact requests
pl_check_requests <<'PY'
ok = [l for l in s["log"] if l.get("answer") == "OK"]
assert ok[0]["params"] == {"domains": "mygw", "token": "<token>", "txt": "valueA", "verbose": "true"}, ok[0]
assert ok[1]["params"] == {"domains": "mygw", "token": "<token>", "txt": "", "clear": "true",
                           "verbose": "true"}, ok[1]
# seq: v1, v2 and no clear in between; then the clear of v2
seq = [l["params"].get("txt") or ("clear" if "clear" in l["params"] else "") for l in ok[3:6]]
assert seq == ["v1", "v2", "clear"], seq
n429 = [l for l in s["log"] if l.get("answer") == 429]
assert len(n429) == 1 + 4, len(n429)
PY
echo "PASS"
