"""test_affinity_hold.py — affinity holds with the real cpd (both stores): a turn submitted with
an affinity_key under the `affinity` strategy is held for its warm agent (the agent that
completed the key last) for tasks.affinity_hold_seconds. The warm agent's claim takes it before
older work in the queue; other agents' claims skip it while held and are woken when the hold
ends (no polling: the claim's next_due); the warm agent's claim held for room is the one that
gets it when its slot frees; least_loaded tasks and a hold of 0 are not held."""

import time
import unittest

import cpdtest
from cpdtest import in_thread

HOLD_S = 1.5


class AffinityHold(cpdtest.CpdTestCase):
    cpd_config = {"tasks": {"affinity_hold_seconds": HOLD_S}}

    def setUp(self):
        super().setUp()
        self.cap = self.uid("cap")
        self.warm, self.other = "w-" + self.cap, "o-" + self.cap
        for agent_id in (self.warm, self.other):
            self.register(agent_id, capabilities=[self.cap], max_concurrent_tasks=1)
        self.key = self.uid("conv")
        # The first turn: only the warm agent claims it; its completion makes it warm.
        tid = self.turn()
        self.assertEqual(self.claim(self.warm)["id"], tid)
        self.complete(tid, self.warm)

    def held(self):
        return self.c.get("stats").body["scheduler"]["held_claims"]

    def turn(self, strategy="affinity"):
        return self.submit(task_type="turn", required_capabilities=[self.cap],
                           strategy=strategy, affinity_key=self.key)

    def filler(self):
        return self.submit(task_type="filler", required_capabilities=[self.cap],
                           strategy="least_loaded")

    def complete(self, tid, agent_id):
        r = self.c.post("tasks/%s/complete" % tid, {"agent_id": agent_id, "result": {}})
        self.assertStatus(r, 200)

    def holds(self):
        for line in self.c.get("/metrics").body.splitlines():
            if line.startswith("cp_affinity_holds_total "):
                return int(float(line.split()[1]))
        self.fail("no cp_affinity_holds_total")

    def test_warm_agent_takes_its_turn_before_older_work(self):
        older = [self.filler() for _ in range(3)]
        before = self.holds()
        tid = self.turn()
        self.assertEqual(self.holds(), before + 1)
        self.assertEqual(self.claim(self.warm)["id"], tid)
        self.assertEqual(self.claim(self.other)["id"], older[0])  # the queue, in order

    def test_others_skip_it_until_the_hold_ends_then_are_woken(self):
        busy = self.filler()
        self.assertEqual(self.claim(self.warm)["id"], busy)  # the warm agent is at its limit
        before = self.held()
        h = in_thread(self.claim, self.other, client=self.cpd.client(), block_ms=10000)
        cpdtest.wait_until(lambda: self.held() == before + 1, 10.0, what="a held claim")
        t0 = time.monotonic()
        tid = self.turn()
        task, _ = h.join(timeout=15)
        waited = time.monotonic() - t0
        self.assertEqual(task["id"], tid)  # nothing starves: after the hold, anyone's
        self.assertGreater(waited, HOLD_S - 0.3, "the hold was not respected")
        self.assertLess(waited, HOLD_S + 5, "nobody was woken when the hold ended")
        self.complete(tid, self.other)
        self.complete(busy, self.warm)

    def test_the_warm_agents_waiting_claim_gets_it_when_its_slot_frees(self):
        busy = self.filler()
        self.assertEqual(self.claim(self.warm)["id"], busy)
        before = self.held()
        hw = in_thread(self.claim, self.warm, client=self.cpd.client(), block_ms=10000)
        ho = in_thread(self.claim, self.other, client=self.cpd.client(), block_ms=10000)
        cpdtest.wait_until(lambda: self.held() == before + 2, 10.0, what="2 held claims")
        tid = self.turn()
        time.sleep(0.3)
        self.assertTrue(ho.thread.is_alive(), "another agent took a held turn")
        self.complete(busy, self.warm)  # its slot frees: its held claim takes the turn
        task, waited = hw.join(timeout=15)
        self.assertEqual(task["id"], tid)
        self.assertTrue(ho.thread.is_alive())
        filler = self.filler()
        task, _ = ho.join(timeout=15)
        self.assertEqual(task["id"], filler)

    def test_least_loaded_turns_are_not_held(self):
        busy = self.filler()
        self.assertEqual(self.claim(self.warm)["id"], busy)
        before = self.holds()
        tid = self.turn(strategy="least_loaded")
        self.assertEqual(self.claim(self.other)["id"], tid)
        self.assertEqual(self.holds(), before)


class NoHold(cpdtest.CpdTestCase):
    cpd_config = {"tasks": {"affinity_hold_seconds": 0}}

    def test_hold_zero_holds_nothing(self):
        cap = self.uid("cap")
        warm, other = "w-" + cap, "o-" + cap
        for agent_id in (warm, other):
            self.register(agent_id, capabilities=[cap], max_concurrent_tasks=1)
        key = self.uid("conv")
        fields = dict(task_type="turn", required_capabilities=[cap], strategy="affinity",
                      affinity_key=key)
        tid = self.submit(**fields)
        self.assertEqual(self.claim(warm)["id"], tid)
        r = self.c.post("tasks/%s/complete" % tid, {"agent_id": warm, "result": {}})
        self.assertStatus(r, 200)
        tid = self.submit(**fields)
        self.assertEqual(self.claim(other)["id"], tid)


if __name__ == "__main__":
    unittest.main(verbosity=2)
