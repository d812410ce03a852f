"""only_agent_tokens.py — agent tokens bound to agent ids: a bound token registers, heartbeats,
unregisters, claims, starts, completes, fails and extends only as its agents (403 forbidden otherwise,
nothing changed); without agent_id, a token bound to one exact id fences with it, one bound to
several (or a pattern) must name the agent (400 missing_field). Unbound agent tokens, admin and
reader keep their behaviour. Both forms: CONTROL_PLANE_TOKENS (t:agent=a|b) and YAML agents."""

from cpdtest import CpdTestCase, main, q, run_cpd_to_exit

ADMIN, ANY, W7, GPU, MULTI = "adm-1", "any-agent-1", "w7-tok", "gpu-tok", "multi-tok"
ENV_TOKENS = ",".join([ADMIN + ":admin", ANY + ":agent", W7 + ":agent=worker-7",
                       GPU + ":agent=gpu-*", MULTI + ":agent=a-1|b-1", "rdr-1:reader"])


class BoundTokens(CpdTestCase):
    cpd_env = {"CONTROL_PLANE_TOKENS": ENV_TOKENS}
    token = ADMIN

    def reg(self, agent_id, token, expect=201):
        r = self.c.post("agents", {"agent_id": agent_id, "capabilities": ["c"],
                                   "max_concurrent_tasks": 5}, token=token)
        self.assertStatus(r, expect, "register %s" % agent_id)
        return r

    def test_register_only_as_its_agents(self):
        self.reg("worker-7", W7)
        self.assertError(self.reg("worker-8", W7, 403), 403, "forbidden", "worker-8")
        self.assertStatus(self.c.get("agents/worker-8"), 404)
        self.reg("gpu-1", GPU)
        self.reg("gpu-east/2", GPU)
        self.assertError(self.reg("cpu-1", GPU, 403), 403, "forbidden")
        self.reg("a-1", MULTI)
        self.reg("b-1", MULTI)
        self.assertError(self.reg("c-1", MULTI, 403), 403, "forbidden")
        self.reg("anything", ANY)  # unbound: any agent, as before

    def test_another_agents_record_is_out_of_reach(self):
        self.reg("worker-8", ANY)
        before = self.agent("worker-8")
        self.assertError(self.c.post("agents/worker-8/heartbeat", {"status": "draining"},
                                     token=W7), 403, "forbidden")
        self.assertError(self.c.delete("agents/worker-8", token=W7), 403, "forbidden")
        self.assertError(self.c.post("tasks/claim", {"agent_id": "worker-8"}, token=W7), 403,
                         "forbidden")
        after = self.agent("worker-8")
        self.assertEqual(after["status"], "ready")
        self.assertEqual(after["last_heartbeat"], before["last_heartbeat"])
        # Its own agent: all allowed.
        self.reg("worker-7", W7)
        self.assertStatus(self.c.post("agents/worker-7/heartbeat", {}, token=W7), 200)
        self.assertStatus(self.c.post("tasks/claim", {"agent_id": "worker-7"}, token=W7), 200)
        self.assertStatus(self.c.delete("agents/worker-7", token=W7), 200)
        # Admin and unbound agent tokens act as anyone.
        self.assertStatus(self.c.post("agents/worker-8/heartbeat", {}, token=ADMIN), 200)
        self.assertStatus(self.c.post("agents/worker-8/heartbeat", {}, token=ANY), 200)

    def test_cannot_finish_another_agents_task(self):
        self.reg("worker-8", ANY)
        self.reg("worker-7", W7)
        tid = self.submit()
        r = self.c.post("tasks/claim", {"agent_id": "worker-8"}, token=ANY)
        self.assertEqual(r.body["task"]["id"], tid)
        for verb, body in (("complete", {"result": "forged"}), ("fail", {"error": "x"}),
                           ("start", {}), ("extend", {"seconds": 999})):
            # Naming the other agent: 403; naming none: fenced with worker-7, so 409.
            named = dict(body, agent_id="worker-8")
            self.assertError(self.c.post("tasks/%s/%s" % (tid, verb), named, token=W7), 403,
                             "forbidden")
            self.assertError(self.c.post("tasks/%s/%s" % (tid, verb), body, token=W7), 409,
                             "conflict")
        t = self.task(tid)
        self.assertEqual(t["status"], "claimed")
        self.assertIsNone(t["result"])
        self.assertEqual(t["assigned_agent"], "worker-8")
        # worker-7 finishes its own task without naming itself.
        tid2 = self.submit()
        self.assertEqual(self.c.post("tasks/claim", {"agent_id": "worker-7"},
                                     token=W7).body["task"]["id"], tid2)
        self.assertStatus(self.c.post("tasks/%s/extend" % tid2, {"progress": {"percent": 9}},
                                      token=W7), 200)
        self.assertStatus(self.c.post("tasks/%s/complete" % tid2, {"result": 1}, token=W7), 200)
        self.assertEqual(self.task(tid2)["status"], "completed")

    def test_several_agents_must_name_one(self):
        self.reg("a-1", MULTI)
        self.reg("gpu-9", GPU)
        for token, agent in ((MULTI, "a-1"), (GPU, "gpu-9")):
            tid = self.submit()
            r = self.c.post("tasks/claim", {"agent_id": agent}, token=token)
            self.assertEqual(r.body["task"]["id"], tid)
            self.assertError(self.c.post("tasks/%s/complete" % tid, {}, token=token), 400,
                             "missing_field", "agent_id")
            self.assertEqual(self.task(tid)["status"], "claimed")
            self.assertStatus(self.c.post("tasks/%s/complete" % tid, {"agent_id": agent},
                                          token=token), 200)

    def test_unbound_agent_token_keeps_todays_behaviour(self):
        self.reg("worker-8", ANY)
        tid = self.submit()
        self.c.post("tasks/claim", {"agent_id": "worker-8"}, token=ANY)
        self.assertStatus(self.c.post("tasks/%s/complete" % tid, {}, token=ANY), 200)


class YamlBindings(CpdTestCase):
    cpd_config = {"auth": {"tokens": [
        {"token": ADMIN, "role": "admin"},
        {"token": W7, "role": "agent", "agents": ["worker-7", "gpu-*"]}]}}
    token = ADMIN

    def test_yaml_list(self):
        for aid, status in (("worker-7", 201), ("gpu-3", 201), ("worker-70", 403)):
            r = self.c.post("agents", {"agent_id": aid}, token=W7)
            self.assertStatus(r, status, aid)

    def test_bad_bindings_are_refused(self):
        for text, mention in (
                ('auth: {tokens: [{token: x, role: admin, agents: [a]}]}\n', "only agent tokens"),
                ('auth: {tokens: [{token: x, role: agent, agents: ["a b"]}]}\n', "not an agent id"),
                ('auth: {tokens: [{token: x, role: agent, agents: []}]}\n', "non-empty list")):
            rc, out, err = run_cpd_to_exit(["--check-config"], config_text=text)
            self.assertEqual(rc, 2, text + err)
            self.assertIn(mention, err)
        rc, out, err = run_cpd_to_exit(["--check-config"],
                                       env={"CONTROL_PLANE_TOKENS": "x:reader=a"})
        self.assertEqual(rc, 2, err)


if __name__ == "__main__":
    main()
