"""test_drain.py — an operator's drain over HTTP, on both stores: POST /agents/:id/drain and
/undrain (admin); the agent gets no new tasks (not listed as available, not selected, its claims
and held claims answered empty), finishes the tasks it holds, and reads draining with
drained_at until undrained — whatever it heartbeats; offline and a failing probe show through,
re-registration keeps the drain; undrain returns it to what it reported last. On Redis a second
cpd process sharing the store sees the same (the rules run inside one Lua script)."""

import time
import unittest
import uuid

import cpdtest
from cpdtest import in_thread, wait_until


class Drain(cpdtest.CpdTestCase):
    cpd_config = {"auth": {"tokens": ["adm:admin", "ag:agent", "rd:reader"]}}
    token = "adm"

    def drain(self, agent_id, on=True, token=None, expect=200):
        r = self.c.post("agents/%s/%s" % (cpdtest.q(agent_id), "drain" if on else "undrain"),
                        token=token)
        self.assertStatus(r, expect)
        return r.body

    def test_drain_sticks_until_undrain(self):
        cap = self.uid("cap")
        self.register("w", capabilities=[cap], max_concurrent_tasks=2)
        self.register("z", capabilities=[cap])
        t0 = time.time()
        a = self.drain("w")
        self.assertEqual(a["agent_id"], "w")
        self.assertEqual(a["status"], "draining")
        self.assertTimestamp(a["drained_at"], near=t0)
        self.assertIsNone(self.agent("z")["drained_at"])
        # Its heartbeats do not end it (the reply says what it is now).
        for status in ("ready", "busy", None):
            self.assertEqual(self.heartbeat("w", status, client=self.c)["status"], "draining")
        # Not available, not selected, no task.
        listed = self.c.get("agents?capability=" + cap).body
        self.assertEqual([x["agent_id"] for x in listed["agents"]], ["z"])
        self.assertEqual(self.c.get("agents/select?capability=%s&exclude=z" % cap).body["code"],
                         "no_agent")
        tid = self.submit(required_capabilities=[cap])
        self.assertIsNone(self.claim("w"))
        self.assertIsNone(self.claim("w", block_ms=300))  # at once, not held
        stats = self.c.get("stats").body["registry"]
        self.assertEqual(stats["by_status"]["draining"], 1)
        self.assertEqual(stats["available_agents"], 1)
        # Again: the first drain's time stays.
        self.assertEqual(self.drain("w")["drained_at"], a["drained_at"])
        # Undrain: back to what it reported last (busy: its last heartbeat with a status).
        u = self.drain("w", on=False)
        self.assertEqual((u["status"], u["drained_at"]), ("busy", None))
        self.heartbeat("w", "ready")
        self.assertEqual(self.claim("w")["id"], tid)

    def test_finishes_what_it_holds_and_held_claims_get_nothing(self):
        cap = self.uid("cap")
        self.register("w", capabilities=[cap], max_concurrent_tasks=2)
        t1 = self.submit(required_capabilities=[cap])
        self.assertEqual(self.claim("w")["id"], t1)
        held = in_thread(self.claim, "w", client=self.cpd.client(token="adm"), block_ms=10000)
        wait_until(lambda: self.c.get("stats").body["scheduler"]["held_claims"] == 1, 10.0,
                   what="the held claim")
        self.assertEqual(self.drain("w")["tasks_in_flight"], 1)
        t2 = self.submit(required_capabilities=[cap])
        task, elapsed = held.join()
        self.assertIsNone(task)  # answered empty when its wake-up found it drained
        self.assertLess(elapsed, 8.0)
        self.assertEqual(self.task(t2)["status"], "pending")
        for step in ("start", "complete"):
            r = self.c.post("tasks/%s/%s" % (t1, step), {"agent_id": "w"})
            self.assertStatus(r, 200)
        a = self.agent("w")
        self.assertEqual((a["status"], a["tasks_in_flight"], a["tasks_completed"]),
                         ("draining", 0, 1))

    def test_precedence_and_errors(self):
        self.register("w", capabilities=["x"])
        self.drain("w")
        # Re-registering (a restart of the agent) keeps the drain.
        self.assertEqual(self.register("w", capabilities=["x"], expect=200)["status"],
                         "draining")
        self.assertIsNotNone(self.agent("w")["drained_at"])
        # Roles: admin only.
        for tok in ("ag", "rd"):
            r = self.c.post("agents/w/undrain", token=tok)
            self.assertError(r, 403, "forbidden")
        self.assertError(self.c.post("agents/w/drain", token=""), 401, "unauthorized")
        self.assertEqual(self.agent("w")["status"], "draining")
        self.assertError(self.c.post("agents/nobody/drain"), 404, "not_found")
        self.assertError(self.c.post("agents/bad%20id/drain"), 400, "invalid_field")
        self.assertError(self.c.get("agents/w/drain"), 405, "method_not_allowed")
        self.assertEqual(self.drain("w", on=False)["status"], "ready")
        self.assertEqual(self.drain("w", on=False)["status"], "ready")  # idempotent


class DrainOffline(cpdtest.CpdTestCase):
    cpd_config = {"agents": {"heartbeat_timeout_seconds": 1}}

    def test_offline_shows_through_and_the_drain_outlasts_it(self):
        self.register("w", capabilities=["x"])
        self.assertStatus(self.c.post("agents/w/drain"), 200)
        wait_until(lambda: self.agent("w")["status"] == "offline", 10.0, what="offline")
        self.assertIsNotNone(self.agent("w")["drained_at"])
        self.assertEqual(self.heartbeat("w")["status"], "draining")


@unittest.skipUnless(cpdtest.STORE == "redis", "two processes share only the redis store")
class DrainTwoProcesses(cpdtest.CpdTestCase):
    start_server = False

    def test_seen_by_every_process(self):
        prefix = "drain:%s:" % uuid.uuid4().hex[:10]
        redis = cpdtest.shared_redis()
        cfg = {"storage": {"plugin": "redis", "options": {"url": redis.url, "prefix": prefix}}}
        a = self.start_cpd(store="redis", redis=redis, config=cfg).client()
        b = self.start_cpd(store="redis", redis=redis, config=cfg).client()
        self.register("w", client=a, capabilities=["x"])
        self.assertStatus(a.post("agents/w/drain"), 200)
        self.assertEqual(self.heartbeat("w", "ready", client=b)["status"], "draining")
        self.submit(client=b, required_capabilities=["x"])
        self.assertIsNone(self.claim("w", client=b))
        self.assertEqual(b.post("agents/w/undrain").body["status"], "ready")
        self.assertIsNotNone(self.claim("w", client=a))


if __name__ == "__main__":
    unittest.main(verbosity=2)
