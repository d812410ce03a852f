#!/usr/bin/env bash
# bench.sh — measure cpd the way its users would, side by side with this machine's ceilings
# (nginx + wrk for HTTP, redis-benchmark for Redis Lua calls). Builds Release, starts every
# server itself on free loopback ports, stops them all on exit, prints one table.
#
# Environment (all optional):
#   BENCH_RUNS=3          runs per figure (the table shows the median and min-max)
#   BENCH_SECONDS=5       measured seconds per run (plus BENCH_WARMUP=1 unmeasured)
#   BENCH_SCALE=1         the scale run: BENCH_SCALE_AGENTS=100000 agents +
#                         BENCH_SCALE_TASKS=1000000 pending tasks on the memory store
#   BENCH_GROWTH=0        1: also the "how cost grows" tables (agents, pending, held claimers)
#   BENCH_STORES="memory redis"   which stores to run ("" for none)
#   BENCH_SUBMIT_TASKS=20000  tasks per run of the submit comparison (single vs batches)
#   BENCH_CEILINGS=1      0: skip nginx/wrk and redis-benchmark
#   BENCH_PIN=1           pin the server to CPU 0 and the load generator to CPU 1 (2+ CPUs)
#   BENCH_BUILD_DIR=build/release   BENCH_OUT=DIR (keep the raw JSON results there)
#   BENCH_NO_BUILD=1      use the binaries already in BENCH_BUILD_DIR
#   BENCH_BASE=<git rev>  also build that revision (in a temporary worktree) and run the issue
#                         #14 targets with it and with this tree, alternating, in one table
#   BENCH_TARGETS=1       0: skip the #14 targets section (memory lifecycle with next, Redis
#                         heartbeat, lifecycles, Redis cost per task, select at 1,000 agents;
#                         bench/select_scale.py when it exists)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${BENCH_BUILD_DIR:-$ROOT/build/release}
RUNS=${BENCH_RUNS:-3}
SECS=${BENCH_SECONDS:-5}
WARM=${BENCH_WARMUP:-1}
SCALE=${BENCH_SCALE:-1}
SCALE_AGENTS=${BENCH_SCALE_AGENTS:-100000}
SCALE_TASKS=${BENCH_SCALE_TASKS:-1000000}
GROWTH=${BENCH_GROWTH:-0}
STORES=${BENCH_STORES-memory redis}
CEILINGS=${BENCH_CEILINGS:-1}
PIN=${BENCH_PIN:-1}
BASE=${BENCH_BASE:-}
TARGETS=${BENCH_TARGETS:-1}
CONNS=50 # wrk -c50 and cp-bench -c50: the same concurrency on both sides

