#!/usr/bin/env python3
"""test_events.py — GET /api/control-plane/events, the event stream (Server-Sent Events), on
both stores: one event per change with the original dashboard's names and the statuses each
change went between; filters; ids that increase and Last-Event-ID resumption within
events.history (a resync beyond it); keep-alive comments on a stream that outlives the header
and idle timeouts; a reader that does not read cut off with `overflow` at its buffer limit while
the others go on; streams counting toward limits.max_connections; bad requests refused."""

import socket
import time

import cpdtest
from cpdtest import CpdTestCase, SseReader, wait_until


def names(events):
    return [e["event"] for e in events]


class EventStreamTest(CpdTestCase):
    cpd_config = {
        "circuit": {"failure_threshold": 2},
        "tasks": {"pass_over_seconds": 0.001},
        "events": {"history": 8},
    }

    def stream(self, query="", **kw):
        s = SseReader(self.cpd.port, "events" + query, **kw)
        self.addCleanup(s.close)
        self.assertEqual(s.status, 200, s.body)
        return s

    def test_lifecycle_in_order_with_statuses(self):
        s = self.stream()
        self.assertEqual(s.headers["content-type"], "text/event-stream")
        a, cap = self.uid("agent"), self.uid("cap")
        self.register(a, capabilities=[cap], max_concurrent_tasks=1)
        t1 = self.submit(task_type="tt", required_capabilities=[cap], max_retries=2)
        self.claim(a)
        self.assertStatus(self.c.post("tasks/%s/start" % t1, {"agent_id": a}), 200)
        self.assertStatus(self.c.post("tasks/%s/fail" % t1, {"agent_id": a, "error": "x"}), 200)
        self.claim(a)
        self.assertStatus(self.c.post("tasks/%s/complete" % t1, {"agent_id": a,
                                                                "result": {"ok": 1}}), 200)
        t2 = self.submit(task_type="tt", required_capabilities=["nobody-" + cap],
                         priority="high")
        self.assertStatus(self.c.post("tasks/%s/cancel" % t2), 200)
        self.heartbeat(a)  # alive, status unchanged: no event
        self.heartbeat(a, "draining")
        got = s.until(lambda e: e["event"] == "agent_status_changed"
                      and e["data"]["new_status"] == "draining")
        want = [
            ("agent_registered", {"agent_id": a, "old_status": None, "new_status": "ready"}),
            ("task_submitted", {"task_id": t1, "task_type": "tt", "new_status": "pending",
                                "priority": "normal", "attempt": 0}),
            ("task_claimed", {"task_id": t1, "agent_id": a, "old_status": "pending",
                              "new_status": "claimed", "attempt": 1}),
            ("agent_status_changed", {"agent_id": a, "old_status": "ready",
                                      "new_status": "busy"}),
            ("task_started", {"task_id": t1, "old_status": "claimed", "new_status": "running"}),
            ("task_failed", {"task_id": t1, "agent_id": a, "old_status": "running",
                             "new_status": "pending", "attempt": 1}),
            ("agent_status_changed", {"agent_id": a, "old_status": "busy",
                                      "new_status": "ready"}),
            ("task_claimed", {"task_id": t1, "attempt": 2}),
            ("agent_status_changed", {"new_status": "busy"}),
            ("task_completed", {"task_id": t1, "agent_id": a, "old_status": "claimed",
                                "new_status": "completed", "attempt": 2}),
            ("agent_status_changed", {"old_status": "busy", "new_status": "ready"}),
            ("task_submitted", {"task_id": t2, "priority": "high"}),
            ("task_cancelled", {"task_id": t2, "agent_id": None, "old_status": "pending",
                                "new_status": "cancelled"}),
            ("agent_status_changed", {"agent_id": a, "old_status": "ready",
                                      "new_status": "draining"}),
        ]
        # the breaker's writes (a failure, then a success) may add health_update events
        got = [e for e in got if e["event"] != "health_update"]
        self.assertEqual(names(got), [w[0] for w in want])
        for ev, (name, fields) in zip(got, want):
            self.assertEqual(ev["data"]["type"], name)
            self.assertTimestamp(ev["data"]["timestamp"])
            for k, v in fields.items():
                self.assertEqual(ev["data"].get(k), v, "%s: %s" % (name, k))
        ids = [int(e["id"]) for e in got]
        self.assertEqual(ids, sorted(ids))
        self.assertEqual(len(set(ids)), len(ids))
        self.assertGreater(ids[0], int(time.time() - 3600) * 1000 * 1000)  # wall-clock based

    def test_timeout_health_and_requeue(self):
        s = self.stream()
        a, b, cap = self.uid("agent"), self.uid("agent"), self.uid("cap")
        self.register(a, capabilities=[cap], max_concurrent_tasks=4)
        t1 = self.submit(task_type="tt", required_capabilities=[cap], timeout_seconds=1,
                         max_retries=3)
        self.claim(a)
        # a times out its task (a breaker failure), then fails another: the circuit opens
        s.until(lambda e: e["event"] == "task_timeout" and e["data"]["task_id"] == t1)
        t2 = self.submit(task_type="tt", required_capabilities=[cap])
        # both tasks are pending: claim until t2 (the breaker has one failure so far)
        claimed = set()
        while t2 not in claimed:
            claimed.add(self.claim(a)["id"])
        self.assertStatus(self.c.post("tasks/%s/fail" % t2, {"agent_id": a, "error": "x",
                                                             "requeue": False}), 200)
        ev = s.until(lambda e: e["event"] == "health_update"
                     and e["data"]["new_circuit"] == "open")[-1]
        self.assertEqual(ev["data"]["agent_id"], a)
        self.assertEqual(ev["data"]["old_circuit"], "closed")
        # b registers, claims, and is unregistered: its task is requeued
        self.register(b, capabilities=["b-" + cap])
        t3 = self.submit(task_type="tt", required_capabilities=["b-" + cap])
        self.claim(b)
        self.assertStatus(self.c.delete("agents/" + b), 200)
        got = s.until(lambda e: e["event"] == "task_requeued" and e["data"]["task_id"] == t3)
        unreg = [e for e in got if e["event"] == "agent_unregistered"]
        self.assertEqual(len(unreg), 1)
        self.assertEqual(unreg[0]["data"]["old_status"], "busy")
        self.assertEqual(got[-1]["data"]["old_status"], "claimed")
        self.assertEqual(got[-1]["data"]["new_status"], "pending")
        self.assertEqual(got[-1]["data"]["reason"], "agent")

    def test_filters(self):
        a, cap = self.uid("agent"), self.uid("cap")
        done = self.stream("?types=task_completed,task_failed")
        by_type = self.stream("?task_type=wanted")
        by_agent = self.stream("?agent_id=" + cpdtest.q(a))
        self.register(a, capabilities=[cap], max_concurrent_tasks=4)
        t1 = self.submit(task_type="wanted", required_capabilities=[cap], max_retries=0)
        t2 = self.submit(task_type="other", required_capabilities=[cap])
        c1, c2 = self.claim(a)["id"], self.claim(a)["id"]
        self.assertEqual({c1, c2}, {t1, t2})
        self.assertStatus(self.c.post("tasks/%s/fail" % t1, {"agent_id": a, "error": "x"}), 200)
        self.assertStatus(self.c.post("tasks/%s/complete" % t2, {"agent_id": a}), 200)
        self.register(self.uid("other"), capabilities=[cap])  # passes no filter below
        got = done.until(lambda e: e["event"] == "task_completed")
        self.assertEqual(names(got), ["task_failed", "task_completed"])
        self.assertEqual([e["data"]["task_id"] for e in got], [t1, t2])
        got = by_type.until(lambda e: e["event"] == "task_failed")
        self.assertEqual(names(got), ["task_submitted", "task_claimed", "task_failed"])
        self.assertTrue(all(e["data"]["task_type"] == "wanted" for e in got))
        got = by_agent.until(lambda e: e["event"] == "task_completed")
        self.assertNotIn("task_submitted", names(got))  # a submit has no agent yet
        self.assertTrue(all(e["data"]["agent_id"] == a for e in got))
        self.assertIn("agent_registered", names(got))
        # bad filters change nothing and say why
        for query, mention in (("?types=task_done", "task_done"), ("?types=,", "types"),
                               ("?task_type=a%20b", "task_type"), ("?agent_id=", "agent_id"),
                               ("?last_event_id=x12", "Last-Event-ID")):
            r = self.c.get("events" + query)
            self.assertError(r, 400, "invalid_field", mention)

    def test_task_features_extend_retry_due(self):
        s = self.stream("?types=task_extended,task_retried,task_due")
        a, cap = self.uid("agent"), self.uid("cap")
        self.register(a, capabilities=[cap])
        t1 = self.submit(task_type="feat", required_capabilities=[cap], max_retries=0)
        self.assertEqual(self.claim(a)["id"], t1)
        r = self.c.post("tasks/%s/extend" % t1, {"agent_id": a, "seconds": 60,
                                                 "progress": {"percent": 40}})
        self.assertStatus(r, 200)
        got = s.next()
        self.assertEqual(got["event"], "task_extended")
        self.assertEqual((got["data"]["task_id"], got["data"]["agent_id"],
                          got["data"]["new_status"]), (t1, a, "claimed"))
        self.assertStatus(self.c.post("tasks/%s/fail" % t1, {"agent_id": a, "error": "x"}), 200)
        self.assertStatus(self.c.post("tasks/%s/retry" % t1), 200)
        got = s.next()
        self.assertEqual(got["event"], "task_retried")
        self.assertEqual((got["data"]["task_id"], got["data"]["old_status"],
                          got["data"]["new_status"]), (t1, "failed", "pending"))
        t2 = self.submit(task_type="feat", required_capabilities=["nobody-" + cap],
                         delay_seconds=0.3)
        got = s.next()
        self.assertEqual(got["event"], "task_due")
        self.assertEqual((got["data"]["task_id"], got["data"]["new_status"]), (t2, "pending"))

    def test_resume_with_last_event_id(self):
        a, cap = self.uid("agent"), self.uid("cap")
        s = self.stream()
        self.register(a, capabilities=[cap])
        first = s.next()
        s.close()
        tasks = [self.submit(task_type="tt", required_capabilities=[cap]) for _ in range(3)]
        # EventSource reconnects with the header; ?last_event_id= does the same
        for how in ("header", "query"):
            if how == "header":
                r = self.stream(headers={"Last-Event-ID": first["id"]})
            else:
                r = self.stream("?last_event_id=" + first["id"])
            got = [r.next() for _ in range(3)]
            self.assertEqual(names(got), ["task_submitted"] * 3)
            self.assertEqual([e["data"]["task_id"] for e in got], tasks)
            self.assertEqual(r.retry, 3000)
            r.close()
        # live after the replay; filters apply to the replay too
        r = self.stream("?types=agent_registered", headers={"Last-Event-ID": first["id"]})
        b = self.uid("agent")
        self.register(b, capabilities=[cap])
        self.assertEqual(r.next()["data"]["agent_id"], b)
        # history is 8 events: after 10 more, the first id is too old: resync, then live
        for _ in range(10):
            self.submit(task_type="tt", required_capabilities=[cap])
        r = self.stream(headers={"Last-Event-ID": first["id"]})
        ev = r.next()
        self.assertEqual(ev["event"], "resync")
        self.assertIsNone(ev["id"])
        self.assertIn("events.history", ev["data"]["reason"])
        t = self.submit(task_type="tt", required_capabilities=[cap])
        self.assertEqual(r.next()["data"]["task_id"], t)
        # an id this process never gave (ahead of the newest): resync as well
        r = self.stream(headers={"Last-Event-ID": str(int(first["id"]) + 10 ** 9)})
        self.assertEqual(r.next()["event"], "resync")


