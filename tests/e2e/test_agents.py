"""test_agents.py — CONTRACT §3 over HTTP: registration, listing, heartbeats, liveness, selection."""

import time

from cpdtest import CpdTestCase, main, q, parse_timestamp, wait_until

AGENT_FIELDS = {
    "agent_id", "capabilities", "status", "model", "provider", "metadata", "registered_at",
    "last_heartbeat", "max_concurrent_tasks", "tasks_in_flight", "current_task_id",
    "tasks_completed", "tasks_failed", "avg_latency_ms", "health", "circuit",
}
STATUSES = {"starting", "ready", "busy", "draining", "offline", "failed"}


class Register(CpdTestCase):
    def test_register_returns_201_and_full_agent_json(self):
        t0 = time.time()
        r = self.c.post("agents", {"agent_id": "claude-3", "capabilities": ["debate", "code"],
                                   "model": "claude-3-opus", "provider": "anthropic",
                                   "metadata": {"version": "3.5"}, "max_concurrent_tasks": 2})
        self.assertStatus(r, 201)
        a = r.body
        self.assertLessEqual(AGENT_FIELDS, set(a), "AgentJSON fields")
        self.assertEqual(a["agent_id"], "claude-3")
        # Capabilities are a set: answered sorted (docs/api.md).
        self.assertEqual(sorted(a["capabilities"]), ["code", "debate"])
        self.assertEqual(a["status"], "ready")
        self.assertEqual(a["model"], "claude-3-opus")
        self.assertEqual(a["provider"], "anthropic")
        self.assertEqual(a["metadata"], {"version": "3.5"})
        self.assertEqual(a["max_concurrent_tasks"], 2)
        self.assertEqual(a["tasks_in_flight"], 0)
        self.assertIsNone(a["current_task_id"])
        self.assertEqual(a["tasks_completed"], 0)
        self.assertEqual(a["tasks_failed"], 0)
        self.assertEqual(a["avg_latency_ms"], 0)
        self.assertEqual(a["health"], "healthy")
        self.assertEqual(a["circuit"], "closed")
        self.assertTimestamp(a["registered_at"], near=t0)
        self.assertTimestamp(a["last_heartbeat"], near=t0)
        self.assertIn("application/json", r.headers.get("Content-Type", ""))
        # GET returns the same document.
        self.assertEqual(self.agent("claude-3"), a)

    def test_defaults(self):
        a = self.register("plain")
        self.assertEqual(a["capabilities"], [])
        self.assertEqual(a["model"], "unknown")
        self.assertEqual(a["provider"], "unknown")
        self.assertEqual(a["metadata"], {})
        self.assertEqual(a["max_concurrent_tasks"], 1)
        self.assertEqual(a["status"], "ready")

    def test_reregister_replaces_fields_keeps_counters_sets_ready(self):
        self.register("re", capabilities=["x"], model="m1", metadata={"k": 1})
        tid = self.submit(required_capabilities=["x"])
        self.assertEqual(self.claim("re")["id"], tid)
        r = self.c.post("tasks/%s/complete" % tid, {"agent_id": "re", "latency_ms": 10})
        self.assertStatus(r, 200)
        tid2 = self.submit(required_capabilities=["x"])
        self.assertEqual(self.claim("re")["id"], tid2)
        r = self.c.post("tasks/%s/fail" % tid2, {"agent_id": "re", "requeue": False,
                                                  "latency_ms": 30})
        self.assertStatus(r, 200)
        self.heartbeat("re", "draining")
        before = self.agent("re")
        self.assertEqual(before["status"], "draining")

        r = self.c.post("agents", {"agent_id": "re", "capabilities": ["y", "z"], "model": "m2",
                                   "provider": "p2", "max_concurrent_tasks": 3})
        self.assertStatus(r, 200)
        a = r.body
        self.assertEqual(a["capabilities"], ["y", "z"])
        self.assertEqual(a["model"], "m2")
        self.assertEqual(a["provider"], "p2")
        self.assertEqual(a["metadata"], {}, "metadata replaced by the default")
        self.assertEqual(a["max_concurrent_tasks"], 3)
        self.assertEqual(a["status"], "ready")
        self.assertEqual(a["tasks_completed"], 1)
        self.assertEqual(a["tasks_failed"], 1)
        self.assertEqual(a["avg_latency_ms"], before["avg_latency_ms"])
        self.assertEqual(self.agent("re"), a)
        # Still one agent.
        self.assertEqual(self.c.get("agents?available=false").body["total"], 1)

    def test_identifier_charset_and_lengths_accepted(self):
        for aid in ("a", "x" * 128, "A-z.0_9:@/-", "user@host:8080/agent.v2"):
            a = self.register(aid, capabilities=["c.a_p:1@x/y-z", "C" * 128])
            self.assertEqual(a["agent_id"], aid)
            # Percent-encoded ids reach the agent (ids may hold '/', '@', ':').
            self.assertEqual(self.agent(aid)["agent_id"], aid)
        r = self.c.get("agents?available=false")
        self.assertEqual(r.body["total"], 4)

    def test_capabilities_limit_64_accepted(self):
        caps = ["c%d" % i for i in range(64)]
        a = self.register("many", capabilities=caps)
        self.assertEqual(sorted(a["capabilities"]), sorted(caps))


