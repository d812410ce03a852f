"""redis_two_processes.py — two cpd processes on one Redis behave as one control plane: 10 agents
(registered through either process) claim, start and complete 2,000 tasks submitted through both
processes; every task is completed exactly once, none lost, none handed to two agents; a task
submitted on one process wakes a claim held on the other at once."""

import threading
import time
import uuid

from cpdtest import CpdTestCase, in_thread, main, shared_redis
from rediscluster import (join_all, shared_prefix_config, start_fleet, start_submitters, stats,
                          verify_exactly_once, wait_all_done, Ledger)

N_TASKS = 2000
N_AGENTS = 10
HOLD_MS = 10000  # a held claim's block time in the wake-up check


class TwoProcesses(CpdTestCase):
    start_server = False

    def setUp(self):
        super().setUp()
        self.redis = shared_redis()
        prefix = "two:%s:" % uuid.uuid4().hex[:10]
        cfg = shared_prefix_config(prefix)
        self.a = self.start_cpd(store="redis", redis=self.redis, config=cfg)
        self.b = self.start_cpd(store="redis", redis=self.redis, config=cfg)
        self.ca, self.cb = self.a.client(), self.b.client()

    def stop_both(self):
        # A clean SIGTERM exit: no sanitizer report, no leak (Cpd.stop asserts both).
        self.a.stop()
        self.b.stop()

    def held_claim_wakes(self, holder, submitter, agent_id, cap):
        """A claim held on `holder` is answered with the task submitted on `submitter`, within a
        small fraction of its block time."""
        h = in_thread(holder.client().post, "tasks/claim",
                      {"agent_id": agent_id, "block_ms": HOLD_MS})
        # The claim is held (not answered null, not polling) before the task exists.
        deadline = time.monotonic() + 5
        while stats(holder.client())["scheduler"]["held_claims"] != 1:
            self.assertLess(time.monotonic(), deadline, "the claim was never held")
            time.sleep(0.01)
        t0 = time.monotonic()
        tid = self.submit(client=submitter.client(), task_type="wake",
                          required_capabilities=[cap])
        r, _ = h.join(HOLD_MS / 1000.0 + 5)
        elapsed = time.monotonic() - t0
        self.assertStatus(r, 200)
        self.assertIsNotNone(r.body["task"], "the held claim timed out without the task")
        self.assertEqual(r.body["task"]["id"], tid)
        self.assertEqual(r.body["task"]["assigned_agent"], agent_id)
        self.assertLess(elapsed, 1.0, "wake-up across processes took %.3fs" % elapsed)
        self.assertEqual(stats(holder.client())["scheduler"]["held_claims"], 0)
        return elapsed

    def test_submit_on_one_process_wakes_claim_held_on_other(self):
        cap = "wake-" + uuid.uuid4().hex[:6]
        self.register("w1", client=self.ca, capabilities=[cap])
        self.register("w2", client=self.cb, capabilities=[cap])
        e1 = self.held_claim_wakes(self.b, self.a, "w1", cap)
        e2 = self.held_claim_wakes(self.a, self.b, "w2", cap)
        print("wake-up A->B %.1f ms, B->A %.1f ms" % (e1 * 1000, e2 * 1000))
        self.stop_both()

    def test_room_on_one_process_wakes_claim_held_at_the_limit_on_other(self):
        """An agent at its limit holds a claim on B; its task completes through A: A's Redis
        script says "room" on the pub/sub channel, and B's held claim takes the next task."""
        cap = "room-" + uuid.uuid4().hex[:6]
        self.register("full", client=self.ca, capabilities=[cap], max_concurrent_tasks=1)
        t1 = self.submit(client=self.ca, required_capabilities=[cap])
        t2 = self.submit(client=self.ca, required_capabilities=[cap])
        self.assertEqual(self.claim("full", client=self.ca)["id"], t1)
        h = in_thread(self.b.client().post, "tasks/claim",
                      {"agent_id": "full", "block_ms": HOLD_MS})
        deadline = time.monotonic() + 5
        while stats(self.cb)["scheduler"]["held_claims"] != 1:
            self.assertLess(time.monotonic(), deadline, "the claim at the limit was not held")
            time.sleep(0.01)
        t0 = time.monotonic()
        self.assertStatus(self.ca.post("tasks/%s/complete" % t1, {"agent_id": "full"}), 200)
        r, _ = h.join(HOLD_MS / 1000.0 + 5)
        elapsed = time.monotonic() - t0
        self.assertStatus(r, 200)
        self.assertEqual(r.body["task"] and r.body["task"]["id"], t2)
        self.assertLess(elapsed, 1.0, "room across processes took %.3fs" % elapsed)
        print("room A->B %.1f ms" % (elapsed * 1000))
        self.stop_both()

    def test_2000_tasks_10_agents_two_processes_exactly_once(self):
        t0 = time.monotonic()
        ports = [self.a.port, self.b.port]
        ids = ["agent-%02d" % i for i in range(N_AGENTS)]
        for i, aid in enumerate(ids):  # half through each process
            self.register(aid, client=(self.ca, self.cb)[i % 2])
        ledger, stop = Ledger(), threading.Event()
        # Even agents long-poll (block_ms), odd ones claim immediately and retry.
        agents = start_fleet(ledger, stop, ports, ids, lambda i: 0 if i % 2 else 2000)
        subs = start_submitters(ledger, ports, N_TASKS)
        try:
            wait_all_done(self.cb, subs, time.monotonic() + 50)
        finally:
            stop.set()
            join_all(self, subs + agents, 10)
        run_s = time.monotonic() - t0
        self.assertEqual(len(ledger.submitted), N_TASKS)
        # Nothing failed in this run, so no retry of any kind happened.
        self.assertEqual((ledger.n503, ledger.n_net, ledger.ambiguous, ledger.retry_409),
                         (0, 0, set(), []))
        verify_exactly_once(self, [self.ca, self.cb], ledger, agents,
                            ["s%d" % i for i in range(4)], N_TASKS)
        # Both processes did real work for the fleet: every agent completed some tasks.
        for a in agents:
            self.assertGreater(len(a.completed), 0, a.agent_id)
        print("2000 tasks through 2 processes in %.1fs (%s)"
              % (run_s, ", ".join(str(len(a.completed)) for a in agents)))
        self.stop_both()


if __name__ == "__main__":
    main()