class ReaperEventsTest(CpdTestCase):
    cpd_config = {"agents": {"heartbeat_timeout_seconds": 1, "cleanup_interval_seconds": 1}}

    def test_offline_then_removed(self):
        s = SseReader(self.cpd.port, "events")
        self.addCleanup(s.close)
        a, cap = self.uid("agent"), self.uid("cap")
        self.register(a, capabilities=[cap])
        t = self.submit(task_type="tt", required_capabilities=[cap])
        self.claim(a)
        # a falls silent: offline (its claimed task requeued), then removed
        got = s.until(lambda e: e["event"] == "agent_status_changed"
                      and e["data"]["agent_id"] == a and e["data"]["new_status"] == "offline",
                      timeout=15)
        self.assertEqual(got[-1]["data"]["old_status"], "busy")
        ev = s.next()
        self.assertEqual((ev["event"], ev["data"]["task_id"]), ("task_requeued", t))
        self.assertEqual(ev["data"]["old_status"], "claimed")
        got = s.until(lambda e: e["event"] == "agent_status_changed"
                      and e["data"]["agent_id"] == a and e["data"]["new_status"] == "removed",
                      timeout=15)
        removed = got[-1]["data"]
        self.assertEqual(removed["old_status"], "offline")
        self.assertTrue(removed["removed"])


