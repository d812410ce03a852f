#!/usr/bin/env bash
# bench_probes.sh — what health probing costs the API: GET /api/control-plane/agents/:id under
# wrk load (p50/p99, req/s), once with 1,000 agents each probed by http every second against a
# local nginx, once with 1,000 agents without probes. Builds Release, starts nginx and cpd itself
# on free loopback ports, stops them on exit.
#
# Environment (all optional):
#   BENCH_AGENTS=1000       agents registered in each run
#   BENCH_SECONDS=10        wrk duration (-d), after BENCH_WARMUP=2 unmeasured seconds
#   BENCH_RUNS=3            runs per variant, alternating probed/unprobed; the median is printed
#   BENCH_IDLE=5            seconds without API load in which cpd's own CPU use is measured
#   BENCH_RANDOM_ID=0       1: each request GETs a random agent (a wrk Lua script; wrk itself then
#                           becomes the bottleneck); 0: always the middle agent
#   BENCH_SPREAD=0          1: register the agents evenly over one second, so that their checks are
#                           spread over the interval instead of firing in one burst
#   BENCH_PIN=1             cpd on CPU 0; wrk and nginx on CPU 1 (2+ CPUs)
#   BENCH_BUILD_DIR=build/release   BENCH_NO_BUILD=1 (use the binaries already built there)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BENCH_BUILD_DIR:-$ROOT/build/release}
AGENTS=${BENCH_AGENTS:-1000}
SECS=${BENCH_SECONDS:-10}
WARM=${BENCH_WARMUP:-2}
RUNS=${BENCH_RUNS:-3}
IDLE=${BENCH_IDLE:-5}
PIN=${BENCH_PIN:-1}
RANDOM_ID=${BENCH_RANDOM_ID:-0}
SPREAD=${BENCH_SPREAD:-0}
CONNS=50
THREADS=1

for v in AGENTS SECS RUNS IDLE; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] ||
        { echo "bench_probes.sh: BENCH_$v must be a positive whole number, not '${!v}'" >&2; exit 2; }
done
[[ $WARM =~ ^[0-9]+$ ]] || { echo "bench_probes.sh: BENCH_WARMUP must be a whole number" >&2; exit 2; }

