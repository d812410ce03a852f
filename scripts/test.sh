#!/usr/bin/env bash
# scripts/test.sh — installs what is missing, builds cpd with ASan+UBSan into build/test and runs
# every test (unit, conformance, end-to-end against real cpd and redis-server processes), then
# the Release build of scripts/run.sh, then each libFuzzer target for CP_FUZZ_SECONDS (30; 0 skips) through scripts/fuzz.sh.
# Exits with ctest's status. Extra arguments are passed to ctest (e.g. -R e2e_test_tasks).
set -uo pipefail
# cpd refuses plugins others could have written (plugins_strict_permissions): build them
# private to their owner whatever the shell's umask.
umask 022

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build/test"
# shellcheck source=lib/deps.sh
. "$ROOT/scripts/lib/deps.sh"

cp_install_deps || { echo "0 passed, 1 failed"; exit 1; }

JOBS="$(nproc 2>/dev/null || echo 2)"
cmake -S "$ROOT" -B "$BUILD" -DCP_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug ||
    { echo "configure failed"; echo "0 passed, 1 failed"; exit 1; }
cmake --build "$BUILD" -j"$JOBS" || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }

# Two tests at a time: the e2e suites mostly wait on timers, so this halves wall time on 2 cores
# without making timing assertions flaky.
LOG="$BUILD/ctest.log"
cd "$BUILD" || exit 1
ctest --output-on-failure -j2 --timeout 300 "$@" 2>&1 | tee "$LOG"
status=${PIPESTATUS[0]}

# The Release build of scripts/run.sh (-O2 finds warnings the Debug build cannot, e.g. format
# truncation) and its configuration check: one more test. Skipped when ctest arguments select a
# subset.
release_total=0
release_failed=0
if [ $# -eq 0 ]; then
    release_total=1
    echo "release build (scripts/run.sh --build-only):" | tee -a "$LOG"
    if ! "$ROOT/scripts/run.sh" --build-only >"$BUILD/release-build.log" 2>&1; then
        tail -n 40 "$BUILD/release-build.log" | tee -a "$LOG"
        echo "release build: FAILED (log: $BUILD/release-build.log)" | tee -a "$LOG"
        release_failed=1
        status=1
    else
        tail -n 1 "$BUILD/release-build.log" | tee -a "$LOG"
    fi
fi

# The fuzz targets, CP_FUZZ_SECONDS each (default 30; 0 skips): one more test, failed by a crash,
# a leak or a sanitizer report. Installs clang when it is missing. Skipped when ctest arguments
# select a subset.
fuzz_total=0
fuzz_failed=0
if [ "${CP_FUZZ_SECONDS:-30}" != 0 ] && [ $# -eq 0 ]; then
    fuzz_total=1
    "$ROOT/scripts/fuzz.sh" "${CP_FUZZ_SECONDS:-30}" 2>&1 | tee -a "$LOG"
    if [ "${PIPESTATUS[0]}" -ne 0 ]; then
        fuzz_failed=1
        status=1
    fi
fi

# ctest prints "N% tests passed, F tests failed out of T"; turn it into the plain summary line.
summary="$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' "$LOG" | tail -n 1)"
if [ -n "$summary" ]; then
    failed="$(sed -E 's/.*passed, ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$summary")"
    total="$(sed -E 's/.*passed, ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$summary")"
    failed=$((failed + fuzz_failed + release_failed))
    total=$((total + fuzz_total + release_total))
    # A test that skipped itself (exit 77: a browser that could not be installed) did not pass.
    skipped="$(grep -cE '\*\*\*Skipped|Not Run' "$LOG" || true)"
    if [ "${skipped:-0}" -gt 0 ]; then
        echo "$((total - failed - skipped)) passed, $failed failed, $skipped skipped"
    else
        echo "$((total - failed)) passed, $failed failed"
    fi
elif grep -q 'No tests were found' "$LOG"; then
    echo "0 passed, 1 failed"
    status=1
else
    echo "0 passed, 1 failed"
    [ "$status" -eq 0 ] && status=1
fi
exit "$status"
