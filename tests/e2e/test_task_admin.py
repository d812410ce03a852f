"""test_task_admin.py — submitting safely and in bulk, and dead letters (docs/api.md "Tasks"):
Idempotency-Key / idempotency_key (201 then 200 with the same id, nothing changed, the key
forgotten with its task), POST /tasks/batch (each item's id or error in place), retry by hand
with the attempts history kept, and DELETE /tasks (purge, bounded per call). Runs on both
stores.
"""

from cpdtest import CpdTestCase, TASK_ID_RE, main


class Idempotency(CpdTestCase):

    def test_header_key_answers_the_first_task(self):
        key = self.uid("key")
        r1 = self.c.post("tasks", {"task_type": "pay", "payload": {"n": 1}},
                         headers={"Idempotency-Key": key})
        self.assertStatus(r1, 201)
        before = self.snapshot()
        r2 = self.c.post("tasks", {"task_type": "other", "payload": {"n": 2}},
                         headers={"Idempotency-Key": key})
        self.assertStatus(r2, 200)
        self.assertEqual(r2.body, r1.body)
        self.assertEqual(self.snapshot(), before)  # nothing changed
        t = self.task(r1.body["task_id"])
        self.assertEqual((t["task_type"], t["payload"], t["idempotency_key"]),
                         ("pay", {"n": 1}, key))
        # The member is the same key.
        r3 = self.c.post("tasks", {"task_type": "pay", "idempotency_key": key})
        self.assertStatus(r3, 200)
        self.assertEqual(r3.body, r1.body)

    def test_key_rules(self):
        before = self.c.get("tasks?limit=1").body["total"]
        for key in ("", "a b", "x" * 129, "é"):
            r = self.c.post("tasks", {"task_type": "t", "idempotency_key": key})
            self.assertError(r, 400, "invalid_field", "idempotency_key")
        r = self.c.post("tasks", {"task_type": "t", "idempotency_key": 5})
        self.assertError(r, 400, "invalid_field", "idempotency_key")
        r = self.c.post("tasks", {"task_type": "t", "idempotency_key": "a"},
                        headers={"Idempotency-Key": "b"})
        self.assertError(r, 400, "invalid_field", "differ")
        self.assertEqual(self.c.get("tasks?limit=1").body["total"], before)
        r = self.c.post("tasks", {"task_type": "t", "idempotency_key": "x" * 128})
        self.assertStatus(r, 201)

    def test_key_is_forgotten_with_its_task(self):
        key = self.uid("key")
        cap = self.uid("cap")
        agent = self.register(capabilities=[cap])["agent_id"]
        tid = self.submit(required_capabilities=[cap], idempotency_key=key)
        self.claim(agent)
        self.assertStatus(self.c.post("tasks/%s/complete" % tid, {"agent_id": agent}), 200)
        r = self.c.post("tasks", {"task_type": "t", "idempotency_key": key})
        self.assertEqual((r.status, r.body["task_id"]), (200, tid))  # still retained
        r = self.c.delete("tasks?status=completed&task_type=t&older_than=0&limit=10000")
        self.assertStatus(r, 200)
        self.assertError(self.c.get("tasks/" + tid), 404, "not_found")
        r = self.c.post("tasks", {"task_type": "t", "idempotency_key": key})
        self.assertStatus(r, 201)
        self.assertNotEqual(r.body["task_id"], tid)


class Batches(CpdTestCase):
    per_test = False

    def test_each_item_answered_in_place(self):
        key = self.uid("key")
        cap = self.uid("cap")
        first = self.submit(idempotency_key=key)
        r = self.c.post("tasks/batch", {"tasks": [
            {"task_type": "a", "required_capabilities": [cap], "priority": "low"},
            {"task_type": "bad type"},
            {"task_type": "b", "idempotency_key": key},
            {"task_type": "c", "required_capabilities": [cap], "priority": "critical",
             "idempotency_key": key + "-2"},
            {"task_type": "d", "idempotency_key": key + "-2"},
            {"payload": {}},
            {"task_type": "e", "strategy": "no_such_strategy"},
            {"task_type": "f", "delay_seconds": 60},
        ]})
        self.assertStatus(r, 200)
        res = r.body["results"]
        self.assertEqual(len(res), 8)
        self.assertRegex(res[0]["task_id"], TASK_ID_RE)
        self.assertTrue(res[0]["created"])
        self.assertEqual(res[1]["code"], "invalid_field")
        self.assertIn("task_type", res[1]["error"])
        self.assertEqual((res[2]["task_id"], res[2]["created"]), (first, False))
        self.assertTrue(res[3]["created"])
        self.assertEqual((res[4]["task_id"], res[4]["created"]), (res[3]["task_id"], False))
        self.assertEqual(res[5]["code"], "missing_field")
        self.assertIn("strategy", res[6]["error"])
        self.assertTrue(res[7]["created"])
        self.assertEqual((r.body["created"], r.body["existing"], r.body["failed"]), (3, 2, 3))
        self.assertIsNotNone(self.task(res[7]["task_id"])["not_before"])
        # Stored as one would submit them: the critical one is claimed first.
        agent = self.register(capabilities=[cap])["agent_id"]
        self.assertEqual(self.claim(agent)["id"], res[3]["task_id"])

    def test_batch_refusals(self):
        before = self.c.get("tasks?limit=1").body["total"]
        self.assertError(self.c.post("tasks/batch", {}), 400, "missing_field", "tasks")
        self.assertError(self.c.post("tasks/batch", {"tasks": {}}), 400, "invalid_field")
        self.assertError(self.c.post("tasks/batch", {"tasks": []}), 400, "invalid_field")
        self.assertError(self.c.post("tasks/batch", {"tasks": [{"task_type": "t"}] * 1001}), 400,
                         "invalid_field", "1000")
        self.assertError(self.c.post("tasks/batch", {"tasks": [{"task_type": "t"}]},
                                     headers={"Idempotency-Key": "k"}), 400, "invalid_field",
                         "idempotency_key")
        r = self.c.post("tasks/batch", {"tasks": [{"task_type": "bad type"}, 5]})
        self.assertStatus(r, 200)
        self.assertEqual(r.body["failed"], 2)
        self.assertEqual(self.c.get("tasks?limit=1").body["total"], before)

    def test_a_thousand_at_once(self):
        t = self.uid("bulk")
        r = self.c.post("tasks/batch", {"tasks": [{"task_type": t, "payload": {"i": i}}
                                                  for i in range(1000)]})
        self.assertStatus(r, 200)
        self.assertEqual(r.body["created"], 1000)
        ids = [x["task_id"] for x in r.body["results"]]
        self.assertEqual(len(set(ids)), 1000)
        self.assertEqual(self.c.get("tasks?task_type=%s&limit=1" % t).body["total"], 1000)
        self.assertEqual(self.task(ids[417])["payload"], {"i": 417})