for v in RUNS SECS SCALE_AGENTS SCALE_TASKS; do
    [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || { echo "bench.sh: BENCH_$v must be a positive whole number, not '${!v}'" >&2; exit 2; }
done

say() { printf '%s bench: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

T=$(mktemp -d /tmp/cpd-bench.XXXXXX)
RES=$T/results.jsonl
: >"$RES"

STOP_RC=0
stop_pid() { # stop one process we started: TERM, then KILL after 5 s; its exit status in STOP_RC
    local pid=$1
    STOP_RC=0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || STOP_RC=$?
}

cleanup() {
    local rc=$?
    # Only the servers this script started and that are still ours (never a broad kill).
    for pid in ${CPD_PID:-} ${NGINX_PID:-} ${REDIS_PID:-}; do stop_pid "$pid"; done
    [[ -n $BASE && -d $T/base ]] && git -C "$ROOT" worktree remove --force "$T/base" >/dev/null 2>&1
    if [[ -n ${BENCH_OUT:-} ]]; then mkdir -p "$BENCH_OUT" && cp "$RES" "$T"/*.log "$BENCH_OUT"/ 2>/dev/null || true; fi
    rm -rf "$T"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- tools ----------------------------------------------------------------------------------
have_pkg() { dpkg -s "$1" >/dev/null 2>&1; }
install_pkgs() {
    local missing=()
    have_pkg nginx-light || have_pkg nginx || have_pkg nginx-core || missing+=(nginx-light)
    for p in wrk redis-server redis-tools; do have_pkg "$p" || missing+=("$p"); done
    [[ ${#missing[@]} -eq 0 ]] && return 0
    if [[ $(id -u) -ne 0 ]]; then
        say "missing packages (${missing[*]}) and not root: their rows will be skipped"
        return 0
    fi
    say "installing ${missing[*]}"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
        say "apt-get install failed: rows needing ${missing[*]} will be skipped"
}
install_pkgs
NGINX=$(command -v nginx || echo /usr/sbin/nginx); [[ -x $NGINX ]] || NGINX=
WRK=$(command -v wrk || true)
REDIS_SERVER=$(command -v redis-server || true)
REDIS_CLI=$(command -v redis-cli || true)
REDIS_BENCH=$(command -v redis-benchmark || true)

# shellcheck source=lib/bench_common.sh
. "$ROOT/scripts/lib/bench_common.sh"

# ---- build ----------------------------------------------------------------------------------
if [[ -z ${BENCH_NO_BUILD:-} ]]; then
    say "building Release in $BUILD"
    cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCP_SANITIZE=OFF -DCP_BUILD_TESTS=OFF >"$T/cmake.log" 2>&1 ||
        { cat "$T/cmake.log" >&2; exit 1; }
    cmake --build "$BUILD" -j"$(nproc)" --target cpd cp-bench plugin_memory plugin_least_loaded \
        plugin_round_robin plugin_random plugin_affinity plugin_headroom plugin_http plugin_tcp \
        >"$T/build.log" 2>&1 ||
        { tail -30 "$T/build.log" >&2; exit 1; }
    # The redis plugin is optional here: when it does not build, its rows are skipped.
    if ! cmake --build "$BUILD" -j"$(nproc)" --target plugin_redis >"$T/build-redis.log" 2>&1; then
        say "the redis plugin does not build (yet); the redis rows will be skipped"
        REDIS_BUILD_FAILED=1
    fi
fi
CPD=$BUILD/cpd
CPB=$BUILD/cp-bench
# The base revision's cpd and plugins (its cpd finds them beside itself); cp-bench stays this
# tree's, so both sides get the same load generator.
BASE_CPD=
# The selection plugins a base's cpd loads by default beyond the first three (affinity and
# headroom since 2.4): built when the base has them, or its cpd refuses to start.
base_selection_extras() {
    cmake --build "$T/base/build" --target help 2>/dev/null |
        grep -oE 'plugin_(affinity|headroom)$' | tr '\n' ' '
}
if [[ -n $BASE && $TARGETS == 1 ]]; then
    say "building $BASE (the base) in a temporary worktree"
    if git -C "$ROOT" worktree add --detach "$T/base" "$BASE" >"$T/base-wt.log" 2>&1 &&
        cmake -S "$T/base" -B "$T/base/build" -DCMAKE_BUILD_TYPE=Release -DCP_SANITIZE=OFF \
            -DCP_BUILD_TESTS=OFF >"$T/base-cmake.log" 2>&1 &&
        cmake --build "$T/base/build" -j"$(nproc)" --target cpd plugin_memory plugin_redis \
            plugin_least_loaded plugin_round_robin plugin_random plugin_http plugin_tcp \
            $(base_selection_extras) >"$T/base-build.log" 2>&1; then
        BASE_CPD=$T/base/build/cpd
    else
        say "the base $BASE did not build: its column stays empty"
        tail -5 "$T"/base-*.log >&2 || true
    fi
fi
[[ -x $CPD && -x $CPB ]] || { echo "bench.sh: $CPD or $CPB missing; build first" >&2; exit 1; }

if [[ " $STORES " == *" redis "* ]]; then
    if [[ -n ${REDIS_BUILD_FAILED:-} || ! -f $BUILD/plugins/redis.so ]]; then
        say "SKIP redis rows: $BUILD/plugins/redis.so is not built (the redis plugin is not ready)"
        export BENCH_REDIS_SKIPPED="redis plugin not built"
        [[ -f $T/build-redis.log ]] && grep -m5 -E 'error|Error' "$T/build-redis.log" >&2 || true
        STORES=${STORES//redis/}
    elif [[ -z $REDIS_SERVER ]]; then
        say "SKIP redis rows: redis-server is not installed"
        export BENCH_REDIS_SKIPPED="redis-server not installed"
        STORES=${STORES//redis/}
    fi
fi

# ---- servers --------------------------------------------------------------------------------
REDIS_PID='' REDIS_PORT=''
start_redis() {
    [[ -n $REDIS_PID ]] && return 0
    REDIS_PORT=$(free_port)
    "${SRV_CPU[@]}" "$REDIS_SERVER" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --daemonize no --logfile "$T/redis.log" --dir "$T" &
    REDIS_PID=$!
    wait_port "$REDIS_PORT" || { say "redis-server did not start"; return 1; }
}

CPD_PID='' CPD_PORT='' CPD_N=0
CPD_STORE=
start_cpd() { # start_cpd memory|redis — a fresh cpd (and a flushed Redis) for every run
    local store=$1
    CPD_STORE=$store
    CPD_PORT=$(free_port)
    CPD_N=$((CPD_N + 1))
    local log=$T/cpd-$CPD_N.log
    local cfg=()
    if [[ $store == redis ]]; then
        "$REDIS_CLI" -p "$REDIS_PORT" FLUSHALL >/dev/null
        cat >"$T/cpd-redis.yaml" <<EOF
listen: 127.0.0.1:$CPD_PORT
storage:
  plugin: redis
  options: {url: "redis://127.0.0.1:$REDIS_PORT", prefix: "bench:"}
EOF
        cfg=(--config "$T/cpd-redis.yaml")
    fi
    # Agents must not go offline while a long run (or the scale fill) is in progress.
    HEARTBEAT_TIMEOUT=3600 CONTROL_PLANE_STORAGE=$store "${SRV_CPU[@]}" "${CPD_BIN:-$CPD}" "${cfg[@]}" \
        --listen "127.0.0.1:$CPD_PORT" 2>"$log" &
    CPD_PID=$!
    if ! wait_port "$CPD_PORT"; then
        say "cpd ($store) did not start:"; cat "$log" >&2; return 1
    fi
    grep -q "storage: $store" "$log" || { say "cpd is not on the $store store:"; cat "$log" >&2; return 1; }
}
# A cpd that does not exit 0 on SIGTERM is a bug worth a line in the table (kept with its log).
stop_cpd() {
    [[ -n $CPD_PID ]] || return 0
    stop_pid "$CPD_PID" 2>/dev/null
    if [[ $STOP_RC -ne 0 ]]; then
        say "cpd ($CPD_STORE) exited with status $STOP_RC on SIGTERM: $(grep -v ' info ' "$T/cpd-$CPD_N.log" | head -c 200)"
        record cpd_stop "$CPD_STORE" "{\"status\":$STOP_RC}"
    fi
    CPD_PID=
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# record KIND LABEL JSON — one result line (raw cp-bench/wrk/redis-benchmark figures); LABEL is
# the store, or the size of the dimension in the growth runs.
record() {
    [[ -n $3 ]] || { say "no result for $1 ($2)"; return 0; }
    printf '{"kind":"%s","label":"%s","data":%s}\n' "$1" "$2" "$3" >>"$RES"
}

# cpb ARGS... — cp-bench against the current cpd; prints its JSON, or nothing when it failed.
cpb() {
    local out
    if out=$("${GEN_CPU[@]}" "$CPB" --json -u "http://127.0.0.1:$CPD_PORT" "$@" 2>"$T/cpb.err"); then
        printf '%s' "$out"
    else
        say "cp-bench $* failed: $(head -c 300 "$T/cpb.err") ${out:0:300}"
    fi
}

# cpbench KIND LABEL STORE SCENARIO ARGS... — one measured run on a fresh cpd.
cpbench() {
    local kind=$1 label=$2 store=$3 sc=$4; shift 4
    start_cpd "$store" || { stop_cpd; return 0; }
    record "$kind" "$label" "$(cpb -s "$sc" -d "$SECS" -w "$WARM" "$@")"
    stop_cpd
}

# redis_cost — after a run on the redis store: Redis' own cost per completed task, from INFO
# commandstats (reset when the run's cpd started): FCALLs (and EVALSHAs), their time, every
# command's time, and the server's CPU, each divided by the tasks completed in the store (warm-up
# included, as the counters are; cpd's GET /api/control-plane/metrics counts them). Prints JSON,
# or nothing.
redis_cost() {
    "$REDIS_CLI" -p "$REDIS_PORT" INFO commandstats >"$T/cs.txt" 2>/dev/null || return 0
    "$REDIS_CLI" -p "$REDIS_PORT" INFO cpu >"$T/cpu.txt" 2>/dev/null || return 0
    local done
    # Completed tasks as cpd reports them (whatever the store's layout keeps them in).
    done=$(python3 -c 'import json,sys,urllib.request as u; print(json.load(u.urlopen(sys.argv[1], timeout=5))["completed_jobs"])' \
        "http://127.0.0.1:$CPD_PORT/api/control-plane/metrics" 2>/dev/null || true)
    python3 - "$T/cs.txt" "$T/cpu.txt" "${done:-0}" "${REDIS_CPU0:-0}" <<'PYEOF'
import re, sys
cs, cpu, done, cpu0 = open(sys.argv[1]).read(), open(sys.argv[2]).read(), int(sys.argv[3] or 0), float(sys.argv[4])
if done <= 0:
    sys.exit(0)
calls = usec = all_usec = 0
for name, c, u in re.findall(r"cmdstat_(\w+):calls=(\d+),usec=(\d+)", cs):
    if name in ("info", "config", "hget", "flushall"):
        continue  # this script's own commands
    all_usec += int(u)
    if name in ("fcall", "evalsha"):
        calls += int(c)
        usec += int(u)
m = dict(re.findall(r"(used_cpu_(?:user|sys)):([\d.]+)", cpu))
cpu_us = (float(m.get("used_cpu_user", 0)) + float(m.get("used_cpu_sys", 0)) - cpu0) * 1e6
print('{"tasks":%d,"fcalls_per_task":%.3f,"fcall_us_per_task":%.1f,"redis_us_per_task":%.1f,'
      '"redis_cpu_us_per_task":%.1f}' % (done, calls / done, usec / done, all_usec / done,
                                         cpu_us / done))
PYEOF
}

# cpbench_cost KIND LABEL STORE SCENARIO ARGS... — cpbench, and on redis also KIND_cost.
cpbench_cost() {
    local kind=$1 label=$2 store=$3 sc=$4; shift 4
    start_cpd "$store" || { stop_cpd; return 0; }
    if [[ $store == redis ]]; then
        "$REDIS_CLI" -p "$REDIS_PORT" CONFIG RESETSTAT >/dev/null
        REDIS_CPU0=$("$REDIS_CLI" -p "$REDIS_PORT" INFO cpu | tr -d '\r' |
            awk -F: '/^used_cpu_(user|sys):/ {s += $2} END {print s + 0}')
    fi
    record "$kind" "$label" "$(cpb -s "$sc" -d "$SECS" -w "$WARM" "$@")"
    if [[ $store == redis ]]; then record "${kind}_cost" "$label" "$(redis_cost)"; fi
    stop_cpd
}

# ---- ceilings -------------------------------------------------------------------------------
NGINX_PID='' NGINX_PORT=''
if [[ $CEILINGS != 1 ]]; then
    say "SKIP the ceilings (BENCH_CEILINGS=$CEILINGS)"
elif [[ -n $NGINX && -n $WRK ]]; then
    NGINX_PORT=$(free_port)
    mkdir -p "$T/nginx"
    {
        nginx_conf_head "$T/nginx" 4096
        cat <<EOF
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        default_type application/json;
        location / { return 200 '{"ok":true}'; }
        location /post { client_body_buffer_size 16k; return 200 '{"ok":true}'; }
    }
}
EOF
    } >"$T/nginx/nginx.conf"
    "${SRV_CPU[@]}" "$NGINX" -p "$T/nginx" -c "$T/nginx/nginx.conf" -e "$T/nginx/error.log" &
    NGINX_PID=$!
    wait_port "$NGINX_PORT" || { say "nginx did not start"; cat "$T/nginx/error.log" >&2; NGINX_PID=; }
    cat >"$T/post.lua" <<'EOF'
wrk.method = "POST"
wrk.body = '{"status":"ready"}'
wrk.headers["Content-Type"] = "application/json"
EOF
    # wrk's "Requests/sec" and its latency percentiles, as one JSON object.
    wrk_json() {
        python3 - "$1" <<'EOF'
import re, sys
t = open(sys.argv[1]).read()
def ms(s):
    v, u = float(re.match(r'([\d.]+)', s).group(1)), re.search(r'[a-z]+$', s).group(0)
    return v / 1000 if u == 'us' else v * 1000 if u == 's' else v
rps = float(re.search(r'Requests/sec:\s+([\d.]+)', t).group(1))
lat = {p: ms(v) for p, v in re.findall(r'^\s+(50|90|99)%\s+(\S+)', t, re.M)}
errs = sum(int(x) for x in re.findall(r'Non-2xx or 3xx responses: (\d+)', t))
print('{"throughput":%.1f,"unit":"req/s","errors":%d,"latency_ms":{"request":{"p50":%s,"p90":%s,"p99":%s}}}'
      % (rps, errs, lat.get('50', 0), lat.get('90', 0), lat.get('99', 0)))
EOF
    }
    run_wrk() { # run_wrk KIND LABEL URL [wrk args]
        local kind=$1 label=$2 url=$3; shift 3
        if "${GEN_CPU[@]}" "$WRK" -t1 -c"$CONNS" -d"${SECS}s" --latency "$@" "$url" >"$T/wrk.out" 2>&1; then
            record "$kind" "$label" "$(wrk_json "$T/wrk.out")"
        else
            say "wrk $kind failed: $(head -c 300 "$T/wrk.out")"
        fi
    }
    if [[ -n $NGINX_PID ]]; then
        say "ceiling: nginx (1 worker) under wrk -t1 -c$CONNS, $RUNS x ${SECS}s GET and POST"
        for _ in $(seq "$RUNS"); do
            run_wrk nginx_get - "http://127.0.0.1:$NGINX_PORT/"
            run_wrk nginx_post - "http://127.0.0.1:$NGINX_PORT/post" -s "$T/post.lua"
            # cp-bench against the same nginx: what the load generator itself can do.
            record cpbench_nginx_get - "$(CPD_PORT=$NGINX_PORT cpb -s raw -c "$CONNS" -d "$SECS" -w "$WARM" --path /)"
        done
    fi
else
    say "SKIP nginx ceilings: nginx or wrk not installed"
fi

if [[ $CEILINGS != 1 ]]; then
    :
elif [[ -n $REDIS_SERVER && -n $REDIS_BENCH && -n $REDIS_CLI ]]; then
    start_redis || exit 1
    # A claim-like script: take the lowest-scored id from a sorted set, mark its hash claimed,
    # put it back (so the set never empties) — roughly one cpd claim's Redis work.
    SCRIPT='local id = redis.call("ZRANGE", KEYS[1], 0, 0)[1]
if not id then id = "t1" end
redis.call("ZREM", KEYS[1], id)
redis.call("HSET", KEYS[1] .. ":" .. id, "status", "claimed", "agent", "a1", "claimed_at", "1")
redis.call("ZADD", KEYS[1], 0, id)
return id'
    SHA=$("$REDIS_CLI" -p "$REDIS_PORT" SCRIPT LOAD "$SCRIPT")
    N=$((SECS * 40000))
    say "ceiling: redis-benchmark EVALSHA (claim-like Lua), $RUNS x $N calls, -c $CONNS, unpipelined and -P 16"
    for _ in $(seq "$RUNS"); do
        for pipe in 1 16; do
            "${GEN_CPU[@]}" "$REDIS_BENCH" -p "$REDIS_PORT" -c "$CONNS" -n "$N" -P "$pipe" -q EVALSHA "$SHA" 1 bench:q >"$T/rb.out" 2>&1 || true
            rps=$(tr '\r' '\n' <"$T/rb.out" | grep -oE '[0-9.]+ requests per second' | tail -1 | cut -d' ' -f1)
            if [[ -n $rps ]]; then
                record "redis_evalsha_p$pipe" - "{\"throughput\":$rps,\"unit\":\"calls/s\",\"errors\":0}"
            else
                say "redis-benchmark failed: $(head -c 300 "$T/rb.out")"
            fi
        done
    done
    "$REDIS_CLI" -p "$REDIS_PORT" FLUSHALL >/dev/null
else
    say "SKIP the Redis ceiling: redis-server / redis-benchmark not installed"
fi

# ---- cpd scenarios --------------------------------------------------------------------------
for store in $STORES; do
    if [[ $store == redis ]]; then start_redis || continue; fi
    say "cpd on $store: read, heartbeat, select, lifecycle, wakeup ($RUNS x ${SECS}s each)"
    for _ in $(seq "$RUNS"); do
        cpbench read "$store" "$store" read -c "$CONNS" --agents 1000
        cpbench heartbeat "$store" "$store" heartbeat -c "$CONNS" --agents 1000
        cpbench select "$store" "$store" select -c "$CONNS" --agents 1000
        # The three-request lifecycle (claim, complete) and the two-request one (complete
        # with next), alternating in the same run.
        cpbench_cost lifecycle "$store" "$store" lifecycle -c "$CONNS" -m 4
        cpbench_cost lifecycle_next "$store" "$store" lifecycle -c "$CONNS" -m 4 --next
        cpbench wakeup "$store" "$store" wakeup -c 100 -m 16 --rate 1000
    done
    if [[ -n $WRK && -n $NGINX_PID ]]; then
        # The same read and heartbeat through wrk: cpd's figures without cp-bench's own cost
        # (wrk repeats one URL: one agent, where cp-bench spreads over 1,000).
        for _ in $(seq "$RUNS"); do
            if start_cpd "$store" && [[ -n $(cpb -s fill --agents 1000) ]]; then
                run_wrk wrk_read "$store" "http://127.0.0.1:$CPD_PORT/api/control-plane/agents/bench-7"
                run_wrk wrk_heartbeat "$store" "http://127.0.0.1:$CPD_PORT/api/control-plane/agents/bench-7/heartbeat" -s "$T/post.lua"
            fi
            stop_cpd
        done
    fi
done

# ---- issue #14's targets: this tree and BENCH_BASE, alternating ---------------------------
# Each figure is labelled "new" (this tree) or "base"; bench_table.py prints them side by side
# with the targets. Redis runs need the redis store built and redis-server installed.
targets_run() { # LABEL — one round of every target figure with the cpd in CPD_BIN
    local l=$1
    cpbench_cost t_mem_next "$l" memory lifecycle -c "$CONNS" -m 4 --next
    [[ " $STORES " == *" redis "* ]] || return 0
    start_redis || return 0
    cpbench t_redis_heartbeat "$l" redis heartbeat -c "$CONNS" --agents 1000
    cpbench_cost t_redis_lifecycle "$l" redis lifecycle -c "$CONNS" -m 4
    cpbench_cost t_redis_next "$l" redis lifecycle -c "$CONNS" -m 4 --next
    cpbench t_redis_select "$l" redis select -c "$CONNS" --agents 1000
}
if [[ $TARGETS == 1 ]]; then
    say "#14 targets: this tree${BASE_CPD:+ and $BASE, alternating} ($RUNS x ${SECS}s each)"
    for _ in $(seq "$RUNS"); do
        CPD_BIN=$CPD targets_run new
        if [[ -n $BASE_CPD ]]; then CPD_BIN=$BASE_CPD targets_run base; fi
    done
    unset CPD_BIN
    # Agent selection at fleet scale has its own benchmark (fresh servers per row) when present.
    if [[ -f $ROOT/bench/select_scale.py && " $STORES " == *" redis "* ]]; then
        say "bench/select_scale.py (1,000 agents, this tree)"
        python3 "$ROOT/bench/select_scale.py" --build "$BUILD" --agents 1000 --duration "$SECS" \
            >"$T/select_scale.txt" 2>"$T/select_scale.err" ||
            say "select_scale.py failed: $(tail -3 "$T/select_scale.err")"
    fi
fi
export BENCH_BASE_REV=${BASE_CPD:+$BASE}

# ---- submit throughput: a task per request vs batches of 100 (POST /tasks/batch) ----------
SUBMIT_TASKS=${BENCH_SUBMIT_TASKS:-20000}
for store in $STORES; do
    if [[ $store == redis ]]; then start_redis || continue; fi
    say "submit on $store: $SUBMIT_TASKS tasks, one per request vs batches of 100 ($RUNS runs each)"
    for _ in $(seq "$RUNS"); do
        for batch in 1 100; do
            if start_cpd "$store"; then
                record "submit_b$batch" "$store" \
                    "$(cpb -s fill -c 8 --no-setup --tasks "$SUBMIT_TASKS" --batch "$batch")"
            fi
            stop_cpd
        done
    done
done

# ---- scale: many agents, many pending tasks, memory store -----------------------------------
if [[ $SCALE == 1 ]]; then
    say "scale: $SCALE_AGENTS agents + $SCALE_TASKS pending tasks (100-byte payloads) on memory"
    if start_cpd memory; then
        rss0=$(rss_kb "$CPD_PID")
        fa=$(cpb -s fill -c 32 --agents "$SCALE_AGENTS")
        rss1=$(rss_kb "$CPD_PID")
        ft=$(cpb -s fill -c 32 --no-setup --tasks "$SCALE_TASKS" --payload-bytes 100)
        rss2=$(rss_kb "$CPD_PID")
        cl=$(cpb -s claim -c "$CONNS" --no-setup --agents "$SCALE_AGENTS" -d "$SECS" -w "$WARM")
        rd=$(cpb -s read -c "$CONNS" --no-setup --agents "$SCALE_AGENTS" -d "$SECS" -w "$WARM")
        record scale memory "{\"agents\":$SCALE_AGENTS,\"tasks\":$SCALE_TASKS,\"rss_empty_kb\":$rss0,\"rss_agents_kb\":$rss1,\"rss_full_kb\":$rss2,\"fill_agents\":${fa:-null},\"fill_tasks\":${ft:-null},\"claim\":${cl:-null},\"read\":${rd:-null}}"
    fi
    stop_cpd
    # The same claims against an empty queue (same agent count).
    if start_cpd memory && [[ -n $(cpb -s fill -c 32 --agents "$SCALE_AGENTS") ]]; then
        record scale_empty memory "$(cpb -s claim -c "$CONNS" --no-setup --agents "$SCALE_AGENTS" -d "$SECS" -w "$WARM")"
    fi
    stop_cpd
fi

# ---- how cost grows (opt-in: BENCH_GROWTH=1; memory store, one run each) --------------------
if [[ $GROWTH == 1 ]]; then
    say "growth: agents 1k/10k/100k (read, select, lifecycle)"
    for n in 1000 10000 100000; do
        if start_cpd memory && [[ -n $(cpb -s fill -c 32 --agents "$n") ]]; then
            record g_agents_read "$n" "$(cpb -s read --no-setup --agents "$n" -d "$SECS" -w "$WARM")"
            record g_agents_select "$n" "$(cpb -s select -c 4 --no-setup --agents "$n" -d "$SECS" -w "$WARM")"
            record g_agents_lifecycle "$n" "$(cpb -s lifecycle --no-setup --agents "$n" -d "$SECS" -w "$WARM")"
        fi
        stop_cpd
    done
    say "growth: pending tasks 0/100k/1M (claim)"
    for n in 0 100000 1000000; do
        if start_cpd memory && [[ -n $(cpb -s fill -c 32 --agents "$CONNS" --tasks "$n") ]]; then
            record g_pending_claim "$n" "$(cpb -s claim --no-setup -d "$SECS" -w "$WARM")"
        fi
        stop_cpd
    done
    say "growth: held claimers 10/100/1000 (wakeup at 1000/s)"
    for n in 10 100 1000; do
        cpbench g_held_wakeup "$n" memory wakeup -c "$n" -m 16 --rate 1000
    done
fi

# ---- the table ------------------------------------------------------------------------------
python3 "$ROOT/scripts/bench_table.py" "$RES" "$RUNS" "$SECS"
if [[ -s $T/select_scale.txt ]]; then
    printf '\n## Agent selection at fleet scale (bench/select_scale.py, this tree)\n\n'
    cat "$T/select_scale.txt"
fi
