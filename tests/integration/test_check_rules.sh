#!/usr/bin/env bash
# Issue 10 items 15 and 16 at the command line:
#  - `check` refuses what `serve` refuses (exit 2 for both, positioned):
#    a non-loopback admin.listen without a token, a one-character or
#    whitespace-only token, an admin.listen host that is not an IP address, a
#    serve.listen that does not parse as IP:port; a long enough token passes;
#  - a duplicate key is reported at the duplicate; a file error has no "0:0";
#    an IDN name gets the punycode hint; '-a.test' is refused;
#  - `list` shows a local set's certificate names and keeps its columns
#    aligned past a 24-character issuer.
set -euo pipefail
source "$AUTOCERT_SOURCE_DIR/scripts/testenv.sh"
testenv_init
cd "$TESTENV_DIR"
BIN=$AUTOCERT_BIN

# refused FILE PATTERN: check and serve both exit 2; check names PATTERN
refused() {
  local rc=0
  "$BIN" check -c "$1" >check.out 2>&1 || rc=$?
  assert_eq 2 "$rc" "check exit status for $1"
  grep -qE -- "$2" check.out || { cat check.out >&2; fail "check output for $1 lacks /$2/"; }
  rc=0
  timeout 30 "$BIN" serve -c "$1" >serve.out 2>&1 || rc=$?
  assert_eq 2 "$rc" "serve exit status for $1"
  grep -qE -- "$2" serve.out || { cat serve.out >&2; fail "serve output for $1 lacks /$2/"; }
}

P=$(free_port)
printf 'admin:\n  listen: 0.0.0.0:%s\n' "$P" >open.yml
refused open.yml "open.yml:2:3: admin.listen: 0.0.0.0:$P is not a loopback address and admin.token is not set"
printf 'admin:\n  listen: 0.0.0.0:%s\n  token: x\n' "$P" >short.yml
refused short.yml "short.yml:3:3: admin.token: admin.token is too short \\(1 characters\\): use at least 16"
printf 'admin:\n  listen: 0.0.0.0:%s\n  token: "    "\n' "$P" >blank.yml
refused blank.yml "blank.yml:3:3: admin.token: .*whitespace"
printf 'admin:\n  listen: gateway.internal:%s\n' "$P" >name.yml
refused name.yml "name.yml:2:3: admin.listen: .*must be an IP address"
printf 'serve:\n  listen: localhost:%s\n' "$P" >serve.yml
refused serve.yml "serve.yml:2:3: serve.listen: .*must be an IP address"
printf 'admin:\n  listen: 0.0.0.0:%s\n  token: 0123456789abcdef\n' "$P" >ok.yml
"$BIN" check -c ok.yml >ok.out 2>&1 || { cat ok.out >&2; fail "a 16-character token is refused"; }
head -1 ok.out | grep -qx ok || fail "check ok.yml: $(cat ok.out)"

# --- messages ------------------------------------------------------------------------
printf 'autocert:\n  provider: local\n  email: a@b.test\n  provider: pseudo\n' >dup.yml
refused dup.yml "^dup.yml:4:3: autocert.provider: duplicate key 'provider' \\(first at line 2, column 3\\)"
rc=0
"$BIN" check -c missing.yml >missing.out 2>&1 || rc=$?
assert_eq 2 "$rc" "check of a missing file"
grep -qx "missing.yml: cannot open: No such file or directory" missing.out ||
  fail "file error: $(cat missing.out)"
cat >names.yml <<'EOF'
autocert:
  provider: cloudflare
  email: a@b.test
  domains: [bücher.example, -a.test, ok.example]
  options:
    auth_token: dummy-token-0123456789
EOF
rc=0
"$BIN" check -c names.yml >names.out 2>&1 || rc=$?
assert_eq 2 "$rc" "check of bad names"
grep -q "names.yml:4:13: autocert.domains\[1\]: 'bücher.example' .*use its punycode (xn--" names.out ||
  fail "IDN hint: $(cat names.out)"
grep -q "names.yml:4:29: autocert.domains\[2\]: '-a.test' .*starts with '-'" names.out ||
  fail "leading '-': $(cat names.out)"
if grep -q "ok.example" names.out; then fail "a valid name reported: $(cat names.out)"; fi

# --- list: local set names, columns ----------------------------------------------------
mkdir -p certs
certtool --generate-privkey --key-type=ecdsa --outfile certs/k.pem >/dev/null 2>&1
cat >tmpl <<'EOF'
cn = "Local Development Issuing Authority 2026"
dns_name = "a.local.test"
dns_name = "b.local.test"
expiration_days = 30
EOF
certtool --generate-self-signed --load-privkey certs/k.pem --template tmpl --outfile certs/c.pem \
  >/dev/null 2>&1
cat >list.yml <<EOF
autocert:
  provider: local
  cert_path: certs/c.pem
  key_path: certs/k.pem
  extra:
    - provider: pseudo
      cert_path: certs/x.pem
      key_path: certs/y.pem
admin:
  listen: 127.0.0.1:$P
EOF
"$BIN" list -q -c list.yml >list.out 2>list.err || { cat list.err >&2; fail "list failed"; }
cat list.out
grep -q "^main  *a.local.test,b.local.test  *Local Development Issuing Authority 2026 " list.out ||
  fail "list: main's names or issuer missing"
grep -q "^extra\[1\]  *-  *-  " list.out || fail "list: extra[1] row"
python3 - list.out <<'EOF' || fail "list columns are not aligned"
import sys
lines = open(sys.argv[1]).read().splitlines()
head = lines[0]
cols = [head.index(h) for h in ("DOMAINS", "ISSUER", "EXPIRES", "STATE", "NEXT RENEWAL")]
for line in lines[1:]:
    for c in cols:
        assert line[c - 1] == " " and line[c] != " ", (line, c)
EOF
echo "PASS"
