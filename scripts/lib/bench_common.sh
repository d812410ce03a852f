# scripts/lib/bench_common.sh — shared by bench.sh and bench_probes.sh (sourced, not run):
# CPU pinning (server on CPU 0, load generator on CPU 1 unless PIN=0), a high fd limit, and
# loopback port helpers.
# shellcheck shell=bash

SRV_CPU=() GEN_CPU=()
if [[ ${PIN:-1} == 1 && $(nproc) -ge 2 ]] && command -v taskset >/dev/null; then
    SRV_CPU=(taskset -c 0) GEN_CPU=(taskset -c 1)
fi
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() { # until something accepts on 127.0.0.1:$1, at most 10 s
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# The start of an nginx.conf for a throw-away nginx in DIR (one worker, in the foreground, no
# access log, every temp path under DIR), up to and including "http {": the caller writes the
# rest of the http block and closes it.
nginx_conf_head() { # DIR WORKER_CONNECTIONS
    cat <<EOF
worker_processes 1;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections $2; }
http {
    access_log off;
    client_body_temp_path $1/body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
EOF
}
