"""only_auth.py — CONTRACT §2: bearer tokens with roles (admin, agent, reader), the public probes
(/api/control-plane/health, /metrics), CONTROL_PLANE_TOKENS, and the refusal to listen on a
non-loopback address without tokens."""

import socket

from cpdtest import Cpd, CpdTestCase, free_port, main

ADMIN, AGENT, READER = "adm-7f3c9e1d2b", "agt-5a8e0c4f61", "rdr-19b7d2e8a0"
TOKENS = [{"token": ADMIN, "role": "admin"}, {"token": AGENT, "role": "agent"},
          {"token": READER, "role": "reader"}]


class Roles(CpdTestCase):
    cpd_config = {"auth": {"tokens": TOKENS}}

    def setUp(self):
        super().setUp()
        self.admin = self.cpd.client(token=ADMIN)
        self.agent_c = self.cpd.client(token=AGENT)
        self.reader = self.cpd.client(token=READER)
        self.register("seed-agent", client=self.admin, capabilities=["x"])
        self.seed_task = self.submit(client=self.admin, required_capabilities=["nobody"])

    def test_missing_and_unknown_tokens_401(self):
        before = self.snapshot(self.admin)
        for headers in ({}, {"Authorization": "Bearer"}, {"Authorization": "Bearer "},
                        {"Authorization": "Bearer wrong-token"},
                        {"Authorization": "Bearer " + ADMIN + "x"},
                        {"Authorization": "Bearer " + ADMIN[:-1]},
                        {"Authorization": "Basic " + ADMIN}, {"Authorization": ADMIN}):
            for method, path, body in (("GET", "agents", None), ("GET", "tasks", None),
                                       ("GET", "stats", None), ("GET", "health/seed-agent", None),
                                       ("POST", "agents", {"agent_id": "intruder"}),
                                       ("POST", "tasks", {"task_type": "t"}),
                                       ("DELETE", "agents/seed-agent", None)):
                r = self.c.request(method, path, body=body, headers=headers)
                self.assertError(r, 401, "unauthorized")
        self.assertEqual(self.snapshot(self.admin), before)

    def test_probes_are_public(self):
        r = self.c.get("health")
        self.assertStatus(r, 200)
        self.assertIn("status", r.body)
        r = self.c.get("/metrics")
        self.assertStatus(r, 200)
        # Even with a wrong token.
        self.assertStatus(self.c.get("health", token="nonsense"), 200)
        self.assertStatus(self.c.get("/metrics", token="nonsense"), 200)

    def test_reader_may_get_only(self):
        for path in ("agents", "agents/seed-agent", "agents?available=false", "tasks",
                     "tasks/" + self.seed_task, "stats", "health", "health/seed-agent",
                     "agents/select?capability=x"):
            self.assertStatus(self.reader.get(path), 200, path)
        before = self.snapshot(self.admin)
        for method, path, body in (("POST", "agents", {"agent_id": "r"}),
                                   ("POST", "agents/seed-agent/heartbeat", {}),
                                   ("DELETE", "agents/seed-agent", None),
                                   ("POST", "tasks", {"task_type": "t"}),
                                   ("POST", "tasks/claim", {"agent_id": "seed-agent"}),
                                   ("POST", "tasks/%s/start" % self.seed_task, {}),
                                   ("POST", "tasks/%s/complete" % self.seed_task, {}),
                                   ("POST", "tasks/%s/fail" % self.seed_task, {}),
                                   ("POST", "tasks/%s/cancel" % self.seed_task, {})):
            r = self.reader.request(method, path, body=body)
            self.assertError(r, 403, "forbidden")
        self.assertEqual(self.snapshot(self.admin), before)

    def test_agent_role_works_its_tasks(self):
        a = self.register("worker", client=self.agent_c, capabilities=["job"])
        self.assertEqual(a["status"], "ready")
        hb = self.agent_c.post("agents/worker/heartbeat", {"status": "ready"})
        self.assertStatus(hb, 200)
        t1 = self.submit(client=self.admin, required_capabilities=["job"])
        t2 = self.submit(client=self.admin, required_capabilities=["job"])
        task = self.claim("worker", client=self.agent_c)
        self.assertEqual(task["id"], t1)
        self.assertStatus(self.agent_c.post("tasks/%s/start" % t1, {"agent_id": "worker"}), 200)
        self.assertStatus(self.agent_c.post("tasks/%s/complete" % t1,
                                            {"agent_id": "worker", "result": 1}), 200)
        self.assertEqual(self.claim("worker", client=self.agent_c)["id"], t2)
        r = self.agent_c.post("tasks/%s/fail" % t2, {"agent_id": "worker", "requeue": False})
        self.assertStatus(r, 200)
        for path in ("agents", "tasks", "tasks/" + t1, "stats", "agents/select?capability=job"):
            self.assertStatus(self.agent_c.get(path), 200, path)
        # Unregister itself.
        self.assertStatus(self.agent_c.delete("agents/worker"), 200)
        self.assertError(self.admin.get("agents/worker"), 404, "not_found")

    def test_agent_role_may_not_submit_or_cancel(self):
        before = self.snapshot(self.admin)
        self.assertError(self.agent_c.post("tasks", {"task_type": "t"}), 403, "forbidden")
        self.assertError(self.agent_c.post("tasks/%s/cancel" % self.seed_task, {}), 403,
                         "forbidden")
        self.assertEqual(self.snapshot(self.admin), before)

    def test_admin_may_do_everything(self):
        self.register("adm-agent", client=self.admin)
        self.heartbeat("adm-agent", "ready", client=self.admin)
        tid = self.submit(client=self.admin)
        self.assertEqual(self.claim("adm-agent", client=self.admin)["id"], tid)
        self.assertStatus(self.admin.post("tasks/%s/complete" % tid, {"agent_id": "adm-agent"}),
                          200)
        self.assertStatus(self.admin.post("tasks/%s/cancel" % self.seed_task), 200)
        self.assertStatus(self.admin.delete("agents/adm-agent"), 200)
        for path in ("agents", "tasks", "stats", "health"):
            self.assertStatus(self.admin.get(path), 200)

    def test_error_paths_still_checked_after_auth(self):
        self.assertError(self.admin.request("POST", "agents", raw="{"), 400, "invalid_json")
        self.assertError(self.admin.get("agents/nobody"), 404, "not_found")
        # Unknown routes are 404 whatever the token.
        self.assertError(self.c.get("nope"), 404, "not_found")

    def test_tokens_never_logged(self):
        self.admin.get("agents")
        self.agent_c.get("agents")
        self.reader.post("agents", {"agent_id": "x"})
        self.c.get("agents", token="secret-guess-123456")
        log = self.cpd.stderr()
        for tok in (ADMIN, AGENT, READER, "secret-guess-123456"):
            self.assertNotIn(tok, log, "a token appears in the log")


