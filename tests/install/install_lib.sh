# shellcheck shell=bash
# install_lib.sh - helpers for the tests that use the INSTALLED package
# (tests/integration/test_install*.sh). Source after scripts/testenv.sh.
#
#   install_package BUILD P   cmake --install BUILD --prefix P (quiet; the log
#                             is kept in $TESTENV_DIR/install.log)
#   consumer_cc OUT SRC... -- FLAGS...
#                             compiles a program outside the tree with the
#                             compiler and sanitizer flags of the build under
#                             test ($AUTOCERT_C_COMPILER, $AUTOCERT_SANITIZE_FLAGS:
#                             a sanitized libautocert needs a sanitized host)
#                             plus FLAGS
#   pc P ARGS...              pkg-config with PKG_CONFIG_PATH=P's pkgconfig dir
#   build_gateway_outside P OUT
#                             builds examples/gateway.c outside the tree against
#                             the package in P with pkg-config (the issue-11
#                             gateway-against-Pebble test uses it); run OUT with
#                             LD_LIBRARY_PATH=P/lib
#   make_local_cert DIR NAME CN DNS...
#                             self-signed ECDSA P-256 pair DIR/NAME.{crt,key}
#   api_functions P           "<name> api|plain" for every function declared in
#                             P/include/autocert/*.h except autocert_openssl.h:
#                             libautocert's API (tests/install/api_functions.py)
#   api_functions_openssl P   the same for P/include/autocert/autocert_openssl.h:
#                             libautocert_openssl's API
#   sanitizer_filter          stdin->stdout: drops sanitizer runtime names
#                             (__asan*, __odr_asan*, __ubsan*, __tsan*,
#                             __sanitizer*, __sancov*, __lsan*)

INSTALL_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

install_package() { # build prefix
  cmake --install "$1" --prefix "$2" >>"${TESTENV_DIR:?}/install.log" 2>&1 ||
    { cat "$TESTENV_DIR/install.log" >&2; fail "cmake --install $1 --prefix $2 failed"; }
}

# The libdir below the prefix the build installs into (lib, lib64, lib/<triplet>).
install_libdir() { # build
  local d
  d=$(sed -n 's/^CMAKE_INSTALL_LIBDIR:PATH=//p' "$1/CMakeCache.txt")
  echo "${d:-lib}"
}

pc() { # prefix args...
  local p=$1
  shift
  PKG_CONFIG_PATH="$p/$(install_libdir "$AUTOCERT_BUILD_DIR")/pkgconfig" pkg-config "$@"
}

consumer_cc() { # out src... -- flags...
  local out=$1 srcs=() cc=${AUTOCERT_C_COMPILER:-cc} san
  shift
  while [[ $# -gt 0 && "$1" != -- ]]; do srcs+=("$1"); shift; done
  [[ "${1:-}" == -- ]] && shift
  read -r -a san <<<"${AUTOCERT_SANITIZE_FLAGS:-}"
  "$cc" ${san[@]+"${san[@]}"} -o "$out" "${srcs[@]}" "$@"
}

build_gateway_outside() { # prefix out
  local p=$1 out=$2 f flags
  f=$(pc "$p" --cflags --libs autocert) || return 1
  read -r -a flags <<<"$f"
  consumer_cc "$out" "$AUTOCERT_SOURCE_DIR/examples/gateway.c" -- -Wall "${flags[@]}" -pthread
}

make_local_cert() { # dir name cn dns...
  local dir=$1 name=$2 cn=$3 dns
  shift 3
  {
    echo "cn = \"$cn\""
    for dns in "$@"; do echo "dns_name = \"$dns\""; done
    echo "expiration_days = 30"
    echo "signing_key"
    echo "tls_www_server"
  } >"$dir/$name.tmpl"
  certtool --generate-privkey --key-type=ecdsa --curve=secp256r1 --no-text \
    --outfile "$dir/$name.key" 2>/dev/null || fail "certtool: key"
  certtool --generate-self-signed --load-privkey "$dir/$name.key" \
    --template "$dir/$name.tmpl" --outfile "$dir/$name.crt" 2>/dev/null || fail "certtool: cert"
}

api_functions() { # prefix
  local h hs=()
  for h in "$1"/include/autocert/*.h; do
    [[ "$h" == */autocert_openssl.h ]] || hs+=("$h")
  done
  python3 "$INSTALL_LIB_DIR/api_functions.py" "${hs[@]}"
}

api_functions_openssl() { # prefix
  python3 "$INSTALL_LIB_DIR/api_functions.py" "$1"/include/autocert/autocert_openssl.h
}

sanitizer_filter() {
  grep -Ev '^(__asan|__odr_asan|__ubsan|__tsan|__sanitizer|__sancov|__lsan)' || true
}
