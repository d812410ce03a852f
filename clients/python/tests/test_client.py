"""test_client.py — the blocking Client against a real cpd: every call with the guide's names
and arguments, typed results, None/False for unknown ids, exceptions with the API's code,
bearer tokens, kept-alive connections, long polls (their own timeout; a cancel event), and the
failures only a fake server produces (no answer, not JSON, a closed kept-alive connection)."""

import os
import threading
import time
from datetime import datetime, timezone

import cpdtest
import support
from support import CpdCase, FakeServer, elapsed, http_answer, read_request

import cpclient
from cpclient import (AgentCapability, AgentInfo, AgentStatus, BadRequestError, CircuitState,
                      Client, ConflictError, ForbiddenError, HealthStatus, NotFoundError,
                      ProtocolError, RequestTimeout, Task, TaskPriority, TaskStatus,
                      TransportError, UnauthorizedError)


class AgentsTest(CpdCase):
    def test_register_get_list_heartbeat_unregister(self):
        c = self.client()
        a = c.register_agent(agent_id="claude-3",
                             capabilities=[AgentCapability.DEBATE, AgentCapability.CODE,
                                           "custom-capability"],
                             model="claude-3-opus", provider="anthropic",
                             metadata={"version": "3.5"})
        self.assertIsInstance(a, AgentInfo)
        self.assertEqual(a.agent_id, "claude-3")
        self.assertEqual(a.capabilities, ["code", "custom-capability", "debate"])
        self.assertIs(a.status, AgentStatus.READY)
        self.assertEqual(a.status.value, "ready")
        self.assertEqual((a.model, a.provider, a.metadata), ("claude-3-opus", "anthropic",
                                                            {"version": "3.5"}))
        self.assertIsInstance(a.registered_at, datetime)
        self.assertEqual(a.registered_at.tzinfo, timezone.utc)
        self.assertIs(a.circuit, CircuitState.CLOSED)
        self.assertEqual(a.raw["agent_id"], "claude-3")

        c.register_agent("team/b@x", ["code"], max_concurrent_tasks=2)  # '/' in a path segment
        self.assertEqual(c.get_agent("team/b@x").max_concurrent_tasks, 2)
        self.assertIsNone(c.get_agent("nobody"))
        self.assertEqual([x.agent_id for x in c.list_agents()], ["claude-3", "team/b@x"])
        self.assertEqual([x.agent_id for x in c.list_agents(capability="debate")], ["claude-3"])
        self.assertEqual([x.agent_id for x in c.list_agents(capability=["code", "debate"])],
                         ["claude-3"])

        self.assertTrue(c.heartbeat("claude-3"))
        self.assertTrue(c.heartbeat("claude-3", status=AgentStatus.DRAINING))
        self.assertIs(c.get_agent("claude-3").status, AgentStatus.DRAINING)
        self.assertEqual([x.agent_id for x in c.list_agents()], ["team/b@x"])  # not available
        self.assertEqual(len(c.list_agents(available=False)), 2)
        self.assertEqual(len(c.list_agents(only_available=False)), 2)  # the original's name
        self.assertEqual([x.agent_id for x in c.list_agents(available=False,
                                                            status="draining")], ["claude-3"])
        self.assertTrue(c.heartbeat("claude-3", "ready"))
        self.assertFalse(c.heartbeat("nobody"))
        with self.assertRaises(BadRequestError) as cm:
            c.heartbeat("claude-3", AgentStatus.OFFLINE)  # the server's to set
        self.assertEqual((cm.exception.code, cm.exception.status), ("invalid_field", 400))

        self.assertTrue(c.unregister_agent("claude-3"))
        self.assertFalse(c.unregister_agent("claude-3"))
        self.assertIsNone(c.get_agent("claude-3"))

    def test_a_python_probe_function_is_refused_clearly(self):
        c = self.client()
        with self.assertRaises(TypeError):
            c.register_agent("p", ["debate"], health_probe=lambda: True)
        port = cpdtest.free_port()
        a = c.register_agent("p", ["debate"],
                             health_probe={"type": "tcp", "address": "127.0.0.1:%d" % port})
        self.assertEqual(a.health_probe["type"], "tcp")

    def test_select_agent(self):
        c = self.client()
        self.assertIsNone(c.select_agent(["debate"]))
        for name in ("a", "b", "c"):
            c.register_agent(name, ["debate"])
        seen = {c.select_agent(["debate"], strategy="round_robin").agent_id for _ in range(3)}
        self.assertEqual(seen, {"a", "b", "c"})
        self.assertEqual(c.select_agent(capabilities=["debate"], strategy="least_loaded",
                                        exclude=["a", "b"]).agent_id, "c")
        self.assertIsNone(c.select_agent(["debate"], exclude=["a", "b", "c"]))
        with self.assertRaises(BadRequestError) as cm:
            c.select_agent(["debate"], strategy="no-such-strategy")
        self.assertEqual(cm.exception.code, "invalid_field")


