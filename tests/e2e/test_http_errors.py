"""test_http_errors.py — CONTRACT §1 error rules: bad JSON, bad fields, bad identifiers, limits,
media types, unknown routes and wrong methods; each answers the right status and code, and
nothing changes."""

import socket

from cpdtest import Client, CpdTestCase, main


class BadBodies(CpdTestCase):
    def setUp(self):
        super().setUp()
        self.register("base", capabilities=["debate"])
        self.submit(task_type="seed")
        self.before = self.snapshot()

    def tearDown(self):
        try:
            self.assertEqual(self.snapshot(), self.before, "a rejected request changed state")
        finally:
            super().tearDown()

    def test_malformed_json(self):
        for raw in ('{"agent_id": "x"', "{agent_id: 'x'}", "not json", '{"agent_id": "x"} junk',
                    '{"agent_id": "x",}', "\x00\x01", '{"a": nul}', "{\"agent_id\": 'x'}",
                    '{"agent_id": "x"}\x00', '{"agent_id": "x" "y"}', "{'agent_id': \"x\"}"):
            with self.subTest(body=raw):
                self.assertError(self.c.request("POST", "agents", raw=raw), 400, "invalid_json")
        self.assertError(self.c.request("POST", "tasks", raw="{"), 400, "invalid_json")
        self.assertError(self.c.request("POST", "tasks/claim", raw="]"), 400, "invalid_json")
        self.assertError(self.c.request("POST", "agents/base/heartbeat", raw="{bad"), 400,
                         "invalid_json")

    def test_non_object_json_bodies(self):
        for raw in ('[{"agent_id": "x"}]', '"agent_id"', "42", "null", "true"):
            self.assertError(self.c.request("POST", "agents", raw=raw), 400, "invalid_json")
        self.assertError(self.c.request("POST", "tasks", raw='[{"task_type": "x"}]'), 400,
                         "invalid_json")

    def test_deeply_nested_json_is_rejected_not_crashing(self):
        raw = '{"agent_id": "deep", "metadata": ' + "[" * 20000 + "]" * 20000 + "}"
        r = self.c.request("POST", "agents", raw=raw)
        self.assertEqual(r.status, 400, r)
        self.assertIn(r.body["code"], ("invalid_json", "invalid_field"))
        self.assertStatus(self.c.get("health"), 200)

    def test_missing_required_fields(self):
        self.assertError(self.c.post("agents", {}), 400, "missing_field", "agent_id")
        self.assertError(self.c.post("agents", {"capabilities": ["a"]}), 400, "missing_field",
                         "agent_id")
        r = self.c.request("POST", "agents")  # empty body = {}
        self.assertError(r, 400, "missing_field", "agent_id")
        self.assertError(self.c.post("tasks", {"payload": {}}), 400, "missing_field", "task_type")
        self.assertError(self.c.post("tasks/claim", {"block_ms": 10}), 400, "missing_field",
                         "agent_id")

    def test_wrong_field_types(self):
        cases = [
            ({"agent_id": 5}, "agent_id"),
            ({"agent_id": ["x"]}, "agent_id"),
            ({"agent_id": "x", "capabilities": "debate"}, "capabilities"),
            ({"agent_id": "x", "capabilities": [1, 2]}, "capabilities"),
            ({"agent_id": "x", "capabilities": {"a": 1}}, "capabilities"),
            ({"agent_id": "x", "model": 5}, "model"),
            ({"agent_id": "x", "provider": ["p"]}, "provider"),
            ({"agent_id": "x", "metadata": [1]}, "metadata"),
            ({"agent_id": "x", "metadata": "v"}, "metadata"),
            ({"agent_id": "x", "max_concurrent_tasks": "2"}, "max_concurrent_tasks"),
            ({"agent_id": "x", "max_concurrent_tasks": 0}, "max_concurrent_tasks"),
            ({"agent_id": "x", "max_concurrent_tasks": -1}, "max_concurrent_tasks"),
            ({"agent_id": "x", "max_concurrent_tasks": 1.5}, "max_concurrent_tasks"),
            ({"agent_id": "x", "health_probe": "http://x"}, "health_probe"),
        ]
        for body, field in cases:
            self.assertError(self.c.post("agents", body), 400, "invalid_field", field)
        # null for a required field: absent or invalid, either way named and rejected.
        r = self.c.post("agents", {"agent_id": None})
        self.assertEqual(r.status, 400, r)
        self.assertIn(r.body.get("code"), ("missing_field", "invalid_field"), r)
        self.assertIn("agent_id", r.body.get("error", ""))
        # Re-registering the existing agent with a bad field changes nothing either.
        self.assertError(self.c.post("agents", {"agent_id": "base", "capabilities": "x"}), 400,
                         "invalid_field", "capabilities")
        self.assertError(self.c.post("agents/base/heartbeat", {"status": True}), 400,
                         "invalid_field", "status")

    def test_bad_identifiers(self):
        bad_ids = ["", "x" * 129, "has space", "semi;colon", "slash\\back", "caf\u00e9",
                   "tab\tbed", "nul\u0000byte", "q?uery", "hash#", "star*", "new\nline"]
        for aid in bad_ids:
            self.assertError(self.c.post("agents", {"agent_id": aid}), 400, "invalid_field",
                             "agent_id")
        for cap in bad_ids:
            self.assertError(self.c.post("agents", {"agent_id": "ok", "capabilities": ["a", cap]}),
                             400, "invalid_field", "capabilities")
            self.assertError(self.c.post("tasks", {"task_type": "t",
                                                   "required_capabilities": [cap]}),
                             400, "invalid_field", "required_capabilities")
        for tt in bad_ids:
            self.assertError(self.c.post("tasks", {"task_type": tt}), 400, "invalid_field",
                             "task_type")

    def test_too_many_capabilities(self):
        caps = ["c%d" % i for i in range(65)]
        self.assertError(self.c.post("agents", {"agent_id": "greedy", "capabilities": caps}),
                         400, "invalid_field", "capabilities")
        req = ["c%d" % i for i in range(33)]
        self.assertError(self.c.post("tasks", {"task_type": "t", "required_capabilities": req}),
                         400, "invalid_field", "required_capabilities")

    def test_oversize_body_413(self):
        # Over the default 1 MiB limit. The server may close the connection after it.
        big = '{"agent_id": "big", "metadata": {"blob": "' + "x" * (1024 * 1024 + 100) + '"}}'
        c = Client(self.cpd.port)
        try:
            self.assertError(c.request("POST", "agents", raw=big), 413, "payload_too_large")
        finally:
            c.close()
        big = '{"task_type": "big", "payload": {"blob": "' + "x" * (1536 * 1024) + '"}}'
        c = Client(self.cpd.port)
        try:
            self.assertError(c.request("POST", "tasks", raw=big), 413, "payload_too_large")
        finally:
            c.close()

    def test_unsupported_media_type_415(self):
        body = '{"agent_id": "typed"}'
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "application/xml",
                      "multipart/form-data; boundary=x", "application/jsonx"):
            r = self.c.request("POST", "agents", raw=body, headers={"Content-Type": ctype})
            self.assertError(r, 415, "unsupported_media_type")
        r = self.c.request("POST", "tasks", raw='{"task_type": "x"}',
                           headers={"Content-Type": "text/plain"})
        self.assertError(r, 415, "unsupported_media_type")

    def test_bad_query_parameters(self):
        self.assertError(self.c.get("agents?available=yes-please"), 400, "invalid_field",
                         "available")
        self.assertError(self.c.get("tasks?limit=ten"), 400, "invalid_field", "limit")
        self.assertError(self.c.get("tasks?status=done"), 400, "invalid_field", "status")
        self.assertError(self.c.get("agents/select?strategy=nope"), 400, "invalid_field",
                         "strategy")


