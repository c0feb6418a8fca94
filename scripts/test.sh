#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# test.sh: install, build and run every test, twice:
#   1. the release build (build/): unit, end-to-end, cluster, browser,
#      deploy, valgrind, load smoke;
#   2. an ASan+UBSan build (build-asan/) with the GW_CHECK invariant
#      checks compiled in: the same suite minus valgrind
#      (valgrind cannot run a sanitized binary). Any sanitizer report aborts
#      the gateway or makes it exit non-zero, and every test asserts exit 0.
# Extra arguments go to both ctest runs (e.g. -L unit, -R protocol).
# Environment: GW_TEST_ASAN=0 skips the second pass; BUILD_DIR, ASAN_BUILD_DIR.
set -uo pipefail
cd "$(dirname "$0")/.."
# CI builds treat warnings as errors (users' builds do not: GW_WERROR).
GW_CMAKE_ARGS="-DGW_WERROR=ON ${GW_CMAKE_ARGS:-}" scripts/setup.sh --test ||
  exit 1

root=$PWD
total_pass=0
total_fail=0
status=0

# run_suite DIR ARGS...: ctest in DIR; adds to the totals.
run_suite() {
  local dir=$1 log rc
  shift
  log=$(mktemp)
  (cd "$dir" && ctest --output-on-failure --timeout 600 "$@") 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  # "NN% tests passed, F tests failed out of T"
  local line
  line=$(grep -E "tests passed, [0-9]+ tests? failed out of [0-9]+" "$log" | tail -1)
  if [ -n "$line" ]; then
    local f t
    f=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    t=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$line")
    total_pass=$((total_pass + t - f))
    total_fail=$((total_fail + f))
  elif [ "$rc" != 0 ]; then
    total_fail=$((total_fail + 1))
  fi
  [ "$rc" = 0 ] || status=1
  rm -f "$log"
}

echo "=== release build: ${BUILD_DIR:-build}"
run_suite "${BUILD_DIR:-build}" "$@"

if [ "${GW_TEST_ASAN:-1}" != 0 ]; then
  asan=${ASAN_BUILD_DIR:-build-asan}
  echo "=== ASan+UBSan build: $asan"
  # GW_CHECKS: the invariant checks (common/gw_check.h) run in this pass.
  if cmake -S "$root" -B "$asan" -DSANITIZE=address,undefined \
    -DGW_WERROR=ON -DGW_CHECKS=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    >/dev/null &&
    cmake --build "$asan" -j"$(nproc)" >/dev/null; then
    # halt_on_error: the first report stops the process, so it is never
    # lost behind later output; detect_leaks: leaks fail the exit status.
    ASAN_OPTIONS=${ASAN_OPTIONS:-halt_on_error=1:detect_leaks=1:abort_on_error=0} \
      UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1} \
      run_suite "$asan" -LE valgrind "$@"
  else
    echo "ASan build failed" >&2
    total_fail=$((total_fail + 1))
    status=1
  fi
fi

echo "${total_pass} passed, ${total_fail} failed"
exit "$status"