class TasksTest(CpdCase):
    def test_guide_lifecycle(self):
        c = self.client()
        c.register_agent("my-agent", ["code", "critique"])
        task_id = c.submit_task(task_type="code_review",
                                payload={"file": "main.py", "diff": "..."},
                                required_capabilities=["code", "critique"],
                                priority=TaskPriority.HIGH, timeout_seconds=120,
                                metadata={"pr_id": "123"})
        self.assertRegex(task_id, r"^task_[0-9a-f]{24}$")
        t = c.get_task(task_id)
        self.assertIsInstance(t, Task)
        self.assertIs(t.status, TaskStatus.PENDING)
        self.assertIs(t.priority, TaskPriority.HIGH)
        self.assertEqual((t.timeout_seconds, t.metadata), (120, {"pr_id": "123"}))
        task = c.claim_task(agent_id="my-agent", capabilities=["code", "critique"],
                            block_ms=5000)
        self.assertEqual((task.id, task.status, task.assigned_agent, task.attempt),
                         (task_id, TaskStatus.CLAIMED, "my-agent", 1))
        self.assertEqual(task.payload, {"file": "main.py", "diff": "..."})
        self.assertTrue(c.start_task(task.id, "my-agent"))
        self.assertTrue(c.complete_task(task_id=task.id, result={"review": "ok"},
                                        agent_id="my-agent", latency_ms=1500.0))
        done = c.wait_for_result(task_id, timeout=5)
        self.assertIs(done.status, TaskStatus.COMPLETED)
        self.assertEqual(done.result, {"review": "ok"})
        self.assertTrue(done.is_terminal)
        self.assertEqual(c.get_agent("my-agent").avg_latency_ms, 1500.0)
        self.assertEqual([x.id for x in c.list_tasks(status=TaskStatus.COMPLETED)], [task_id])
        self.assertEqual(c.list_tasks(task_type="other"), [])

    def test_priorities_by_enum_number_and_name(self):
        c = self.client()
        c.register_agent("w", ["p"])
        low = c.submit_task("p", {}, ["p"], priority=3)
        crit = c.submit_task("p", {}, ["p"], priority="urgent")
        high = c.submit_task("p", {}, ["p"], priority=TaskPriority.HIGH)
        order = []
        for _ in range(3):
            t = c.claim_task("w")
            order.append(t.id)
            c.complete_task(t.id, {}, "w")
        self.assertEqual(order, [crit, high, low])
        self.assertIs(c.get_task(low).priority, TaskPriority.LOW)
        with self.assertRaises(BadRequestError):
            c.submit_task("p", {}, ["p"], priority="bogus")

    def test_fail_requeue_and_final(self):
        c = self.client()
        c.register_agent("w", ["f"])
        tid = c.submit_task("f", {}, ["f"], max_retries=2)
        t = c.claim_task("w")
        r = c.fail_task(t.id, error="boom", agent_id="w", requeue=True)
        self.assertTrue(r)
        self.assertTrue(r.requeued)
        self.assertEqual((r.status, r.retries), (TaskStatus.PENDING, 1))
        t = c.claim_task("w")  # the only agent: not passed over
        self.assertEqual(t.id, tid)
        r = c.fail_task(t.id, "boom again", "w")
        self.assertFalse(r.requeued)
        self.assertIs(r.status, TaskStatus.FAILED)
        self.assertEqual(c.wait_for_result(tid, timeout=1).error, "boom again")
        tid2 = c.submit_task("f", {}, ["f"])
        t = c.claim_task("w")
        self.assertIs(c.fail_task(t.id, "no", "w", requeue=False).status, TaskStatus.FAILED)
        self.assertFalse(c.fail_task("task_000000000000000000000000", "x"))
        self.assertIs(c.get_task(tid2).status, TaskStatus.FAILED)

    def test_unknown_ids_and_conflicts(self):
        c = self.client()
        unknown = "task_000000000000000000000000"
        self.assertIsNone(c.get_task(unknown))
        self.assertFalse(c.cancel_task(unknown))
        self.assertFalse(c.complete_task(unknown, {}))
        self.assertFalse(c.start_task(unknown))
        self.assertIsNone(c.wait_for_result(unknown, timeout=1))
        with self.assertRaises(NotFoundError) as cm:
            c.claim_task("nobody")
        self.assertEqual(cm.exception.code, "not_found")

        c.register_agent("w", ["x"])
        tid = c.submit_task("x", {}, ["x"])
        t = c.claim_task("w")
        self.assertTrue(c.cancel_task(tid))
        with self.assertRaises(ConflictError) as cm:
            c.complete_task(t.id, {"late": True}, "w")
        e = cm.exception
        self.assertEqual((e.code, e.status), ("conflict", 409))
        self.assertIn("cancelled", e.message)
        with self.assertRaises(ConflictError):
            c.cancel_task(tid)
        self.assertIs(c.wait_for_result(tid, timeout=1).status, TaskStatus.CANCELLED)

    def test_wait_for_result_waits_without_polling(self):
        c = self.client()
        c.register_agent("w", ["x"])
        tid = c.submit_task("x", {}, ["x"])

        def work():
            time.sleep(0.5)
            w = Client(self.url)
            t = w.claim_task("w")
            w.complete_task(t.id, {"n": 1}, "w")
            w.close()

        threading.Thread(target=work).start()
        (task, took) = elapsed(c.wait_for_result, tid, timeout=10)
        self.assertEqual(task.result, {"n": 1})
        self.assertLess(took, 5)
        # Not finished in time: None after about the timeout.
        tid2 = c.submit_task("x", {}, ["x"])
        (task, took) = elapsed(c.wait_for_result, tid2, timeout=1.0)
        self.assertIsNone(task)
        self.assertGreaterEqual(took, 0.9)
        self.assertLess(took, 4)


