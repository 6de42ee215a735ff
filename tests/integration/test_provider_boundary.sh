#!/usr/bin/env bash
# The provider boundary (issue 11 §5): lib/ owns the DNS provider interface
# (lib/dns_provider.h) and nothing in lib/ includes a header of providers/;
# providers/ includes lib/'s headers. Also: no provider HTTP request bypasses
# the dns_api toolkit (http_do / http_client_new appear in providers/ only in
# dns_api.c), no provider sleeps outside ac_sleep_ms, and the test-only
# AUTOCERT_<NAME>_BASE_URL overrides exist only with AUTOCERT_TEST_HOOKS.
# A plain source check: no servers, no build products.
set -euo pipefail
SRC=${AUTOCERT_SOURCE_DIR:?}
bad=0

# every header providers/ has
declare -A prov=()
for h in "$SRC"/providers/*.h; do
  prov[$(basename "$h")]=1
done
[ "${#prov[@]}" -gt 0 ] || { echo "FAIL: no headers found in providers/" >&2; exit 1; }

# every quoted include in lib/ (the public headers included) names a lib/ file
while IFS= read -r line; do
  file=${line%%:*}
  inc=$(sed -E 's/.*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1/' <<<"${line#*:}")
  base=$(basename "$inc")
  if [[ "$inc" == *providers/* ]] || [ -n "${prov[$base]:-}" ]; then
    echo "FAIL: $file includes \"$inc\", a header of providers/" >&2
    bad=1
  elif [ ! -e "$SRC/lib/$inc" ] && [ ! -e "$SRC/lib/include/$inc" ] &&
       [ ! -e "$(dirname "$file")/$inc" ]; then
    echo "FAIL: $file includes \"$inc\", which is not in lib/" >&2
    bad=1
  fi
done < <(grep -rnE '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$SRC/lib" \
           --include='*.c' --include='*.h' | sed -E 's/^([^:]+):[0-9]+:/\1:/')

# the interface is lib's
[ -e "$SRC/lib/dns_provider.h" ] || { echo "FAIL: lib/dns_provider.h missing" >&2; bad=1; }
[ ! -e "$SRC/providers/dns.h" ] || { echo "FAIL: providers/dns.h is back" >&2; bad=1; }

# one HTTP path: only the toolkit's request function talks to lib/http.h's client
if grep -nE '\b(http_do|http_client_new)\s*\(' "$SRC"/providers/*.c | grep -v '/dns_api\.c:'; then
  echo "FAIL: a provider sends HTTP requests outside dns_api_send (providers/dns_api.c)" >&2
  bad=1
fi

# one sleep: ac_sleep_ms (lib/timeutil.c)
if grep -nE '\b(usleep|nanosleep|clock_nanosleep|sleep)\s*\(' "$SRC"/providers/*.c; then
  echo "FAIL: a provider sleeps outside ac_sleep_ms" >&2
  bad=1
fi

# test-only endpoint overrides only through DNS_API_TEST_URL (AUTOCERT_TEST_HOOKS)
if grep -nE 'getenv\("AUTOCERT_' "$SRC"/providers/*.c; then
  echo "FAIL: a provider reads an AUTOCERT_* variable outside DNS_API_TEST_URL" >&2
  bad=1
fi
grep -q '^#ifdef AUTOCERT_TEST_HOOKS' "$SRC/providers/dns_api.h" ||
  { echo "FAIL: DNS_API_TEST_URL is not behind AUTOCERT_TEST_HOOKS" >&2; bad=1; }

[ "$bad" = 0 ] && echo "ok: lib/ includes no providers/ header; one HTTP path; one sleep; hooks gated"
exit "$bad"
