#!/usr/bin/env bash
# The test command: installs dependencies, then runs the whole suite in four
# phases and prints how long each took.
#   1. ASan+UBSan build (gcc): every unit and integration test
#   2. TSan build: the concurrency tests (label "concurrency")
#   3. libFuzzer build (clang, ASan): every fuzz target within one shared budget
#   4. package: a plain Release build as `cmake --install` ships it (no
#      sanitizer, no test hooks): the install and export checks
#      (integration.test_install*) on it
# The sanitizer builds turn AUTOCERT_TEST_HOOKS on; the package build leaves it
# off, as an installed build has it.
# Environment: AUTOCERT_FUZZ_BUDGET (seconds shared by all fuzz targets, default
# 300), AUTOCERT_SKIP_FUZZ=1, AUTOCERT_SKIP_TSAN=1, AUTOCERT_SKIP_PACKAGE=1, JOBS.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
JOBS=${JOBS:-$(nproc)}
status=0
declare -a summary=()

log_dir=$(mktemp -d)
run_ctest() { # build-dir ctest-args...
  local dir=$1; shift
  (cd "$dir" && ctest "$@") 2>&1 | tee "$log_dir/$(basename "$dir").log"
  return "${PIPESTATUS[0]}"
}

phase() { # name seconds rc
  summary+=("$(printf '%-28s %5ss  %s' "$1" "$2" "$([ "$3" -eq 0 ] && echo ok || echo FAILED)")")
}

t0=$(date +%s)
bash scripts/setup-deps.sh || { echo "setup-deps failed"; exit 1; }
phase "setup-deps" $(( $(date +%s) - t0 )) 0

# --- 1. ASan + UBSan, whole suite -------------------------------------------
# Every test runs once: a test that fails fails the run (a flaky test is a bug
# to fix, never a retry), and ctest prints every failure.
t0=$(date +%s)
rc=0
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cmake -S . -B build-asan -DAUTOCERT_ASAN=ON -DAUTOCERT_TEST_HOOKS=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null &&
  cmake --build build-asan -j "$JOBS" || rc=$?
if [ $rc -eq 0 ]; then
  run_ctest build-asan --output-on-failure -j "$JOBS" -LE fuzz || rc=$?
fi
phase "asan+ubsan (all tests)" $(( $(date +%s) - t0 )) $rc
[ $rc -eq 0 ] || status=1

# --- 2. TSan, concurrency tests ----------------------------------------------
if [ "${AUTOCERT_SKIP_TSAN:-0}" != 1 ]; then
  t0=$(date +%s)
  rc=0
  # only what the concurrency tests need
  targets=(autocert)
  for f in tests/unit/test_*concurrency*.c; do
    [ -f "$f" ] && targets+=("$(basename "$f" .c)")
  done
  # and the unit tests tests/CMakeLists.txt lists in AUTOCERT_TSAN_ALSO
  read -r -a also <<<"$(sed -n 's/^set(AUTOCERT_TSAN_ALSO \(.*\))$/\1/p' tests/CMakeLists.txt)"
  targets+=(${also[@]+"${also[@]}"})
  cmake -S . -B build-tsan -DAUTOCERT_TSAN=ON -DAUTOCERT_TEST_HOOKS=ON -DAUTOCERT_BENCH=OFF -DCMAKE_BUILD_TYPE=Debug >/dev/null &&
    cmake --build build-tsan -j "$JOBS" --target "${targets[@]}" || rc=$?
  if [ $rc -eq 0 ]; then
    TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1" \
      run_ctest build-tsan --output-on-failure -L concurrency || rc=$?
  fi
  phase "tsan (concurrency tests)" $(( $(date +%s) - t0 )) $rc
  [ $rc -eq 0 ] || status=1
fi

# --- 3. fuzz targets, one shared budget ---------------------------------------
if [ "${AUTOCERT_SKIP_FUZZ:-0}" != 1 ]; then
  t0=$(date +%s)
  rc=0
  budget=${AUTOCERT_FUZZ_BUDGET:-300}
  fuzzers=()
  for f in tests/fuzz/fuzz_*.c; do
    [ -f "$f" ] && fuzzers+=("$(basename "$f" .c)")
  done
  ntargets=${#fuzzers[@]}
  if [ "$ntargets" -gt 0 ]; then
    per=$(( budget / ntargets ))
    [ $per -ge 5 ] || per=5
    CC=clang cmake -S . -B build-fuzz -DAUTOCERT_ASAN=ON -DAUTOCERT_FUZZ=ON \
      -DAUTOCERT_BENCH=OFF -DAUTOCERT_FUZZ_SECONDS=$per -DCMAKE_BUILD_TYPE=Debug >/dev/null &&
      cmake --build build-fuzz -j "$JOBS" --target "${fuzzers[@]}" || rc=$?
    if [ $rc -eq 0 ]; then
      run_ctest build-fuzz --output-on-failure -j "$JOBS" -L fuzz || rc=$?
    fi
  fi
  phase "fuzz (${ntargets} targets, ${budget}s)" $(( $(date +%s) - t0 )) $rc
  [ $rc -eq 0 ] || status=1
fi

# --- 4. package: what cmake --install ships -------------------------------------
# Only the installed targets are built; the tests install them into a temp
# prefix and build programs outside the tree against it.
if [ "${AUTOCERT_SKIP_PACKAGE:-0}" != 1 ]; then
  t0=$(date +%s)
  rc=0
  cmake -S . -B build-package -DCMAKE_BUILD_TYPE=Release -DAUTOCERT_TEST_HOOKS=OFF \
    -DAUTOCERT_BENCH=OFF >/dev/null &&
    cmake --build build-package -j "$JOBS" --target autocert_shared autocert_static \
      autocert_openssl autocert_openssl_static autocert || rc=$?
  if [ $rc -eq 0 ]; then
    run_ctest build-package --output-on-failure -R '^integration\.test_install' || rc=$?
  fi
  phase "package (install, exports)" $(( $(date +%s) - t0 )) $rc
  [ $rc -eq 0 ] || status=1
fi

# One closing line over all phases, from ctest's own per-phase summaries
# ("NN% tests passed, F tests failed out of T").
passed=0 failed=0
for f in "$log_dir"/*.log; do
  [ -f "$f" ] || continue
  line=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$f" | tail -1)
  [ -n "$line" ] || continue
  fl=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
  tot=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
  passed=$((passed + tot - fl)); failed=$((failed + fl))
done
rm -rf "$log_dir"
[ $((passed + failed)) -gt 0 ] || status=1

echo
echo "phase                          time  result"
printf '%s\n' "${summary[@]}"
echo
echo "total: $passed passed, $failed failed"
exit $status