class ListAgents(CpdTestCase):
    def setUp(self):
        super().setUp()
        self.register("a1", capabilities=["debate", "code"])
        self.register("a2", capabilities=["debate"])
        self.register("a3", capabilities=["code", "analysis", "debate"])
        self.register("a4", capabilities=[])

    def ids(self, path):
        r = self.c.get(path)
        self.assertStatus(r, 200, path)
        self.assertEqual(r.body["total"], len(r.body["agents"]), path)
        return sorted(a["agent_id"] for a in r.body["agents"])

    def test_list_all_with_total(self):
        r = self.c.get("agents")
        self.assertStatus(r, 200)
        self.assertEqual(set(r.body), {"agents", "total"})
        self.assertEqual(r.body["total"], 4)
        for a in r.body["agents"]:
            self.assertLessEqual(AGENT_FIELDS, set(a))

    def test_capability_filter(self):
        self.assertEqual(self.ids("agents?capability=debate"), ["a1", "a2", "a3"])
        self.assertEqual(self.ids("agents?capability=analysis"), ["a3"])
        self.assertEqual(self.ids("agents?capability=nobody"), [])

    def test_capability_filter_all_required(self):
        self.assertEqual(self.ids("agents?capability=debate&capability=code"), ["a1", "a3"])
        self.assertEqual(self.ids("agents?capability=debate,code"), ["a1", "a3"])
        self.assertEqual(self.ids("agents?capability=code,analysis&capability=debate"), ["a3"])

    def test_available_false_lists_unavailable_agents_too(self):
        self.heartbeat("a1", "draining")
        self.heartbeat("a2", "failed")
        self.heartbeat("a4", "starting")
        self.assertEqual(self.ids("agents"), ["a3"])
        self.assertEqual(self.ids("agents?available=true"), ["a3"])
        self.assertEqual(self.ids("agents?available=false"), ["a1", "a2", "a3", "a4"])
        self.assertEqual(self.ids("agents?available=false&capability=debate"),
                         ["a1", "a2", "a3"])

    def test_busy_at_max_is_not_available(self):
        tid = self.submit()
        task = self.claim("a4")
        self.assertEqual(task["id"], tid)
        self.assertEqual(self.agent("a4")["status"], "busy")
        self.assertEqual(self.ids("agents"), ["a1", "a2", "a3"])
        self.assertIn("a4", self.ids("agents?available=false"))

    def test_status_filter(self):
        self.heartbeat("a1", "draining")
        self.heartbeat("a3", "draining")
        self.assertEqual(self.ids("agents?status=draining&available=false"), ["a1", "a3"])
        self.assertEqual(self.ids("agents?status=ready&available=false"), ["a2", "a4"])
        self.assertEqual(self.ids("agents?status=ready"), ["a2", "a4"])
        self.assertEqual(self.ids("agents?status=offline&available=false"), [])

    def test_bad_query_values(self):
        before = self.snapshot()
        self.assertError(self.c.get("agents?available=maybe"), 400, "invalid_field", "available")
        self.assertError(self.c.get("agents?status=sleeping"), 400, "invalid_field", "status")
        self.assertError(self.c.get("agents?capability=bad%20cap"), 400, "invalid_field")
        self.assertEqual(self.snapshot(), before)


class GetDelete(CpdTestCase):
    def test_get_unknown_is_404(self):
        self.assertError(self.c.get("agents/ghost"), 404, "not_found")

    def test_delete_then_404(self):
        self.register("gone")
        self.register("stays")
        r = self.c.delete("agents/gone")
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"unregistered": True})
        self.assertError(self.c.get("agents/gone"), 404, "not_found")
        self.assertError(self.c.delete("agents/gone"), 404, "not_found")
        self.assertError(self.c.post("agents/gone/heartbeat", {}), 404, "not_found")
        r = self.c.get("agents?available=false")
        self.assertEqual([a["agent_id"] for a in r.body["agents"]], ["stays"])
        self.assertEqual(r.body["total"], 1)

    def test_delete_then_register_again_is_201(self):
        self.register("phoenix")
        self.assertStatus(self.c.delete("agents/phoenix"), 200)
        self.register("phoenix", expect=201)


