#!/usr/bin/env bash
# test_dns_providers.sh - the DNS-01 provider layer against real servers:
#   challtestsrv provider against pebble-challtestsrv (values coexist at one
#   name, cleanup removes only its own value), the ldns propagation check
#   (success, timeout naming the server and its answer, unreachable resolver),
#   the exec provider with a script that records its arguments, and the httpreq
#   provider against a python3 mock that records method, path, headers and body.
set -u

BUILD=${AUTOCERT_BUILD_DIR:?}
SRC=${AUTOCERT_SOURCE_DIR:?}
D="$BUILD/tests/dns_driver"
WORK=$(mktemp -d /tmp/test_dns_providers.XXXXXX)
PIDS=()
FAILS=0

cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null; done
    rm -rf "$WORK"
}
trap cleanup EXIT

fail() { echo "FAIL: $*"; FAILS=$((FAILS + 1)); }
pass() { echo "ok: $*"; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

[ -x "$D" ] || { echo "dns_driver not built at $D"; exit 1; }
command -v pebble-challtestsrv >/dev/null || { echo "pebble-challtestsrv missing"; exit 1; }

# --- pebble-challtestsrv -------------------------------------------------------
DNSP=$(free_port)
MGMT=$(free_port)
DNS6=""
if python3 -c 'import socket; s=socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.bind(("::1",0))' 2>/dev/null; then
    DNS6=",[::1]:$DNSP"
fi
pebble-challtestsrv -dns01 "127.0.0.1:$DNSP$DNS6" -management "127.0.0.1:$MGMT" \
    -http01 "" -https01 "" -tlsalpn01 "" -defaultIPv4 127.0.0.1 >"$WORK/cts.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do
    curl -s -o /dev/null "http://127.0.0.1:$MGMT/" && break
    sleep 0.1
done
URL="url=http://127.0.0.1:$MGMT"
txt() { kdig @127.0.0.1 -p "$DNSP" +short +timeout=2 +retry=0 TXT "$1" | sort | tr '\n' ' '; }

# Two values presented by separate runs coexist.
"$D" present challtestsrv a.example.test valueA "$URL" || fail "present valueA"
"$D" present challtestsrv a.example.test valueB "$URL" || fail "present valueB"
got=$(txt _acme-challenge.a.example.test)
[ "$got" = '"valueA" "valueB" ' ] && pass "two values coexist" || fail "two values coexist: got [$got]"

# One instance: present v1, v2; both visible; cleanup v1 leaves exactly v2.
DNS_DRIVER_SIGNAL="$WORK/presented" DNS_DRIVER_WAIT="$WORK/go" \
    "$D" seq challtestsrv b.example.test value1 value2 "$URL" 2>"$WORK/seq.err" &
SEQ=$!
for _ in $(seq 1 100); do [ -e "$WORK/presented" ] && break; sleep 0.1; done
got=$(txt _acme-challenge.b.example.test)
[ "$got" = '"value1" "value2" ' ] && pass "seq: both presented" || fail "seq: both presented: got [$got]"
touch "$WORK/go"
wait $SEQ || fail "seq run failed: $(cat "$WORK/seq.err")"
got=$(txt _acme-challenge.b.example.test)
[ "$got" = '"value2" ' ] && pass "cleanup removes only its value" || fail "cleanup removes only its value: got [$got]"

# Propagation check: success (one and several resolvers, host:port and [v4]).
"$D" wait _acme-challenge.b.example.test value2 5000 200 "127.0.0.1:$DNSP" \
    && pass "propagation success" || fail "propagation success"
"$D" wait _acme-challenge.a.example.test valueA 5000 200 "127.0.0.1:$DNSP" "[127.0.0.1]:$DNSP" \
    && pass "propagation success, two resolvers" || fail "propagation success, two resolvers"

if [ -n "$DNS6" ]; then
    "$D" wait _acme-challenge.a.example.test valueB 5000 200 "[::1]:$DNSP" \
        && pass "propagation success over IPv6" || fail "propagation success over IPv6"
fi

# Timeout: names the server and what it answered.
if "$D" wait _acme-challenge.b.example.test value1 1500 300 "127.0.0.1:$DNSP" 2>"$WORK/w1.err"; then
    fail "propagation of a removed value succeeded"
else
    err=$(cat "$WORK/w1.err")
    case "$err" in
    *dns.propagation_timeout*"127.0.0.1:$DNSP (answered: NOERROR with values [\"value2\"])"*)
        pass "timeout names server and its answer" ;;
    *) fail "timeout message: $err" ;;
    esac
fi
if "$D" wait _acme-challenge.none.example.test v 800 200 "127.0.0.1:$DNSP" 2>"$WORK/w2.err"; then
    fail "propagation of an absent name succeeded"
else
    grep -q "NOERROR with no TXT record" "$WORK/w2.err" && pass "empty answer described" \
        || fail "empty answer: $(cat "$WORK/w2.err")"
fi
# Unreachable resolver is named (the good one is not listed as lacking).
DEAD=$(free_port)
if "$D" wait _acme-challenge.b.example.test value2 1500 300 "127.0.0.1:$DNSP" "127.0.0.1:$DEAD" 2>"$WORK/w3.err"; then
    fail "propagation with a dead resolver succeeded"
else
    err=$(cat "$WORK/w3.err")
    case "$err" in
    *"127.0.0.1:$DEAD (answered: no answer"*) pass "unreachable resolver named" ;;
    *) fail "unreachable resolver: $err" ;;
    esac
    case "$err" in *"127.0.0.1:$DNSP "*) fail "good resolver listed as lacking: $err" ;; esac