class HealthStatsTest(CpdCase):
    def test_pages(self):
        """list_agents reads page after page; list_agents_page and get_health(limit=) give
        one; get_health("all") gathers the map's pages; the summary form."""
        c = self.client()
        ids = ["p%d" % i for i in range(7)]
        for a in ids:
            c.register_agent(a, ["x"])
        c.heartbeat("p3", "draining")
        self.assertEqual([a.agent_id for a in c.list_agents(available=False, page_size=2)], ids)
        self.assertEqual([a.agent_id for a in c.list_agents(page_size=2)],
                         [a for a in ids if a != "p3"])
        agents, nxt = c.list_agents_page(3, available=False)
        self.assertEqual(([a.agent_id for a in agents], nxt), (ids[:3], "p2"))
        agents, nxt = c.list_agents_page(5, after=nxt, available=False)
        self.assertEqual(([a.agent_id for a in agents], nxt), (ids[3:], None))
        with self.assertRaises(BadRequestError):
            c.list_agents_page(0)

        sh = c.get_health("all", limit=4)
        self.assertEqual((sh.form, list(sh.agents), sh.next), ("full", ids[:4], "p3"))
        saved = cpclient._ops.AGENT_PAGE
        cpclient._ops.AGENT_PAGE = 2
        try:
            sh = c.get_health("all")  # four pages gathered
        finally:
            cpclient._ops.AGENT_PAGE = saved
        self.assertEqual((sorted(sh.agents), sh.next), (ids, None))
        self.assertEqual(sh.summary["agents"], 7)
        sh = c.get_health("summary")
        self.assertEqual((sh.form, sh.agents, sh.next), ("summary", {}, None))
        self.assertEqual(sh.summary["by_health"]["healthy"], 7)
        self.assertEqual(sh.summary["by_status"]["draining"], 1)
        self.assertEqual(c.get_health().form, "full")  # a small fleet: the whole map
        with self.assertRaises(BadRequestError):
            c.get_health("everything")

    def test_tenants(self):
        c = self.client()
        t = c.set_tenant("acme", weight=3, max_in_flight=2)
        self.assertIsInstance(t, cpclient.Tenant)
        self.assertEqual((t.id, t.weight, t.max_in_flight, t.configured), ("acme", 3, 2, True))
        tid = c.submit_task("t", tenant="acme")
        self.assertEqual(c.get_task(tid).tenant, "acme")
        self.assertEqual(c.get_task(c.submit_task("t")).tenant, "default")
        self.assertEqual(c.get_tenant("acme").waiting, 1)
        self.assertIn("acme", [x.id for x in c.list_tenants()])
        self.assertIsNone(c.get_tenant("nobody"))
        with self.assertRaises(BadRequestError):
            c.set_tenant("acme", weight=0)
        d = c.delete_tenant("acme")
        self.assertEqual((d.weight, d.configured), (1, False))
        self.assertIsNone(c.delete_tenant("acme"))

    def test_health_and_stats(self):
        c = self.client()
        self.assertIs(c.get_system_health(), HealthStatus.HEALTHY)
        c.register_agent("h", ["x"])
        h = c.get_agent_health("h")
        self.assertEqual((h.agent_id, h.status), ("h", HealthStatus.HEALTHY))
        self.assertEqual(h.consecutive_failures, 0)
        self.assertIs(h.circuit.state, CircuitState.CLOSED)
        self.assertIsNone(c.get_agent_health("nobody"))
        sh = c.get_health()
        self.assertIs(sh.status, HealthStatus.HEALTHY)
        self.assertEqual(list(sh.agents), ["h"])
        self.assertIn(sh.storage["backend"], ("memory", "redis"))
        self.assertTrue(c.is_agent_available("h"))
        self.assertFalse(c.is_agent_available("nobody"))
        c.submit_task("x", {}, ["x"])
        c.claim_task("h")  # max_concurrent_tasks 1: busy now
        self.assertFalse(c.is_agent_available("h"))
        stats = c.get_stats()
        self.assertEqual(stats["registry"]["total_agents"], 1)
        self.assertEqual(stats["scheduler"]["running_tasks"], 1)
        self.assertEqual(stats["health"]["healthy_count"], 1)
        self.assertEqual(c.get_metrics(), {"active_jobs": 1, "queued_jobs": 0,
                                           "completed_jobs": 0, "failed_jobs": 0,
                                           "agents_available": 0, "agents_busy": 1,
                                           "total_agents": 1})
        c.submit_task("y", {}, ["nobody"])
        queue = c.get_queue(limit=1)
        self.assertEqual(queue["total"], 2)
        self.assertEqual([(j["type"], j["status"]) for j in queue["jobs"]], [("y", "queued")])
        self.assertEqual([j["status"] for j in c.get_queue()["jobs"]], ["queued", "running"])


