#!/usr/bin/env bash
# bench_instructions.sh — cpd's own CPU instructions per request, counted by callgrind: a
# figure that, unlike requests/s, does not move when other processes share the machine. Use it
# to judge a change to the request path on a busy or virtual machine; use bench.sh for speed.
#
# For each scenario it starts cpd (memory store; a scenario ending in _redis: the redis store, on
# a private redis-server started here and flushed before each run) under valgrind --tool=callgrind with
# instrumentation off, lets cp-bench register its agents and warm up, counts only the measured
# seconds, and prints user-space instructions (Ir) per operation: the median of BENCH_RUNS runs.
# System calls are not counted (callgrind sees user space only).
#
# Environment (all optional):
#   BENCH_RUNS=3  BENCH_SECONDS=3
#   BENCH_SCENARIOS="read heartbeat lifecycle lifecycle_next"  (also: read_redis heartbeat_redis
#                   lifecycle_redis lifecycle_next_redis; cpd's instructions only, not Redis')
#   BENCH_BASE=<git rev>   also build that revision (in a temporary worktree) and print both
#   BENCH_BUILD_DIR=build/release   BENCH_NO_BUILD=1 (use the binaries already there)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BENCH_BUILD_DIR:-$ROOT/build/release}
RUNS=${BENCH_RUNS:-3}
SECS=${BENCH_SECONDS:-3}
SCENARIOS=${BENCH_SCENARIOS:-read heartbeat lifecycle lifecycle_next}
BASE=${BENCH_BASE:-}
# shellcheck source=lib/bench_common.sh
. "$ROOT/scripts/lib/bench_common.sh"

say() { printf '%s bench_instructions: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
T=$(mktemp -d /tmp/cpd-instr.XXXXXX)
VG_PID=
REDIS_PID= REDIS_PORT=
cleanup() {
    [[ -n $VG_PID ]] && kill "$VG_PID" 2>/dev/null && wait "$VG_PID" 2>/dev/null
    [[ -n $REDIS_PID ]] && kill "$REDIS_PID" 2>/dev/null && wait "$REDIS_PID" 2>/dev/null
    [[ -n $BASE && -d $T/base ]] && git -C "$ROOT" worktree remove --force "$T/base" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if ! command -v valgrind >/dev/null; then
    [[ $(id -u) -eq 0 ]] || { say "valgrind is missing and we are not root"; exit 1; }
    say "installing valgrind"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
fi

build() { # SRC DIR
    cmake -S "$1" -B "$2" -DCMAKE_BUILD_TYPE=Release -DCP_SANITIZE=OFF -DCP_BUILD_TESTS=OFF >/dev/null
    cmake --build "$2" -j"$(nproc)" >/dev/null
}
[[ ${BENCH_NO_BUILD:-0} == 1 ]] || { say "building Release in $BUILD"; build "$ROOT" "$BUILD"; }
if [[ -n $BASE ]]; then
    say "building $BASE in a temporary worktree"
    git -C "$ROOT" worktree add --detach "$T/base" "$BASE" >/dev/null 2>&1
    build "$T/base" "$T/base/build"
fi

# The cp-bench arguments of each scenario: few connections, so valgrind's slowness does not
# turn long polls into time-outs.
args_of() {
    case ${1%_redis} in
    read) echo "-s read -c 10 --agents 100" ;;
    heartbeat) echo "-s heartbeat -c 10 --agents 100" ;;
    lifecycle) echo "-s lifecycle -c 10 -m 2 --agents 10" ;;
    lifecycle_next) echo "-s lifecycle -c 10 -m 2 --agents 10 --next" ;;
    *) return 1 ;;
    esac
}

# One run: prints Ir per operation of cpd built in DIR.
count() { # DIR SCENARIO
    local dir=$1 port out ops ir
    read -ra a <<<"$(args_of "$2")"
    port=$(free_port)
    out=$T/cg.out
    local store=memory cfg=()
    if [[ $2 == *_redis ]]; then
        store=redis
        redis-cli -p "$REDIS_PORT" FLUSHALL >/dev/null
        printf 'storage:\n  plugin: redis\n  options: {url: "redis://127.0.0.1:%s", prefix: "bi:"}\n' \
            "$REDIS_PORT" >"$T/redis.yaml"
        cfg=(--config "$T/redis.yaml")
    fi
    HEARTBEAT_TIMEOUT=3600 CONTROL_PLANE_STORAGE=$store valgrind --tool=callgrind \
        --instr-atstart=no --callgrind-out-file="$out" "$dir/cpd" "${cfg[@]}" --listen "127.0.0.1:$port" \
        >"$T/cpd.log" 2>&1 &
    VG_PID=$!
    wait_port "$port" || { say "cpd under valgrind did not start"; return 1; }
    "$BUILD/cp-bench" -u "http://127.0.0.1:$port" "${a[@]}" -d 1 -w 0 >/dev/null 2>&1 || true
    callgrind_control -i on "$VG_PID" >/dev/null 2>&1
    ops=$("$BUILD/cp-bench" -u "http://127.0.0.1:$port" --no-setup "${a[@]}" -d "$SECS" -w 0 --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["ops"])')
    callgrind_control -i off "$VG_PID" >/dev/null 2>&1
    kill "$VG_PID" && wait "$VG_PID" 2>/dev/null || true
    VG_PID=
    ir=$(callgrind_annotate "$out" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    python3 -c "print(round($ir / max($ops, 1)))"
}

median() { python3 -c 'import sys,statistics; v=[int(x) for x in sys.argv[1:]]; print(int(statistics.median(v)), min(v), max(v))' "$@"; }

# One redis-server for the _redis scenarios, started here (count() runs in a subshell).
if [[ " $SCENARIOS" == *_redis* ]]; then
    command -v redis-server >/dev/null || { say "redis-server is not installed"; exit 1; }
    REDIS_PORT=$(free_port)
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize no --logfile "$T/redis.log" --dir "$T" </dev/null >/dev/null 2>&1 &
    REDIS_PID=$!
    wait_port "$REDIS_PORT" || { say "redis-server did not start"; exit 1; }
fi

printf '| scenario | instructions per operation, this tree (median, min–max of %s) |%s\n' "$RUNS" "${BASE:+ at $BASE | change |}"
printf '|---|---|%s\n' "${BASE:+---|---|}"
for s in $SCENARIOS; do
    args_of "$s" >/dev/null || { say "unknown scenario '$s' (read, heartbeat, lifecycle, lifecycle_next, each also with _redis)"; exit 2; }
    now=() old=()
    for _ in $(seq "$RUNS"); do
        now+=("$(count "$BUILD" "$s")")
        [[ -z $BASE ]] || old+=("$(count "$T/base/build" "$s")")
    done
    read -r m lo hi <<<"$(median "${now[@]}")"
    row="| $s | $m ($lo–$hi) |"
    if [[ -n $BASE ]]; then
        read -r bm blo bhi <<<"$(median "${old[@]}")"
        row+=" $bm ($blo–$bhi) | $(python3 -c "print(f'{($m - $bm) / $bm * 100:+.0f} %')") |"
    fi
    echo "$row"
done
