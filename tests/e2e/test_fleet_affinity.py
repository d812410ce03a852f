"""test_fleet_affinity.py — prompt-cache affinity and the headroom strategy with the real cpd
(both stores): submit validates affinity_key / affinity_ttl_seconds and keeps them with the task;
among held claimers the `affinity` strategy sends a task to the agent that last completed its key
(an agent least_loaded would not pick), falls back to least_loaded when that agent is busy (and
then remembers the new one), forgets after the TTL; `headroom` picks the candidate with the most
free slots; GET /plugins lists both."""

import time
import unittest

import cpdtest
from cpdtest import in_thread


class Affinity(cpdtest.CpdTestCase):
    cpd_config = {"tasks": {"max_affinity_ttl_seconds": 3600}}

    def setUp(self):
        super().setUp()
        self.cap = self.uid("cap")
        # "a" sorts first and stays least loaded: least_loaded's pick whenever it waits.
        self.ids = ["a-" + self.cap, "b-" + self.cap, "c-" + self.cap]
        for agent_id in self.ids:
            self.register(agent_id, capabilities=[self.cap], max_concurrent_tasks=1)

    def held(self):
        return self.c.get("stats").body["scheduler"]["held_claims"]

    def hold(self, agents, block_ms=8000):
        before = self.held()
        handles = {a: in_thread(self.claim, a, client=self.cpd.client(), block_ms=block_ms)
                   for a in agents}
        cpdtest.wait_until(lambda: self.held() == before + len(agents), 10.0,
                           what="%d held claims" % (before + len(agents)))
        return handles

    def turn(self, key, agents, strategy="affinity", **extra):
        """Submit one turn while `agents` hold claims; returns the agent that got it (the other
        claims are released by a task of no interest to them: a cancel-free drain)."""
        handles = self.hold(agents)
        fields = dict(task_type="turn", required_capabilities=[self.cap], strategy=strategy)
        if key:
            fields["affinity_key"] = key
        fields.update(extra)
        tid = self.submit(**fields)
        got = None
        deadline = time.monotonic() + 10
        while got is None and time.monotonic() < deadline:
            for a, h in handles.items():
                if not h.thread.is_alive():
                    task, _ = h.join()
                    if task and task["id"] == tid:
                        got = a
            time.sleep(0.01)
        self.assertIsNotNone(got, "nobody got the turn")
        # The others still wait: give each a filler task it completes, so all are idle again.
        for a, h in handles.items():
            if a == got:
                continue
            filler = self.submit(task_type="filler", required_capabilities=[self.cap],
                                 strategy="least_loaded")
            task, _ = h.join()
            self.assertIsNotNone(task)
            self.complete(task["id"], a)
        return tid, got

    def complete(self, tid, agent_id):
        r = self.c.post("tasks/%s/complete" % tid, {"agent_id": agent_id, "result": {}})
        self.assertStatus(r, 200)

    # ---- submit ----

    def test_submit_keeps_the_key_and_checks_it(self):
        tid = self.submit(affinity_key="conv:42/a_b-c.d@e", affinity_ttl_seconds=90,
                          metadata={"region": "eu"})
        md = self.task(tid)["metadata"]
        self.assertEqual(md["affinity_key"], "conv:42/a_b-c.d@e")
        self.assertEqual(md["affinity_ttl_seconds"], 90)
        self.assertEqual(md["region"], "eu")
        tid = self.submit(affinity_key="k1")  # the configured default TTL (600 s)
        self.assertEqual(self.task(tid)["metadata"]["affinity_ttl_seconds"], 600)
        for bad, mention in (({"affinity_key": "has space"}, "affinity_key"),
                             ({"affinity_key": "x" * 129}, "affinity_key"),
                             ({"affinity_key": 7}, "affinity_key"),
                             ({"affinity_key": ""}, "affinity_key"),
                             ({"affinity_ttl_seconds": 5}, "affinity_ttl_seconds"),
                             ({"affinity_key": "k", "affinity_ttl_seconds": 0},
                              "affinity_ttl_seconds"),
                             ({"affinity_key": "k", "affinity_ttl_seconds": 3601},
                              "affinity_ttl_seconds"),
                             ({"affinity_key": "k", "affinity_ttl_seconds": "9"},
                              "affinity_ttl_seconds")):
            body = dict(bad, task_type="t")
            r = self.c.post("tasks", body)
            self.assertError(r, 400, "invalid_field", mention)
        r = self.c.post("tasks/batch", {"tasks": [{"task_type": "t", "affinity_key": "k2"},
                                                  {"task_type": "t", "affinity_key": "b a d"}]})
        self.assertStatus(r, 200)
        self.assertEqual(r.body["created"], 1)
        self.assertEqual(r.body["failed"], 1)
        first = r.body["results"][0]["task_id"]
        self.assertEqual(self.task(first)["metadata"]["affinity_key"], "k2")

    # ---- placing ----

    def test_turns_follow_the_warm_agent(self):
        a, b, c = self.ids
        key = self.uid("conv")
        # Turn 1: only c waits, so c takes it and completes it: c is now the warm agent (and,
        # with one completion more than a and b, the last least_loaded would pick).
        tid, got = self.turn(key, [c])
        self.assertEqual(got, c)
        self.complete(tid, c)
        for _ in range(3):
            tid, got = self.turn(key, [a, b, c])
            self.assertEqual(got, c, "the turn did not reach the warm agent")
            self.complete(tid, c)
        # Controls: another key, no key, or the same key under least_loaded go to a.
        tid, got = self.turn(self.uid("other"), [a, b, c])
        self.assertEqual(got, a)
        self.complete(tid, a)
        tid, got = self.turn(None, [a, b, c])
        self.assertEqual(got, a)
        self.complete(tid, a)
        tid, got = self.turn(key, [a, b, c], strategy="least_loaded")
        self.assertNotEqual(got, c)
        self.complete(tid, got)
        # /metrics counts the choices made for keyed tasks: 3 warm turns, the least_loaded one
        # on another agent while c was remembered, the other key cold (nothing remembered). The
        # first turn had one claimer waiting: no choice, not counted.
        self.assertEqual(self.placements(), {"warm": 3, "other": 1, "cold": 1})

    def placements(self):
        r = self.c.get("/metrics")
        self.assertStatus(r, 200)
        text = r.body
        out = {}
        for line in text.splitlines():
            if line.startswith('cp_affinity_placements_total{result="'):
                name = line.split('"')[1]
                out[name] = int(float(line.rsplit(" ", 1)[1]))
        return out

    def test_busy_warm_agent_falls_back_and_the_new_agent_becomes_warm(self):
        a, b, c = self.ids
        key = self.uid("conv")
        tid, got = self.turn(key, [c])
        self.complete(tid, c)
        # c is busy with other work (at its limit of 1): it cannot be offered the turn.
        busy = self.submit(task_type="other", required_capabilities=[self.cap])
        self.assertEqual(self.claim(c)["id"], busy)
        tid, got = self.turn(key, [a, b])
        self.assertEqual(got, a)  # least_loaded among those waiting
        self.complete(tid, a)
        self.complete(busy, c)
        # a completed the key last: a is warm now, even with b waiting and b less loaded.
        tid, got = self.turn(key, [b, a])
        self.assertEqual(got, a)
        self.complete(tid, a)

    def test_memory_ends_with_the_ttl(self):
        a, b, c = self.ids
        key = self.uid("conv")
        tid, _ = self.turn(key, [c], affinity_ttl_seconds=0.5)
        self.complete(tid, c)
        tid, got = self.turn(key, [a, b, c], affinity_ttl_seconds=0.5)
        self.assertEqual(got, c)
        self.complete(tid, c)
        time.sleep(1.0)
        tid, got = self.turn(key, [a, b, c])
        self.assertEqual(got, a, "the remembered agent outlived its TTL")
        self.complete(tid, a)


