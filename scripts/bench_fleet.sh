#!/usr/bin/env bash
# bench_fleet.sh — the AI-fleet dispatch benchmark (docs/performance.md, "AI-fleet dispatch"):
# three cpd processes on one Redis, 60 agents under one shared provider quota calling a mock LLM
# provider (bench/fleet/mockllm.py) that enforces RPM/TPM exactly, tenants of which one floods,
# multi-turn conversations; modes "today" (no quotas, least_loaded, 429 = a failed attempt) and
# "fleet" (quotas, tenants, est_tokens, affinity, 429 as rate_limited — what the server
# supports) side by side. Builds Release if needed; every process it starts (redis-server, cpd,
# the mock) is a child of the simulator and is stopped on exit.
#
#   scripts/bench_fleet.sh            6 provider minutes per mode at real time (~15 minutes)
#   scripts/bench_fleet.sh --quick    4 provider minutes of 10 s per mode (~2 minutes)
#   scripts/bench_fleet.sh [--quick] [fleetsim options]   e.g. --modes today,fleet,fleet-est
#                                     --tpm 300000 --minute 20 --windows 8 --store memory
#                                     (see --help)
# Environment: BENCH_BUILD_DIR=build/release, BENCH_NO_BUILD=1 (use the binaries there).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BENCH_BUILD_DIR:-$ROOT/build/release}
say() { printf '%s bench_fleet: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

NEED_REDIS=1 prev=''
for arg in "$@"; do
    [[ $arg == -h || $arg == --help ]] && exec python3 "$ROOT/bench/fleet/fleetsim.py" --help
    [[ $arg == --store=memory || ($prev == --store && $arg == memory) ]] && NEED_REDIS=0
    prev=$arg
done

REDIS_SERVER=${REDIS_SERVER:-$(command -v redis-server || true)}
[[ -n $REDIS_SERVER || $NEED_REDIS == 0 ]] ||
    { echo "bench_fleet.sh: redis-server is not installed (scripts/lib/deps.sh installs it)" >&2; exit 1; }

T=$(mktemp -d /tmp/cpd-bench-fleet.XXXXXX)
SIM_PID=''
cleanup() {
    local rc=$?
    if [[ -n $SIM_PID ]] && kill -0 "$SIM_PID" 2>/dev/null; then
        kill -TERM "$SIM_PID" 2>/dev/null || true # its children die with it (PR_SET_PDEATHSIG)
        for _ in $(seq 50); do kill -0 "$SIM_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SIM_PID" 2>/dev/null || true
    fi
    rm -rf "$T"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [[ -z ${BENCH_NO_BUILD:-} ]]; then
    say "building Release in $BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCP_SANITIZE=OFF -DCP_BUILD_TESTS=OFF \
        >"$T/cmake.log" 2>&1 || { cat "$T/cmake.log" >&2; exit 1; }
    # Everything: cpd and every plugin its config may name (storage, selection, probes).
    nice cmake --build "$BUILD" -j"$(nproc)" >"$T/build.log" 2>&1 || { tail -30 "$T/build.log" >&2; exit 1; }
fi
[[ -x $BUILD/cpd && ( -f $BUILD/plugins/redis.so || $NEED_REDIS == 0 ) ]] ||
    { echo "bench_fleet.sh: $BUILD/cpd or plugins/redis.so missing (hiredis not installed?)" >&2; exit 1; }

say "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
CPD_BIN=$BUILD/cpd CP_PLUGIN_DIR=$BUILD/plugins CP_BUILD_DIR=$BUILD REDIS_SERVER=$REDIS_SERVER \
    PYTHONDONTWRITEBYTECODE=1 python3 "$ROOT/bench/fleet/fleetsim.py" "$@" &
SIM_PID=$!
wait "$SIM_PID"
rc=$?
SIM_PID=''
say "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc
