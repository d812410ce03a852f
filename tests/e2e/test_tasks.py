"""test_tasks.py — CONTRACT §4 over HTTP: submit, list, claim (matching, order, long poll), start,
complete, fail, cancel, retries, pass-over, timeouts, requeues, wait_ms and agent counters."""

import socket
import time

from cpdtest import (TASK_ID_RE, CpdTestCase, in_thread, main, parse_timestamp, wait_until)

TASK_FIELDS = {
    "id", "task_type", "payload", "required_capabilities", "status", "priority", "created_at",
    "claimed_at", "started_at", "completed_at", "assigned_agent", "timeout_seconds",
    "max_retries", "retries", "attempt", "result", "error", "metadata",
}


class Submit(CpdTestCase):
    cpd_env = {"TASK_TIMEOUT": "77", "MAX_TASK_RETRIES": "4"}

    def test_submit_all_fields_and_get(self):
        t0 = time.time()
        body = {"task_type": "debate",
                "payload": {"question": "What is the best programming language?",
                            "context": "For web development", "n": [1, 2.5, None, True]},
                "required_capabilities": ["debate", "code"], "priority": "high",
                "timeout_seconds": 120, "max_retries": 5, "metadata": {"user_id": "123"}}
        r = self.c.post("tasks", body)
        self.assertStatus(r, 201)
        self.assertEqual(set(r.body), {"task_id"})
        tid = r.body["task_id"]
        self.assertRegex(tid, TASK_ID_RE)
        t = self.task(tid)
        self.assertLessEqual(TASK_FIELDS, set(t))
        self.assertEqual(t["id"], tid)
        self.assertEqual(t["task_type"], "debate")
        self.assertEqual(t["payload"], body["payload"])
        self.assertEqual(sorted(t["required_capabilities"]), ["code", "debate"])
        self.assertEqual(t["status"], "pending")
        self.assertEqual(t["priority"], "high")
        self.assertTimestamp(t["created_at"], near=t0)
        for k in ("claimed_at", "started_at", "completed_at", "assigned_agent", "result",
                  "error"):
            self.assertIsNone(t[k], k)
        self.assertEqual(t["timeout_seconds"], 120)
        self.assertEqual(t["max_retries"], 5)
        self.assertEqual(t["retries"], 0)
        self.assertEqual(t["attempt"], 0)
        self.assertEqual(t["metadata"], {"user_id": "123"})

    def test_defaults_come_from_config(self):
        tid = self.submit(task_type="plain")
        t = self.task(tid)
        self.assertEqual(t["payload"], {})
        self.assertEqual(t["required_capabilities"], [])
        self.assertEqual(t["priority"], "normal")
        self.assertEqual(t["timeout_seconds"], 77)
        self.assertEqual(t["max_retries"], 4)
        self.assertEqual(t["metadata"], {})

    def test_task_ids_are_unique(self):
        ids = {self.submit() for _ in range(50)}
        self.assertEqual(len(ids), 50)

    def test_priority_names_synonym_and_numbers(self):
        cases = [("critical", "critical"), ("high", "high"), ("normal", "normal"),
                 ("low", "low"), ("urgent", "critical"), (0, "critical"), (1, "high"),
                 (2, "normal"), (3, "low")]
        for given, name in cases:
            tid = self.submit(priority=given)
            self.assertEqual(self.task(tid)["priority"], name, given)

    def test_bad_priority_is_400_and_nothing_created(self):
        before = self.snapshot()
        for bad in ("medium", "", 4, -1, 1.5, True, [], {}):
            r = self.c.post("tasks", {"task_type": "x", "priority": bad})
            self.assertError(r, 400, "invalid_field", "priority")
        self.assertEqual(self.snapshot(), before)

    def test_bad_fields_are_400_and_nothing_created(self):
        before = self.snapshot()
        self.assertError(self.c.post("tasks", {}), 400, "missing_field", "task_type")
        self.assertError(self.c.post("tasks", {"payload": {}}), 400, "missing_field",
                         "task_type")
        cases = [
            ({"task_type": 5}, "task_type"),
            ({"task_type": ""}, "task_type"),
            ({"task_type": "bad type"}, "task_type"),
            ({"task_type": "x" * 129}, "task_type"),
            ({"task_type": "x", "required_capabilities": "debate"}, "required_capabilities"),
            ({"task_type": "x", "required_capabilities": [1]}, "required_capabilities"),
            ({"task_type": "x", "required_capabilities": ["a b"]}, "required_capabilities"),
            ({"task_type": "x", "required_capabilities": ["c%d" % i for i in range(33)]},
             "required_capabilities"),
            ({"task_type": "x", "timeout_seconds": "60"}, "timeout_seconds"),
            ({"task_type": "x", "timeout_seconds": -1}, "timeout_seconds"),
            ({"task_type": "x", "max_retries": -1}, "max_retries"),
            ({"task_type": "x", "max_retries": "3"}, "max_retries"),
            ({"task_type": "x", "metadata": [1, 2]}, "metadata"),
            ({"task_type": "x", "strategy": "no_such_strategy"}, "strategy"),
        ]
        for body, field in cases:
            self.assertError(self.c.post("tasks", body), 400, "invalid_field", field)
        self.assertEqual(self.snapshot(), before)

    def test_32_required_capabilities_accepted(self):
        caps = ["c%d" % i for i in range(32)]
        tid = self.submit(required_capabilities=caps)
        self.assertEqual(sorted(self.task(tid)["required_capabilities"]), sorted(caps))

    def test_strategy_known_is_accepted(self):
        for s in ("least_loaded", "round_robin", "random"):
            self.submit(strategy=s)

    def test_get_unknown_task_is_404(self):
        self.assertError(self.c.get("tasks/task_000000000000000000000000"), 404, "not_found")
        self.assertError(self.c.get("tasks/nonsense"), 404, "not_found")