class DeadLetters(CpdTestCase):

    def test_retry_by_hand_keeps_the_history(self):
        cap = self.uid("cap")
        agent = self.register(capabilities=[cap])["agent_id"]
        tid = self.submit(required_capabilities=[cap], max_retries=2)
        for err in ("first", "second"):
            self.assertEqual(self.claim(agent)["id"], tid)
            self.c.post("tasks/%s/fail" % tid, {"agent_id": agent, "error": err})
        t = self.task(tid)
        self.assertEqual((t["status"], t["retries"]), ("failed", 2))
        other = self.submit(required_capabilities=[self.uid("cap")])
        self.assertError(self.c.post("tasks/%s/retry" % other), 409, "conflict", "pending")
        r = self.c.post("tasks/%s/retry" % tid)
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"retried": True, "status": "pending"})
        t = self.task(tid)
        self.assertEqual((t["status"], t["retries"], t["error"], t["assigned_agent"]),
                         ("pending", 0, None, None))
        self.assertEqual([(a["outcome"], a["error"]) for a in t["attempts"]],
                         [("failed", "first"), ("failed", "second")])
        self.assertEqual(self.claim(agent)["id"], tid)
        self.assertStatus(self.c.post("tasks/%s/complete" % tid, {"agent_id": agent}), 200)
        t = self.task(tid)
        self.assertEqual([a["outcome"] for a in t["attempts"]], ["failed", "failed", "completed"])
        self.assertEqual(t["attempt"], 3)
        self.assertError(self.c.post("tasks/%s/retry" % tid), 409, "conflict", "completed")
        self.assertError(self.c.post("tasks/task_%024x/retry" % 9), 404, "not_found")

    def test_cancelled_and_timed_out_tasks_retry(self):
        cap = self.uid("cap")
        agent = self.register(capabilities=[cap])["agent_id"]
        tid = self.submit(required_capabilities=[cap])
        self.claim(agent)
        self.c.post("tasks/%s/cancel" % tid)
        self.assertStatus(self.c.post("tasks/%s/retry" % tid), 200)
        t = self.task(tid)
        self.assertEqual([(a["outcome"], a["error"]) for a in t["attempts"]],
                         [("cancelled", None)])

    def test_purge(self):
        kind = self.uid("purge")
        cap = self.uid("cap")
        agent = self.register(capabilities=[cap], max_concurrent_tasks=10)["agent_id"]
        done = [self.submit(task_type=kind, required_capabilities=[cap]) for _ in range(3)]
        for _ in done:
            tid = self.claim(agent)["id"]
            self.c.post("tasks/%s/complete" % tid, {"agent_id": agent})
        failed = self.submit(task_type=kind, required_capabilities=[cap], max_retries=0)
        self.claim(agent)
        self.c.post("tasks/%s/fail" % failed, {"agent_id": agent})
        pending = self.submit(task_type=kind)
        # Nothing old enough yet.
        r = self.c.delete("tasks?task_type=%s&older_than=3600" % kind)
        self.assertEqual(r.body, {"purged": 0, "more": False})
        r = self.c.delete("tasks?task_type=%s&status=completed&limit=2" % kind)
        self.assertEqual(r.body, {"purged": 2, "more": True})
        r = self.c.delete("tasks?task_type=%s&status=completed&limit=2" % kind)
        self.assertEqual(r.body["purged"], 1)
        self.assertEqual(self.c.get("tasks?task_type=%s&status=completed" % kind).body["total"],
                         0)
        self.assertEqual(self.task(failed)["status"], "failed")
        r = self.c.delete("tasks?task_type=%s" % kind)  # every finished one
        self.assertEqual(r.body["purged"], 1)
        self.assertEqual(self.task(pending)["status"], "pending")
        for query, field in (("status=pending", "status"), ("status=nope", "status"),
                             ("older_than=-1", "older_than"), ("older_than=x", "older_than"),
                             ("limit=0", "limit"), ("limit=10001", "limit"),
                             ("task_type=bad%20type", "task_type")):
            self.assertError(self.c.delete("tasks?" + query), 400, "invalid_field", field)


if __name__ == "__main__":
    main()
