#!/usr/bin/env bash
# `autocert check` applies the runtime's host:port rule to `resolvers:` (issue
# 11 §5: check refused resolvers: ["[::1]"], which the propagation check
# accepts). One parser (lib/hostport.h) now serves both: a bare host, a
# bracketed IPv6 literal or a bare IPv6 literal take port 53; host:port and
# [v6]:port take theirs. What the parser refuses, check refuses (exit 2) at
# the entry's position, and so does serve.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
testenv_init
cd "$TESTENV_DIR"
BIN=$AUTOCERT_BIN

conf() { # file resolvers-yaml-list [extra option line]
  cat >"$1" <<YAML
autocert:
  provider: challtestsrv
  email: a@example.test
  domains: [a.example.test]
  cert_path: certs/a.crt
  key_path: certs/a.key
  options:
    url: http://127.0.0.1:8055
  resolvers: $2
YAML
}

for r in '"[::1]"' '"::1"' '"[::1]:5353"' '"127.0.0.1"' '"127.0.0.1:1053"' \
         '"[127.0.0.1]:53"' '"ns1.example.test"' '"ns1.example.test:53"'; do
  conf ok.yml "[$r]"
  rc=0
  "$BIN" check -c ok.yml >check.out 2>&1 || rc=$?
  [ "$rc" = 0 ] || { cat check.out >&2; fail "check refused resolvers: [$r] (exit $rc)"; }
done
echo "ok: check accepts every form the runtime accepts"

for r in '"[::1"' '"[::1]:0"' '"ns1.example.test:"' '"[ns1.example.test]:53"' \
         '"a b"' '"1::2::3"' '"host:65536"'; do
  conf bad.yml "[\"127.0.0.1\", $r]"
  rc=0
  "$BIN" check -c bad.yml >check.out 2>&1 || rc=$?
  assert_eq 2 "$rc" "check exit status for resolvers: [$r]"
  grep -qE 'bad.yml:9:[0-9]+: autocert.resolvers\[2\]: .* is not a resolver' check.out ||
    { cat check.out >&2; fail "check output for resolvers: [$r]"; }
  rc=0
  timeout 30 "$BIN" serve -c bad.yml >serve.out 2>&1 || rc=$?
  assert_eq 2 "$rc" "serve exit status for resolvers: [$r]"
done
echo "ok: check and serve refuse what the parser refuses, at the entry"
