#!/usr/bin/env bash
# scripts/fuzz.sh [seconds] — builds the libFuzzer targets (clang, ASan+UBSan) into build/fuzz
# and runs each for `seconds` (default 60):
#   fuzz_request  raw client bytes through cpd's real HTTP server on the memory store
#   fuzz_config   a cpd.yaml through the configuration loader and its checks
#   fuzz_evfast   core/evfast.c's libevent stand-ins against libevent's own
# Each starts from the seed corpus in fuzz/corpus/<target> (read only) plus what earlier runs
# found (build/fuzz/corpus/<target>). Prints executions per second and in total for each
# target; exits non-zero when one crashes, leaks or trips a sanitizer (the input that did is
# written to build/fuzz/artifacts/ and the log to build/fuzz/<target>.log).
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build/fuzz"
SECS="${1:-60}"
# shellcheck source=lib/deps.sh
. "$ROOT/scripts/lib/deps.sh"

cp_install_deps && cp_install_fuzz_deps || { echo "fuzz: dependencies missing"; exit 1; }
CC_BIN="$(command -v clang-14 || command -v clang)" || { echo "fuzz: clang not found"; exit 1; }

JOBS="$(nproc 2>/dev/null || echo 2)"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_C_COMPILER="$CC_BIN" -DCP_FUZZ=ON -DCP_BUILD_TESTS=OFF \
    -DCP_WERROR=OFF -DCMAKE_BUILD_TYPE=Debug >"$BUILD.configure.log" 2>&1 ||
    { cat "$BUILD.configure.log"; echo "fuzz: configure failed"; exit 1; }
cmake --build "$BUILD" -j"$JOBS" --target fuzz_request fuzz_config fuzz_evfast >"$BUILD.build.log" 2>&1 ||
    { tail -n 40 "$BUILD.build.log"; echo "fuzz: build failed"; exit 1; }

status=0
for target in request config evfast; do
    case "$target" in
    request) extra=(-max_len=65536 -dict="$ROOT/fuzz/request.dict") ;;
    config) extra=(-max_len=16384) ;;
    evfast) extra=(-max_len=4096) ;;
    esac
    mkdir -p "$BUILD/corpus/$target" "$BUILD/artifacts"
    log="$BUILD/$target.log"
    (cd "$BUILD" && "./fuzz_$target" -max_total_time="$SECS" -timeout=25 -print_final_stats=1 \
        -artifact_prefix="$BUILD/artifacts/$target-" "${extra[@]}" \
        "$BUILD/corpus/$target" "$ROOT/fuzz/corpus/$target") >"$log" 2>&1
    rc=$?
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)"
    rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)"
    found="$(sed -n 's/^stat::new_units_added: *//p' "$log" | tail -n 1)"
    if [ "$rc" -eq 0 ]; then
        echo "fuzz_$target: ${execs:-?} executions in ${SECS} s (${rate:-?}/s), ${found:-?} new inputs, no crash"
    else
        status=1
        echo "fuzz_$target: FAILED (exit $rc) after ${execs:-?} executions; see $log"
        grep -E "ERROR: |SUMMARY: |runtime error|fuzz_request: |Test unit written" "$log" | head -n 20
    fi
done
exit "$status"
