"""test_strategies.py — strategies that see what they place (ABI 2.4 selection context), with the
example plugin examples/strategies/region_affinity.c (built in-tree into <build>/examples): it
prefers agents whose metadata.region equals the task's metadata.region, or GET
/agents/select's hint.region. Every choice below is one the default tie-break (agent_id order,
least loaded) would make differently, so it proves the strategy saw the task or the hints: on a
submitted task offered to held claims, on a task the reaper requeued (read back from the store
before it is offered), and on select.
"""

import os
import time
import unittest

import cpdtest
from cpdtest import in_thread

EXAMPLES = os.path.join(cpdtest.BUILD_DIR, "examples")
REGION = os.path.join(EXAMPLES, "region_affinity.so")


class TaskAwareStrategies(cpdtest.CpdTestCase):
    cpd_config = {"selection": {"default": "least_loaded",
                                "plugins": ["least_loaded", {"plugin": REGION}]}}

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(REGION):
            raise unittest.SkipTest("%s is not built" % REGION)
        super().setUpClass()

    def setUp(self):
        super().setUp()
        self.cap = self.uid("cap")
        # "a-eu" sorts first: the default tie-break would always pick it.
        self.register("a-eu", capabilities=[self.cap], metadata={"region": "eu"})
        self.register("b-us", capabilities=[self.cap], metadata={"region": "us"})

    def wait_held(self, n):
        cpdtest.wait_until(lambda: self.c.get("stats").body["scheduler"]["held_claims"] == n,
                           10.0, what="%d held claims" % n)

    def hold_both(self, block_ms=8000):
        ha = in_thread(self.claim, "a-eu", client=self.cpd.client(), block_ms=block_ms)
        hb = in_thread(self.claim, "b-us", client=self.cpd.client(), block_ms=block_ms)
        self.wait_held(2)
        return {"a-eu": ha, "b-us": hb}

    def test_select_follows_the_hint(self):
        base = "agents/select?strategy=region_affinity&capability=" + self.cap
        self.assertEqual(self.c.get(base).body["agent_id"], "a-eu")  # no hint: agent_id order
        r = self.c.get(base + "&hint.region=us")
        self.assertStatus(r, 200)
        self.assertEqual(r.body["agent_id"], "b-us")
        self.assertEqual(self.c.get(base + "&hint.region=eu").body["agent_id"], "a-eu")
        # A hint nobody matches: every candidate is equal on it.
        self.assertEqual(self.c.get(base + "&hint.region=ap").body["agent_id"], "a-eu")
        # Other strategies ignore hints.
        r = self.c.get("agents/select?capability=%s&hint.region=us" % self.cap)
        self.assertEqual(r.body["agent_id"], "a-eu")

    def test_held_claims_are_offered_by_the_tasks_region(self):
        held = self.hold_both()
        us = self.submit(task_type="t", required_capabilities=[self.cap],
                         metadata={"region": "us"}, strategy="region_affinity")
        task, _ = held["b-us"].join()
        self.assertEqual(task["id"], us)
        self.wait_held(1)  # a-eu still waits
        eu = self.submit(task_type="t", required_capabilities=[self.cap],
                         metadata={"region": "eu"}, strategy="region_affinity")
        task, _ = held["a-eu"].join()
        self.assertEqual(task["id"], eu)

    def test_a_requeued_task_is_placed_by_its_region(self):
        # A third agent takes a "us" task and lets it time out; the reaper puts it back to
        # pending, and the held claims are offered it as read back from the store.
        self.register("c-any", capabilities=[self.cap])
        tid = self.submit(task_type="t", required_capabilities=[self.cap], timeout_seconds=1,
                          metadata={"region": "us"}, strategy="region_affinity")
        self.assertEqual(self.claim("c-any")["id"], tid)
        held = self.hold_both(block_ms=10000)
        task, _ = held["b-us"].join()
        self.assertEqual(task["id"], tid)
        self.assertEqual(task["retries"], 1)
        self.assertEqual(task["error"], "timeout")
        self.assertEqual(self.task(tid)["assigned_agent"], "b-us")


if __name__ == "__main__":
    unittest.main(verbosity=2)
