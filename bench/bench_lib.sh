# bench/bench_lib.sh - sourced by the shell benchmarks: ROOT, BIN (the autocert
# to measure: $AUTOCERT_BIN, else a Release build in build-bench/, made now),
# then scripts/testenv.sh with a fresh test directory.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BIN=${AUTOCERT_BIN:-}
if [ -z "$BIN" ]; then
  cmake -S "$ROOT" -B "$ROOT/build-bench" -DCMAKE_BUILD_TYPE=Release -DAUTOCERT_TESTS=OFF >/dev/null
  cmake --build "$ROOT/build-bench" -j"$(nproc)" --target autocert >/dev/null
  BIN=$ROOT/build-bench/admin/autocert
fi
export AUTOCERT_SOURCE_DIR=$ROOT
source "$ROOT/scripts/testenv.sh"
testenv_init
