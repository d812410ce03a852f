#!/usr/bin/env bash
# bench_retention.sh — how much memory cpd (memory store) keeps after a busy period: N task
# lifecycles (submit -> long-poll claim -> complete, cp-bench lifecycle), then the wait until
# retention has deleted them. Prints VmRSS empty, right after the lifecycles, and after expiry,
# with the stored task count each time. Uses the binaries in BENCH_BUILD_DIR (Release).
#
# Environment (all optional):
#   BENCH_BUILD_DIR=build/release   a build tree with cpd, plugins/memory.so and cp-bench
#   RETENTION_TASKS=300000          lifecycles
#   RETENTION_SECONDS=20            tasks.retention_seconds of the run
#   RETENTION_MAX_TERMINAL=         tasks.max_terminal (unset: cpd's default)
#   RETENTION_WAIT=1                0: stop after the lifecycles (e.g. with the default 86400 s
#                                   retention, to see what the max_terminal cap keeps)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BENCH_BUILD_DIR:-$ROOT/build/release}
N=${RETENTION_TASKS:-300000}
KEEP=${RETENTION_SECONDS:-20}
CPD=$BUILD/cpd
CPB=$(find "$BUILD" -name cp-bench -type f -perm -u+x | head -n 1)
[[ -x $CPD && -n $CPB ]] || { echo "bench_retention.sh: build cpd and cp-bench into $BUILD first" >&2; exit 2; }
# shellcheck source=lib/bench_common.sh
. "$ROOT/scripts/lib/bench_common.sh"

T=$(mktemp -d /tmp/cpd-retention.XXXXXX)
CPD_PID=
cleanup() {
    [[ -n $CPD_PID ]] && kill -TERM "$CPD_PID" 2>/dev/null && wait "$CPD_PID" 2>/dev/null
    rm -rf "$T"
}
trap cleanup EXIT

{
    echo "tasks:"
    echo "  retention_seconds: $KEEP"
    [[ -n ${RETENTION_MAX_TERMINAL:-} ]] && echo "  max_terminal: $RETENTION_MAX_TERMINAL"
    echo "storage: {plugin: memory}"
} >"$T/cpd.yaml"
PORT=$(free_port)
HEARTBEAT_TIMEOUT=3600 CONTROL_PLANE_PLUGIN_DIR="$BUILD/plugins" "${SRV_CPU[@]}" "$CPD" \
    --config "$T/cpd.yaml" --listen "127.0.0.1:$PORT" 2>"$T/cpd.log" &
CPD_PID=$!
wait_port "$PORT" || { cat "$T/cpd.log" >&2; exit 1; }

rss_mb() { awk '/^VmRSS:/ {printf "%.1f", $2 / 1024}' "/proc/$CPD_PID/status"; }
stored() {
    python3 - "$PORT" <<'PY'
import json, sys, urllib.request
s = json.load(urllib.request.urlopen("http://127.0.0.1:%s/api/control-plane/stats" % sys.argv[1]))
print(s["scheduler"]["total"])
PY
}
# cpd's CPU time so far (user + system): comparable on a busy machine, unlike wall time.
cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.1f", ($14 + $15) / hz}' "/proc/$CPD_PID/stat"; }
report() {
    printf '%-34s RSS %7s MB   tasks stored %-7s cpd CPU %s s\n' "$1" "$(rss_mb)" "$(stored)" \
        "$(cpu_s)"
}

report "empty"
t0=$(date +%s)
"${GEN_CPU[@]}" "$CPB" -u "http://127.0.0.1:$PORT" -s lifecycle -n "$N" -d 3600 -w 0 \
    -c 50 >"$T/cpb.txt" 2>&1 || { cat "$T/cpb.txt" >&2; exit 1; }
report "after $N lifecycles ($(( $(date +%s) - t0 )) s)"
[[ ${RETENTION_WAIT:-1} == 0 ]] && exit 0
# Retention deletes in batches of 1000 every 250 ms once completed_at + retention has passed.
sleep $((KEEP + 5))
for _ in $(seq 60); do
    [[ $(stored) -le 10 ]] && break
    sleep 1
done
sleep 2
report "after retention expiry"
