#!/usr/bin/env bash
# test_check_configs.sh - `autocert check` accepts every example in configs/
# (with dummy values for the variables they use) and rejects broken files with
# exit 2 and positioned messages. A file whose DNS provider is not registered
# in this build (per `autocert check --list-providers`, i.e. dns_provider_find)
# is skipped with a clear line; once registered it must pass.
set -u
BIN=${AUTOCERT_BIN:?AUTOCERT_BIN not set}
SRC=${AUTOCERT_SOURCE_DIR:?AUTOCERT_SOURCE_DIR not set}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
fail=0

export PEBBLE_DIR_URL=https://127.0.0.1:14000/dir
export PEBBLE_CA_CERT=$TMP/pebble-ca.pem
export CHALLTESTSRV_URL=http://127.0.0.1:8055
export CHALLTESTSRV_DNS_PORT=8053
export DEMO_ADMIN_LISTEN=127.0.0.1:8555 DEMO_SERVE_LISTEN=127.0.0.1:8443
export CF_DNS_API_TOKEN=dummy-cloudflare-token-0123456789
export DNS_UPDATE_SERVER=127.0.0.1:5353
export DNS_TSIG_SECRET=c2VjcmV0LXNlY3JldC1zZWNyZXQ=
export ZEROSSL_EAB_KID=kid-0123
export ZEROSSL_EAB_HMAC=aGVsbG8td29ybGQtaG1hYy1rZXk
export WEBHOOK_TOKEN=webhook-token-0123456789

known=$("$BIN" check --list-providers) || { echo "FAIL: --list-providers"; exit 1; }

checked=0
for f in "$SRC"/configs/*.yml; do
    name=$(basename "$f")
    skip=""
    for p in $(sed -n 's/^ *provider: *\([A-Za-z0-9_-]*\).*/\1/p' "$f" | sort -u); do
        if ! grep -qx "$p" <<<"$known"; then skip=$p; fi
    done
    if [ -n "$skip" ]; then
        echo "skipped: $name: provider $skip not registered"
        continue
    fi
    out=$("$BIN" check -c "$f" 2>"$TMP/err"); rc=$?
    if [ $rc -ne 0 ] || ! grep -qx ok <<<"$out"; then
        echo "FAIL: $name: exit $rc"; echo "$out"; cat "$TMP/err"; fail=1; continue
    fi
    # Secrets never in clear.
    for s in "$CF_DNS_API_TOKEN" "$DNS_TSIG_SECRET" "$ZEROSSL_EAB_HMAC" "$WEBHOOK_TOKEN"; do
        if grep -qF -- "$s" <<<"$out$(cat "$TMP/err")"; then
            echo "FAIL: $name: a secret is printed in clear"; fail=1
        fi
    done
    checked=$((checked + 1))
    echo "ok: $name"
done
[ $checked -ge 2 ] || { echo "FAIL: fewer than 2 example files checked"; fail=1; }

# The GoDoxy file warns once about its other sections.
if grep -qx cloudflare <<<"$known"; then
    "$BIN" check -c "$SRC/configs/godoxy-config.yml" >/dev/null 2>"$TMP/err"
    if [ "$(grep -c 'ignoring top-level sections' "$TMP/err")" != 1 ] ||
        ! grep -q 'entrypoint, providers, match_domains, homepage' "$TMP/err"; then
        echo "FAIL: godoxy-config.yml: expected one warning naming the sections"; cat "$TMP/err"; fail=1
    fi
fi

# Broken files: exit 2 and "file:line:col: key.path: message".
expect_error() { # file regex
    local out rc
    out=$("$BIN" check -c "$1" 2>/dev/null); rc=$?
    if [ $rc -ne 2 ]; then echo "FAIL: $1: exit $rc, expected 2"; echo "$out"; fail=1; return; fi
    if ! grep -qE -- "$2" <<<"$out"; then
        echo "FAIL: $1: no line matching $2"; echo "$out"; fail=1; return
    fi
    echo "ok: rejected $(basename "$1")"
}

cat >"$TMP/typo.yml" <<'YML'
autocert:
  provider: challtestsrv
  email: a@example.com
  domians:
    - example.com
YML
expect_error "$TMP/typo.yml" "typo.yml:4:3: autocert.domians: unknown key 'domians' \(did you mean 'domains'\?\)"

cat >"$TMP/paths.yml" <<'YML'
autocert:
  provider: challtestsrv
  email: a@example.com
  domains: [example.com]
  options:
    url: http://127.0.0.1:8055
  extra:
    - domains: [api.example.com]
YML
expect_error "$TMP/paths.yml" "paths.yml:8:7: autocert.extra\[1\].cert_path: certs/cert.crt .*distinct"

cat >"$TMP/syntax.yml" <<'YML'
autocert:
  provider: local
   email: x
YML
expect_error "$TMP/syntax.yml" "syntax.yml:3:[0-9]+: YAML syntax error"

cat >"$TMP/unset.yml" <<'YML'
autocert:
  provider: challtestsrv
  email: a@example.com
  domains: [example.com]
  options:
    url: http://${NO_SUCH_VARIABLE_XYZ}/
YML
expect_error "$TMP/unset.yml" "unset.yml:6:5: autocert.options.url: environment variable NO_SUCH_VARIABLE_XYZ is not set"

"$BIN" check --help | grep -q "usage: autocert check" || { echo "FAIL: --help"; fail=1; }
"$BIN" check -c "$TMP/does-not-exist.yml" >/dev/null 2>&1
[ $? -eq 2 ] || { echo "FAIL: missing file should exit 2"; fail=1; }

exit $fail
