#!/usr/bin/env bash
# test_install.sh - the installed package works for a program outside the tree.
#
# `cmake --install` of the build under test into a fresh prefix P (given only
# now), then:
#   - the layout: headers, libautocert.so* and .a, autocert.pc, the CMake
#     package, the program, man pages (groff -ww clean), the systemd unit with
#     ExecStart=P/bin/autocert and CAP_NET_BIND_SERVICE, the sysusers.d entry;
#   - tests/install/consumer.c, copied out of the tree, built four ways:
#     pkg-config (shared), pkg-config --static (libautocert.a), and
#     find_package(autocert CONFIG) with autocert::autocert and
#     autocert::autocert_static; each run loads a local-provider configuration
#     and looks a name up. The consumer defines its own config_load, http_do,
#     b64_encode and sni_lookup: the library must neither call them nor clash;
#   - the public headers compile as C++ too;
#   - examples/gateway.c built outside against P with pkg-config serves a
#     handshake (gnutls-cli) on the installed shared library;
#   - the OpenSSL adapter: libautocert_openssl.so.0 / .a, autocert-openssl.pc
#     (relocatable), autocertOpenSSLTargets.cmake; tests/install/
#     consumer_openssl.c built with `pkg-config autocert-openssl` and with
#     find_package(autocert) + autocert::openssl (and ::openssl_static), each
#     run serving a handshake by SNI; the GnuTLS-only consumer does not load
#     libautocert_openssl, and neither it nor libautocert.so needs libssl
#     (the only libraries in its ldd that need libssl are libldns and libpq,
#     Debian's ldns and libpq being built on OpenSSL: dependencies of
#     libautocert's DNS code and of its PostgreSQL store).
# With a sanitized build, the consumers get the same -fsanitize flags.
set -euo pipefail
source "${AUTOCERT_SOURCE_DIR:?}/scripts/testenv.sh"
source "$AUTOCERT_SOURCE_DIR/tests/install/install_lib.sh"
testenv_init
D=$TESTENV_DIR
B=${AUTOCERT_BUILD_DIR:?}
P=$D/prefix
LIBDIR=$(install_libdir "$B")

# ---- install and layout ------------------------------------------------------
install_package "$B" "$P"
for f in include/autocert/autocert.h include/autocert/autocert_gnutls.h \
         include/autocert/autocert_openssl.h "$LIBDIR/libautocert_openssl.a" \
         "$LIBDIR/libautocert_openssl.so" "$LIBDIR/libautocert_openssl.so.0" \
         "$LIBDIR/pkgconfig/autocert-openssl.pc" \
         "$LIBDIR/cmake/autocert/autocertOpenSSLTargets.cmake" \
         "$LIBDIR/libautocert.a" "$LIBDIR/libautocert.so" "$LIBDIR/libautocert.so.0" \
         "$LIBDIR/pkgconfig/autocert.pc" "$LIBDIR/cmake/autocert/autocertConfig.cmake" \
         "$LIBDIR/cmake/autocert/autocertConfigVersion.cmake" \
         "$LIBDIR/cmake/autocert/autocertTargets.cmake" bin/autocert \
         share/man/man1/autocert.1 share/man/man5/autocert.yml.5 \
         lib/systemd/system/autocert.service lib/sysusers.d/autocert.conf; do
  [[ -e "$P/$f" ]] || fail "not installed: $f"
done
assert_eq "libautocert.so.0" \
  "$(readelf -d "$P/$LIBDIR/libautocert.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')" "SONAME"
grep -qx 'prefix=${pcfiledir}/\.\./\.\.\(/\.\.\)*' "$P/$LIBDIR/pkgconfig/autocert.pc" ||
  fail "autocert.pc is not relocatable: $(grep '^prefix=' "$P/$LIBDIR/pkgconfig/autocert.pc")"
grep -qF -e "$B" -e "$AUTOCERT_SOURCE_DIR" "$P/$LIBDIR/pkgconfig/autocert.pc" &&
  fail "autocert.pc names the build or source tree"
