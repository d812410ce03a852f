"""redis_outage.py — Redis dies in the middle of a run and comes back: two cpd processes, 10
agents, 2,000 tasks; redis-server (AOF, appendfsync always) is killed with SIGKILL mid-run and
restarted on the same port two seconds later. While it is down the API answers 503
storage_unavailable; cpd reconnects by itself; agents and submitters retry; in the end every task
is completed exactly once.

Lost replies. A script that ran inside Redis just before the kill may have lost its reply (cpd
then answers 503, or the agent's connection fails). The agents treat this as a real client must:
* a retried start/complete answered 409 means the earlier try was applied: counted as done
  (the final check then proves the task is completed, on attempt 1, and assigned to that agent);
* a failed claim needs nothing: a task it may have claimed is released by the cpd process that
  sent it once that process reaches Redis again (its claim token, docs/redis.md "Lost replies"),
  so every task still ends on attempt 1 with the agent whose claim reply said so;
* a failed submit that is retried may have created the task already: such a task may exist
  twice, both copies must be completed exactly once (no other duplicates are accepted).
The counts of these cases are printed; they are usually 0 (the window is microseconds)."""

import threading
import time
import uuid

from cpdtest import CpdTestCase, main
from rediscluster import (DurableRedis, Ledger, join_all, shared_prefix_config, start_fleet,
                          start_submitters, stats, verify_exactly_once, wait_all_done)

N_TASKS = 2000
N_AGENTS = 10
DOWN_S = 2.0


class Outage(CpdTestCase):
    start_server = False

    def setUp(self):
        super().setUp()
        self.redis = DurableRedis().start()
        self.addCleanup(self.redis.cleanup)
        cfg = shared_prefix_config("outage:%s:" % uuid.uuid4().hex[:10], timeout_ms=1000)
        self.a = self.start_cpd(store="redis", redis=self.redis, config=cfg)
        self.b = self.start_cpd(store="redis", redis=self.redis, config=cfg)
        self.ca, self.cb = self.a.client(), self.b.client()

    def test_redis_killed_and_restarted_mid_run(self):
        t0 = time.monotonic()
        ports = [self.a.port, self.b.port]
        ids = ["agent-%02d" % i for i in range(N_AGENTS)]
        for i, aid in enumerate(ids):
            self.register(aid, client=(self.ca, self.cb)[i % 2])
        ledger, stop = Ledger(), threading.Event()
        agents = start_fleet(ledger, stop, ports, ids, lambda i: 0 if i % 2 else 1000)
        subs = start_submitters(ledger, ports, N_TASKS)
        try:
            # Kill Redis once a third of the work is done (submitters still running).
            deadline = time.monotonic() + 30
            while ledger.completed < N_TASKS // 3:
                self.assertLess(time.monotonic(), deadline, "the run did not get going")
                time.sleep(0.01)
            n_before = ledger.completed
            self.redis.kill()
            killed_at = time.monotonic()
            # While it is down: 503 storage_unavailable from both processes, stats too.
            time.sleep(0.3)
            for c in (self.ca, self.cb):
                r = c.get("stats")
                self.assertError(r, 503, "storage_unavailable")
                r = c.post("tasks", {"task_type": "while-down"})
                self.assertError(r, 503, "storage_unavailable")
            time.sleep(max(0.0, DOWN_S - (time.monotonic() - killed_at)))
            n_down = ledger.completed - n_before
            self.redis.start()
            restarted_at = time.monotonic()
            # No cpd restart: both processes answer again within the reconnect backoff.
            for c in (self.ca, self.cb):
                deadline = time.monotonic() + 10
                while True:
                    r = c.get("stats")
                    if r.status == 200:
                        break
                    self.assertError(r, 503, "storage_unavailable")
                    self.assertLess(time.monotonic(), deadline, "cpd did not reconnect")
                    time.sleep(0.05)
            back_s = time.monotonic() - restarted_at
            wait_all_done(self.cb, subs, time.monotonic() + 45)
        finally:
            stop.set()
            join_all(self, subs + agents, 10)
        # The pause was real: the agents saw it, and almost nothing completed meanwhile (replies
        # already in flight at the kill may still arrive; a normal 2 s completes ~700 tasks).
        self.assertGreater(ledger.n503, 0, "no 503 storage_unavailable seen during the outage")
        self.assertLessEqual(n_down, 2 * N_AGENTS)
        self.assertEqual(len(ledger.submitted), N_TASKS)
        tasks = verify_exactly_once(self, [self.ca, self.cb], ledger, agents,
                                    ["s%d" % i for i in range(4)], N_TASKS)
        # The processes say they are on Redis, available, no fallback.
        for c in (self.ca, self.cb):
            s = stats(c)["storage"]
            self.assertEqual((s["backend"], s["available"], s["fallback"]), ("redis", True, False))
        for cpd in (self.a, self.b):
            self.assertIn("reconnecting", cpd.stderr())
            self.assertIn("back after", cpd.stderr())
        print("outage run %.1fs: 503s %d, connection errors %d, retried 409s %d, "
              "ambiguous submits %d (duplicated %d), reconnected %.2fs after restart"
              % (time.monotonic() - t0, ledger.n503, ledger.n_net, len(ledger.retry_409),
                 len(ledger.ambiguous), len(tasks) - N_TASKS, back_s))
        self.a.stop()
        self.b.stop()


if __name__ == "__main__":
    main()