class ListTasks(CpdTestCase):
    def test_filters_limit_total(self):
        self.register("w", capabilities=["a"], max_concurrent_tasks=10)
        ids_a = [self.submit(task_type="alpha", required_capabilities=["a"]) for _ in range(3)]
        ids_b = [self.submit(task_type="beta") for _ in range(2)]
        claimed = self.claim("w", capabilities=["a"])
        self.assertEqual(claimed["id"], ids_a[0])

        r = self.c.get("tasks")
        self.assertStatus(r, 200)
        self.assertEqual(set(r.body), {"tasks", "total"})
        self.assertEqual(r.body["total"], 5)
        self.assertEqual(sorted(t["id"] for t in r.body["tasks"]), sorted(ids_a + ids_b))
        for t in r.body["tasks"]:
            self.assertLessEqual(TASK_FIELDS, set(t))

        r = self.c.get("tasks?task_type=alpha")
        self.assertEqual(sorted(t["id"] for t in r.body["tasks"]), sorted(ids_a))
        self.assertEqual(r.body["total"], 3)
        r = self.c.get("tasks?status=claimed")
        self.assertEqual([t["id"] for t in r.body["tasks"]], [ids_a[0]])
        self.assertEqual(r.body["total"], 1)
        r = self.c.get("tasks?status=pending&task_type=alpha")
        self.assertEqual(sorted(t["id"] for t in r.body["tasks"]), sorted(ids_a[1:]))
        r = self.c.get("tasks?status=completed")
        self.assertEqual(r.body, {"tasks": [], "total": 0})
        r = self.c.get("tasks?limit=2")
        self.assertStatus(r, 200)
        self.assertEqual(len(r.body["tasks"]), 2)
        self.assertIn(r.body["total"], (2, 5), "total is the page size or the match count")

    def test_default_limit_is_50(self):
        for _ in range(55):
            self.submit(task_type="bulk")
        r = self.c.get("tasks?task_type=bulk")
        self.assertEqual(len(r.body["tasks"]), 50)
        self.assertIn(r.body["total"], (50, 55))
        r = self.c.get("tasks?task_type=bulk&limit=1000")
        self.assertEqual(len(r.body["tasks"]), 55)
        self.assertEqual(r.body["total"], 55)

    def test_bad_query(self):
        self.assertError(self.c.get("tasks?status=sleeping"), 400, "invalid_field", "status")
        self.assertError(self.c.get("tasks?limit=abc"), 400, "invalid_field", "limit")
        self.assertError(self.c.get("tasks?limit=-1"), 400, "invalid_field", "limit")
        r = self.c.get("tasks?limit=1001")
        if r.status != 200:
            self.assertError(r, 400, "invalid_field", "limit")


class Claim(CpdTestCase):
    def test_claim_sets_claimed_fields(self):
        self.register("w", capabilities=["debate"])
        tid = self.submit(task_type="debate", required_capabilities=["debate"])
        t0 = time.time()
        r = self.c.post("tasks/claim", {"agent_id": "w"})
        self.assertStatus(r, 200)
        self.assertEqual(set(r.body), {"task"})
        t = r.body["task"]
        self.assertLessEqual(TASK_FIELDS, set(t))
        self.assertEqual(t["id"], tid)
        self.assertEqual(t["status"], "claimed")
        self.assertEqual(t["assigned_agent"], "w")
        self.assertEqual(t["attempt"], 1)
        self.assertTimestamp(t["claimed_at"], near=t0)
        self.assertIsNone(t["started_at"])
        self.assertEqual(self.task(tid), t)
        a = self.agent("w")
        self.assertEqual(a["tasks_in_flight"], 1)
        self.assertEqual(a["current_task_id"], tid)
        # Handed out once only.
        self.assertIsNone(self.claim("w"))
        self.register("w2", capabilities=["debate"])
        self.assertIsNone(self.claim("w2"))

    def test_nothing_to_claim_is_null(self):
        self.register("w")
        r = self.c.post("tasks/claim", {"agent_id": "w"})
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"task": None})

    def test_claim_errors(self):
        self.register("w")
        tid = self.submit()
        before = self.snapshot()
        self.assertError(self.c.post("tasks/claim", {"agent_id": "ghost"}), 404, "not_found")
        self.assertError(self.c.post("tasks/claim", {}), 400, "missing_field", "agent_id")
        self.assertError(self.c.post("tasks/claim", {"agent_id": 7}), 400, "invalid_field",
                         "agent_id")
        self.assertError(self.c.post("tasks/claim", {"agent_id": "w", "block_ms": -5}), 400,
                         "invalid_field", "block_ms")
        self.assertError(self.c.post("tasks/claim", {"agent_id": "w", "block_ms": "1"}), 400,
                         "invalid_field", "block_ms")
        self.assertError(self.c.post("tasks/claim", {"agent_id": "w", "capabilities": "x"}), 400,
                         "invalid_field", "capabilities")
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(self.task(tid)["status"], "pending")

    def assertNullAtOnce(self, agent_id, block_ms=2000):
        t0 = time.monotonic()
        task = self.claim(agent_id, block_ms=block_ms)
        elapsed = time.monotonic() - t0
        self.assertIsNone(task, "%s got a task" % agent_id)
        self.assertLess(elapsed, 1.0, "%s's claim was held instead of answered at once"
                        % agent_id)

    def test_unavailable_agents_get_null_at_once(self):
        # draining and failed agents will not take work: a claim is answered at once, even with
        # block_ms. A busy one is answered at once without block_ms (with it, it waits for
        # room: LongPoll.test_claim_at_the_limit_waits_for_room).
        tid = self.submit()
        for aid, status in (("dr", "draining"), ("fa", "failed")):
            self.register(aid)
            self.heartbeat(aid, status)
            self.assertNullAtOnce(aid)
        self.register("bu")
        self.heartbeat("bu", "busy")
        self.assertNullAtOnce("bu", block_ms=0)
        self.assertEqual(self.task(tid)["status"], "pending")
        # A self-reported busy agent gets work again once it reports ready.
        self.heartbeat("bu", "ready")
        self.assertEqual(self.claim("bu")["id"], tid)

    def test_agent_at_max_concurrency_gets_null_without_block_ms(self):
        self.register("one", max_concurrent_tasks=1)
        t1 = self.submit()
        t2 = self.submit()
        self.assertEqual(self.claim("one")["id"], t1)
        self.assertEqual(self.agent("one")["status"], "busy")
        self.assertNullAtOnce("one", block_ms=0)
        self.assertEqual(self.task(t2)["status"], "pending")

    def test_capability_matching(self):
        self.register("a_only", capabilities=["a"])
        self.register("abc", capabilities=["a", "b", "c"])
        tid = self.submit(required_capabilities=["a", "b"])
        self.assertIsNone(self.claim("a_only"))
        # The claim's capabilities replace the registered ones.
        self.assertIsNone(self.claim("abc", capabilities=["a", "c"]))
        self.assertIsNone(self.claim("a_only", capabilities=[]))
        t = self.claim("abc")
        self.assertEqual(t["id"], tid)

    def test_claim_capabilities_may_exceed_registered_ones(self):
        self.register("w", capabilities=[])
        tid = self.submit(required_capabilities=["x", "y"])
        self.assertIsNone(self.claim("w"))
        self.assertEqual(self.claim("w", capabilities=["y", "x", "z"])["id"], tid)

    def test_empty_requirements_match_anyone(self):
        self.register("nocaps")
        tid = self.submit()
        self.assertEqual(self.claim("nocaps")["id"], tid)

    def test_order_priority_then_fifo(self):
        self.register("w", capabilities=["o"], max_concurrent_tasks=20)
        order = []
        names = {}
        for p in ("low", "normal", "critical", "high", "normal", 3, "urgent", 1, "critical"):
            tid = self.submit(required_capabilities=["o"], priority=p)
            order.append(tid)
            names[tid] = p
        got = []
        for _ in order:
            t = self.claim("w")
            got.append(t["id"])
        self.assertIsNone(self.claim("w"))
        expected = [order[2], order[6], order[8],  # critical, urgent, critical (FIFO)
                    order[3], order[7],            # high, 1
                    order[1], order[4],            # normal, normal
                    order[0], order[5]]            # low, 3
        self.assertEqual(got, expected, [names[t] for t in got])

    def test_requeued_task_goes_to_back_of_its_priority(self):
        self.register("w", max_concurrent_tasks=5)
        t1 = self.submit()
        t2 = self.submit()
        self.assertEqual(self.claim("w")["id"], t1)
        r = self.c.post("tasks/%s/fail" % t1, {"agent_id": "w", "error": "x"})
        self.assertStatus(r, 200)
        # Only one agent: no pass-over; t1 re-entered pending after t2.
        self.assertEqual(self.claim("w")["id"], t2)
        self.assertEqual(self.claim("w")["id"], t1)


class LongPoll(CpdTestCase):
    def test_held_claim_answered_when_task_arrives(self):
        self.register("poller", capabilities=["lp"])
        other = self.cpd.client()
        h = in_thread(self.claim, "poller", client=other, block_ms=3000)
        time.sleep(0.3)
        tid = self.submit(required_capabilities=["lp"])
        task, elapsed = h.join()
        self.assertIsNotNone(task, "held claim got nothing")
        self.assertEqual(task["id"], tid)
        self.assertEqual(task["status"], "claimed")
        self.assertLess(elapsed, 1.5, "held claim answered late")
        self.assertGreaterEqual(elapsed, 0.25)
        self.assertEqual(self.task(tid)["assigned_agent"], "poller")

    def test_held_claim_times_out_with_null(self):
        self.register("poller", capabilities=["lp"])
        t0 = time.monotonic()
        task = self.claim("poller", block_ms=1000)
        elapsed = time.monotonic() - t0
        self.assertIsNone(task)
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertLess(elapsed, 2.5)

    def test_claim_at_the_limit_waits_for_room(self):
        """An agent at max_concurrent_tasks that claims with block_ms is held, not answered
        null at once (a claim loop must never spin): when its task completes it gets the next
        one; with nothing to get it is answered null at block_ms."""
        self.register("full", capabilities=["lp"], max_concurrent_tasks=1)
        t1 = self.submit(required_capabilities=["lp"])
        t2 = self.submit(required_capabilities=["lp"])
        self.assertEqual(self.claim("full")["id"], t1)
        h = in_thread(self.claim, "full", client=self.cpd.client(), block_ms=5000)
        time.sleep(0.4)
        self.assertTrue(h.thread.is_alive(), "a claim at the limit was answered at once")
        self.assertEqual(self.task(t2)["status"], "pending")
        self.assertStatus(self.c.post("tasks/%s/complete" % t1, {"agent_id": "full"}), 200)
        task, elapsed = h.join()
        self.assertIsNotNone(task, "the held claim got nothing after the slot freed")
        self.assertEqual(task["id"], t2)
        self.assertLess(elapsed, 2.5)
        # At the limit again, nothing left: null after block_ms, not before.
        t0 = time.monotonic()
        self.assertIsNone(self.claim("full", block_ms=800))
        self.assertGreaterEqual(time.monotonic() - t0, 0.75)
        # Self-reported busy waits for ready; draining is answered at once.
        self.assertStatus(self.c.post("tasks/%s/complete" % t2, {"agent_id": "full"}), 200)
        self.heartbeat("full", "busy")
        t3 = self.submit(required_capabilities=["lp"])
        h = in_thread(self.claim, "full", client=self.cpd.client(), block_ms=5000)
        time.sleep(0.3)
        self.assertTrue(h.thread.is_alive(), "a busy agent's claim was answered at once")
        self.heartbeat("full", "ready")
        task, _ = h.join()
        self.assertEqual(task and task["id"], t3)
        self.heartbeat("full", "draining")
        t0 = time.monotonic()
        self.assertIsNone(self.claim("full", block_ms=3000))
        self.assertLess(time.monotonic() - t0, 1.0, "a draining agent's claim was held")

    def test_non_matching_task_does_not_wake_claim(self):
        self.register("poller", capabilities=["lp"])
        h = in_thread(self.claim, "poller", client=self.cpd.client(), block_ms=1000)
        time.sleep(0.2)
        tid = self.submit(required_capabilities=["other"])
        task, elapsed = h.join()
        self.assertIsNone(task)
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertEqual(self.task(tid)["status"], "pending")

    def test_one_task_goes_to_exactly_one_of_two_held_claims(self):
        self.register("p1", capabilities=["lp"])
        self.register("p2", capabilities=["lp"])
        h1 = in_thread(self.claim, "p1", client=self.cpd.client(), block_ms=1500)
        h2 = in_thread(self.claim, "p2", client=self.cpd.client(), block_ms=1500)
        time.sleep(0.3)
        tid = self.submit(required_capabilities=["lp"])
        (r1, e1), (r2, e2) = h1.join(), h2.join()
        winners = [r for r in (r1, r2) if r is not None]
        self.assertEqual(len(winners), 1, "one task, %d claimers got it" % len(winners))
        self.assertEqual(winners[0]["id"], tid)
        self.assertLess(min(e1, e2), 1.2)
        self.assertEqual(self.task(tid)["assigned_agent"], winners[0]["assigned_agent"])

    def test_disconnected_claimer_loses_no_task(self):
        self.register("quitter", capabilities=["lp"])
        self.register("stayer", capabilities=["lp"])
        s = socket.create_connection(("127.0.0.1", self.cpd.port))
        body = b'{"agent_id": "quitter", "block_ms": 5000}'
        s.sendall(b"POST /api/control-plane/tasks/claim HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                  % (len(body), body))
        time.sleep(0.3)
        s.close()
        time.sleep(0.3)
        tid = self.submit(required_capabilities=["lp"])
        # The task may not be lost to the vanished claimer: the other agent gets it.
        t = self.claim("stayer", block_ms=2000)
        self.assertIsNotNone(t, "task lost to a claimer that had disconnected: %r"
                             % self.task(tid))
        self.assertEqual(t["id"], tid)
        self.assertEqual(t["attempt"], 1, "the vanished claimer's attempt was counted")

    def test_task_waiting_before_long_poll_is_returned_at_once(self):
        self.register("w")
        tid = self.submit()
        t0 = time.monotonic()
        self.assertEqual(self.claim("w", block_ms=5000)["id"], tid)
        self.assertLess(time.monotonic() - t0, 1.0)


class Transitions(CpdTestCase):
    def setUp(self):
        super().setUp()
        self.register("w", capabilities=["x"], max_concurrent_tasks=5)
        self.register("v", capabilities=["x"], max_concurrent_tasks=5)

    def claimed_task(self, agent="w", **fields):
        fields.setdefault("required_capabilities", ["x"])
        tid = self.submit(**fields)
        t = self.claim(agent)
        self.assertEqual(t["id"], tid)
        return tid

    def test_start(self):
        tid = self.claimed_task()
        t0 = time.time()
        r = self.c.post("tasks/%s/start" % tid, {"agent_id": "w"})
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"started": True})
        t = self.task(tid)
        self.assertEqual(t["status"], "running")
        self.assertTimestamp(t["started_at"], near=t0)
        self.assertError(self.c.post("tasks/%s/start" % tid, {"agent_id": "w"}), 409, "conflict",
                         "running")

    def test_start_conflicts(self):
        pending = self.submit(required_capabilities=["nobody-has-this"])
        self.assertError(self.c.post("tasks/%s/start" % pending, {"agent_id": "w"}), 409,
                         "conflict", "pending")
        tid = self.claimed_task()
        self.assertError(self.c.post("tasks/%s/start" % tid, {"agent_id": "v"}), 409, "conflict")
        self.assertEqual(self.task(tid)["status"], "claimed")
        self.assertError(self.c.post("tasks/task_000000000000000000000000/start",
                                     {"agent_id": "w"}), 404, "not_found")

    def test_complete_from_claimed_and_running(self):
        for start in (False, True):
            tid = self.claimed_task()
            if start:
                self.assertStatus(self.c.post("tasks/%s/start" % tid, {"agent_id": "w"}), 200)
            t0 = time.time()
            r = self.c.post("tasks/%s/complete" % tid,
                            {"agent_id": "w", "result": {"answer": [1, "two"]}, "latency_ms": 5})
            self.assertStatus(r, 200)
            self.assertEqual(r.body, {"completed": True})
            t = self.task(tid)
            self.assertEqual(t["status"], "completed")
            self.assertEqual(t["result"], {"answer": [1, "two"]})
            self.assertTimestamp(t["completed_at"], near=t0)
            self.assertEqual(t["assigned_agent"], "w")

    def test_complete_result_any_json_and_no_agent_id(self):
        for result in ("text", 42, [1, 2], None, True):
            tid = self.claimed_task()
            r = self.c.post("tasks/%s/complete" % tid, {"result": result})
            self.assertStatus(r, 200)
            t = self.task(tid)
            self.assertEqual(t["status"], "completed")
            self.assertEqual(t["result"], result)

    def test_complete_conflicts_name_the_state(self):
        pending = self.submit(required_capabilities=["nobody-has-this"])
        self.assertError(self.c.post("tasks/%s/complete" % pending, {"result": 1}), 409,
                         "conflict", "pending")
        tid = self.claimed_task()
        self.assertStatus(self.c.post("tasks/%s/complete" % tid, {"agent_id": "w"}), 200)
        done = self.task(tid)
        self.assertError(self.c.post("tasks/%s/complete" % tid, {"agent_id": "w"}), 409,
                         "conflict", "completed")
        self.assertError(self.c.post("tasks/%s/fail" % tid, {"agent_id": "w"}), 409, "conflict",
                         "completed")
        self.assertError(self.c.post("tasks/%s/cancel" % tid), 409, "conflict", "completed")
        self.assertEqual(self.task(tid), done)
        self.assertError(self.c.post("tasks/task_000000000000000000000000/complete", {}), 404,
                         "not_found")

    def test_complete_by_wrong_agent_is_409(self):
        tid = self.claimed_task()
        before = self.snapshot()
        self.assertError(self.c.post("tasks/%s/complete" % tid, {"agent_id": "v"}), 409,
                         "conflict")
        self.assertError(self.c.post("tasks/%s/fail" % tid, {"agent_id": "v"}), 409, "conflict")
        after = self.snapshot()
        # Only last_heartbeat of v may move (its requests refresh liveness).
        for a in after["agents"]:
            a.pop("last_heartbeat")
        for a in before["agents"]:
            a.pop("last_heartbeat")
        self.assertEqual(after, before)
        self.assertStatus(self.c.post("tasks/%s/complete" % tid, {"agent_id": "w"}), 200)

    def test_fail_requeues_with_retries(self):
        tid = self.claimed_task(max_retries=3)
        r = self.c.post("tasks/%s/fail" % tid, {"agent_id": "w", "error": "boom"})
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"failed": True, "status": "pending", "retries": 1})
        t = self.task(tid)
        self.assertEqual(t["status"], "pending")
        self.assertIsNone(t["assigned_agent"])
        self.assertEqual(t["retries"], 1)
        self.assertEqual(t["error"], "boom")
        self.assertEqual(t["attempt"], 1)
        # Another agent takes it (w is passed over): attempt 2.
        t = self.claim("v")
        self.assertEqual(t["id"], tid)
        self.assertEqual(t["attempt"], 2)
        self.assertEqual(t["assigned_agent"], "v")

    def test_fail_until_max_retries_then_failed(self):
        tid = self.claimed_task(max_retries=2)
        r = self.c.post("tasks/%s/fail" % tid, {"agent_id": "w"})
        self.assertEqual(r.body, {"failed": True, "status": "pending", "retries": 1})
        self.assertEqual(self.task(tid)["error"], "Unknown error")
        self.assertEqual(self.claim("v")["id"], tid)
        r = self.c.post("tasks/%s/fail" % tid, {"agent_id": "v", "error": "again"})
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"failed": True, "status": "failed", "retries": 2})
        t = self.task(tid)
        self.assertEqual(t["status"], "failed")
        self.assertEqual(t["error"], "again")
        self.assertTimestamp(t["completed_at"])
        self.assertError(self.c.post("tasks/%s/fail" % tid, {"agent_id": "v"}), 409, "conflict",
                         "failed")
        self.assertIsNone(self.claim("w"))

    def test_fail_without_requeue_and_zero_retries(self):
        tid = self.claimed_task(max_retries=3)
        r = self.c.post("tasks/%s/fail" % tid, {"agent_id": "w", "requeue": False})
        self.assertEqual(r.body, {"failed": True, "status": "failed", "retries": 1})
        tid = self.claimed_task(max_retries=0)
        r = self.c.post("tasks/%s/fail" % tid, {"agent_id": "w"})
        self.assertEqual(r.body, {"failed": True, "status": "failed", "retries": 1})

    def test_fail_bad_fields(self):
        tid = self.claimed_task()
        before = self.snapshot()
        self.assertError(self.c.post("tasks/%s/fail" % tid, {"requeue": "yes"}), 400,
                         "invalid_field", "requeue")
        self.assertError(self.c.post("tasks/%s/fail" % tid, {"error": 5}), 400, "invalid_field",
                         "error")
        self.assertError(self.c.post("tasks/%s/complete" % tid, {"latency_ms": "fast"}), 400,
                         "invalid_field", "latency_ms")
        self.assertError(self.c.post("tasks/%s/complete" % tid, {"latency_ms": -3}), 400,
                         "invalid_field", "latency_ms")
        self.assertEqual(self.snapshot(), before)

    def test_fail_from_pending_is_409(self):
        tid = self.submit(required_capabilities=["nobody-has-this"])
        self.assertError(self.c.post("tasks/%s/fail" % tid, {}), 409, "conflict", "pending")
        self.assertEqual(self.task(tid)["retries"], 0)

    def test_pass_over_failing_agent_when_another_can_take_it(self):
        tid = self.claimed_task()
        self.assertStatus(self.c.post("tasks/%s/fail" % tid, {"agent_id": "w"}), 200)
        self.assertIsNone(self.claim("w"), "the failing agent got its task back at once")
        self.assertEqual(self.task(tid)["status"], "pending")
        self.assertEqual(self.claim("v")["id"], tid)

    def test_no_pass_over_when_no_other_agent_can(self):
        self.register("solo", capabilities=["rare"])
        tid = self.submit(required_capabilities=["rare"])
        self.assertEqual(self.claim("solo")["id"], tid)
        self.assertStatus(self.c.post("tasks/%s/fail" % tid, {"agent_id": "solo"}), 200)
        t = self.claim("solo")
        self.assertIsNotNone(t, "sole capable agent passed over")
        self.assertEqual(t["id"], tid)
        self.assertEqual(t["attempt"], 2)

    def test_cancel(self):
        pending = self.submit(required_capabilities=["nobody-has-this"])
        r = self.c.post("tasks/%s/cancel" % pending)
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"cancelled": True})
        self.assertEqual(self.task(pending)["status"], "cancelled")
        self.assertError(self.c.post("tasks/%s/cancel" % pending), 409, "conflict", "cancelled")

        claimed = self.claimed_task()
        self.assertStatus(self.c.post("tasks/%s/cancel" % claimed, {}), 200)
        self.assertEqual(self.task(claimed)["status"], "cancelled")
        self.assertError(self.c.post("tasks/%s/complete" % claimed, {"agent_id": "w"}), 409,
                         "conflict", "cancelled")
        self.assertEqual(self.agent("w")["tasks_in_flight"], 0)

        running = self.claimed_task()
        self.assertStatus(self.c.post("tasks/%s/start" % running, {"agent_id": "w"}), 200)
        self.assertStatus(self.c.post("tasks/%s/cancel" % running), 200)
        self.assertError(self.c.post("tasks/%s/fail" % running, {"agent_id": "w"}), 409,
                         "conflict", "cancelled")
        self.assertError(self.c.post("tasks/task_000000000000000000000000/cancel"), 404,
                         "not_found")

    def test_cancelled_task_is_not_claimable(self):
        tid = self.submit(required_capabilities=["x"])
        self.assertStatus(self.c.post("tasks/%s/cancel" % tid), 200)
        self.assertIsNone(self.claim("w"))

    def test_unregister_requeues_without_retry(self):
        tid = self.claimed_task(agent="w")
        self.assertStatus(self.c.delete("agents/w"), 200)
        t = self.task(tid)
        self.assertEqual(t["status"], "pending")
        self.assertIsNone(t["assigned_agent"])
        self.assertEqual(t["retries"], 0)
        self.assertEqual(self.claim("v")["id"], tid)

    def test_agent_counters(self):
        self.register("cnt", capabilities=["k"], max_concurrent_tasks=2)
        t1 = self.submit(required_capabilities=["k"])
        t2 = self.submit(required_capabilities=["k"])
        self.claim("cnt")
        a = self.agent("cnt")
        self.assertEqual((a["tasks_in_flight"], a["status"], a["current_task_id"]),
                         (1, "ready", t1))
        self.claim("cnt")
        a = self.agent("cnt")
        self.assertEqual((a["tasks_in_flight"], a["status"]), (2, "busy"))
        self.assertStatus(self.c.post("tasks/%s/complete" % t1,
                                      {"agent_id": "cnt", "latency_ms": 100}), 200)
        a = self.agent("cnt")
        self.assertEqual((a["tasks_in_flight"], a["status"], a["tasks_completed"],
                          a["tasks_failed"]), (1, "ready", 1, 0))
        self.assertAlmostEqual(a["avg_latency_ms"], 100.0)
        self.assertStatus(self.c.post("tasks/%s/fail" % t2, {"agent_id": "cnt", "latency_ms": 300,
                                                             "requeue": False}), 200)
        a = self.agent("cnt")
        self.assertEqual((a["tasks_in_flight"], a["status"], a["tasks_completed"],
                          a["tasks_failed"], a["current_task_id"]), (0, "ready", 1, 1, None))
        # mean over its finished tasks (completed and failed)
        self.assertAlmostEqual(a["avg_latency_ms"], 200.0)

    def test_latency_measured_from_claimed_at_when_absent(self):
        tid = self.claimed_task()
        time.sleep(0.3)
        self.assertStatus(self.c.post("tasks/%s/complete" % tid, {"agent_id": "w"}), 200)
        lat = self.agent("w")["avg_latency_ms"]
        self.assertGreaterEqual(lat, 250)
        self.assertLess(lat, 5000)

    def test_requests_refresh_last_heartbeat(self):
        tid = self.claimed_task()
        hb0 = parse_timestamp(self.agent("w")["last_heartbeat"])
        time.sleep(0.05)
        self.assertStatus(self.c.post("tasks/%s/complete" % tid, {"agent_id": "w"}), 200)
        hb1 = parse_timestamp(self.agent("w")["last_heartbeat"])
        self.assertGreater(hb1, hb0)
        time.sleep(0.05)
        self.claim("w")
        self.assertGreater(parse_timestamp(self.agent("w")["last_heartbeat"]), hb1)


