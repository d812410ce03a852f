"""redis_affinity.py — prompt-cache affinity across processes: two cpd processes on one Redis
share the key -> agent memory. A turn completed through one process sends the next turn,
submitted and placed by the other process among claimers held there, to the same agent (a
per-process memory would not: least_loaded picks another agent). The memory is one Redis key per
affinity key, with the task's TTL. An affinity hold is the store's: a turn submitted through one
process, where only another agent waits, is held and reaches the warm agent's claim waiting on
the other process."""

import time
import uuid

import cpdtest
from cpdtest import CpdTestCase, in_thread, main, shared_redis
from rediscluster import shared_prefix_config, stats


class AffinityAcrossProcesses(CpdTestCase):
    start_server = False

    def setUp(self):
        super().setUp()
        self.redis = shared_redis()
        self.prefix = "aff:%s:" % uuid.uuid4().hex[:10]
        cfg = shared_prefix_config(self.prefix)
        self.a = self.start_cpd(store="redis", redis=self.redis, config=cfg)
        self.b = self.start_cpd(store="redis", redis=self.redis, config=cfg)
        self.ca, self.cb = self.a.client(), self.b.client()

    def hold(self, cpd, client, agents):
        handles = {x: in_thread(self.claim, x, client=cpd.client(), block_ms=8000)
                   for x in agents}
        cpdtest.wait_until(lambda: stats(client)["scheduler"]["held_claims"] == len(agents),
                           10.0, what="%d held claims" % len(agents))
        return handles

    def test_the_other_process_sends_the_next_turn_to_the_warm_agent(self):
        cap = self.uid("cap")
        a, b, c = ("a-" + cap, "b-" + cap, "c-" + cap)
        for x in (a, b, c):
            self.register(x, client=self.ca, capabilities=[cap], max_concurrent_tasks=1)
        key = self.uid("conv")
        # Turn 1 through process A: only c waits there; c completes it (through A).
        h = self.hold(self.a, self.ca, [c])
        t1 = self.submit(client=self.ca, task_type="turn", required_capabilities=[cap],
                         affinity_key=key, affinity_ttl_seconds=120, strategy="affinity")
        task, _ = h[c].join()
        self.assertEqual(task["id"], t1)
        r = self.ca.post("tasks/%s/complete" % t1, {"agent_id": c, "result": {}})
        self.assertStatus(r, 200)
        # The memory is one Redis key with the task's TTL, written once the completion is
        # applied (after its reply went out: poll, bounded).
        def aff_keys():
            return self.redis.command("KEYS", "*" + self.prefix + "*aff:" + key)
        cpdtest.wait_until(lambda: len(aff_keys()) == 1, 5.0, what="the affinity key in Redis")
        keys = aff_keys()
        self.assertEqual(len(keys), 1, keys)
        name = keys[0].decode() if isinstance(keys[0], bytes) else keys[0]
        stored = self.redis.command("GET", name)
        self.assertEqual(stored.decode() if isinstance(stored, bytes) else stored, c)
        pttl = self.redis.command("PTTL", name)
        self.assertTrue(100000 < int(pttl) <= 120000, pttl)
        # Turn 2 through process B, all three held on B: c gets it, though least_loaded there
        # would pick a (fewest completed, agent_id first).
        h = self.hold(self.b, self.cb, [a, b, c])
        t2 = self.submit(client=self.cb, task_type="turn", required_capabilities=[cap],
                         affinity_key=key, strategy="affinity")
        task, _ = h[c].join()
        self.assertEqual(task["id"], t2)
        self.assertEqual(self.task(t2, client=self.cb)["assigned_agent"], c)
        # The others are still held; give them fillers so the test ends cleanly.
        for x in (a, b):
            self.submit(client=self.cb, task_type="filler", required_capabilities=[cap])
        for x in (a, b):
            task, _ = h[x].join()
            self.assertIsNotNone(task)
        self.a.stop()
        self.b.stop()

    def test_a_turn_held_through_one_process_reaches_the_warm_claim_held_on_the_other(self):
        cap = self.uid("cap")
        warm, other = "w-" + cap, "o-" + cap
        for x in (warm, other):
            self.register(x, client=self.ca, capabilities=[cap], max_concurrent_tasks=1)
        key = self.uid("conv")
        fields = dict(task_type="turn", required_capabilities=[cap], affinity_key=key,
                      strategy="affinity")
        t1 = self.submit(client=self.ca, **fields)
        self.assertEqual(self.claim(warm, client=self.ca)["id"], t1)
        r = self.ca.post("tasks/%s/complete" % t1, {"agent_id": warm, "result": {}})
        self.assertStatus(r, 200)
        cpdtest.wait_until(lambda: self.redis.command("KEYS", "*" + self.prefix + "*aff:" + key),
                           5.0, what="the affinity key in Redis")
        # The other agent waits on A, the warm agent on B; the turn is submitted through A.
        ho = self.hold(self.a, self.ca, [other])
        hw = self.hold(self.b, self.cb, [warm])
        t2 = self.submit(client=self.ca, **fields)
        task, _ = hw[warm].join()
        self.assertEqual(task["id"], t2)
        # A's claim skipped it (held for the warm agent) and still waits.
        self.assertTrue(ho[other].thread.is_alive())
        filler = self.submit(client=self.ca, task_type="filler", required_capabilities=[cap])
        task, _ = ho[other].join()
        self.assertEqual(task["id"], filler)
        self.a.stop()
        self.b.stop()


if __name__ == "__main__":
    main()