say() { printf '%s bench_probes: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

T=$(mktemp -d /tmp/cpd-bench-probes.XXXXXX)
CPD_PID='' NGINX_PID=''

stop_pid() { # stop one process this script started: TERM, then KILL after 5 s
    local pid=$1
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    local rc=$?
    for pid in $CPD_PID $NGINX_PID; do stop_pid "$pid"; done
    rm -rf "$T"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- tools ----------------------------------------------------------------------------------
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
missing=()
have_pkg nginx-light || have_pkg nginx || have_pkg nginx-core || missing+=(nginx-light)
have_pkg wrk || missing+=(wrk)
if [[ ${#missing[@]} -gt 0 ]]; then
    [[ $(id -u) -eq 0 ]] || { echo "bench_probes.sh: needs ${missing[*]} (run as root to install)" >&2; exit 1; }
    say "installing ${missing[*]}"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
WRK=$(command -v wrk)
[[ -x $NGINX && -x $WRK ]] || { echo "bench_probes.sh: nginx or wrk not found" >&2; exit 1; }

# shellcheck source=lib/bench_common.sh
. "$ROOT/scripts/lib/bench_common.sh"

# ---- build ----------------------------------------------------------------------------------
if [[ -z ${BENCH_NO_BUILD:-} ]]; then
    say "building Release in $BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCP_SANITIZE=OFF -DCP_BUILD_TESTS=OFF \
        >"$T/cmake.log" 2>&1 || { cat "$T/cmake.log" >&2; exit 1; }
    cmake --build "$BUILD" -j"$(nproc)" --target cpd plugin_memory plugin_least_loaded \
        plugin_round_robin plugin_random plugin_http plugin_tcp >"$T/build.log" 2>&1 ||
        { tail -30 "$T/build.log" >&2; exit 1; }
fi
CPD=$BUILD/cpd
[[ -x $CPD && -f $BUILD/plugins/http.so ]] || { echo "bench_probes.sh: $CPD or its plugins missing" >&2; exit 1; }

# ---- nginx: the agents' /health, one worker ---------------------------------------------------
NGX_PORT=$(free_port)
mkdir -p "$T/nginx"
{
    nginx_conf_head "$T/nginx" 8192
    cat <<EOF
    server {
        listen 127.0.0.1:$NGX_PORT;
        location = /health { return 200 "ok\n"; }
        location / { return 404; }
    }
}
EOF
} >"$T/nginx.conf"
"${GEN_CPU[@]}" "$NGINX" -p "$T/nginx" -c "$T/nginx.conf" -e "$T/nginx/error.log" 2>"$T/nginx/stderr" &
NGINX_PID=$!
wait_port "$NGX_PORT" || { say "nginx did not start:"; cat "$T/nginx/stderr" "$T/nginx/error.log" >&2; exit 1; }

# ---- wrk: GET the middle agent, or a random one ----------------------------------------------
FIXED_ID=$(printf 'bench-%05d' $((AGENTS / 2)))
WRK_TARGET=("http://127.0.0.1:PORT/api/control-plane/agents/$FIXED_ID")
WHAT="agent $FIXED_ID of $AGENTS"
cat >"$T/get_agent.lua" <<EOF
math.randomseed(42)
request = function()
    return wrk.format("GET", string.format("/api/control-plane/agents/bench-%05d", math.random(0, $AGENTS - 1)))
end
EOF
if [[ $RANDOM_ID == 1 ]]; then
    WRK_TARGET=(-s "$T/get_agent.lua" http://127.0.0.1:PORT)
    WHAT="a random agent of $AGENTS"
fi
wrk_args() { printf '%s\n' "${WRK_TARGET[@]//PORT/$CPD_PORT}"; }

# ---- one run ----------------------------------------------------------------------------------
CPD_PORT=
start_cpd() {
    CPD_PORT=$(free_port)
    cat >"$T/cpd.yaml" <<EOF
listen: 127.0.0.1:$CPD_PORT
storage: {plugin: memory}
probes: {interval_seconds: 1, timeout_seconds: 2}
agents: {heartbeat_timeout_seconds: 3600}
log: {level: warn}
EOF
    "${SRV_CPU[@]}" "$CPD" --config "$T/cpd.yaml" 2>"$T/cpd.log" &
    CPD_PID=$!
    wait_port "$CPD_PORT" || { say "cpd did not start:"; cat "$T/cpd.log" >&2; exit 1; }
}

# register N PROBED(0|1): the agents, over one keep-alive connection
register() {
    python3 - "$CPD_PORT" "$AGENTS" "$1" "http://127.0.0.1:$NGX_PORT/health" "$SPREAD" <<'EOF'
import http.client, json, sys, time
port, n, probed, url = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3] == "1", sys.argv[4]
spread = sys.argv[5] == "1"
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
t0 = time.monotonic()
for i in range(n):
    if spread:  # agent i registers at i/n s: its checks run at that phase of every second
        time.sleep(max(0.0, t0 + i / n - time.monotonic()))
    body = {"agent_id": "bench-%05d" % i, "capabilities": ["bench"]}
    if probed:
        body["health_probe"] = {"type": "http", "url": url}
    c.request("POST", "/api/control-plane/agents", json.dumps(body),
              {"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    if r.status != 201:
        sys.exit("register bench-%05d: HTTP %d" % (i, r.status))
EOF
}

# probe_counts: "passes fails" from /metrics (http probes)
probe_counts() {
    curl -fsS "http://127.0.0.1:$CPD_PORT/metrics" | awk '
        /^cp_probe_results_total\{type="http",result="pass"\}/ {p = $2}
        /^cp_probe_results_total\{type="http",result="fail"\}/ {f = $2}
        END {printf "%d %d\n", p, f}'
}
healthy_count() {
    curl -fsS "http://127.0.0.1:$CPD_PORT/api/control-plane/stats" |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["health"]["healthy_count"])'
}
probe_errors() { # the agents' last probe errors, counted
    curl -fsS "http://127.0.0.1:$CPD_PORT/api/control-plane/health" | python3 -c '
import collections, json, sys
errs = collections.Counter(a["error"] for a in json.load(sys.stdin)["agents"].values() if a["error"])
print(dict(errs.most_common(4)) or "none now")'
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$CPD_PID/stat"; }

# run VARIANT(probed|plain) N → appends
#   "variant p50_ms p99_ms rps probes_per_s probe_fails cpu%_under_load cpu%_idle"
run() {
    local variant=$1 n=$2 probed=0
    [[ $variant == probed ]] && probed=1
    start_cpd
    register "$probed"
    if [[ $probed == 1 ]]; then # every agent checked and healthy before measuring
        for _ in $(seq 100); do [[ $(healthy_count) -ge $AGENTS ]] && break; sleep 0.1; done
        [[ $(healthy_count) -ge $AGENTS ]] || say "warning: only $(healthy_count) of $AGENTS agents healthy"
    fi
    local i0 i1 s0 s1 # cpd's CPU use with probes (or nothing) to do and no API load
    i0=$(cpu_ticks); s0=$(date +%s.%N)
    sleep "$IDLE"
    i1=$(cpu_ticks); s1=$(date +%s.%N)
    local target
    mapfile -t target < <(wrk_args)
    [[ $WARM -gt 0 ]] && "${GEN_CPU[@]}" "$WRK" -t"$THREADS" -c"$CONNS" -d"${WARM}s" "${target[@]}" >/dev/null
    read -r p0 f0 < <(probe_counts)
    local c0 t0 t1 c1
    c0=$(cpu_ticks); t0=$(date +%s.%N)
    "${GEN_CPU[@]}" "$WRK" -t"$THREADS" -c"$CONNS" -d"${SECS}s" --latency "${target[@]}" \
        >"$T/wrk-$variant-$n.txt"
    c1=$(cpu_ticks); t1=$(date +%s.%N)
    read -r p1 f1 < <(probe_counts)
    [[ $f1 -gt $f0 ]] && say "$((f1 - f0)) probe failures in the $variant run; last errors: $(probe_errors)"
    stop_pid "$CPD_PID"; CPD_PID=
    if grep -q "Non-2xx" "$T/wrk-$variant-$n.txt"; then
        say "errors in the $variant run:"; cat "$T/wrk-$variant-$n.txt" >&2
    fi
    python3 - "$T/wrk-$variant-$n.txt" "$variant" "$p0" "$p1" "$f0" "$f1" "$c0" "$c1" "$t0" "$t1" \
        "$(getconf CLK_TCK)" "$i0" "$i1" "$s0" "$s1" >>"$T/results.txt" <<'EOF'
import re, sys
path, variant = sys.argv[1], sys.argv[2]
p0, p1, f0, f1, c0, c1 = (int(x) for x in sys.argv[3:9])
t0, t1, hz = float(sys.argv[9]), float(sys.argv[10]), int(sys.argv[11])
i0, i1, s0, s1 = int(sys.argv[12]), int(sys.argv[13]), float(sys.argv[14]), float(sys.argv[15])
text = open(path).read()
def ms(s):
    v, unit = re.match(r"([\d.]+)(us|ms|s)", s).groups()
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)", text, re.M))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
wall = t1 - t0
idle = 100.0 * (i1 - i0) / hz / (s1 - s0) if s1 > s0 else 0.0
print("%s %.3f %.3f %.0f %.0f %d %.0f %.1f" % (variant, ms(lat["50"]), ms(lat["99"]), rps,
      (p1 - p0) / wall, f1 - f0, 100.0 * (c1 - c0) / hz / wall, idle))
EOF
    say "$variant run $n: $(tail -1 "$T/results.txt")"
}

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
say "machine: $(nproc) CPUs, load average $LOAD_BEFORE before the runs"
: >"$T/results.txt"
for n in $(seq "$RUNS"); do
    run probed "$n"
    run plain "$n"
done
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)

echo
echo "GET /api/control-plane/agents/:id, wrk -t$THREADS -c$CONNS -d${SECS}s --latency ($WHAT)"
echo "cpd Release, memory store$([[ ${#SRV_CPU[@]} -gt 0 ]] && echo ", cpd on CPU 0, wrk + nginx on CPU 1"); $RUNS runs each, alternating"
[[ $SPREAD == 1 ]] && echo "agents registered evenly over 1 s (BENCH_SPREAD=1): checks spread over the interval"
python3 - "$T/results.txt" "$AGENTS" "$IDLE" <<'EOF'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
agents, idle = sys.argv[2], sys.argv[3]
# cpd is the bottleneck (wrk runs on the other CPU), so a run in which it got less than 90% of
# its CPU was slowed by other processes on the machine: "contended".
CLEAN = 90.0
W = (6, 8, 7, 8, 7, 16, 8, 14, 9)


def line(cells, w=W):
    print("| " + " | ".join(str(c).ljust(x) for c, x in zip(cells, w)) + " |")


def rule(w=W):
    print("|" + "|".join("-" * (x + 2) for x in w) + "|")


def per_core(r):
    return float(r[3]) / max(float(r[6]), 1.0) * 100.0


print("\nEvery run:")
line(("run", "probes", "p50 ms", "p99 ms", "req/s", "probes/s (fails)", "cpd CPU%",
      "req/s per core", "idle CPU%"))
rule()
n = {}
for r in rows:
    n[r[0]] = n.get(r[0], 0) + 1
    cpu = float(r[6])
    line(("%d%s" % (n[r[0]], "" if cpu >= CLEAN else " *"),
          "http 1 s" if r[0] == "probed" else "none", "%.2f" % float(r[1]), "%.2f" % float(r[2]),
          "%.0f" % float(r[3]), "%.0f (%s)" % (float(r[4]), r[5]), "%.0f" % cpu,
          "%.0f" % per_core(r), r[7]))
print("(* contended: cpd got under %.0f%% of a CPU while being the bottleneck)" % CLEAN)


def summary(title, keep):
    w = (32, 18, 22, 22, 22, 16)
    print("\n" + title)
    line(("agents [runs]", "p50 ms", "p99 ms", "req/s", "req/s per cpd core", "cpd CPU% idle"), w)
    rule(w)
    for variant, label in (("probed", "%s, http probe every 1 s" % agents),
                           ("plain", "%s, no probe" % agents)):
        sel = [r for r in rows if r[0] == variant and keep(r)]
        if not sel:
            line((label + " [0]", "-", "-", "-", "-", "-"), w)
            continue

        def f(get, fmt):
            v = [get(r) for r in sel]
            m = fmt % statistics.median(v)
            return m if len(v) == 1 else "%s (%s-%s)" % (m, fmt % min(v), fmt % max(v))

        line(("%s [%d]" % (label, len(sel)), f(lambda r: float(r[1]), "%.2f"),
              f(lambda r: float(r[2]), "%.2f"), f(lambda r: float(r[3]), "%.0f"),
              f(per_core, "%.0f"), f(lambda r: float(r[7]), "%.1f")), w)


summary("All runs, median (min-max):", lambda r: True)
if any(float(r[6]) >= CLEAN for r in rows):
    summary("Uncontended runs only (cpd CPU >= %.0f%%):" % CLEAN, lambda r: float(r[6]) >= CLEAN)
print("\nidle CPU%%: cpd's CPU use over %s s with its agents registered and no API load" % idle)
EOF
echo "load average: $LOAD_BEFORE before, $LOAD_AFTER after (other processes on the machine count)"
