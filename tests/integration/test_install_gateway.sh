#!/usr/bin/env bash
# test_install_gateway.sh - issue 11 §3 on the installed package: the package of
# the build under test is installed into a fresh prefix P, examples/gateway.c is
# built outside the tree against P with pkg-config only, and that program runs
# test_gateway_godoxy.sh against Pebble + challtestsrv: with no certificate on
# disk it obtains main and an extra, serves them by SNI, and a POST
# /api/v1/cert/renew on its own admin API changes the served serial without a
# restart. The program runs on P's libautocert.so (checked with ldd).
set -euo pipefail
source "${AUTOCERT_SOURCE_DIR:?}/scripts/testenv.sh"
source "$AUTOCERT_SOURCE_DIR/tests/install/install_lib.sh"
testenv_init
D=$TESTENV_DIR
B=${AUTOCERT_BUILD_DIR:?}
P=$D/prefix
LIBDIR=$(install_libdir "$B")

install_package "$B" "$P"
build_gateway_outside "$P" "$D/gateway" >"$D/gateway-build.log" 2>&1 ||
  { cat "$D/gateway-build.log" >&2; fail "building examples/gateway.c against $P"; }
so=$(LD_LIBRARY_PATH="$P/$LIBDIR" ldd "$D/gateway" | awk '$1 == "libautocert.so.0" {print $3}')
assert_eq "$P/$LIBDIR/libautocert.so.0" "$so" "the outside gateway's libautocert"

# exec keeps the PID, so the inner test stops the gateway itself by PID
cat >"$D/run-gateway" <<WRAP
#!/bin/sh
LD_LIBRARY_PATH='$P/$LIBDIR' exec '$D/gateway' "\$@"
WRAP
chmod +x "$D/run-gateway"
AUTOCERT_GATEWAY="$D/run-gateway" bash "$AUTOCERT_SOURCE_DIR/tests/integration/test_gateway_godoxy.sh" ||
  fail "the gateway built against the installed package failed test_gateway_godoxy"
echo "PASS: installed package: examples/gateway.c built outside obtains, serves and renews through its admin API"
