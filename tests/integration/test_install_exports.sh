#!/usr/bin/env bash
# test_install_exports.sh - the installed libraries expose the public API and
# nothing else.
#
#   - every function declared in the installed headers carries AUTOCERT_API;
#   - `nm -D --defined-only` of the installed libautocert.so lists exactly those
#     functions (the two lists are equal), each under the version node
#     AUTOCERT_0;
#   - `nm -g --defined-only` of the installed libautocert.a shows no global
#     symbol outside autocert_*, and every API function is defined there.
#   - the same for the OpenSSL adapter against its own header
#     (autocert_openssl.h, which libautocert does not implement):
#     libautocert_openssl.so exports exactly its AUTOCERT_API functions, under
#     AUTOCERT_OPENSSL_0, all autocert_openssl_*; libautocert_openssl.a
#     defines them and no other global.
#
# Sanitizer runtimes add names of their own (__asan_*, __odr_asan_*, ...): in a
# build configured with a sanitizer (AUTOCERT_SANITIZE_FLAGS set) those names are
# filtered out by prefix, none of ours starts with "__" (STYLE.md); in a plain
# build nothing may be filtered. scripts/test.sh runs this test on a plain build
# (phase "package") as well as in the ASan phase.
set -euo pipefail
source "${AUTOCERT_SOURCE_DIR:?}/scripts/testenv.sh"
source "$AUTOCERT_SOURCE_DIR/tests/install/install_lib.sh"
testenv_init
D=$TESTENV_DIR
B=${AUTOCERT_BUILD_DIR:?}
P=$D/prefix
LIBDIR=$(install_libdir "$B")
install_package "$B" "$P"
so=$P/$LIBDIR/libautocert.so
a=$P/$LIBDIR/libautocert.a

# only the runtime names may go, and only in a sanitized build
filtered() { # file with one name per line
  local kept
  kept=$(sanitizer_filter <"$1")
  if [[ -z "${AUTOCERT_SANITIZE_FLAGS:-}" && "$kept" != "$(cat "$1")" ]]; then
    fail "sanitizer names in a plain build: $(comm -23 <(sort "$1") <(sort <<<"$kept") | head -5)"
  fi
  printf '%s\n' "$kept" | sed '/^$/d' | sort -u
}

# ---- the headers -----------------------------------------------------------------
api_functions "$P" >"$D/decls"
[[ -s "$D/decls" ]] || fail "no function found in $P/include/autocert/*.h"
if grep -q ' plain$' "$D/decls"; then
  fail "declared without AUTOCERT_API (not exported): $(grep ' plain$' "$D/decls" | cut -d' ' -f1 | tr '\n' ' ')"
fi
cut -d' ' -f1 "$D/decls" | sort -u >"$D/api"
grep -v '^autocert_' "$D/api" && fail "public functions outside the autocert_ prefix (above)"

# ---- the shared library ------------------------------------------------------------
nm -D --defined-only "$so" >"$D/nm-so"
# the version node is an absolute symbol, not a function
awk '$2 != "A" { print $3 }' "$D/nm-so" | sed 's/@.*//' >"$D/so-all"
filtered "$D/so-all" >"$D/so"
if ! diff -u "$D/api" "$D/so" >"$D/diff-so"; then
  cat "$D/diff-so" >&2
  fail "libautocert.so exports differ from the headers' AUTOCERT_API functions (- headers, + exported)"
fi
awk '$2 != "A" && $3 ~ /^autocert_/ && $3 !~ /@@AUTOCERT_0$/ { print $3 }' "$D/nm-so" >"$D/unversioned"
[[ -s "$D/unversioned" ]] && fail "exported without version AUTOCERT_0: $(head -3 "$D/unversioned")"

# ---- the static archive --------------------------------------------------------------
nm -g --defined-only "$a" | awk 'NF == 3 { print $3 }' >"$D/a-all"
filtered "$D/a-all" >"$D/a"
if grep -v '^autocert_' "$D/a" >"$D/a-foreign"; then
  fail "libautocert.a has $(wc -l <"$D/a-foreign") global symbols outside autocert_*, e.g. $(head -5 "$D/a-foreign" | tr '\n' ' ')"
fi
missing=$(comm -23 "$D/api" "$D/a")
[[ -z "$missing" ]] || fail "API functions not defined in libautocert.a: $missing"

# ---- the OpenSSL adapter: libautocert_openssl against autocert_openssl.h ----------
oso=$P/$LIBDIR/libautocert_openssl.so
oa=$P/$LIBDIR/libautocert_openssl.a
api_functions_openssl "$P" >"$D/odecls"
[[ -s "$D/odecls" ]] || fail "no function found in autocert_openssl.h"
if grep -q ' plain$' "$D/odecls"; then
  fail "autocert_openssl.h declares without AUTOCERT_API: $(grep ' plain$' "$D/odecls" | cut -d' ' -f1 | tr '\n' ' ')"
fi
cut -d' ' -f1 "$D/odecls" | sort -u >"$D/oapi"
grep -v '^autocert_openssl_' "$D/oapi" && fail "OpenSSL adapter functions outside autocert_openssl_ (above)"
comm -12 "$D/api" "$D/oapi" | grep . && fail "declared in both libraries' headers (above)"
nm -D --defined-only "$oso" >"$D/nm-oso"
awk '$2 != "A" { print $3 }' "$D/nm-oso" | sed 's/@.*//' >"$D/oso-all"
filtered "$D/oso-all" >"$D/oso"
if ! diff -u "$D/oapi" "$D/oso" >"$D/diff-oso"; then
  cat "$D/diff-oso" >&2
  fail "libautocert_openssl.so exports differ from autocert_openssl.h's AUTOCERT_API functions (- header, + exported)"
fi
awk '$2 != "A" && $3 ~ /^autocert_/ && $3 !~ /@@AUTOCERT_OPENSSL_0$/ { print $3 }' "$D/nm-oso" \
  >"$D/ounversioned"
[[ -s "$D/ounversioned" ]] && fail "exported without version AUTOCERT_OPENSSL_0: $(head -3 "$D/ounversioned")"
nm -g --defined-only "$oa" | awk 'NF == 3 { print $3 }' >"$D/oa-all"
filtered "$D/oa-all" >"$D/oa"
if grep -v '^autocert_openssl_' "$D/oa" >"$D/oa-foreign"; then
  fail "libautocert_openssl.a has global symbols outside autocert_openssl_*: $(head -5 "$D/oa-foreign" | tr '\n' ' ')"
fi
missing=$(comm -23 "$D/oapi" "$D/oa")
[[ -z "$missing" ]] || fail "API functions not defined in libautocert_openssl.a: $missing"

echo "PASS: $(wc -l <"$D/api") API functions; libautocert.so exports exactly them" \
     "($(wc -l <"$D/so-all") dynamic symbols before the sanitizer filter);" \
     "libautocert.a: $(wc -l <"$D/a") global definitions, all autocert_*;" \
     "libautocert_openssl.so/.a: exactly the $(wc -l <"$D/oapi") functions of autocert_openssl.h"