class WaitForResult(CpdTestCase):
    def test_wait_ms_returns_when_task_completes(self):
        self.register("w")
        tid = self.submit()
        self.claim("w")
        h = in_thread(self.cpd.client().get, "tasks/%s?wait_ms=5000" % tid)
        time.sleep(0.3)
        self.assertStatus(self.c.post("tasks/%s/complete" % tid,
                                      {"agent_id": "w", "result": {"ok": True}}), 200)
        r, elapsed = h.join()
        self.assertStatus(r, 200)
        self.assertEqual(r.body["status"], "completed")
        self.assertEqual(r.body["result"], {"ok": True})
        self.assertLess(elapsed, 1.5)
        self.assertGreaterEqual(elapsed, 0.25)

    def test_wait_ms_times_out_with_current_state(self):
        tid = self.submit()
        t0 = time.monotonic()
        r = self.c.get("tasks/%s?wait_ms=600" % tid)
        elapsed = time.monotonic() - t0
        self.assertStatus(r, 200)
        self.assertEqual(r.body["status"], "pending")
        self.assertGreaterEqual(elapsed, 0.55)
        self.assertLess(elapsed, 2.0)

    def test_wait_ms_on_terminal_task_is_immediate(self):
        tid = self.submit()
        self.assertStatus(self.c.post("tasks/%s/cancel" % tid), 200)
        t0 = time.monotonic()
        r = self.c.get("tasks/%s?wait_ms=5000" % tid)
        self.assertEqual(r.body["status"], "cancelled")
        self.assertLess(time.monotonic() - t0, 1.0)

    def test_wait_ms_errors(self):
        tid = self.submit()
        self.assertError(self.c.get("tasks/%s?wait_ms=abc" % tid), 400, "invalid_field",
                         "wait_ms")
        self.assertError(self.c.get("tasks/%s?wait_ms=-1" % tid), 400, "invalid_field",
                         "wait_ms")
        self.assertError(self.c.get("tasks/task_000000000000000000000000?wait_ms=100"), 404,
                         "not_found")


