"""only_abi_older_minor.py — a storage plugin built for an older minor of the plugin ABI, in this
cpd.

<build>/abi_fixtures/memory_minor0.so is the memory store compiled with -DCP_ABI_TARGET_MINOR=0
(cp/abi.h): its descriptor says 2.0 and its structs have the 2.0 layouts, so struct cp_event
lacks 2.1's `strategy` and the events of a reap are strided by the shorter size. cpd runs it
through core/storage_compat.c. Checked over HTTP:
  - cpd starts on it, says so in its log, and serves a task's whole life cycle, /stats and
    /metrics;
  - a task that the reaper times out goes back to a held claim. The task names a strategy that
    picks the last candidate (the selection fixture good.so); the default, least_loaded, picks
    the first. The 2.0 store's reap event has no strategy (2.1 appended it), but cpd reads a
    requeued task back from the store before offering it (strategies see the whole task since
    2.4), so the task's own strategy places it on either store;
  - what ABI 2.4 added (leases, delays, backoff, idempotency keys, batches, retries by hand,
    purges, operator drains) is answered 501 not_supported, and plain tasks keep working.

And a selection plugin built for minor 0 (<build>/abi_fixtures/good_minor0.so: good.c with
-DCP_ABI_TARGET_MINOR=0) still picks, for GET /agents/select and for a task offered to held
claims, although cpd hands it the 2.4 context (which only grew at its end).
"""

import os
import subprocess
import sys
import unittest

from cpdtest import BUILD_DIR, FIXTURE_DIR, SOURCE_DIR, CpdTestCase, in_thread, wait_until

OLD_STORE = os.path.join(BUILD_DIR, "abi_fixtures", "memory_minor0.so")
LAST_PICKER = os.path.join(FIXTURE_DIR, "good.so")  # selection plugin "fixture_good"
OLD_PICKER = os.path.join(BUILD_DIR, "abi_fixtures", "good_minor0.so")  # the same, ABI 2.0
SELECTION = {"default": "least_loaded",
             "plugins": ["least_loaded", "round_robin", "random", LAST_PICKER]}


class RequeueStrategy:
    """The held claim that gets a timed-out task, for the store under test."""

    def requeue_winner(self):
        for agent in ("a", "b", "c"):
            self.register(agent, capabilities=["w"])
        tid = self.submit(required_capabilities=["w"], timeout_seconds=1,
                          strategy="fixture_good")
        self.assertEqual(self.claim("a")["id"], tid)
        held = {agent: in_thread(self.claim, agent, client=self.cpd.client(), block_ms=10000)
                for agent in ("b", "c")}
        wait_until(lambda: self.c.get("stats").body["scheduler"]["held_claims"] == 2, 5.0,
                   what="two held claims")
        # a never starts it: the reaper times it out (1 s) and a held claim gets it.
        wait_until(lambda: self.task(tid)["assigned_agent"] in ("b", "c"), 6.0,
                   what="timed-out task handed to a held claim")
        winner = self.task(tid)["assigned_agent"]
        task, _ = held[winner].join()
        self.assertEqual(task["id"], tid)
        self.assertEqual(task["attempt"], 2)
        return winner