class Heartbeat(CpdTestCase):
    def test_heartbeat_without_status_keeps_status_and_refreshes(self):
        a = self.register("hb")
        time.sleep(0.05)
        r = self.c.post("agents/hb/heartbeat", {})
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"acknowledged": True, "status": "ready"})
        b = self.agent("hb")
        self.assertGreater(parse_timestamp(b["last_heartbeat"]),
                           parse_timestamp(a["last_heartbeat"]))

    def test_heartbeat_with_empty_body(self):
        self.register("hb")
        r = self.c.request("POST", "agents/hb/heartbeat")
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"acknowledged": True, "status": "ready"})

    def test_heartbeat_with_each_allowed_status(self):
        self.register("hb")
        for status in ("starting", "busy", "draining", "failed", "ready"):
            r = self.c.post("agents/hb/heartbeat", {"status": status})
            self.assertStatus(r, 200, status)
            self.assertEqual(r.body, {"acknowledged": True, "status": status})
            # the exact text, byte for byte (written without the JSON renderer)
            self.assertEqual(int(r.headers["Content-Length"]),
                             len('{"acknowledged":true,"status":"%s"}' % status))
            self.assertEqual(r.headers["Content-Type"], "application/json")
            self.assertEqual(self.agent("hb")["status"], status)

    def test_guide_heartbeat_example(self):
        self.register("my-agent", capabilities=["debate"])
        r = self.c.post("agents/my-agent/heartbeat", {"status": "busy"})
        self.assertStatus(r, 200)
        self.assertEqual(r.body["status"], "busy")
        self.assertEqual(self.agent("my-agent")["status"], "busy")

    def test_offline_is_the_servers_to_set(self):
        self.register("hb")
        before = self.snapshot()
        self.assertError(self.c.post("agents/hb/heartbeat", {"status": "offline"}), 400,
                         "invalid_field", "status")
        self.assertError(self.c.post("agents/hb/heartbeat", {"status": "sleepy"}), 400,
                         "invalid_field", "status")
        self.assertError(self.c.post("agents/hb/heartbeat", {"status": 1}), 400,
                         "invalid_field", "status")
        self.assertEqual(self.snapshot(), before)

    def test_heartbeat_unknown_agent_is_404(self):
        self.assertError(self.c.post("agents/ghost/heartbeat", {}), 404, "not_found")
        self.assertError(self.c.post("agents/ghost/heartbeat", {"status": "ready"}), 404,
                         "not_found")
        self.assertEqual(self.c.get("agents?available=false").body["total"], 0)


class Liveness(CpdTestCase):
    cpd_env = {"HEARTBEAT_TIMEOUT": "1", "CLEANUP_INTERVAL": "0.25"}

    def status_of(self, aid):
        r = self.c.get("agents/" + aid)
        return r.body.get("status") if r.status == 200 else None

    def test_offline_after_timeout_then_revived_by_heartbeat(self):
        self.register("live", capabilities=["x"])
        t0 = time.monotonic()
        time.sleep(0.5)
        self.assertEqual(self.status_of("live"), "ready", "offline before the timeout")
        wait_until(lambda: self.status_of("live") == "offline", 3.0, what="agent offline")
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 0.9)
        self.assertLess(elapsed, 2.6, "offline later than 1 s after the timeout")
        a = self.agent("live")
        self.assertEqual(a["health"], "unhealthy")
        ids = lambda p: [x["agent_id"] for x in self.c.get(p).body["agents"]]
        self.assertNotIn("live", ids("agents"))
        self.assertIn("live", ids("agents?available=false"))
        self.assertIn("live", ids("agents?status=offline&available=false"))
        # A heartbeat brings it back to ready.
        r = self.c.post("agents/live/heartbeat", {})
        self.assertStatus(r, 200)
        self.assertEqual(r.body["status"], "ready")
        self.assertEqual(self.status_of("live"), "ready")
        self.assertEqual(self.agent("live")["health"], "healthy")
        self.assertIn("live", ids("agents"))

    def test_offline_revived_with_sent_status(self):
        self.register("live2")
        wait_until(lambda: self.status_of("live2") == "offline", 3.0, what="agent offline")
        r = self.c.post("agents/live2/heartbeat", {"status": "draining"})
        self.assertStatus(r, 200)
        self.assertEqual(self.status_of("live2"), "draining")

    def test_heartbeats_keep_agent_alive(self):
        self.register("steady")
        for _ in range(8):
            time.sleep(0.25)
            self.heartbeat("steady")
        self.assertEqual(self.status_of("steady"), "ready")

    def test_removed_after_three_timeouts(self):
        self.register("dead")
        self.register("alive")
        t0 = time.monotonic()
        wait_until(lambda: self.status_of("dead") == "offline", 3.0, what="agent offline")
        while time.monotonic() - t0 < 2.5:
            self.heartbeat("alive")
            self.assertEqual(self.status_of("dead"), "offline", "removed before 3 x timeout")
            time.sleep(0.2)

        def gone():
            self.heartbeat("alive")
            return self.c.get("agents/dead").status == 404

        wait_until(gone, 3.0, interval=0.1, what="offline agent removed by cleanup")
        elapsed = time.monotonic() - t0
        self.assertLess(elapsed, 4.5)
        ids = [x["agent_id"] for x in self.c.get("agents?available=false").body["agents"]]
        self.assertEqual(ids, ["alive"])