class Timeouts(CpdTestCase):
    def test_timeout_requeues_then_times_out(self):
        self.register("slow", capabilities=["to"])
        tid = self.submit(required_capabilities=["to"], timeout_seconds=1, max_retries=2)
        t = self.claim("slow")
        claimed_at = time.monotonic()
        self.assertEqual(t["id"], tid)

        def status():
            return self.task(tid)["status"]

        time.sleep(0.6)
        self.assertEqual(status(), "claimed", "timed out early")
        wait_until(lambda: status() == "pending", 3.0, what="timed-out task requeued")
        self.assertLess(time.monotonic() - claimed_at, 2.6, "timeout handled late")
        t = self.task(tid)
        self.assertEqual(t["retries"], 1)
        self.assertIsNone(t["assigned_agent"])
        a = self.agent("slow")
        self.assertEqual((a["tasks_in_flight"], a["status"]), (0, "ready"))

        # Running tasks time out as well; the last retry ends in status timeout.
        t = self.claim("slow")
        self.assertEqual(t["id"], tid)
        self.assertEqual(t["attempt"], 2)
        self.assertStatus(self.c.post("tasks/%s/start" % tid, {"agent_id": "slow"}), 200)
        claimed_at = time.monotonic()
        wait_until(lambda: status() == "timeout", 3.0, what="task status timeout")
        self.assertLess(time.monotonic() - claimed_at, 2.6)
        t = self.task(tid)
        self.assertEqual(t["retries"], 2)
        self.assertError(self.c.post("tasks/%s/complete" % tid, {"agent_id": "slow"}), 409,
                         "conflict", "timeout")
        self.assertIsNone(self.claim("slow"))

    def test_late_completion_by_previous_holder_is_409(self):
        self.register("late", capabilities=["to"])
        self.register("next", capabilities=["to"])
        tid = self.submit(required_capabilities=["to"], timeout_seconds=1, max_retries=3)
        self.assertEqual(self.claim("late")["id"], tid)
        wait_until(lambda: self.task(tid)["status"] == "pending", 3.0, what="requeue")
        self.assertEqual(self.claim("next")["id"], tid)
        self.assertError(self.c.post("tasks/%s/complete" % tid, {"agent_id": "late"}), 409,
                         "conflict")
        self.assertStatus(self.c.post("tasks/%s/complete" % tid, {"agent_id": "next"}), 200)
        self.assertEqual(self.task(tid)["assigned_agent"], "next")


