#!/usr/bin/env python3
"""select_scale.py — GET /agents/select at fleet scale: calls per second with 1,000 and 100,000
registered agents on the memory store and on Redis (with its agent cache, and at 1,000 agents
also with the cache off: every call reads every candidate from Redis). Not a test: it prints
figures (docs/performance.md, "Agent selection at fleet scale").

  python3 bench/select_scale.py [--build build/release] [--agents 1000,100000] [--runs 3]
      [--duration 5] [--connections 8] [--cp-bench build/release/cp-bench] [--cache auto|on]

For every row it starts a fresh cpd (and, for Redis, a private redis-server without
persistence) on free loopback ports, registers the agents with `cp-bench -s fill`, makes one
select and waits until cpd logs that its agent cache is loaded (Redis), then runs
`cp-bench -s select` (every agent has the capability asked for; the default strategy). The
rows alternate, --runs times, and the median is printed (with min–max). Also
prints cpd's resident memory after the fill, and on Redis the cache's own count of the bytes it
holds (from its log line). Python standard library only; loopback only.
"""
import argparse
import http.client
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

from benchlib import API, free_port, rss_kb, start_cpd


class Redis:
    def __init__(self, server):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="select-redis-")
        self.proc = subprocess.Popen([server, "--port", str(self.port), "--bind", "127.0.0.1",
                                      "--save", "", "--appendonly", "no", "--dir", self.dir],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=0.5)
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    s.close()
                    return
            except OSError:
                time.sleep(0.05)
        raise SystemExit("redis-server did not start")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


class Cpd:
    def __init__(self, build, store, redis=None, cache="auto"):
        if store == "redis":
            storage = ("storage:\n  plugin: redis\n  options:\n    url: redis://127.0.0.1:%d\n"
                       "    prefix: 'sel:'\n    agent_cache: %s\n" % (redis.port, cache))
        else:
            storage = "storage:\n  plugin: memory\n"
        self.port, self.proc, self.dir, self.log = start_cpd(build, storage, "select-cpd-")
        self.log_path = self.log.name

    def cache_line(self):
        with open(self.log_path, errors="replace") as f:
            found = re.findall(r"agent cache: (\d+) agents loaded \((\d+) KiB\)", f.read())
        return found[-1] if found else None

    def cache_kib(self):
        """The cache's own count of its bytes at its last full load (auto: after the fill)."""
        line = self.cache_line()
        return int(line[1]) if line and int(line[0]) > 0 else None

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def cp_bench(path, port, *args, timeout=3600):
    out = subprocess.run([path, "-u", "http://127.0.0.1:%d" % port] + list(args),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout,
                         universal_newlines=True)
    if out.returncode != 0:
        raise SystemExit("cp-bench %s failed:\n%s" % (" ".join(args), out.stdout))
    return out.stdout


def select_once(port):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    c.request("GET", API + "/agents/select?capability=bench")
    r = c.getresponse()
    r.read()
    c.close()
    return r.status


def run_row(a, store, n, cache="auto"):
    redis = Redis(a.redis_server) if store == "redis" else None
    cpd = None
    try:
        cpd = Cpd(a.build, store, redis, cache)
        base = rss_kb(cpd.proc.pid)
        cp_bench(a.cp_bench, cpd.port, "-s", "fill", "--agents", str(n), "-c", "16")
        cache_kib = None
        if store == "redis" and cache != "off":
            deadline = time.monotonic() + 300
            while cache == "auto" and (cpd.cache_line() is None or
                                       int(cpd.cache_line()[0]) < n):
                if time.monotonic() > deadline:
                    raise SystemExit("the agent cache never loaded %d agents" % n)
                select_once(cpd.port)  # the first switches the cache on (agent_cache: auto)
                time.sleep(0.5)
            cache_kib = cpd.cache_kib()
        if select_once(cpd.port) != 200:
            raise SystemExit("select did not answer 200")
        rss = rss_kb(cpd.proc.pid)
        dur = a.duration if not (store == "redis" and cache == "off" and n > 10000) else 2
        out = cp_bench(a.cp_bench, cpd.port, "-s", "select", "--no-setup", "--agents", str(n),
                       "-c", str(a.connections), "-d", str(dur), "-w", "1", "--json")
        rate = json.loads(out[out.index("{"):])["throughput"]
        return {"rate": float(rate), "rss_mb":
                (rss - base) / 1024.0, "cache_kib": cache_kib}
    finally:
        if cpd:
            cpd.stop()
        if redis:
            redis.stop()


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.join(here, "..")
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", default=os.path.join(root, "build", "release"))
    ap.add_argument("--agents", default="1000,100000")
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--cp-bench", default=None)
    ap.add_argument("--redis-server", default=shutil.which("redis-server") or "redis-server")
    ap.add_argument("--no-off", action="store_true", help="skip Redis with agent_cache: off")
    ap.add_argument("--runs", type=int, default=3, help="alternating runs per row (median)")
    ap.add_argument("--cache", default="auto", help="agent_cache of the Redis row (auto, on)")
    a = ap.parse_args()
    if a.cp_bench is None:
        a.cp_bench = os.path.join(a.build, "cp-bench")
        if not os.path.exists(a.cp_bench):
            a.cp_bench = os.path.join(root, "build", "test", "cp-bench")
    rows = []
    for n in [int(x) for x in a.agents.split(",")]:
        plan = [("memory", "-"), ("redis", a.cache)]
        if not a.no_off and n <= 10000:
            plan.append(("redis", "off"))
        got = {p: [] for p in plan}
        for run in range(a.runs):  # alternating: the machine's load moves under all rows alike
            for store, cache in plan:
                r = run_row(a, store, n, cache if store == "redis" else "auto")
                got[(store, cache)].append(r)
                print("  run %d: %-8d %-7s cache %-5s %8.0f calls/s   cpd RSS +%.1f MiB%s" % (
                    run + 1, n, store, cache, r["rate"], r["rss_mb"],
                    "" if r["cache_kib"] is None else "   cache %.1f MiB (%d B/agent)"
                    % (r["cache_kib"] / 1024.0, r["cache_kib"] * 1024 // n)), flush=True)
        for (store, cache), rs in got.items():
            rates = sorted(r["rate"] for r in rs)
            rows.append((n, store, cache, statistics.median(rates), rates[0], rates[-1]))
    print()
    print("| agents | store | agent_cache | select calls/s (median of %d) | min–max |" % a.runs)
    print("|---|---|---|---|---|")
    for n, store, cache, med, lo, hi in rows:
        print("| %d | %s | %s | %.0f | %.0f–%.0f |" % (n, store, cache, med, lo, hi))
    print()
    for n in sorted({r[0] for r in rows}):
        mem = [r[3] for r in rows if r[0] == n and r[1] == "memory"]
        red = [r[3] for r in rows if r[0] == n and r[1] == "redis" and r[2] != "off"]
        if mem and red:
            print("%d agents: Redis (cache) / memory = %.2f" % (n, red[0] / mem[0]))

if __name__ == "__main__":
    sys.exit(main())