class OlderMinorStore(CpdTestCase, RequeueStrategy):
    cpd_config = {"storage": {"plugin": OLD_STORE}, "selection": SELECTION}

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(OLD_STORE):
            raise unittest.SkipTest("%s is not built" % OLD_STORE)
        super().setUpClass()

    def test_runs_through_the_compatibility_layer(self):
        log = self.cpd.stderr()
        self.assertIn("storage plugin 'memory' (%s) is built for ABI 2.0" % OLD_STORE, log)
        self.assertIn("running it through the compatibility layer", log)

    def test_life_cycle_stats_and_metrics(self):
        self.register("w1", capabilities=["x"])
        tid = self.submit(required_capabilities=["x"], priority="high")
        self.assertEqual(self.claim("w1")["id"], tid)
        self.assertStatus(self.c.post("tasks/%s/start" % tid, {"agent_id": "w1"}), 200)
        r = self.c.post("tasks/%s/complete" % tid, {"agent_id": "w1", "result": {"n": 2}})
        self.assertStatus(r, 200)
        t = self.task(tid)
        self.assertEqual((t["status"], t["result"]), ("completed", {"n": 2}))
        self.assertEqual(self.agent("w1")["tasks_completed"], 1)
        stats = self.c.get("stats").body
        self.assertEqual(stats["storage"]["backend"], "memory")
        self.assertEqual(stats["registry"]["total_agents"], 1)
        self.assertEqual(stats["registry"]["by_status"]["ready"], 1)
        self.assertEqual(stats["scheduler"]["by_status"]["completed"], 1)
        self.assertEqual(stats["scheduler"]["by_priority"]["high"], 1)
        self.assertEqual(sum(stats["scheduler"]["by_status"].values()), 1)
        metrics = self.c.get("/metrics")
        self.assertStatus(metrics, 200)
        self.assertIn('cp_tasks{status="completed"} 1\n', metrics.body)

    def test_unregister_requeues_through_short_events(self):
        self.register("holder", capabilities=["u"], max_concurrent_tasks=3)
        self.register("waiter", capabilities=["u"])
        tids = [self.submit(required_capabilities=["u"]) for _ in range(3)]
        for _ in tids:
            self.claim("holder")
        h = in_thread(self.claim, "waiter", client=self.cpd.client(), block_ms=5000)
        wait_until(lambda: self.c.get("stats").body["scheduler"]["held_claims"] == 1, 5.0,
                   what="the waiter held")
        self.assertStatus(self.c.delete("agents/holder"), 200)
        task, _ = h.join()
        self.assertIn(task["id"], tids)  # woken by one of the three requeue events
        pending = [t for t in tids if self.task(t)["status"] == "pending"]
        self.assertEqual(len(pending), 2)

    def test_requeued_task_placed_by_its_own_strategy(self):
        self.assertEqual(self.requeue_winner(), "c")  # read back: the task's own strategy

    def test_drain_is_not_supported(self):
        # agent_drain came with 2.4: the 2.0 store has none, and cpd says so (nothing changes).
        self.register("d", capabilities=["x"])
        r = self.c.post("agents/d/drain")
        self.assertError(r, 501, "not_supported", "does not support draining")
        self.assertIn("ABI 2.0", r.body["error"])
        a = self.agent("d")
        self.assertEqual((a["status"], a["drained_at"]), ("ready", None))
        # The availability rule holds all the same (a busy agent is not listed).
        self.heartbeat("d", "busy")
        self.assertEqual(self.c.get("agents?capability=x").body["agents"], [])
        self.assertEqual(self.c.get("stats").body["registry"]["available_agents"], 0)

    def test_features_of_2_4_are_not_supported(self):
        # What a 2.0 store cannot keep is refused with 501 not_supported, naming the store and
        # its ABI; nothing is stored. Plain tasks keep working, with the 2.4 members empty.
        self.register("n1", capabilities=["n"])
        before = self.c.get("stats").body["scheduler"]["total"]
        for body in ({"task_type": "t", "delay_seconds": 5},
                     {"task_type": "t", "idempotency_key": "k1"},
                     {"task_type": "t", "retry_backoff": {"type": "fixed", "seconds": 1}}):
            r = self.c.post("tasks", body)
            self.assertError(r, 501, "not_supported", "ABI 2.0")
        r = self.c.post("tasks", {"task_type": "t"}, headers={"Idempotency-Key": "k2"})
        self.assertError(r, 501, "not_supported")
        self.assertError(self.c.post("tasks/batch", {"tasks": [{"task_type": "t"}]}), 501,
                         "not_supported", "batches")
        self.assertEqual(self.c.get("stats").body["scheduler"]["total"], before)
        tid = self.submit(required_capabilities=["n"])
        t = self.claim("n1")
        self.assertEqual(t["id"], tid)
        self.assertIsNone(t["deadline_at"])  # a 2.0 store keeps no deadline
        self.assertEqual(t["attempts"][0]["agent_id"], "n1")  # the held attempt, from the task
        r = self.c.post("tasks/%s/extend" % tid, {"agent_id": "n1"})
        self.assertError(r, 501, "not_supported", "lease")
        self.assertStatus(self.c.post("tasks/%s/fail" % tid,
                                      {"agent_id": "n1", "requeue": False}), 200)
        self.assertError(self.c.post("tasks/%s/retry" % tid), 501, "not_supported")
        self.assertError(self.c.delete("tasks?status=failed"), 501, "not_supported")
        t = self.task(tid)
        self.assertEqual((t["status"], t["attempts"], t["not_before"]), ("failed", [], None))

    def test_clients_submit_without_their_key(self):
        # cpctl (libcpclient) and cpclient send a generated idempotency key; this store answers
        # 501 for it, so each submits once more without it (the 501 stored nothing).
        env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1")
        p = subprocess.run([os.path.join(BUILD_DIR, "cpctl"), "--url",
                            "http://127.0.0.1:%d" % self.cpd.port, "--json", "tasks", "submit",
                            "old-store"], capture_output=True, env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.assertIn('"created": true', p.stdout.decode())
        p = subprocess.run([os.path.join(BUILD_DIR, "cpctl"), "--url",
                            "http://127.0.0.1:%d" % self.cpd.port, "tasks", "submit", "old-store",
                            "--idempotency-key", "mine"], capture_output=True, env=env,
                           timeout=60)
        self.assertEqual(p.returncode, 3)  # a key the caller chose: not dropped
        self.assertIn("not_supported", p.stderr.decode())
        sys.path.insert(0, os.path.join(SOURCE_DIR, "clients", "python"))
        import cpclient
        with cpclient.Client("http://127.0.0.1:%d" % self.cpd.port) as c:
            c.submit_task("old-store")
        self.assertEqual(self.c.get("tasks?task_type=old-store").body["total"], 2)


class CurrentMinorStore(CpdTestCase, RequeueStrategy):
    cpd_config = {"selection": SELECTION}

    def test_requeued_task_placed_by_its_own_strategy(self):
        self.assertEqual(self.requeue_winner(), "c")  # the event's strategy: last candidate


class OlderMinorStrategy(CpdTestCase):
    cpd_config = {"selection": {"default": "least_loaded",
                                "plugins": ["least_loaded", OLD_PICKER]}}

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(OLD_PICKER):
            raise unittest.SkipTest("%s is not built" % OLD_PICKER)
        super().setUpClass()

    def test_picks_with_the_grown_context(self):
        plugins = {p["name"]: p for p in self.c.get("plugins").body["plugins"]}
        self.assertEqual(plugins["fixture_good"]["abi_version"], "2.0")
        for agent in ("a", "b", "c"):
            self.register(agent, capabilities=["o"])
        r = self.c.get("agents/select?capability=o&strategy=fixture_good&hint.x=1")
        self.assertEqual(r.body["agent_id"], "c")
        held = {agent: in_thread(self.claim, agent, client=self.cpd.client(), block_ms=8000)
                for agent in ("a", "b", "c")}
        wait_until(lambda: self.c.get("stats").body["scheduler"]["held_claims"] == 3, 5.0,
                   what="three held claims")
        tid = self.submit(required_capabilities=["o"], strategy="fixture_good")
        task, _ = held["c"].join()
        self.assertEqual(task["id"], tid)


if __name__ == "__main__":
    unittest.main()