class GoodVariants(CpdTestCase):
    def test_json_content_type_with_charset_accepted(self):
        r = self.c.request("POST", "agents", raw='{"agent_id": "cs"}',
                           headers={"Content-Type": "application/json; charset=utf-8"})
        self.assertStatus(r, 201)

    def test_boundaries_accepted(self):
        self.register("x" * 128)
        self.register("caps", capabilities=["c%d" % i for i in range(64)])
        self.submit(task_type="y" * 128, required_capabilities=["c%d" % i for i in range(32)])

    def test_configured_body_limit(self):
        cpd = self.start_cpd(config={"limits": {"max_body_bytes": 2000}})
        c = cpd.client()
        r = c.post("agents", {"agent_id": "small", "metadata": {"v": "x" * 1000}})
        self.assertStatus(r, 201)
        c2 = Client(cpd.port)
        try:
            r = c2.post("agents", {"agent_id": "large", "metadata": {"v": "x" * 3000}})
            self.assertError(r, 413, "payload_too_large")
        finally:
            c2.close()
        self.assertError(cpd.client().get("agents/large"), 404, "not_found")
        cpd.stop()

    def test_responses_are_json(self):
        self.register("j")
        for path in ("agents", "agents/j", "tasks", "health", "stats"):
            r = self.c.get(path)
            self.assertStatus(r, 200, path)
            self.assertIn("application/json", r.headers.get("Content-Type", ""), path)
            self.assertIsInstance(r.body, dict, path)

    def test_keep_alive_many_requests_one_connection(self):
        for i in range(50):
            self.assertStatus(self.c.get("agents"), 200)
        self.assertIsNotNone(self.c.conn.sock, "connection was not kept alive")

    def test_garbage_request_line_does_not_crash(self):
        for junk in (b"\x00\x01\x02garbage\r\n\r\n", b"GET\r\n\r\n",
                     b"POST /api/control-plane/agents HTTP/1.1\r\nContent-Length: 99999999999"
                     b"\r\n\r\n", b"GET /" + b"a" * 70000 + b" HTTP/1.1\r\n\r\n"):
            s = socket.create_connection(("127.0.0.1", self.cpd.port), timeout=5)
            try:
                # The server may answer and close before all of it is sent: that is fine.
                s.sendall(junk)
                s.shutdown(socket.SHUT_WR)
                s.recv(4096)
            except OSError:
                pass
            finally:
                s.close()
        self.assertStatus(self.c.get("health"), 200)


