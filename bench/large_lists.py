#!/usr/bin/env python3
"""large_lists.py — what the replies that grow with the fleet cost: GET /health and GET /agents
at several fleet sizes, for two builds of cpd (say, before and after a change), on the memory
store. Not a test: it prints figures (docs/performance.md, "Large fleets").

  python3 bench/large_lists.py --build before=/tmp/cpd-before/build --build after=build/release \\
      [--agents 5000,100000] [--clients 200,20] [--cp-bench build/test/cp-bench]

Each BUILD directory holds cpd and plugins/ (a Release build: scripts/run.sh --build-only
makes build/release). For every build and fleet size it starts cpd on a free loopback port
(heartbeat timeout one day, so no agent goes offline meanwhile), registers the agents with
cp-bench fill, then measures:

  sequential  each path 5 times on one kept-alive connection: median time to the last byte,
              and the body's bytes;
  concurrent  the path requested at once by C clients (one connection each, read as fast as
              Python reads): the time until every body arrived, while a second process sends
              small requests (GET /agents/<id>) on a kept-alive connection and records their
              latency (median and max), and samples cpd's resident memory (peak over the run).

A path the build does not know (?agents=all, ?limit=) is requested anyway: an older cpd
ignores the parameter and answers what it always did, which the bytes column shows.
Python standard library only; loopback only.
"""
import argparse
import asyncio
import http.client
import json
import os
import statistics
import subprocess
import sys
import time

from benchlib import API, rss_kb, start_cpd

SEQUENTIAL = ["/health", "/health?agents=all", "/agents?available=false",
              "/agents?available=false&limit=500"]
CONCURRENT = ["/health", "/health?agents=all", "/agents?available=false"]


class Cpd:
    def __init__(self, build):
        self.build = build
        self.port, self.proc, self.dir, self.log = start_cpd(build, "storage:\n  plugin: memory\n",
                                                             "cpd-bench-", timeout=15)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def fill(cp_bench, port, n):
    out = subprocess.run([cp_bench, "-u", "http://127.0.0.1:%d" % port, "-s", "fill",
                          "--agents", str(n), "-c", "16", "--prefix", "bench"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=1800,
                         universal_newlines=True)
    if out.returncode != 0:
        raise SystemExit("cp-bench fill failed:\n" + out.stdout)


def sequential(port, path, reps=5):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    times, size = [], 0
    for _ in range(reps):
        t = time.monotonic()
        c.request("GET", API + path)
        r = c.getresponse()
        body = r.read()
        times.append(time.monotonic() - t)
        size = len(body)
        if r.status != 200:
            raise SystemExit("GET %s: %d %s" % (path, r.status, body[:200]))
        if r.getheader("Connection", "").lower() == "close":
            c.close()
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    c.close()
    return statistics.median(times), size


async def fetch_all(port, path, clients):
    """Every client sends the request at once and reads the reply to the server's close."""
    async def one():
        reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
        writer.write(("GET %s%s HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
                      % (API, path)).encode())
        n = 0
        while True:
            chunk = await reader.read(1 << 20)
            if not chunk:
                break
            n += len(chunk)
        writer.close()
        return n
    t = time.monotonic()
    sizes = await asyncio.gather(*(one() for _ in range(clients)))
    return time.monotonic() - t, sizes


def probe_main(port, pid, stop_path):
    """The second process: small requests and cpd's memory until stop_path appears."""
    c = http.client.HTTPConnection("127.0.0.1", int(port), timeout=120)
    lat, peak = [], 0
    while not os.path.exists(stop_path):
        t = time.monotonic()
        c.request("GET", API + "/agents/bench-7")
        r = c.getresponse()
        r.read()
        lat.append(time.monotonic() - t)
        peak = max(peak, rss_kb(int(pid)))
        time.sleep(0.01)
    print(json.dumps({"latencies": lat, "peak_rss_kb": peak}))


def concurrent(cpd, path, clients):
    stop = os.path.join(cpd.dir, "stop-probe")
    if os.path.exists(stop):
        os.unlink(stop)
    probe = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--probe",
                              str(cpd.port), str(cpd.proc.pid), stop],
                             stdout=subprocess.PIPE, universal_newlines=True)
    time.sleep(0.2)
    wall, sizes = asyncio.run(fetch_all(cpd.port, path, clients))
    open(stop, "w").close()
    out = json.loads(probe.communicate(timeout=120)[0])
    lat = out["latencies"] or [0.0]
    return {"wall": wall, "bytes": min(sizes), "complete": len(set(sizes)) == 1,
            "small_p50": statistics.median(lat), "small_max": max(lat), "small_n": len(lat),
            "peak_rss_mb": out["peak_rss_kb"] / 1024.0}


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--probe":
        probe_main(*sys.argv[2:5])
        return
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", action="append", required=True, help="LABEL=BUILD_DIR")
    ap.add_argument("--agents", default="5000,100000")
    ap.add_argument("--clients", default="200,20", help="concurrent clients per fleet size")
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--cp-bench", default=os.path.join(here, "..", "build", "test", "cp-bench"))
    a = ap.parse_args()
    sizes = [int(x) for x in a.agents.split(",")]
    clients = [int(x) for x in a.clients.split(",")]
    clients += [clients[-1]] * (len(sizes) - len(clients))
    print("fleet   build   path                                    median ms        bytes")
    conc_rows = []
    for n, m in zip(sizes, clients):
        for spec in a.build:
            label, build = spec.split("=", 1)
            cpd = Cpd(build)
            try:
                fill(a.cp_bench, cpd.port, n)
                for path in SEQUENTIAL:
                    t, size = sequential(cpd.port, path)
                    print("%-7d %-7s %-38s %10.1f %12d" % (n, label, path, t * 1000, size))
                for path in CONCURRENT:
                    conc_rows.append((n, label, m, path, concurrent(cpd, path, m)))
            finally:
                cpd.stop()
    print()
    print("fleet   build   clients path                         all delivered s  bytes each"
          "  small p50 ms  small max ms  (n)   cpd peak RSS MB")
    for n, label, m, path, r in conc_rows:
        print("%-7d %-7s %-7d %-30s %14.2f %11d%s %13.1f %13.1f %5d %13.0f"
              % (n, label, m, path, r["wall"], r["bytes"], "" if r["complete"] else "*",
                 r["small_p50"] * 1000, r["small_max"] * 1000, r["small_n"],
                 r["peak_rss_mb"]))


if __name__ == "__main__":
    main()
