#!/usr/bin/env bash
# scripts/run.sh — installs what is missing, builds a Release cpd (with cpctl and the example agent)
# into build/release and runs it on 127.0.0.1:8080 with the in-memory store (examples/cpd.yaml when
# present). Extra arguments go to cpd, e.g. `scripts/run.sh --listen 127.0.0.1:9090`.
# `scripts/run.sh --build-only` builds and checks the configuration (cpd --check-config) without
# starting cpd: scripts/test.sh uses it so that CI proves this command's build too.
set -euo pipefail
# cpd refuses plugins others could have written (plugins_strict_permissions): build them
# private to their owner whatever the shell's umask.
umask 022

BUILD_ONLY=0
if [ "${1:-}" = "--build-only" ]; then
    BUILD_ONLY=1
    shift
fi
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="$ROOT/build/release"
# shellcheck source=lib/deps.sh
. "$ROOT/scripts/lib/deps.sh"

cp_install_deps
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release -DCP_BUILD_TESTS=OFF
# What running and trying it needs: cpd, the bundled plugins, cpctl and the example agent
# (examples/agent/README.md); the benchmarks and tests are built by scripts/test.sh.
targets=(cpd cpctl example-agent)
while read -r t; do targets+=("$t"); done < <(cmake --build "$BUILD" --target help |
    sed -n 's/^\.\.\. \(plugin_[A-Za-z0-9_]*\).*/\1/p' | sort -u)
cmake --build "$BUILD" -j"$(nproc 2>/dev/null || echo 2)" --target "${targets[@]}"

args=(--listen 127.0.0.1:8080)
if [ -f "$ROOT/examples/cpd.yaml" ]; then
    args=(--config "$ROOT/examples/cpd.yaml" "${args[@]}")
fi
# The memory store and the plugins of this build, whatever the example file says.
export CONTROL_PLANE_STORAGE=memory
export CONTROL_PLANE_PLUGIN_DIR="$BUILD/plugins"
cd "$ROOT"
if [ "$BUILD_ONLY" = 1 ]; then
    exec "$BUILD/cpd" --check-config "${args[@]}" "$@"
fi
exec "$BUILD/cpd" "${args[@]}" "$@"
