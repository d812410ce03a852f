"""redis_task_features.py — the task features of ABI 2.4 with two cpd processes on one Redis:
a task delayed or backed off through one process wakes a claim held on the other when it becomes
due (the reap that makes it due publishes "pending", as a submit does — no polling); the same
idempotency key sent through both processes at once makes one task (one 201, one 200, the same
id); a lease extended through one process holds against the other's reaper."""

import threading
import time
import uuid

from cpdtest import CpdTestCase, in_thread, main, shared_redis
from rediscluster import shared_prefix_config, stats

HOLD_MS = 10000


class TwoProcesses(CpdTestCase):
    start_server = False

    def setUp(self):
        super().setUp()
        self.redis = shared_redis()
        cfg = shared_prefix_config("feat:%s:" % uuid.uuid4().hex[:10])
        self.a = self.start_cpd(store="redis", redis=self.redis, config=cfg)
        self.b = self.start_cpd(store="redis", redis=self.redis, config=cfg)
        self.ca, self.cb = self.a.client(), self.b.client()

    def tearDown(self):
        self.a.stop()
        self.b.stop()
        super().tearDown()

    def hold(self, cpd, agent_id):
        h = in_thread(cpd.client().post, "tasks/claim", {"agent_id": agent_id, "block_ms": HOLD_MS})
        deadline = time.monotonic() + 5
        while stats(cpd.client())["scheduler"]["held_claims"] != 1:
            self.assertLess(time.monotonic(), deadline, "the claim was never held")
            time.sleep(0.01)
        return h

    def test_due_task_wakes_a_claim_held_on_the_other_process(self):
        cap = "due-" + uuid.uuid4().hex[:6]
        self.register("w1", client=self.cb, capabilities=[cap])
        h = self.hold(self.b, "w1")
        t0 = time.monotonic()
        tid = self.submit(client=self.ca, required_capabilities=[cap], delay_seconds=1.5)
        r, _ = h.join(HOLD_MS / 1000.0 + 5)
        waited = time.monotonic() - t0
        self.assertIsNotNone(r.body["task"], "the held claim timed out without the task")
        self.assertEqual(r.body["task"]["id"], tid)
        self.assertGreaterEqual(waited, 1.4)
        self.assertLess(waited, 3.0)

        # A backed-off requeue (failed through a) wakes the claim held on b when it is due.
        self.assertStatus(self.ca.post("tasks/%s/fail" % tid, {"agent_id": "w1"}), 200)
        tid2 = self.submit(client=self.ca, required_capabilities=[cap], max_retries=3,
                           retry_backoff={"type": "fixed", "seconds": 1})
        self.assertEqual(self.claim("w1", client=self.ca)["id"], tid)  # the plain retry first
        self.assertStatus(self.ca.post("tasks/%s/complete" % tid, {"agent_id": "w1"}), 200)
        self.assertEqual(self.claim("w1", client=self.ca)["id"], tid2)
        self.assertStatus(self.ca.post("tasks/%s/fail" % tid2, {"agent_id": "w1"}), 200)
        t0 = time.monotonic()
        h = self.hold(self.b, "w1")
        r, _ = h.join(HOLD_MS / 1000.0 + 5)
        self.assertEqual(r.body["task"]["id"], tid2)
        self.assertLess(time.monotonic() - t0, 3.0)

    def test_one_key_through_both_processes_makes_one_task(self):
        for round_ in range(5):
            key = "order-%d-%s" % (round_, uuid.uuid4().hex[:6])
            results = [None, None]
            barrier = threading.Barrier(2)

            def send(i, client):
                barrier.wait()
                results[i] = client.post("tasks", {"task_type": "pay", "payload": {"n": i}},
                                         headers={"Idempotency-Key": key})

            threads = [threading.Thread(target=send, args=(i, c))
                       for i, c in enumerate((self.a.client(), self.b.client()))]
            for t in threads:
                t.start()
            for t in threads:
                t.join(10)
            statuses = sorted(r.status for r in results)
            self.assertEqual(statuses, [200, 201], [r.body for r in results])
            self.assertEqual(results[0].body["task_id"], results[1].body["task_id"])
        self.assertEqual(stats(self.ca)["scheduler"]["total"], 5)

    def test_extended_lease_holds_against_either_reaper(self):
        cap = "lease-" + uuid.uuid4().hex[:6]
        self.register("w2", client=self.ca, capabilities=[cap])
        tid = self.submit(client=self.ca, required_capabilities=[cap], timeout_seconds=1)
        self.claim("w2", client=self.ca)
        r = self.cb.post("tasks/%s/extend" % tid, {"agent_id": "w2", "seconds": 4})
        self.assertStatus(r, 200)
        time.sleep(2.0)
        self.assertEqual(self.task(tid, client=self.ca)["status"], "claimed")
        deadline = time.monotonic() + 6
        while self.task(tid, client=self.cb)["status"] != "pending":
            self.assertLess(time.monotonic(), deadline, "never timed out")
            time.sleep(0.1)


if __name__ == "__main__":
    main()