class TokensFromEnvironment(CpdTestCase):
    cpd_env = {"CONTROL_PLANE_TOKENS": "%s:admin,%s:reader" % (ADMIN, READER)}

    def test_env_tokens(self):
        self.assertError(self.c.get("agents"), 401, "unauthorized")
        self.assertStatus(self.c.get("agents", token=READER), 200)
        self.assertError(self.c.post("agents", {"agent_id": "e"}, token=READER), 403,
                         "forbidden")
        self.assertStatus(self.c.post("agents", {"agent_id": "e"}, token=ADMIN), 201)
        self.assertError(self.c.get("agents", token=AGENT), 401, "unauthorized")
        log = self.cpd.stderr()
        self.assertNotIn(ADMIN, log)
        self.assertNotIn(READER, log)


class NoTokens(CpdTestCase):
    def test_auth_off_without_tokens(self):
        self.assertStatus(self.c.post("agents", {"agent_id": "free"}), 201)
        self.assertStatus(self.c.get("agents", token="anything"), 200)


class NonLoopback(CpdTestCase):
    """cpd refuses 0.0.0.0 without tokens unless auth.allow_anonymous is true."""

    start_server = False

    def test_refused_without_tokens(self):
        port = free_port()
        cpd = Cpd(listen="0.0.0.0:%d" % port)
        self._extra_cpds.append(cpd)
        cpd.spawn()
        rc = cpd.wait_exit(10)
        self.assertEqual(rc, 2, cpd.describe())
        err = cpd.stderr()
        self.assertIn("allow_anonymous", err)
        self.assertIn("0.0.0.0", err)
        with socket.socket() as s:
            self.assertNotEqual(s.connect_ex(("127.0.0.1", port)), 0, "something listens")

    def test_refused_for_env_listen_too(self):
        port = free_port()
        cpd = Cpd(listen=False, env={"CONTROL_PLANE_LISTEN": "0.0.0.0:%d" % port})
        cpd.port = port
        self._extra_cpds.append(cpd)
        cpd.spawn()
        self.assertEqual(cpd.wait_exit(10), 2, cpd.describe())
        self.assertIn("allow_anonymous", cpd.stderr())

    def test_allowed_with_allow_anonymous(self):
        port = free_port()
        cpd = Cpd(listen="0.0.0.0:%d" % port, config={"auth": {"allow_anonymous": True}})
        self._extra_cpds.append(cpd)
        cpd.start()
        self.assertStatus(cpd.client().post("agents", {"agent_id": "anon"}), 201)
        cpd.stop()

    def test_allowed_with_tokens(self):
        port = free_port()
        cpd = Cpd(listen="0.0.0.0:%d" % port, config={"auth": {"tokens": TOKENS}})
        self._extra_cpds.append(cpd)
        cpd.start()
        c = cpd.client()
        self.assertError(c.get("agents"), 401, "unauthorized")
        self.assertStatus(c.get("agents", token=READER), 200)
        cpd.stop()

    def test_loopback_without_tokens_is_fine(self):
        cpd = Cpd(listen="127.0.0.1:%d" % free_port())
        self._extra_cpds.append(cpd)
        cpd.start()
        self.assertStatus(cpd.client().post("agents", {"agent_id": "local"}), 201)
        cpd.stop()


if __name__ == "__main__":
    main()