class Select(CpdTestCase):
    def setUp(self):
        super().setUp()
        for aid in ("s1", "s2", "s3"):
            self.register(aid, capabilities=["debate", "code"], max_concurrent_tasks=2)
        self.register("other", capabilities=["analysis"])

    def select(self, query, expect=200):
        r = self.c.get("agents/select?" + query)
        self.assertStatus(r, expect, query)
        return r.body

    def test_select_returns_agent_json_with_capability(self):
        a = self.select("capability=debate")
        self.assertLessEqual(AGENT_FIELDS, set(a))
        self.assertIn(a["agent_id"], ("s1", "s2", "s3"))
        self.assertEqual(self.select("capability=analysis")["agent_id"], "other")
        self.assertEqual(self.select("capability=analysis&strategy=round_robin")["agent_id"],
                         "other")

    def test_least_loaded(self):
        # s1 has a task in flight, s2 has completed one, s3 has done nothing: s3 wins.
        t1 = self.submit(required_capabilities=["debate"])
        self.assertEqual(self.claim("s1")["id"], t1)
        t2 = self.submit(required_capabilities=["debate"])
        self.assertEqual(self.claim("s2")["id"], t2)
        self.assertStatus(self.c.post("tasks/%s/complete" % t2, {"agent_id": "s2"}), 200)
        for query in ("capability=debate", "capability=debate&strategy=least_loaded"):
            self.assertEqual(self.select(query)["agent_id"], "s3", query)
        # Excluding s3: s2 (0 in flight) beats s1 (1 in flight).
        self.assertEqual(self.select("capability=debate&exclude=s3")["agent_id"], "s2")

    def test_round_robin_returns_each_once(self):
        seen = [self.select("capability=debate&strategy=round_robin")["agent_id"]
                for _ in range(3)]
        self.assertEqual(sorted(seen), ["s1", "s2", "s3"])
        more = [self.select("capability=debate&strategy=round_robin")["agent_id"]
                for _ in range(3)]
        self.assertEqual(more, seen, "round robin cycles in a stable order")

    def test_random_stays_within_candidates(self):
        seen = set()
        for _ in range(40):
            seen.add(self.select("capability=code&strategy=random")["agent_id"])
        self.assertTrue(seen <= {"s1", "s2", "s3"}, seen)
        self.assertGreater(len(seen), 1, "random always returned the same agent")

    def test_exclude(self):
        for _ in range(6):
            a = self.select("capability=debate&exclude=s1,s2&strategy=random")
            self.assertEqual(a["agent_id"], "s3")
        a = self.select("capability=debate&exclude=s1&exclude=s3&strategy=round_robin")
        self.assertEqual(a["agent_id"], "s2")

    def test_no_agent(self):
        self.assertError(self.c.get("agents/select?capability=debate&exclude=s1,s2,s3"), 404,
                         "no_agent")
        self.assertError(self.c.get("agents/select?capability=cooking"), 404, "no_agent")
        self.assertError(self.c.get("agents/select?capability=debate&capability=analysis"), 404,
                         "no_agent")

    def test_unavailable_agents_never_selected(self):
        self.heartbeat("s1", "draining")
        self.heartbeat("s2", "failed")
        for strategy in ("least_loaded", "round_robin", "random"):
            for _ in range(3):
                a = self.select("capability=debate&strategy=" + strategy)
                self.assertEqual(a["agent_id"], "s3", strategy)

    def test_unknown_strategy_is_400(self):
        self.assertError(self.c.get("agents/select?capability=debate&strategy=fastest_ever"),
                         400, "invalid_field", "strategy")


if __name__ == "__main__":
    main()
