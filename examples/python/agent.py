"""agent.py — a complete cpd agent in Python on cpclient.run_agent (the runner registers,
heartbeats, long-polls claims, completes or fails with requeue, and on SIGTERM/Ctrl-C reports
draining, finishes the task in hand and unregisters).

Its toy work, like the C example agent's: reverse the payload's "text" (or "question") string.
{"fail": true} or {"fail": "why"} fails the task (retried); {"fail": "why", "retry": false}
fails it for good; "sleep_ms": N works N ms first (at most 60000), to watch draining.

    python3 examples/python/agent.py [--url URL] [--token TOKEN] [--id ID]
                                     [--capability CAP]... [--concurrency N] [--block-ms MS]
"""

import argparse
import asyncio
import logging
import os
import time

from cpclient import TaskError, run_agent


def handle(task):
    """Runs in a worker thread: blocking work is fine here."""
    payload = task.payload if isinstance(task.payload, dict) else {}
    sleep_ms = payload.get("sleep_ms")
    if isinstance(sleep_ms, (int, float)) and sleep_ms > 0:
        time.sleep(min(sleep_ms, 60000) / 1000.0)
    fail = payload.get("fail")
    if fail:
        raise TaskError(fail if isinstance(fail, str) else "asked to fail",
                        requeue=payload.get("retry", True) is not False)
    text = payload.get("text", payload.get("question"))
    if not isinstance(text, str):
        raise TaskError('payload has no "text" string to reverse', requeue=False)
    return {"reversed": text[::-1]}


def main():
    p = argparse.ArgumentParser(description="A cpd agent that reverses text.")
    p.add_argument("--url", default=os.environ.get("CONTROL_PLANE_URL"))
    p.add_argument("--token", default=os.environ.get("CONTROL_PLANE_TOKEN"))
    p.add_argument("--id", default="py-agent-%d" % os.getpid())
    p.add_argument("--capability", action="append",
                   help="repeatable or comma-separated (default: reverse)")
    p.add_argument("--concurrency", type=int, default=1, help="tasks at once (default 1)")
    p.add_argument("--block-ms", type=int, default=30000, help="long-poll length (default 30000)")
    p.add_argument("--heartbeat-seconds", type=float, default=None,
                   help="default: HEARTBEAT_TIMEOUT / 3 (HEARTBEAT_TIMEOUT from the environment, else 30)")
    args = p.parse_args()
    caps = [c for arg in (args.capability or ["reverse"]) for c in arg.split(",") if c]
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stats = asyncio.run(run_agent(handle, args.id, caps, url=args.url, token=args.token,
                                  model="reverse-1", provider="example",
                                  metadata={"language": "python"},
                                  concurrency=args.concurrency, block_ms=args.block_ms,
                                  heartbeat_interval=args.heartbeat_seconds))
    logging.info("stopped: %d completed, %d failed, %d abandoned",
                 stats.completed, stats.failed, stats.abandoned)


if __name__ == "__main__":
    main()