class Headroom(cpdtest.CpdTestCase):
    def test_most_free_slots_wins(self):
        cap = self.uid("cap")
        small, big = "a-" + cap, "b-" + cap
        self.register(small, capabilities=[cap], max_concurrent_tasks=1)
        self.register(big, capabilities=[cap], max_concurrent_tasks=8)
        first = self.submit(task_type="t", required_capabilities=[cap])
        self.assertEqual(self.claim(big)["id"], first)  # big: 7 free slots, 1 in flight
        h = {x: in_thread(self.claim, x, client=self.cpd.client(), block_ms=8000)
             for x in (small, big)}
        cpdtest.wait_until(lambda: self.c.get("stats").body["scheduler"]["held_claims"] == 2,
                           10.0, what="2 held claims")
        tid = self.submit(task_type="t", required_capabilities=[cap], strategy="headroom")
        task, _ = h[big].join()
        self.assertEqual(task["id"], tid)  # least_loaded would pick small (0 in flight)
        other = self.submit(task_type="t", required_capabilities=[cap], strategy="least_loaded")
        task, _ = h[small].join()
        self.assertEqual(task["id"], other)

    def test_plugins_lists_both(self):
        r = self.c.get("plugins")
        self.assertStatus(r, 200)
        names = {p["name"] for p in r.body["plugins"] if p["kind"] == "selection"}
        self.assertTrue({"affinity", "headroom", "least_loaded"} <= names, names)


if __name__ == "__main__":
    unittest.main(verbosity=2)