class AuthTest(CpdCase):
    cpd_config = {"auth": {"tokens": ["adm:admin", "rd:reader", "ag:agent"]}}

    def test_bearer_tokens_and_codes(self):
        with self.assertRaises(UnauthorizedError) as cm:
            self.client().get_stats()
        self.assertEqual((cm.exception.code, cm.exception.status), ("unauthorized", 401))
        self.assertIs(self.client().get_system_health(), HealthStatus.HEALTHY)  # no token needed
        with self.assertRaises(ForbiddenError) as cm:
            self.client(token="rd").submit_task("x", {})
        self.assertEqual(cm.exception.code, "forbidden")
        self.assertRegex(self.client(token="adm").submit_task("x", {}), "^task_")
        os.environ["CONTROL_PLANE_TOKEN"] = "rd"
        try:
            self.assertEqual(self.client().get_stats()["registry"]["total_agents"], 0)
        finally:
            del os.environ["CONTROL_PLANE_TOKEN"]


class ConnectionTest(CpdCase):
    def test_one_kept_alive_connection(self):
        c = self.client()
        c.register_agent("k", ["x"])
        for i in range(30):
            c.heartbeat("k")
            c.get_agent("k")
        c.claim_task("k", block_ms=100)  # a long poll reuses it too
        self.assertIsNone(c.get_agent("missing"))  # and so does a 404
        self.assertEqual(c.connections_opened, 1)
        c.close()
        c.get_stats()
        self.assertEqual(c.connections_opened, 2)

    def test_threads_share_a_client(self):
        c = self.client()
        c.register_agent("t", ["x"])
        errors = []

        def hammer():
            try:
                for _ in range(20):
                    assert c.get_agent("t").agent_id == "t"
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=hammer) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertLessEqual(c.connections_opened, 4)

    def test_long_poll_has_its_own_timeout(self):
        c = self.client(timeout=0.5)  # shorter than the claim's block_ms
        c.register_agent("lp", ["x"])
        task, took = elapsed(c.claim_task, "lp", block_ms=1500)
        self.assertIsNone(task)
        self.assertGreaterEqual(took, 1.4)

    def test_cancel_event_ends_a_held_claim(self):
        c = self.client()
        c.register_agent("cx", ["x"])
        cancel = threading.Event()
        threading.Timer(0.3, cancel.set).start()
        task, took = elapsed(c.claim_task, "cx", block_ms=30000, cancel=cancel)
        self.assertIsNone(task)
        self.assertLess(took, 2.0)
        self.wait_held_claims(0)  # the server saw the client go and dropped the claim
        tid = c.submit_task("x", {}, ["x"])
        self.assertEqual(c.claim_task("cx").id, tid)  # nothing was lost to the dead claim
        cancel2 = threading.Event()
        threading.Timer(0.3, cancel2.set).start()
        self.assertIsNone(c.wait_for_result(tid, timeout=30, cancel=cancel2))


