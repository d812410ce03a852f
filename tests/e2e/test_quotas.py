"""test_quotas.py — provider quotas and 429s as backoff (docs/fleet.md), on both stores: tasks'
est_tokens (declared, or the task type's default from tasks.est_tokens) and the usage reported
with complete/fail, kept in TaskJSON; fail with "reason": "rate_limited" returns the task to
pending with no retry counted, recorded as a rate_limited attempt."""

import time
import unittest

import cpdtest


class TokenFields(cpdtest.CpdTestCase):
    cpd_config = {"tasks": {"est_tokens": {"summarize": {"input": 300, "max_output": 50},
                                           '"*"': {"input": 10, "max_output": 5}}}}

    def test_est_tokens_declared_default_and_checked(self):
        tid = self.submit(task_type="x", est_tokens={"input": 1200, "max_output": 400})
        self.assertEqual(self.task(tid)["est_tokens"], {"input": 1200, "max_output": 400})
        self.assertEqual(self.task(self.submit(task_type="summarize"))["est_tokens"],
                         {"input": 300, "max_output": 50})
        self.assertEqual(self.task(self.submit(task_type="other"))["est_tokens"],
                         {"input": 10, "max_output": 5})
        for bad, name in (({"input": -1}, "est_tokens.input"), ("many", "est_tokens"),
                          ({"inputs": 3}, "est_tokens.inputs"),
                          ({"max_output": 1.5}, "est_tokens.max_output")):
            r = self.c.post("tasks", {"task_type": "x", "est_tokens": bad})
            self.assertError(r, 400, "invalid_field", mentions=name)
        r = self.c.post("tasks/batch", {"tasks": [{"task_type": "x",
                                                   "est_tokens": {"input": 7}}]})
        self.assertStatus(r, 200)
        t = self.task(r.body["results"][0]["task_id"])
        self.assertEqual(t["est_tokens"], {"input": 7, "max_output": 0})

    def test_usage_kept_with_complete_and_fail(self):
        cap = self.uid("cap")
        self.register("w", capabilities=[cap])
        tid = self.submit(task_type="x", required_capabilities=[cap], max_retries=3)
        self.assertIsNone(self.task(tid)["usage"])
        self.assertEqual(self.claim("w")["id"], tid)
        r = self.c.post("tasks/%s/fail" % tid, {"agent_id": "w", "error": "boom",
                                                 "usage": {"input_tokens": 5,
                                                           "output_tokens": 0}})
        self.assertStatus(r, 200)
        self.assertEqual(self.task(tid)["usage"],
                         {"input_tokens": 5, "output_tokens": 0, "cached_tokens": 0})
        self.assertEqual(self.claim("w")["id"], tid)
        r = self.c.post("tasks/%s/complete" % tid,
                        {"agent_id": "w", "result": {"ok": 1},
                         "usage": {"input_tokens": 900, "output_tokens": 120,
                                   "cached_tokens": 800}})
        self.assertStatus(r, 200)
        t = self.task(tid)
        self.assertEqual(t["usage"], {"input_tokens": 900, "output_tokens": 120,
                                      "cached_tokens": 800})
        self.assertEqual(t["result"], {"ok": 1})
        for bad, name in (({"input_tokens": -2}, "usage.input_tokens"), (3, "usage"),
                          ({"tokens": 1}, "usage.tokens")):
            r = self.c.post("tasks/%s/complete" % tid, {"usage": bad})
            self.assertError(r, 400, "invalid_field", mentions=name)

    def test_rate_limited_fail_is_backoff_not_failure(self):
        cap = self.uid("cap")
        self.register("w", capabilities=[cap])
        tid = self.submit(task_type="x", required_capabilities=[cap], max_retries=0)
        self.assertEqual(self.claim("w")["id"], tid)
        r = self.c.post("tasks/%s/fail" % tid, {"agent_id": "w", "error": "429 from provider",
                                                 "reason": "rate_limited",
                                                 "retry_after_ms": 400})
        self.assertStatus(r, 200)
        self.assertEqual((r.body["status"], r.body["retries"]), ("pending", 0))
        t = self.task(tid)
        self.assertEqual((t["status"], t["retries"]), ("pending", 0))
        self.assertEqual(t["attempts"][-1]["outcome"], "rate_limited")
        self.assertEqual(self.agent("w")["tasks_failed"], 0)
        # It waits the retry time (no quota of the agent took the pause), then is claimable.
        self.assertIsNone(self.claim("w"))
        got = self.claim("w", block_ms=5000)
        self.assertIsNotNone(got)
        self.assertEqual(got["id"], tid)
        for body, name in (({"reason": "slow"}, "reason"),
                           ({"retry_after_ms": 5}, "retry_after_ms"),
                           ({"reason": "rate_limited", "retry_after_ms": -1}, "retry_after_ms")):
            body["agent_id"] = "w"
            self.assertError(self.c.post("tasks/%s/fail" % tid, body), 400, "invalid_field",
                             mentions=name)


if __name__ == "__main__":
    unittest.main()
