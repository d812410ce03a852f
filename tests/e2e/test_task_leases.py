"""test_task_leases.py — an attempt's lease and the tasks that wait (docs/api.md "Tasks"):
deadline_at on claim, POST /tasks/:id/extend with progress (fenced like complete), the timeout
rule on deadline_at, delayed and scheduled submits (delay_seconds, run_at), retry backoff per
task and from tasks.retry_backoff, and held claims woken when a waiting task becomes due (not
polled). Runs on both stores.
"""

import time
from datetime import datetime, timedelta, timezone

from cpdtest import CpdTestCase, in_thread, main, parse_timestamp, wait_until


def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (dt.microsecond // 1000)


class Leases(CpdTestCase):
    per_test = False

    def agent_with_cap(self, **fields):
        cap = self.uid("cap")
        agent = self.register(capabilities=[cap], **fields)["agent_id"]
        return agent, cap

    def test_claim_reply_carries_deadline_at(self):
        agent, cap = self.agent_with_cap()
        tid = self.submit(required_capabilities=[cap], timeout_seconds=120)
        t = self.claim(agent)
        self.assertEqual(t["id"], tid)
        self.assertTimestamp(t["deadline_at"])
        self.assertAlmostEqual(parse_timestamp(t["deadline_at"]) - parse_timestamp(t["claimed_at"]),
                               120, delta=0.01)
        self.assertIsNone(t["progress"])
        self.assertEqual(len(t["attempts"]), 1)
        a = t["attempts"][0]
        self.assertEqual((a["agent_id"], a["outcome"], a["ended_at"]), (agent, None, None))
        self.assertEqual(a["started_at"], t["claimed_at"])
        # Pending and finished tasks have none.
        self.assertIsNone(self.task(self.submit(required_capabilities=[cap]))["deadline_at"])
        self.assertStatus(self.c.post("tasks/%s/complete" % tid, {"agent_id": agent}), 200)
        done = self.task(tid)
        self.assertIsNone(done["deadline_at"])
        self.assertEqual(done["attempts"][-1]["outcome"], "completed")
        self.assertEqual(done["attempts"][-1]["ended_at"], done["completed_at"])

    def test_extend_moves_the_deadline_and_reports_progress(self):
        agent, cap = self.agent_with_cap()
        tid = self.submit(required_capabilities=[cap], timeout_seconds=30)
        self.claim(agent)
        r = self.c.post("tasks/%s/extend" % tid,
                        {"agent_id": agent, "seconds": 600,
                         "progress": {"percent": 42.5, "message": "page 3 of 7"}})
        self.assertStatus(r, 200)
        self.assertTrue(r.body["extended"])
        self.assertAlmostEqual(parse_timestamp(r.body["deadline_at"]), time.time() + 600, delta=5)
        self.assertEqual(r.body["progress"], {"percent": 42.5, "message": "page 3 of 7"})
        t = self.task(tid)
        self.assertEqual(t["deadline_at"], r.body["deadline_at"])
        self.assertEqual(t["progress"], {"percent": 42.5, "message": "page 3 of 7"})
        # Without seconds: the task's own timeout from now; progress kept when not sent.
        r = self.c.post("tasks/%s/extend" % tid, {"agent_id": agent})
        self.assertStatus(r, 200)
        self.assertAlmostEqual(parse_timestamp(r.body["deadline_at"]), time.time() + 30, delta=5)
        self.assertEqual(self.task(tid)["progress"]["message"], "page 3 of 7")

    def test_extend_is_fenced_like_complete(self):
        agent, cap = self.agent_with_cap()
        other = self.register(capabilities=[cap])["agent_id"]
        tid = self.submit(required_capabilities=[cap])
        self.assertError(self.c.post("tasks/%s/extend" % tid, {"agent_id": agent}), 409,
                         "conflict", "pending")
        self.claim(agent)
        self.assertError(self.c.post("tasks/%s/extend" % tid, {"agent_id": other}), 409,
                         "conflict", agent)
        self.assertError(self.c.post("tasks/task_%024x/extend" % 7, {"agent_id": agent}), 404,
                         "not_found")
        for body, field in (({"seconds": 0}, "seconds"), ({"seconds": "5"}, "seconds"),
                            ({"progress": 5}, "progress"),
                            ({"progress": {"percent": 101}}, "percent"),
                            ({"progress": {"message": 3}}, "message"),
                            ({"progress": {"eta": 3}}, "eta"),
                            ({"progress": {"message": "x" * 1025}}, "message")):
            body["agent_id"] = agent
            self.assertError(self.c.post("tasks/%s/extend" % tid, body), 400, "invalid_field",
                             field)
        self.assertIsNone(self.task(tid)["progress"])

    def test_timeout_follows_the_extended_deadline(self):
        agent, cap = self.agent_with_cap()
        tid = self.submit(required_capabilities=[cap], timeout_seconds=1, max_retries=3)
        self.claim(agent)
        self.assertStatus(self.c.post("tasks/%s/extend" % tid,
                                      {"agent_id": agent, "seconds": 3,
                                       "progress": {"percent": 10}}), 200)
        time.sleep(1.6)  # past claimed_at + timeout_seconds: still held
        t = self.task(tid)
        self.assertEqual(t["status"], "claimed")
        t = wait_until(lambda: (lambda x: x if x["status"] == "pending" else None)(self.task(tid)),
                       6.0, what="the timeout at the extended deadline")
        self.assertEqual((t["retries"], t["error"], t["progress"]), (1, "timeout", None))
        self.assertEqual([a["outcome"] for a in t["attempts"]], ["timeout"])
        self.assertEqual(t["attempts"][0]["error"], "timeout")


class Waiting(CpdTestCase):
    per_test = False

    def agent_with_cap(self):
        cap = self.uid("cap")
        return self.register(capabilities=[cap])["agent_id"], cap

    def held_claim(self, agent, block_ms=8000):
        h = in_thread(self.claim, agent, client=self.cpd.client(), block_ms=block_ms)
        return h

    def test_delayed_task_goes_to_a_held_claim_when_due(self):
        agent, cap = self.agent_with_cap()
        t0 = time.monotonic()
        tid = self.submit(required_capabilities=[cap], delay_seconds=1.5)
        t = self.task(tid)
        self.assertEqual(t["status"], "pending")
        self.assertAlmostEqual(parse_timestamp(t["not_before"]), time.time() + 1.5, delta=1)
        self.assertIsNone(self.claim(agent))  # not yet
        h = self.held_claim(agent)
        task, _ = h.join(15)
        waited = time.monotonic() - t0
        self.assertIsNotNone(task, "the held claim got nothing")
        self.assertEqual(task["id"], tid)
        self.assertGreaterEqual(waited, 1.4)
        self.assertLess(waited, 4.0)  # woken when due, within the reaper's precision

    def test_scheduled_run_at(self):
        agent, cap = self.agent_with_cap()
        at = datetime.now(timezone.utc) + timedelta(seconds=1.2)
        tid = self.submit(required_capabilities=[cap], run_at=iso(at))
        self.assertEqual(self.task(tid)["not_before"], iso(at))
        self.assertIsNone(self.claim(agent))
        task, _ = self.held_claim(agent).join(15)
        self.assertEqual(task["id"], tid)
        self.assertGreaterEqual(time.time(), at.timestamp() - 0.05)
        self.assertStatus(self.c.post("tasks/%s/complete" % tid, {"agent_id": agent}), 200)
        # An offset is understood; a moment past is claimable at once.
        past = (datetime.now(timezone.utc) - timedelta(hours=1)).astimezone(
            timezone(timedelta(hours=2)))
        tid = self.submit(required_capabilities=[cap],
                          run_at=past.strftime("%Y-%m-%dT%H:%M:%S+02:00"))
        self.assertIsNone(self.task(tid)["not_before"])
        self.assertEqual(self.claim(agent)["id"], tid)

    def test_bad_schedules_are_refused(self):
        before = self.c.get("tasks?limit=1").body["total"]
        soon = iso(datetime.now(timezone.utc) + timedelta(seconds=60))
        for body, field in (({"delay_seconds": -1}, "delay_seconds"),
                            ({"delay_seconds": "5"}, "delay_seconds"),
                            ({"delay_seconds": 40000000}, "delay_seconds"),
                            ({"run_at": "tomorrow"}, "run_at"),
                            ({"run_at": "2026-02-30T10:00:00Z"}, "run_at"),
                            ({"run_at": "2026-01-01T10:00:00"}, "run_at"),
                            ({"run_at": iso(datetime.now(timezone.utc) + timedelta(days=400))},
                             "run_at"),
                            ({"run_at": soon, "delay_seconds": 5}, "delay_seconds"),
                            ({"retry_backoff": "fast"}, "retry_backoff"),
                            ({"retry_backoff": {"type": "linear", "seconds": 1}}, "type"),
                            ({"retry_backoff": {"type": "fixed"}}, "seconds"),
                            ({"retry_backoff": {"seconds": -1}}, "seconds"),
                            ({"retry_backoff": {"seconds": 5, "max_seconds": 1}}, "max_seconds"),
                            ({"retry_backoff": {"seconds": 1, "jitter": "yes"}}, "jitter"),
                            ({"retry_backoff": {"seconds": 1, "factor": 3}}, "factor")):
            body["task_type"] = "t"
            r = self.c.post("tasks", body)
            self.assertStatus(r, 400, repr(body))
            self.assertIn(field, r.body["error"])
        self.assertEqual(self.c.get("tasks?limit=1").body["total"], before)

    def test_cancel_a_waiting_task(self):
        agent, cap = self.agent_with_cap()
        tid = self.submit(required_capabilities=[cap], delay_seconds=1)
        self.assertStatus(self.c.post("tasks/%s/cancel" % tid), 200)
        time.sleep(1.5)
        self.assertIsNone(self.claim(agent))
        self.assertEqual(self.task(tid)["status"], "cancelled")

    def test_backoff_delays_the_retry_and_wakes_the_held_claim(self):
        agent, cap = self.agent_with_cap()
        tid = self.submit(required_capabilities=[cap], max_retries=5,
                          retry_backoff={"type": "exponential", "seconds": 1, "max_seconds": 2})
        self.assertEqual(self.task(tid)["retry_backoff"],
                         {"type": "exponential", "seconds": 1, "max_seconds": 2, "jitter": False})
        delays = []
        self.assertEqual(self.claim(agent)["id"], tid)
        for expect in (1, 2, 2):
            t0 = time.monotonic()
            r = self.c.post("tasks/%s/fail" % tid, {"agent_id": agent, "error": "flaky"})
            self.assertEqual(r.body["status"], "pending")
            t = self.task(tid)
            self.assertAlmostEqual(parse_timestamp(t["not_before"]), time.time() + expect,
                                   delta=0.5)
            self.assertIsNone(self.claim(agent))  # the same agent cannot have it at once
            task, _ = self.held_claim(agent).join(15)
            self.assertEqual(task["id"], tid)  # the agent holds it again
            delays.append(time.monotonic() - t0)
        for waited, expect in zip(delays, (1, 2, 2)):
            self.assertGreaterEqual(waited, expect - 0.15)
            self.assertLess(waited, expect + 2.5)
        t = self.task(tid)
        self.assertEqual([a["outcome"] for a in t["attempts"]],
                         ["failed", "failed", "failed", None])

    def test_no_backoff_by_default(self):
        agent, cap = self.agent_with_cap()
        tid = self.submit(required_capabilities=[cap])
        self.assertIsNone(self.task(tid)["retry_backoff"])
        self.claim(agent)
        self.c.post("tasks/%s/fail" % tid, {"agent_id": agent})
        self.assertIsNone(self.task(tid)["not_before"])
        self.assertEqual(self.claim(agent)["id"], tid)


class BackoffFromConfig(CpdTestCase):
    cpd_config = {"tasks": {"retry_backoff": {"type": "fixed", "seconds": 2, "jitter": True}}}

    def test_config_default_and_override(self):
        cap = self.uid("cap")
        agent = self.register(capabilities=[cap])["agent_id"]
        tid = self.submit(required_capabilities=[cap])
        self.assertEqual(self.task(tid)["retry_backoff"],
                         {"type": "fixed", "seconds": 2, "max_seconds": None, "jitter": True})
        self.claim(agent)
        self.c.post("tasks/%s/fail" % tid, {"agent_id": agent})
        wait = parse_timestamp(self.task(tid)["not_before"]) - time.time()
        self.assertGreater(wait, 0.4)  # jitter: between half of 2 s and 2 s
        self.assertLess(wait, 2.5)
        # A task may say none.
        tid = self.submit(required_capabilities=[cap], retry_backoff={"type": "none"})
        self.assertIsNone(self.task(tid)["retry_backoff"])


if __name__ == "__main__":
    main()