assert_eq "libautocert_openssl.so.0" \
  "$(readelf -d "$P/$LIBDIR/libautocert_openssl.so" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')" \
  "SONAME of the OpenSSL adapter"
grep -qx 'prefix=${pcfiledir}/\.\./\.\.\(/\.\.\)*' "$P/$LIBDIR/pkgconfig/autocert-openssl.pc" ||
  fail "autocert-openssl.pc is not relocatable: $(grep '^prefix=' "$P/$LIBDIR/pkgconfig/autocert-openssl.pc")"
grep -qF -e "$B" -e "$AUTOCERT_SOURCE_DIR" "$P/$LIBDIR/pkgconfig/autocert-openssl.pc" &&
  fail "autocert-openssl.pc names the build or source tree"
"$P/bin/autocert" version | grep -q '^autocert ' || fail "installed autocert version"

unit=$P/lib/systemd/system/autocert.service
grep -qx "ExecStart=$P/bin/autocert serve -c /etc/autocert/autocert.yml" "$unit" ||
  fail "unit ExecStart: $(grep ExecStart= "$unit")"
grep -qx 'AmbientCapabilities=CAP_NET_BIND_SERVICE' "$unit" || fail "unit: no AmbientCapabilities"
grep -qx 'CapabilityBoundingSet=CAP_NET_BIND_SERVICE' "$unit" || fail "unit: no CapabilityBoundingSet"
grep -qx 'User=autocert' "$unit" || fail "unit: User"
grep -qx 'TimeoutStopSec=30s' "$unit" || fail "unit: TimeoutStopSec"
grep -Eq '^u autocert - ".*" /var/lib/autocert$' "$P/lib/sysusers.d/autocert.conf" ||
  fail "sysusers entry: $(grep -v '^#' "$P/lib/sysusers.d/autocert.conf")"
if command -v systemd-analyze >/dev/null; then
  # only problems of the unit itself (the host may lack the user, the config)
  out=$(systemd-analyze verify --man=no "$unit" 2>&1 | grep -F "$unit" |
        grep -v 'is not executable\|Failed to resolve\|not found' || true)
  [[ -z "$out" ]] || fail "systemd-analyze verify: $out"
fi
if command -v groff >/dev/null; then
  for m in share/man/man1/autocert.1 share/man/man5/autocert.yml.5; do
    out=$(groff -man -Tutf8 -ww -z "$P/$m" 2>&1) || fail "groff $m: $out"
    [[ -z "$out" ]] || fail "groff warnings in $m: $out"
  done
fi

# ---- the outside program -------------------------------------------------------
mkdir -p "$D/src" "$D/run"
cp "$AUTOCERT_SOURCE_DIR/tests/install/consumer.c" \
   "$AUTOCERT_SOURCE_DIR/tests/install/consumer_openssl.c" \
   "$AUTOCERT_SOURCE_DIR/tests/install/CMakeLists.txt" "$D/src/"
make_local_cert "$D/run" site install-consumer 'install.test' '*.install.test'
cat >"$D/run/autocert.yml" <<EOF
autocert:
  provider: local
  cert_path: $D/run/site.crt
  key_path: $D/run/site.key
EOF

check_run() { # what binary [env...]
  local what=$1 bin=$2 out
  shift 2
  out=$(cd "$D/run" && env "$@" "$bin" "$D/run/autocert.yml" www.install.test install-consumer 2>&1) ||
    fail "$what: consumer failed: $out"
  assert_contains "$out" "consumer: ok" "$what"
  assert_contains "$out" "set=main subject=install-consumer" "$what"
  # each host function ran once, from main (not from inside the library)
  [[ $(grep -c 'called by' <<<"$out") -eq 4 && $(grep -c 'called by main' <<<"$out") -eq 4 ]] ||
    fail "$what: the library called the host's functions: $out"
}

# pkg-config, shared
read -r -a flags <<<"$(pc "$P" --cflags --libs autocert)"
consumer_cc "$D/consumer_pc" "$D/src/consumer.c" -- -std=c11 -Wall -Wextra -Werror "${flags[@]}"
readelf -d "$D/consumer_pc" | grep -q 'NEEDED.*\[libautocert\.so\.0\]' ||
  fail "consumer_pc does not use libautocert.so.0"
