"""test_quotas.py — provider quotas and 429s as backoff (docs/fleet.md), on both stores: tasks'
est_tokens (declared, or the task type's default from tasks.est_tokens) and the usage reported
with complete/fail, kept in TaskJSON; fail with "reason": "rate_limited" returns the task to
pending with no retry counted, recorded as a rate_limited attempt."""

import json
import os
import subprocess
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


class Quotas(cpdtest.CpdTestCase):
    """Provider quotas, on both stores (on Redis kept and enforced by its scripts)."""
    cpd_config = {"auth": {"tokens": ["adm:admin", "ag:agent", "rd:reader"]},
                  "quotas": [{"id": "cfg-q", "scope": {"provider": "cfgp", "model": "m1"},
                              "rpm": 100, "tpm": 5000}]}
    token = "adm"

    def put(self, expect=(200, 201), **q):
        r = self.c.post("quotas", q)
        self.assertIn(r.status, expect if isinstance(expect, tuple) else (expect,), r.body)
        return r.body

    def quota(self, qid):
        r = self.c.get("quotas/" + qid)
        self.assertStatus(r, 200)
        return r.body

    def test_crud_config_and_errors(self):
        listed = self.c.get("quotas", token="rd").body["quotas"]
        self.assertEqual([q["id"] for q in listed], ["cfg-q"])  # from the YAML file
        self.assertEqual(listed[0]["scope"], {"provider": "cfgp", "model": "m1", "key_id": None})
        self.assertEqual((listed[0]["rpm"], listed[0]["tpm"], listed[0]["max_in_flight"]),
                         (100, 5000, None))
        r = self.c.post("quotas", {"id": "q1", "scope": {"provider": "openai", "key_id": "k1"},
                                   "rpm": 10, "tpm": 1000, "max_in_flight": 3})
        self.assertStatus(r, 201)
        self.assertEqual((r.body["requests_left"], r.body["tokens_left"], r.body["in_flight"],
                          r.body["concurrency_limit"], r.body["paused_until"]), (10, 1000, 0, 3, None))
        r = self.c.post("quotas", {"id": "q1", "scope": {"provider": "openai"}, "rpm": 20})
        self.assertStatus(r, 200)  # replaced
        self.assertEqual((r.body["rpm"], r.body["tpm"]), (20, None))
        self.assertEqual(self.quota("q1")["scope"]["key_id"], None)
        self.assertError(self.c.post("quotas", {"id": "x", "scope": {"provider": "p"}},
                                     token="rd"), 403, "forbidden")
        for body, code, name in (({"scope": {"provider": "p"}}, "missing_field", "id"),
                                 ({"id": "x"}, "missing_field", "scope"),
                                 ({"id": "x", "scope": {}}, "missing_field", "scope.provider"),
                                 ({"id": "x", "scope": {"provider": "p"}, "rpm": 0},
                                  "invalid_field", "rpm"),
                                 ({"id": "x", "scope": {"provider": "p"}, "tpm": 1.5},
                                  "invalid_field", "tpm"),
                                 ({"id": "x", "scope": {"provider": "p", "region": "eu"}},
                                  "invalid_field", "scope.region"),
                                 ({"id": "x y", "scope": {"provider": "p"}}, "invalid_field", "id"),
                                 ({"id": "x", "scope": {"provider": "p"}, "burst": 1},
                                  "invalid_field", "burst")):
            self.assertError(self.c.post("quotas", body), 400, code, mentions=name)
        self.assertError(self.c.get("quotas/nope"), 404, "not_found")
        self.assertStatus(self.c.delete("quotas/q1"), 200)
        self.assertError(self.c.delete("quotas/q1"), 404, "not_found")

    def test_rpm_and_tokens_reserved_at_claim_and_settled(self):
        self.put(id="oa", scope={"provider": "oa"}, rpm=3, tpm=1000)
        cap = self.uid("cap")
        self.register("a", capabilities=[cap], provider="oa", model="g", max_concurrent_tasks=5,
                      )
        self.register("o", capabilities=[cap], provider="other")
        t1 = self.submit(required_capabilities=[cap], est_tokens={"input": 500, "max_output": 100})
        t2 = self.submit(required_capabilities=[cap], est_tokens={"input": 500, "max_output": 0})
        self.assertEqual(self.claim("a")["id"], t1)
        q = self.quota("oa")
        self.assertEqual((q["requests_used"], q["tokens_used"], q["in_flight"]), (1, 600, 1))
        self.assertIsNotNone(q["next_room_at"])
        # t2 does not fit the tokens left: not for this agent; one under another quota takes it
        self.assertIsNone(self.claim("a"))
        # real use settles the reservation: 600 reserved, 150 used
        r = self.c.post("tasks/%s/complete" % t1, {"agent_id": "a", "usage": {
            "input_tokens": 100, "output_tokens": 50, "cached_tokens": 40}})
        self.assertStatus(r, 200)
        q = self.quota("oa")
        self.assertEqual((q["tokens_used"], q["in_flight"]), (150, 0))
        self.assertEqual(self.claim("a")["id"], t2)
        self.assertEqual(self.quota("oa")["tokens_used"], 650)
        # requests: 2 of 3 used; a third claim, then none
        t3 = self.submit(required_capabilities=[cap])
        t4 = self.submit(required_capabilities=[cap])
        self.assertEqual(self.claim("a")["id"], t3)
        self.assertEqual(self.quota("oa")["requests_left"], 0)
        self.assertIsNone(self.claim("a"))
        self.assertEqual(self.claim("o")["id"], t4)  # not under the quota
        # the quota's gauges
        m = self.c.get("/metrics").body
        self.assertIn('cp_quota_requests_left{quota="oa"} 0', m)

    def test_max_in_flight_held_claim_woken_when_a_task_leaves(self):
        self.put(id="mif", scope={"provider": "pm", "model": "m"}, max_in_flight=1)
        cap = self.uid("cap")
        for a in ("a1", "a2"):
            self.register(a, capabilities=[cap], provider="pm", model="m")
        t1 = self.submit(required_capabilities=[cap])
        t2 = self.submit(required_capabilities=[cap])
        self.assertEqual(self.claim("a1")["id"], t1)
        self.assertIsNone(self.claim("a2"))  # the quota's one slot is taken
        h = cpdtest.in_thread(self.cpd.client(token="ag").post, "tasks/claim",
                              {"agent_id": "a2", "block_ms": 20000})
        time.sleep(0.3)
        self.assertStatus(self.c.post("tasks/%s/complete" % t1, {"agent_id": "a1"}, token="ag"),
                          200)
        (r, elapsed) = h.join()
        self.assertEqual(r.body["task"]["id"], t2)
        self.assertLess(elapsed, 10)  # woken by the slot, not by its block time

    def test_a_task_timing_out_gives_its_place_back_and_wakes_held_claims(self):
        self.put(id="to", scope={"provider": "pt"}, max_in_flight=1)
        cap = self.uid("cap")
        for a in ("h1", "h2"):
            self.register(a, capabilities=[cap], provider="pt")
        t1 = self.submit(required_capabilities=[cap], timeout_seconds=1, max_retries=0)
        self.assertEqual(self.claim("h1")["id"], t1)
        t2 = self.submit(required_capabilities=[cap])
        self.assertIsNone(self.claim("h2"))  # the quota's one place is t1's
        h = cpdtest.in_thread(self.cpd.client(token="ag").post, "tasks/claim",
                              {"agent_id": "h2", "block_ms": 15000})
        (r, elapsed) = h.join()
        # t1 timed out for good (no task became pending): the reaper's release woke the claim
        self.assertEqual(r.body["task"]["id"], t2)
        self.assertLess(elapsed, 8)
        self.assertEqual(self.task(t1)["status"], "timeout")
        self.assertEqual(self.quota("to")["in_flight"], 1)  # t2's

    def test_rate_limited_pauses_the_quota_for_every_agent(self):
        self.put(id="rl", scope={"provider": "pr"}, max_in_flight=4)
        cap = self.uid("cap")
        for a, prov in (("a", "pr"), ("b", "pr"), ("c", "elsewhere")):
            self.register(a, capabilities=[cap], provider=prov)
        events = cpdtest.SseReader(self.cpd.port, "events", token="rd")
        try:
            t = self.submit(required_capabilities=[cap], max_retries=0)
            self.assertEqual(self.claim("a")["id"], t)
            r = self.c.post("tasks/%s/fail" % t, {"agent_id": "a", "error": "429",
                                                  "reason": "rate_limited",
                                                  "retry_after_ms": 1500})
            self.assertStatus(r, 200)
            self.assertEqual((r.body["status"], r.body["retries"]), ("pending", 0))
            q = self.quota("rl")
            self.assertIsNotNone(q["paused_until"])
            self.assertEqual(q["rate_limited"], 1)
            self.assertIsNone(self.claim("b"))  # paused for every agent under it
            self.assertEqual(self.claim("c")["id"], t)  # left for agents under other quotas
            seen = events.until(lambda e: e["event"] == "quota_paused", timeout=5)
            self.assertEqual(seen[-1]["data"]["quota_id"], "rl")
            # a claim held by the pause is woken when it ends
            t2 = self.submit(required_capabilities=[cap])
            h = cpdtest.in_thread(self.cpd.client(token="ag").post, "tasks/claim",
                                  {"agent_id": "b", "block_ms": 20000})
            (r, elapsed) = h.join()
            self.assertEqual(r.body["task"]["id"], t2)
            self.assertLess(elapsed, 10)
            seen = events.until(lambda e: e["event"] == "quota_resumed", timeout=5)
            self.assertEqual(seen[-1]["data"]["quota_id"], "rl")
        finally:
            events.close()
        self.assertEqual(self.agent("a")["tasks_failed"], 0)
        self.assertEqual(self.c.get("stats").body["quotas"]["rate_limited"], 1)

    def test_rate_limited_without_retry_time_halves_concurrency_then_grows_back(self):
        self.put(id="aimd", scope={"provider": "pa"}, max_in_flight=4)
        cap = self.uid("cap")
        self.register("a", capabilities=[cap], provider="pa", max_concurrent_tasks=10)
        ids = [self.submit(required_capabilities=[cap]) for _ in range(6)]
        self.assertEqual(self.claim("a")["id"], ids[0])
        r = self.c.post("tasks/%s/fail" % ids[0], {"agent_id": "a", "reason": "rate_limited"},
                        token="ag")
        self.assertStatus(r, 200)
        self.assertEqual(self.quota("aimd")["concurrency_limit"], 2)
        got = [self.claim("a"), self.claim("a"), self.claim("a")]
        self.assertIsNotNone(got[0])
        self.assertIsNotNone(got[1])
        self.assertIsNone(got[2])  # two in flight: the cut limit
        self.assertStatus(self.c.post("tasks/%s/complete" % got[0]["id"], {"agent_id": "a"},
                                      token="ag"), 200)
        self.assertEqual(self.quota("aimd")["concurrency_limit"], 3)  # grown by one
        self.assertStatus(self.c.post("tasks/%s/complete" % got[1]["id"], {"agent_id": "a"},
                                      token="ag"), 200)
        self.assertEqual(self.quota("aimd")["concurrency_limit"], 4)  # back to max_in_flight

    def test_quota_scopes_of_an_agent(self):
        self.put(id="key1", scope={"provider": "pk", "key_id": "k1"}, rpm=1)
        cap = self.uid("cap")
        a = self.register("a", capabilities=[cap], provider="pk",
                          quota_scopes=[{"provider": "pk", "key_id": "k1"}])
        self.assertEqual(a["quota_scopes"], [{"provider": "pk", "model": None, "key_id": "k1"}])
        self.register("b", capabilities=[cap], provider="pk")  # no key: not under it
        self.submit(required_capabilities=[cap])
        self.submit(required_capabilities=[cap])
        self.assertIsNotNone(self.claim("a"))
        self.assertIsNone(self.claim("a"))  # rpm 1
        self.assertIsNotNone(self.claim("b"))
        r = self.c.post("agents", {"agent_id": "z", "quota_scopes": [{"model": "m"}]})
        self.assertError(r, 400, "missing_field", mentions="quota_scopes[0].provider")

    def test_cpctl_and_libcpclient(self):
        """cpctl quotas (over libcpclient's cp_client_quota_* calls)."""
        cpctl = os.path.join(cpdtest.BUILD_DIR, "cpctl")

        def run(*args):
            env = {k: v for k, v in os.environ.items()
                   if k not in ("CONTROL_PLANE_URL", "CONTROL_PLANE_TOKEN")}
            p = subprocess.run([cpctl, "--url", "http://127.0.0.1:%d" % self.cpd.port,
                                "--token", "adm"] + list(args), capture_output=True, env=env,
                               timeout=60)
            err = p.stderr.decode()
            for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
                self.assertNotIn(marker, err)
            return p.returncode, p.stdout.decode(), err

        rc, out, err = run("quotas", "put", "cq", "--provider", "anthropic", "--model", "opus",
                           "--rpm", "50", "--tpm", "9000", "--max-in-flight", "3")
        self.assertEqual(rc, 0, err)
        self.assertIn("anthropic/opus", out)
        q = self.quota("cq")
        self.assertEqual((q["rpm"], q["tpm"], q["max_in_flight"]), (50, 9000, 3))
        rc, out, err = run("--json", "quotas", "get", "cq")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["requests_left"], 50)
        rc, out, err = run("quotas", "list")
        self.assertEqual(rc, 0, err)
        self.assertIn("cq", out)
        self.assertIn("cfg-q", out)
        self.assertEqual(run("quotas", "put", "bad")[0], 2)  # no --provider
        self.assertEqual(run("quotas", "rm", "cq")[0], 0)
        self.assertEqual(run("quotas", "get", "cq")[0], 1)  # not found


if __name__ == "__main__":
    unittest.main()