class Routes(CpdTestCase):
    def setUp(self):
        super().setUp()
        self.register("r1")
        self.before = self.snapshot()

    def tearDown(self):
        try:
            self.assertEqual(self.snapshot(), self.before)
        finally:
            super().tearDown()

    def test_unknown_routes_404(self):
        for method, path in (("GET", "/"), ("GET", "/nope"), ("GET", "/api"),
                             ("GET", "/api/control-plane"), ("GET", "/api/control-plane/nope"),
                             ("POST", "/api/control-plane/nope"),
                             ("GET", "/api/control-plane/agents/r1/extra"),
                             ("POST", "/api/control-plane/tasks/x/bogus"),
                             ("GET", "/api/control-plane/agents/r1/heartbeat/x"),
                             ("GET", "/api/v2/agents"), ("GET", "/metrics/x")):
            r = self.c.request(method, path, body={} if method == "POST" else None)
            self.assertError(r, 404, "not_found")

    def test_wrong_method_405_with_allow(self):
        cases = [
            ("PUT", "agents", {"GET", "POST"}),
            ("DELETE", "agents", {"GET", "POST"}),
            ("PATCH", "tasks", {"GET", "POST", "DELETE"}),
            ("PUT", "tasks", {"GET", "POST", "DELETE"}),
            ("PUT", "tasks/batch", {"POST"}),
            ("GET", "tasks/task_000000000000000000000000/extend", {"POST"}),
            ("GET", "tasks/task_000000000000000000000000/retry", {"POST"}),
            ("POST", "agents/r1", {"GET", "DELETE"}),
            ("PUT", "agents/r1", {"GET", "DELETE"}),
            ("GET", "agents/r1/heartbeat", {"POST"}),
            ("DELETE", "agents/r1/heartbeat", {"POST"}),
            ("POST", "agents/select", {"GET"}),
            ("PUT", "tasks/claim", {"POST"}),
            ("GET", "tasks/task_000000000000000000000000/complete", {"POST"}),
            ("GET", "tasks/task_000000000000000000000000/fail", {"POST"}),
            ("GET", "tasks/task_000000000000000000000000/cancel", {"POST"}),
            ("GET", "tasks/task_000000000000000000000000/start", {"POST"}),
            ("DELETE", "tasks/task_000000000000000000000000", {"GET"}),
            ("POST", "health", {"GET"}),
            ("POST", "stats", {"GET"}),
            ("POST", "/metrics", {"GET"}),
        ]
        for method, path, allowed in cases:
            r = self.c.request(method, path, body={} if method in ("POST", "PUT", "PATCH")
                               else None)
            self.assertError(r, 405, "method_not_allowed")
            allow = r.headers.get("Allow")
            self.assertIsNotNone(allow, "%s %s: no Allow header" % (method, path))
            got = {m.strip() for m in allow.split(",") if m.strip()}
            self.assertTrue(allowed <= got, "%s %s: Allow %r lacks %s"
                            % (method, path, allow, allowed))
            self.assertNotIn(method, got, "%s %s: Allow %r lists the method"
                             % (method, path, allow))


if __name__ == "__main__":
    main()