class OfflineRequeue(CpdTestCase):
    cpd_env = {"HEARTBEAT_TIMEOUT": "1", "CLEANUP_INTERVAL": "0.25"}

    def test_offline_agents_tasks_requeued_with_retry(self):
        self.register("vanishing", capabilities=["off"])
        tid = self.submit(required_capabilities=["off"], max_retries=3)
        self.assertEqual(self.claim("vanishing")["id"], tid)
        wait_until(lambda: self.agent("vanishing")["status"] == "offline", 3.0, what="offline")
        t = self.task(tid)
        self.assertEqual(t["status"], "pending")
        self.assertEqual(t["retries"], 1)
        self.assertEqual(t["error"], "agent offline")
        self.assertIsNone(t["assigned_agent"])
        self.assertEqual(self.agent("vanishing")["tasks_in_flight"], 0)

    def test_offline_agent_claim_is_null_at_once(self):
        self.register("ghost")
        wait_until(lambda: self.agent("ghost")["status"] == "offline", 3.0, what="offline")
        tid = self.submit()
        t0 = time.monotonic()
        self.assertIsNone(self.claim("ghost", block_ms=2000))
        self.assertLess(time.monotonic() - t0, 1.0)
        self.assertEqual(self.task(tid)["status"], "pending")


class GuideLifecycle(CpdTestCase):
    """The guide's 'Task Lifecycle' example, step by step over REST."""

    def test_lifecycle_complete(self):
        self.register("my-agent", capabilities=["code", "critique"])
        tid = self.submit(task_type="code_review", payload={"file": "main.py", "diff": "..."},
                          required_capabilities=["code", "critique"], priority="high",
                          timeout_seconds=120, metadata={"pr_id": "123"})
        t0 = time.monotonic()
        task = self.claim("my-agent", capabilities=["code", "critique"], block_ms=5000)
        self.assertLess(time.monotonic() - t0, 1.0)
        self.assertEqual(task["id"], tid)
        self.assertEqual(task["payload"], {"file": "main.py", "diff": "..."})
        self.assertEqual(task["priority"], "high")
        self.assertEqual(task["timeout_seconds"], 120)
        self.assertEqual(task["metadata"], {"pr_id": "123"})
        r = self.c.post("tasks/%s/complete" % tid,
                        {"result": {"review": "LGTM"}, "agent_id": "my-agent",
                         "latency_ms": 1500.0})
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"completed": True})
        done = self.c.get("tasks/%s?wait_ms=60000" % tid).body
        self.assertEqual(done["status"], "completed")
        self.assertEqual(done["result"], {"review": "LGTM"})
        a = self.agent("my-agent")
        self.assertEqual(a["tasks_completed"], 1)
        self.assertAlmostEqual(a["avg_latency_ms"], 1500.0)
        self.assertEqual(a["status"], "ready")

    def test_lifecycle_fail_with_requeue(self):
        self.register("my-agent", capabilities=["code", "critique"])
        tid = self.submit(task_type="code_review", payload={"file": "main.py", "diff": "..."},
                          required_capabilities=["code", "critique"], priority="high",
                          timeout_seconds=120, metadata={"pr_id": "123"})
        task = self.claim("my-agent", capabilities=["code", "critique"], block_ms=5000)
        self.assertEqual(task["id"], tid)
        r = self.c.post("tasks/%s/fail" % tid, {"error": "model timed out",
                                                "agent_id": "my-agent", "requeue": True})
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"failed": True, "status": "pending", "retries": 1})
        t = self.task(tid)
        self.assertEqual((t["status"], t["error"], t["retries"]),
                         ("pending", "model timed out", 1))
        self.assertEqual(self.agent("my-agent")["tasks_failed"], 1)
        # The only capable agent is not passed over: it retries the task.
        self.assertEqual(self.claim("my-agent")["id"], tid)


if __name__ == "__main__":
    main()