check_run "pkg-config shared" "$D/consumer_pc" LD_LIBRARY_PATH="$P/$LIBDIR"
# the run really used the installed library
ldd_out=$(LD_LIBRARY_PATH="$P/$LIBDIR" ldd "$D/consumer_pc")
assert_contains "$ldd_out" "libautocert.so.0 => $P/$LIBDIR/libautocert.so.0" "ldd consumer_pc"
# a GnuTLS-only host does not load the OpenSSL adapter, and libssl only
# through libldns and libpq (see the top of this file)
[[ "$ldd_out" == *libautocert_openssl* ]] && fail "consumer_pc loads libautocert_openssl: $ldd_out"
for f in "$D/consumer_pc" "$P/$LIBDIR/libautocert.so.0"; do
  readelf -d "$f" | grep -E 'NEEDED.*\[lib(ssl|crypto|autocert_openssl)\.so' &&
    fail "$(basename "$f") needs OpenSSL or the adapter itself (above)"
done
via=$(awk '/=>/ && $3 ~ /^\// {print $3}' <<<"$ldd_out" | while read -r lib; do
        if readelf -d "$lib" 2>/dev/null | grep -q 'NEEDED.*\[libssl\.so'; then basename "$lib"; fi
      done | sort -u | tr '\n' ' ')
[[ -z "$via" || "$via" =~ ^((libldns|libpq)\.so\.[0-9.]+\ )+$ ]] ||
  fail "libssl is loaded into a GnuTLS-only host through: $via"

# pkg-config --static: libautocert.a with the private dependencies
static_libs=$(pc "$P" --static --libs autocert)
assert_contains "$static_libs" "-ljson-c" "pkg-config --static --libs"
assert_contains "$static_libs" "-lldns" "pkg-config --static --libs"
read -r -a flags <<<"$(pc "$P" --cflags autocert) ${static_libs/-lautocert/-Wl,-Bstatic -lautocert -Wl,-Bdynamic}"
consumer_cc "$D/consumer_pc_static" "$D/src/consumer.c" -- -std=c11 -Wall -Wextra -Werror "${flags[@]}"
readelf -d "$D/consumer_pc_static" | grep -q 'libautocert' &&
  fail "consumer_pc_static needs libautocert.so"
check_run "pkg-config static" "$D/consumer_pc_static"

# find_package(autocert CONFIG)
read -r -a san <<<"${AUTOCERT_SANITIZE_FLAGS:-}"
cmake -S "$D/src" -B "$D/cmake-build" -DCMAKE_PREFIX_PATH="$P" -DCMAKE_BUILD_TYPE=Debug \
  -DCMAKE_C_COMPILER="${AUTOCERT_C_COMPILER:-cc}" -DCMAKE_C_FLAGS="${san[*]:-}" \
  -DCMAKE_EXE_LINKER_FLAGS="${san[*]:-}" >"$D/cmake-configure.log" 2>&1 ||
  { cat "$D/cmake-configure.log" >&2; fail "configuring the find_package consumer"; }
grep -q "autocert_DIR=$P/$LIBDIR/cmake/autocert" "$D/cmake-configure.log" ||
  fail "find_package did not take the package in $P: $(grep autocert_DIR "$D/cmake-configure.log")"
cmake --build "$D/cmake-build" >"$D/cmake-build.log" 2>&1 ||
  { cat "$D/cmake-build.log" >&2; fail "building the find_package consumer"; }
readelf -d "$D/cmake-build/consumer_cmake" | grep -q 'NEEDED.*\[libautocert\.so\.0\]' ||
  fail "consumer_cmake does not use libautocert.so.0"
check_run "find_package shared" "$D/cmake-build/consumer_cmake" # RPATH from CMake
readelf -d "$D/cmake-build/consumer_cmake_static" | grep -q 'libautocert' &&
  fail "consumer_cmake_static needs libautocert.so"
check_run "find_package static" "$D/cmake-build/consumer_cmake_static"