class KeepAliveTest(CpdTestCase):
    cpd_config = {"events": {"keepalive_seconds": 0.5},
                  "limits": {"idle_timeout_seconds": 1, "header_timeout_seconds": 1}}

    def test_quiet_stream_outlives_timeouts(self):
        s = SseReader(self.cpd.port, "events")
        self.addCleanup(s.close)
        self.assertEqual(s.status, 200)
        time.sleep(3.0)  # three times the idle and header timeouts, nothing sent by anyone
        a = self.uid("agent")
        self.register(a, capabilities=["x"])
        ev = s.next(timeout=5)
        self.assertEqual(ev["event"], "agent_registered")
        self.assertGreaterEqual(s.comments, 3)  # keep-alive comments meanwhile


class LimitsTest(CpdTestCase):
    cpd_config = {"events": {"client_buffer_bytes": 4096},
                  "limits": {"max_connections": 4}}

    def test_slow_reader_is_cut_off_and_others_go_on(self):
        # a reader that reads nothing, with the smallest receive window the kernel allows
        slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        slow.connect(("127.0.0.1", self.cpd.port))
        self.addCleanup(slow.close)
        slow.sendall(b"GET /api/control-plane/events HTTP/1.1\r\nHost: x\r\n\r\n")
        fast = SseReader(self.cpd.port, "events?types=task_submitted")
        self.addCleanup(fast.close)
        cap = self.uid("cap")
        n = 0
        deadline = time.monotonic() + 60
        cut = False
        while not cut and time.monotonic() < deadline:
            for _ in range(50):
                self.submit(task_type="t" * 100, required_capabilities=[cap],
                            metadata={"pad": "x" * 100})
                n += 1
            cut = "cut off" in self.cpd.stderr()
        self.assertTrue(cut, "the slow reader was never cut off after %d events" % n)
        # the fast one saw every event
        got = [fast.next() for _ in range(n)]
        self.assertEqual(names(got), ["task_submitted"] * n)
        # the slow one, read now: its stream ends with `overflow`, then the connection closes
        slow.settimeout(10)
        data = b""
        while True:
            chunk = slow.recv(65536)
            if not chunk:
                break
            data += chunk
        text = data.decode(errors="replace")
        self.assertIn("event: overflow", text)
        self.assertLess(text.rfind("event: task_submitted"), text.rfind("event: overflow"))
        self.assertIn("events.client_buffer_bytes", text)
        # what reached the client: the 4 KiB limit, the final event, and what the kernel's
        # socket buffers had taken before (loopback grows them to a few MB at most)
        self.assertLess(len(data), 16 * 1024 * 1024)

    def test_streams_count_toward_max_connections(self):
        self.c.close()
        readers = [SseReader(self.cpd.port, "events") for _ in range(4)]
        for r in readers:
            self.addCleanup(r.close)
            self.assertEqual(r.status, 200)
        refused = cpdtest.Client(self.cpd.port).get("health")
        self.assertEqual(refused.status, 503)
        self.assertEqual(refused.body["code"], "too_many_connections")
        readers[0].close()
        r = wait_until(lambda: _health_ok(self.cpd.port), 5, what="a free connection")
        self.assertEqual(r.status, 200)