fi

# challtestsrv management API down: a clear error.
if "$D" present challtestsrv c.example.test v "url=http://127.0.0.1:$DEAD" 2>"$WORK/c.err"; then
    fail "present against a dead management API succeeded"
else
    grep -q "challtestsrv: present _acme-challenge.c.example.test" "$WORK/c.err" \
        && pass "dead management API reported" || fail "dead API: $(cat "$WORK/c.err")"
fi

# --- exec ---------------------------------------------------------------------
cat >"$WORK/hook.sh" <<HOOK
#!/bin/sh
printf '%s|' "\$@" >> "$WORK/exec.log"
echo >> "$WORK/exec.log"
[ "\$2" = "_acme-challenge.bad.example.test." ] && { echo "provider said no" >&2; exit 4; }
exit 0
HOOK
chmod +x "$WORK/hook.sh"
"$D" present exec e.example.test VAL "program=$WORK/hook.sh" || fail "exec present"
"$D" cleanup exec e.example.test VAL "program=$WORK/hook.sh" || fail "exec cleanup"
"$D" present exec e.example.test VAL "program=$WORK/hook.sh" mode=RAW _token=TOK _keyauth=TOK.THUMB \
    || fail "exec RAW present"
want=$'present|_acme-challenge.e.example.test.|VAL|\ncleanup|_acme-challenge.e.example.test.|VAL|\npresent|e.example.test|TOK|TOK.THUMB|'
[ "$(cat "$WORK/exec.log")" = "$want" ] && pass "exec arguments" || fail "exec arguments: $(cat "$WORK/exec.log")"
if "$D" present exec bad.example.test VAL "program=$WORK/hook.sh" 2>"$WORK/e.err"; then
    fail "exec non-zero exit accepted"
else
    grep -q "dns.provider: .*exec.*exited with status 4: provider said no" "$WORK/e.err" \
        && pass "exec failure reported" || fail "exec failure: $(cat "$WORK/e.err")"
    grep -q "hook.sh" "$WORK/e.err" && fail "exec error shows the program path"
fi

# --- httpreq ------------------------------------------------------------------
PW='pa55-W0rd-very-secret'
python3 "$SRC/tests/integration/mock_httpreq.py" "$WORK/mock.port" "$WORK/mock.log" alice "$PW" &
PIDS+=($!)
for _ in $(seq 1 50); do [ -s "$WORK/mock.port" ] && break; sleep 0.1; done
HP=$(cat "$WORK/mock.port")
EP="endpoint=http://127.0.0.1:$HP/api/"
"$D" present httpreq h.example.test hval "$EP" username=alice "password=$PW" || fail "httpreq present"
"$D" cleanup httpreq h.example.test hval "$EP" username=alice "password=$PW" || fail "httpreq cleanup"
"$D" present httpreq h.example.test hval "$EP" username=alice "password=$PW" mode=RAW \
    _token=tok1 _keyauth=tok1.thumb || fail "httpreq RAW present"
python3 - "$WORK/mock.log" "$PW" <<'PY' && pass "httpreq requests exact" || fail "httpreq requests"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
pw = sys.argv[2]
want = [
    ("/api/present", {"fqdn": "_acme-challenge.h.example.test.", "value": "hval"}),
    ("/api/cleanup", {"fqdn": "_acme-challenge.h.example.test.", "value": "hval"}),
    ("/api/present", {"domain": "h.example.test", "token": "tok1", "keyAuth": "tok1.thumb"}),
]
assert len(reqs) == 3, reqs
for r, (path, body) in zip(reqs, want):
    assert r["method"] == "POST", r
    assert r["path"] == path, r
    assert r["content_type"] == "application/json", r
    assert r["authorization"] == "alice:" + pw, r
    assert json.loads(r["body"]) == body, r
PY
if "$D" present httpreq h.example.test hval "$EP" username=alice password=wrong-secret-pw 2>"$WORK/h.err"; then
    fail "httpreq accepted bad credentials"
else
    grep -q "^provider.auth: .*httpreq.*401.*username/password" "$WORK/h.err" \
        && pass "401 names the credential options" || fail "401: $(cat "$WORK/h.err")"
    grep -q "wrong-secret-pw" "$WORK/h.err" && fail "401 error shows the password"
fi
if "$D" present httpreq h.example.test hval "endpoint=http://127.0.0.1:$HP/fail" username=alice \
    "password=$PW" 2>"$WORK/h2.err"; then
    fail "httpreq accepted HTTP 500"
else
    grep -q "^dns.provider: .*httpreq.*HTTP 500: backend exploded: zone locked" "$WORK/h2.err" \
        && pass "500 reported with body snippet" || fail "500: $(cat "$WORK/h2.err")"
fi

# --- validation through the driver ---------------------------------------------
if "$D" validate httpreq "$EP" usrname=alice "password=$PW" 2>"$WORK/v.err"; then
    fail "unknown key accepted"
else
    grep -q "unknown option usrname (did you mean username?)" "$WORK/v.err" \
        && pass "did-you-mean" || fail "did-you-mean: $(cat "$WORK/v.err")"
    grep -q "$PW" "$WORK/v.err" && fail "validation error shows a secret"
fi

[ "$FAILS" -eq 0 ] || { echo "$FAILS failure(s)"; exit 1; }
echo "all DNS provider checks passed"