class FailureTest(support.unittest.TestCase):
    def fake(self, handler):
        s = FakeServer(handler)
        self.addCleanup(s.close)
        return s

    def client(self, url, **kw):
        c = Client(url, **kw)
        self.addCleanup(c.close)
        return c

    def test_no_answer_times_out(self):
        def silent(conn):
            read_request(conn)
            time.sleep(5)
        s = self.fake(silent)
        c = self.client(s.url, timeout=0.5)
        with self.assertRaises(RequestTimeout) as cm:
            elapsed(c.get_stats)
        self.assertEqual(cm.exception.code, "timeout")
        self.assertIsInstance(cm.exception, TimeoutError)

    def test_closed_port(self):
        s = self.fake(lambda conn: None)
        s.close()
        with self.assertRaises(TransportError) as cm:
            self.client(s.url).get_stats()
        self.assertEqual((cm.exception.code, cm.exception.status), ("transport", 0))

    def test_answer_that_is_not_json(self):
        s = self.fake(lambda conn: (read_request(conn),
                                    conn.sendall(http_answer(200, b"<html>hi</html>"))))
        with self.assertRaises(ProtocolError) as cm:
            self.client(s.url).get_stats()
        self.assertEqual(cm.exception.code, "protocol")

    def test_error_without_json_body(self):
        s = self.fake(lambda conn: (read_request(conn),
                                    conn.sendall(http_answer(502, b"bad gateway"))))
        with self.assertRaises(cpclient.ServerError) as cm:
            self.client(s.url).get_stats()
        self.assertEqual(cm.exception.status, 502)
        self.assertIn("bad gateway", cm.exception.message)

    def test_server_closing_an_idle_connection_is_retried(self):
        def one_answer_then_close(conn):
            if read_request(conn):
                conn.sendall(http_answer(200, b'{"status": "healthy"}'))
            time.sleep(0.1)  # then closes without Connection: close, as an idle timeout does

        s = self.fake(one_answer_then_close)
        c = self.client(s.url)
        self.assertIs(c.get_system_health(), HealthStatus.HEALTHY)
        time.sleep(0.3)
        self.assertIs(c.get_system_health(), HealthStatus.HEALTHY)  # stale socket: sent again
        self.assertEqual((c.connections_opened, s.accepted), (2, 2))


if __name__ == "__main__":
    support.main()
