#!/bin/sh
# run_redis.sh — runs the storage conformance suite against the Redis plugin, on a throw-away
# redis-server (no persistence) listening on a free loopback port; stops it afterwards.
# Usage: run_redis.sh <cp-storage-conformance> <redis.so> [redis-server] [extra key=value ...]
set -u
CONF=${1:?usage: run_redis.sh <cp-storage-conformance> <redis.so> [redis-server]}
PLUGIN=${2:?usage: run_redis.sh <cp-storage-conformance> <redis.so> [redis-server]}
SERVER=${3:-redis-server}
[ $# -ge 3 ] && shift 3 || shift $#
command -v "$SERVER" >/dev/null 2>&1 || { echo "run_redis.sh: $SERVER not found" >&2; exit 77; }

DIR=$(mktemp -d "${TMPDIR:-/tmp}/cp-conf-redis.XXXXXX") || exit 1
PID=
cleanup() {
    if [ -n "$PID" ]; then
        kill "$PID" 2>/dev/null
        wait "$PID" 2>/dev/null
    fi
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

# A free port: ask the kernel, then retry if another process wins the race.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

for attempt in 1 2 3 4 5; do
    PORT=$(free_port) || exit 1
    "$SERVER" --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
        --dir "$DIR" --logfile "$DIR/redis.log" &
    PID=$!
    # Ready when it answers PING (bounded: 5 s).
    i=0
    while [ $i -lt 50 ]; do
        if python3 - "$PORT" <<'PY' 2>/dev/null
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.5)
s.sendall(b"PING\r\n")
sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
PY
        then break; fi
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    if kill -0 "$PID" 2>/dev/null && [ $i -lt 50 ]; then break; fi
    wait "$PID" 2>/dev/null
    PID=
done
if [ -z "$PID" ]; then
    echo "run_redis.sh: could not start $SERVER" >&2
    cat "$DIR/redis.log" >&2 2>/dev/null
    exit 1
fi

"$CONF" "$PLUGIN" "url=redis://127.0.0.1:$PORT" "prefix=conformance:" "$@"