# the OpenSSL adapter: pkg-config autocert-openssl, find_package + autocert::openssl
check_openssl_run() { # what binary [env...]
  local what=$1 bin=$2 out
  shift 2
  out=$(cd "$D/run" && env "$@" "$bin" "$D/run/autocert.yml" www.install.test install-consumer 2>&1) ||
    fail "$what: consumer_openssl failed: $out"
  assert_contains "$out" "consumer_openssl: ok" "$what"
  assert_contains "$out" "served=install-consumer" "$what"
}
read -r -a flags <<<"$(pc "$P" --cflags --libs autocert-openssl)"
consumer_cc "$D/consumer_openssl_pc" "$D/src/consumer_openssl.c" -- -std=c11 -Wall -Wextra -Werror \
  "${flags[@]}"
readelf -d "$D/consumer_openssl_pc" | grep -q 'NEEDED.*\[libautocert_openssl\.so\.0\]' ||
  fail "consumer_openssl_pc does not use libautocert_openssl.so.0"
check_openssl_run "pkg-config autocert-openssl" "$D/consumer_openssl_pc" LD_LIBRARY_PATH="$P/$LIBDIR"
ldd_out=$(LD_LIBRARY_PATH="$P/$LIBDIR" ldd "$D/consumer_openssl_pc")
assert_contains "$ldd_out" "libautocert_openssl.so.0 => $P/$LIBDIR/libautocert_openssl.so.0" \
  "ldd consumer_openssl_pc"
readelf -d "$D/cmake-build/consumer_openssl_cmake" | grep -q 'NEEDED.*\[libautocert_openssl\.so\.0\]' ||
  fail "consumer_openssl_cmake does not use libautocert_openssl.so.0"
check_openssl_run "find_package autocert::openssl" "$D/cmake-build/consumer_openssl_cmake"
readelf -d "$D/cmake-build/consumer_openssl_cmake_static" | grep -q 'libautocert' &&
  fail "consumer_openssl_cmake_static needs a libautocert*.so"
check_openssl_run "find_package autocert::openssl_static" "$D/cmake-build/consumer_openssl_cmake_static"

# the public headers are C++-clean
if command -v c++ >/dev/null; then
  printf '#include <autocert/autocert.h>\n#include <autocert/autocert_gnutls.h>\n#include <autocert/autocert_openssl.h>\nint main() { return 0; }\n' \
    >"$D/hdr.cc"
  read -r -a flags <<<"$(pc "$P" --cflags autocert autocert-openssl)"
  c++ -fsyntax-only -Wall -Wextra -Werror "${flags[@]}" "$D/hdr.cc" || fail "headers as C++"
fi

# ---- examples/gateway.c against the installed package ---------------------------
build_gateway_outside "$P" "$D/gateway" >"$D/gateway-build.log" 2>&1 ||
  { cat "$D/gateway-build.log" >&2; fail "building examples/gateway.c against $P"; }
PORT=$(free_port)
testenv_spawn gateway env LD_LIBRARY_PATH="$P/$LIBDIR" "$D/gateway" -c "$D/run/autocert.yml" \
  --listen "127.0.0.1:$PORT"
wait_until 20 bash -c "exec 3<>/dev/tcp/127.0.0.1/$PORT" ||
  { cat "$D/gateway.log" >&2; fail "the outside gateway did not start"; }
out=$(gnutls-cli --no-ca-verification --print-cert -p "$PORT" --sni-hostname www.install.test \
      127.0.0.1 </dev/null 2>/dev/null) || fail "handshake with the outside gateway"
cn=$(sed -n '/BEGIN CERTIFICATE/,/END CERTIFICATE/p;/END CERTIFICATE/q' <<<"$out" |
     certtool -i 2>/dev/null | sed -n 's/^.*Subject: CN=\(.*\)$/\1/p' | head -n1)
assert_eq "install-consumer" "$cn" "certificate served by the outside gateway"
echo "PASS: installed package: layout, pkg-config (shared, static), find_package (shared, static), OpenSSL adapter (pkg-config, find_package shared and static; not loaded by a GnuTLS-only host), outside gateway"
