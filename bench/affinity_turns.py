#!/usr/bin/env python3
"""affinity_turns.py — how many conversation turns reach their warm agent: multi-turn
conversations through a real cpd, each turn submitted after the previous one completed, with the
`affinity` strategy and with `least_loaded` (today's behaviour). Not a test: it prints figures
(docs/fleet.md, "Prompt-cache affinity").

  python3 bench/affinity_turns.py [--build build/test] [--store memory|redis]
      [--agents 8] [--conversations 6,16] [--turns 8] [--service-ms 20]

For every conversation count it starts cpd (and, for --store redis, a redis-server), registers
the agents (max_concurrent_tasks 1; each a thread that claims with block_ms, works service-ms
± 50 %, completes), runs the conversations (each a thread: submit turn, wait for it to complete,
think 0–20 ms, next turn) and prints, per strategy: the share of turns 2..N placed on the agent
that completed the turn before ("warm"), cpd's own count (cp_affinity_placements_total), and the
busiest agent's share of all turns. Fewer conversations than agents leaves claimers waiting (the
`affinity` strategy picks the warm agent's claim); more conversations than agents makes a
backlog, where the store's affinity hold (tasks.affinity_hold_seconds) keeps each turn for its
warm agent's next claim. Python standard library only; loopback only.
"""
import argparse
import os
import random
import sys
import threading
import time
from collections import Counter

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))


def run(cpdtest, store, n_agents, n_conv, turns, service_ms, strategy):
    redis = cpdtest.shared_redis() if store == "redis" else None
    cpd = cpdtest.Cpd(store=store, redis=redis,
                      config={"selection": {"default": "least_loaded"}}).start()
    stop = threading.Event()
    try:
        c = cpd.client()
        agents = ["agent-%02d" % i for i in range(n_agents)]
        for a in agents:
            r = c.post("agents", {"agent_id": a, "capabilities": ["chat"],
                                  "max_concurrent_tasks": 1})
            assert r.status == 201, r

        def agent_loop(agent_id):
            ac = cpd.client()
            while not stop.is_set():
                r = ac.post("tasks/claim", {"agent_id": agent_id, "block_ms": 500})
                task = r.body.get("task") if r.status == 200 else None
                if not task:
                    continue
                time.sleep(service_ms / 1000.0 * random.uniform(0.5, 1.5))
                ac.post("tasks/%s/complete" % task["id"], {"agent_id": agent_id, "result": {}})

        placed = []  # (conversation, turn, agent)
        lock = threading.Lock()

        def conversation(i):
            cc = cpd.client()
            key = "conv-%d-%d" % (i, random.randrange(1 << 30))
            for t in range(turns):
                body = {"task_type": "turn", "required_capabilities": ["chat"],
                        "strategy": strategy, "affinity_key": key}
                tid = cc.post("tasks", body).body["task_id"]
                while True:
                    task = cc.get("tasks/%s?wait_ms=5000" % tid).body
                    if task["status"] == "completed":
                        break
                with lock:
                    placed.append((i, t, task["assigned_agent"]))
                time.sleep(random.uniform(0, 0.02))

        workers = [threading.Thread(target=agent_loop, args=(a,), daemon=True) for a in agents]
        for w in workers:
            w.start()
        t0 = time.monotonic()
        convs = [threading.Thread(target=conversation, args=(i,)) for i in range(n_conv)]
        for th in convs:
            th.start()
        for th in convs:
            th.join()
        elapsed = time.monotonic() - t0
        metrics = c.get("/metrics").body
        counts = {}
        for line in metrics.splitlines():
            if line.startswith('cp_affinity_placements_total{result="'):
                counts[line.split('"')[1]] = int(float(line.rsplit(" ", 1)[1]))
    finally:
        stop.set()
        time.sleep(0.6)
        cpd.stop(check=False)
        cpd.cleanup()
    by_conv = {}
    for i, t, a in sorted(placed):
        by_conv.setdefault(i, []).append(a)
    follow = total = 0
    for seq in by_conv.values():
        for prev, cur in zip(seq, seq[1:]):
            total += 1
            follow += prev == cur
    load = Counter(a for _, _, a in placed)
    return {"warm_share": follow / total if total else 0.0, "turns": len(placed),
            "metrics": counts, "busiest": max(load.values()) / len(placed),
            "seconds": elapsed}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", default=None)
    ap.add_argument("--store", default="memory", choices=["memory", "redis"])
    ap.add_argument("--agents", type=int, default=8)
    ap.add_argument("--conversations", default="6,16")
    ap.add_argument("--turns", type=int, default=8)
    ap.add_argument("--service-ms", type=float, default=20)
    args = ap.parse_args()
    if args.build:
        os.environ["CP_BUILD_DIR"] = os.path.abspath(args.build)
    import cpdtest  # after CP_BUILD_DIR is set
    print("store=%s agents=%d turns=%d service=%.0f ms" % (args.store, args.agents, args.turns,
                                                         args.service_ms))
    print("%-14s %-13s %6s %12s %22s %8s %7s" % ("conversations", "strategy", "turns",
                                                 "warm share", "cpd warm/other/cold",
                                                 "busiest", "secs"))
    for n_conv in [int(x) for x in args.conversations.split(",")]:
        for strategy in ("affinity", "least_loaded"):
            r = run(cpdtest, args.store, args.agents, n_conv, args.turns, args.service_ms,
                    strategy)
            m = r["metrics"]
            print("%-14d %-13s %6d %11.1f%% %22s %7.1f%% %7.1f" % (
                n_conv, strategy, r["turns"], 100 * r["warm_share"],
                "%d/%d/%d" % (m.get("warm", 0), m.get("other", 0), m.get("cold", 0)),
                100 * r["busiest"], r["seconds"]))


if __name__ == "__main__":
    main()