def _health_ok(port):
    c = cpdtest.Client(port)
    try:
        r = c.get("health")
        return r if r.status == 200 else None
    finally:
        c.close()


class AuthTest(CpdTestCase):
    cpd_config = {"auth": {"tokens": [{"token": "reader-tok", "role": "reader"},
                                      {"token": "admin-tok", "role": "admin"}]}}
    token = "admin-tok"

    def setUp(self):
        super().setUp()

    def test_reader_role_header_or_cookie(self):
        r = SseReader(self.cpd.port, "events")
        self.assertEqual(r.status, 401)
        r.close()
        ok = SseReader(self.cpd.port, "events", token="reader-tok")
        self.addCleanup(ok.close)
        self.assertEqual(ok.status, 200)
        # EventSource cannot send headers: the dashboard's cookie, on this path only
        jar = SseReader(self.cpd.port, "events",
                        headers={"Cookie": "other=1; cp_token=reader-tok; x=y"})
        self.addCleanup(jar.close)
        self.assertEqual(jar.status, 200)
        bad = SseReader(self.cpd.port, "events", headers={"Cookie": "cp_token=nope"})
        self.assertEqual(bad.status, 401)
        bad.close()
        r = self.c.get("agents", token="", headers={"Cookie": "cp_token=admin-tok"})
        self.assertEqual(r.status, 401)  # the cookie is for the event stream alone
        a = self.uid("agent")
        self.register(a, capabilities=["x"])
        self.assertEqual(ok.next()["data"]["agent_id"], a)
        self.assertEqual(jar.next()["data"]["agent_id"], a)


if __name__ == "__main__":
    cpdtest.main()
