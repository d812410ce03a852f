"""only_health.py — CONTRACT §5 end to end against the real cpd (memory store): http/tcp/exec
probes against real local endpoints (a threaded http.server the test flips between 200 and 500,
slows down or hangs), the thresholds (degraded → unhealthy + failed → recovery), the slow-probe
rule, the circuit breaker fed by task failures and timeouts, the system status, agents without a
probe, the public /health and /metrics, and `promtool check metrics` on a live /metrics.

Probes run every 0.2 s here (probes.interval_seconds), so every transition takes well under a
second; every wait is bounded (WAIT seconds) and polls instead of sleeping a guessed time."""

import http.server
import shutil
import socket
import subprocess
import threading
import time
import unittest

from cpdtest import (Client, CpdTestCase, free_port, main, parse_timestamp, q, wait_until)

WAIT = 15.0         # upper bound of every wait for a transition (probes run every 0.2 s)
INTERVAL = 0.2      # probes.interval_seconds
HEALTH = ("healthy", "degraded", "unhealthy", "unknown")
PROBE_CFG = {"probes": {"interval_seconds": INTERVAL, "timeout_seconds": 1},
             "health": {"unhealthy_threshold": 3, "recovery_threshold": 2}}


# ---------------------------------------------------------------------------------------------
# Probe targets


class Target:
    """A local HTTP endpoint for probes: each path answers a settable status after a settable
    delay (unknown paths: 404). Runs in daemon threads, one per request, so a slow answer never
    holds up another probe."""

    def __init__(self):
        self.routes = {}
        self.hits = {}
        self.lock = threading.Lock()
        target = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self):
                with target.lock:
                    status, delay = target.routes.get(self.path, (404, 0.0))
                    target.hits[self.path] = target.hits.get(self.path, 0) + 1
                if delay:
                    time.sleep(delay)
                body = b"ok\n" if 200 <= status < 300 else b"not ok\n"
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the probe gave up (timeout) and closed the connection
                    pass

            def log_message(self, *args):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a probe that hung up early is not an error of the test

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever,
                                       kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def set(self, path, status=200, delay=0.0):
        with self.lock:
            self.routes[path] = (status, delay)

    def count(self, path):
        with self.lock:
            return self.hits.get(path, 0)

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


class Listener:
    """An open TCP port that accepts and drops connections (a tcp probe's healthy target)."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.accepted += 1
            conn.close()

    def close(self):
        self.stopping = True
        self.thread.join(2)
        self.sock.close()


# ---------------------------------------------------------------------------------------------
# Base class


class HealthCase(CpdTestCase):
    cpd_config = PROBE_CFG

    def setUp(self):
        super().setUp()
        self.target = Target()
        self.addCleanup(self.target.close)

    # -- probes
    def http_probe(self, path, status=200, delay=0.0, **extra):
        self.target.set(path, status, delay)
        return dict({"type": "http", "url": self.target.url(path)}, **extra)

    # -- reads
    def health(self, agent_id, client=None):
        r = (client or self.c).get("health/" + q(agent_id))
        self.assertStatus(r, 200, "health of %s" % agent_id)
        return r.body

    def system(self):
        r = self.c.get("health")
        self.assertStatus(r, 200)
        return r.body

    def stats(self):
        r = self.c.get("stats")
        self.assertStatus(r, 200)
        return r.body

    def wait_health(self, agent_id, pred, what, timeout=WAIT):
        """Poll GET /health/:id until pred(HealthJSON) holds; returns that HealthJSON."""
        box = {}

        def check():
            box["h"] = self.health(agent_id)
            return pred(box["h"])

        try:
            wait_until(check, timeout, what="%s of %s" % (what, agent_id))
        except AssertionError as e:
            raise AssertionError("%s; last HealthJSON: %r" % (e, box.get("h")))
        return box["h"]

    def wait_status(self, agent_id, status, timeout=WAIT):
        return self.wait_health(agent_id, lambda h: h["status"] == status,
                                "health %s" % status, timeout)

    def trace(self, agent_id, until, timeout=WAIT):
        """Observe (HealthJSON, AgentJSON) pairs until until(health, agent) holds. Returns all
        observations, the last one satisfying `until`."""
        seen = []

        def step():
            h = self.health(agent_id)
            a = self.agent(agent_id)
            seen.append((h, a))
            return until(h, a)

        try:
            wait_until(step, timeout, interval=0.01,
                       what="a transition of %s" % agent_id)
        except AssertionError as e:
            raise AssertionError("%s; observed: %r" % (e, [(h["status"], h["consecutive_failures"],
                                                            h["consecutive_successes"],
                                                            a["status"]) for h, a in seen[-8:]]))
        return seen

    # -- HealthJSON shape (CONTRACT §5)
    def assertHealthJSON(self, h, probe):
        self.assertEqual(set(h), {"status", "last_check", "consecutive_failures",
                                  "consecutive_successes", "latency_ms", "error", "probe",
                                  "circuit"}, h)
        self.assertIn(h["status"], HEALTH)
        self.assertEqual(h["probe"], probe)
        self.assertIsInstance(h["consecutive_failures"], int)
        self.assertIsInstance(h["consecutive_successes"], int)
        self.assertEqual(set(h["circuit"]), {"state", "failures", "opened_at", "retry_at"})
        self.assertIn(h["circuit"]["state"], ("closed", "open", "half_open"))
        if h["last_check"] is not None:
            self.assertTimestamp(h["last_check"], near=time.time())


# ---------------------------------------------------------------------------------------------
# http probes: thresholds, claims, selection, recovery


class HttpProbe(HealthCase):

    def test_degraded_unhealthy_failed_then_recovers_and_claims(self):
        cap = self.uid("cap")
        aid = self.register(capabilities=[cap], health_probe=self.http_probe("/flip"))["agent_id"]
        other = self.register(capabilities=[cap])["agent_id"]  # no probe: healthy while alive

        h = self.wait_status(aid, "healthy")
        self.assertHealthJSON(h, "http")
        self.assertEqual(h["consecutive_failures"], 0)
        self.assertGreaterEqual(h["consecutive_successes"], 1)
        self.assertIsNone(h["error"])
        self.assertIsInstance(h["latency_ms"], (int, float))
        self.assertEqual(h["circuit"], {"state": "closed", "failures": 0, "opened_at": None,
                                        "retry_at": None})
        self.assertEqual(self.agent(aid)["status"], "ready")
        self.assertEqual(self.agent(aid)["health"], "healthy")

        # 500: degraded after 1 or 2 failures (still ready), unhealthy + failed at 3.
        self.target.set("/flip", 500)
        seen = self.trace(aid, lambda h, a: h["status"] == "unhealthy")
        after = [(h, a) for h, a in seen if h["status"] != "healthy"]
        self.assertTrue(any(h["status"] == "degraded" for h, a in after),
                        "never saw degraded before unhealthy: %r" % [h for h, a in seen])
        for h, a in after:
            if h["status"] == "degraded":
                self.assertIn(h["consecutive_failures"], (1, 2), h)
                self.assertEqual(h["error"], "HTTP 500", h)
            else:
                self.assertGreaterEqual(h["consecutive_failures"], 3, h)
            # AgentJSON is one record: its health and status always agree.
            if a["health"] == "degraded":
                self.assertEqual(a["status"], "ready", a)
            if a["health"] == "unhealthy":
                self.assertEqual(a["status"], "failed", a)
        h = seen[-1][0]
        self.assertEqual(h["consecutive_successes"], 0)
        self.assertEqual(h["error"], "HTTP 500")
        self.assertHealthJSON(h, "http")
        a = self.agent(aid)
        self.assertEqual((a["status"], a["health"]), ("failed", "unhealthy"))

        # A failed agent: no task (at once, even with block_ms), not available, never selected.
        tid = self.submit(required_capabilities=[cap])
        self.assertIsNone(self.claim(aid))
        t0 = time.monotonic()
        self.assertIsNone(self.claim(aid, block_ms=2000))
        self.assertLess(time.monotonic() - t0, 1.0, "a failed agent's claim was held")
        self.assertEqual(self.task(tid)["status"], "pending")
        listed = self.c.get("agents?capability=" + cap)
        self.assertStatus(listed, 200)
        self.assertEqual([x["agent_id"] for x in listed.body["agents"]], [other])
        everyone = self.c.get("agents?available=false&capability=" + cap).body["agents"]
        self.assertEqual(sorted(x["agent_id"] for x in everyone), sorted([aid, other]))
        for strategy in ("least_loaded", "round_robin", "random"):
            for _ in range(6):
                r = self.c.get("agents/select?capability=%s&strategy=%s" % (cap, strategy))
                self.assertStatus(r, 200)
                self.assertEqual(r.body["agent_id"], other, strategy)
            r = self.c.get("agents/select?capability=%s&strategy=%s&exclude=%s"
                           % (cap, strategy, other))
            self.assertError(r, 404, "no_agent")

        # A heartbeat keeps it alive but does not clear failed (also when it says "ready").
        before = parse_timestamp(self.agent(aid)["last_heartbeat"])
        time.sleep(0.01)
        self.assertEqual(self.heartbeat(aid)["status"], "failed")
        self.assertEqual(self.heartbeat(aid, status="ready")["status"], "failed")
        a = self.agent(aid)
        self.assertEqual(a["status"], "failed")
        self.assertGreater(parse_timestamp(a["last_heartbeat"]), before)
        self.assertIsNone(self.claim(aid))

        # 200 again: still unhealthy after one success, healthy + ready after two.
        self.target.set("/flip", 200)
        seen = self.trace(aid, lambda h, a: h["status"] == "healthy")
        for h, a in seen:
            if h["consecutive_failures"] == 0 and h["consecutive_successes"] == 1:
                self.assertEqual(h["status"], "unhealthy", h)
            if h["status"] == "healthy":
                self.assertGreaterEqual(h["consecutive_successes"], 2, h)
            if a["health"] == "healthy":
                self.assertEqual(a["status"], "ready", a)
            if a["health"] == "unhealthy":
                self.assertEqual(a["status"], "failed", a)
        h = seen[-1][0]
        self.assertIsNone(h["error"])
        self.assertEqual(h["consecutive_failures"], 0)
        self.assertEqual(self.agent(aid)["status"], "ready")
        listed = self.c.get("agents?capability=" + cap).body["agents"]
        self.assertEqual(sorted(x["agent_id"] for x in listed), sorted([aid, other]))

        task = self.claim(aid)
        self.assertIsNotNone(task, "the recovered agent got no task")
        self.assertEqual(task["id"], tid)
        self.assertEqual(task["assigned_agent"], aid)

    def test_slow_endpoint_beyond_timeout_fails_with_timeout_error(self):
        aid = self.register(health_probe=self.http_probe("/hang", 200, delay=3.0,
                                                         timeout_seconds=0.3))["agent_id"]
        h = self.wait_health(aid, lambda h: h["consecutive_failures"] >= 1, "a failed check")
        self.assertHealthJSON(h, "http")
        self.assertIn(h["status"], ("degraded", "unhealthy"))
        self.assertIsInstance(h["error"], str)
        self.assertIn("timed out", h["error"])
        self.assertGreaterEqual(h["latency_ms"], 250)
        self.assertLess(h["latency_ms"], 2500, "the timeout was not enforced")
        h = self.wait_status(aid, "unhealthy")
        self.assertIn("timed out", h["error"])
        self.assertEqual(self.agent(aid)["status"], "failed")

    def test_connection_refused_is_a_failure(self):
        url = "http://127.0.0.1:%d/health" % free_port()
        aid = self.register(health_probe={"type": "http", "url": url})["agent_id"]
        h = self.wait_status(aid, "unhealthy")
        self.assertIn("connection failed", h["error"])
        self.assertEqual(self.agent(aid)["status"], "failed")

    def test_requests_are_not_delayed_by_hanging_probes(self):
        for _ in range(10):
            self.register(health_probe=self.http_probe("/hang", 200, delay=3.0))
        wait_until(lambda: self.target.count("/hang") >= 10, WAIT, what="10 probes in flight")
        worst = 0.0
        for _ in range(20):
            t0 = time.monotonic()
            self.assertStatus(self.c.get("agents?available=false"), 200)
            worst = max(worst, time.monotonic() - t0)
        self.assertLess(worst, 0.5, "a request waited for hanging probes")

    def test_unregister_stops_probing(self):
        aid = self.register(health_probe=self.http_probe("/gone"))["agent_id"]
        self.wait_status(aid, "healthy")
        self.assertStatus(self.c.delete("agents/" + q(aid)), 200)
        time.sleep(INTERVAL)  # a check in flight may still land
        n = self.target.count("/gone")
        time.sleep(5 * INTERVAL)
        self.assertLessEqual(self.target.count("/gone"), n, "probing went on after unregister")
        self.assertError(self.c.get("health/" + q(aid)), 404, "not_found")


class SlowProbe(HealthCase):
    cpd_config = dict(PROBE_CFG, health={"unhealthy_threshold": 3, "recovery_threshold": 2,
                                         "slow_probe_seconds": 0.1})

    def test_passing_probe_slower_than_slow_probe_seconds_is_degraded(self):
        aid = self.register(health_probe=self.http_probe("/slow", 200, delay=0.2,
                                                         timeout_seconds=1))["agent_id"]
        h = self.wait_status(aid, "degraded")
        self.assertHealthJSON(h, "http")
        self.assertEqual(h["consecutive_failures"], 0)
        self.assertGreaterEqual(h["consecutive_successes"], 1)
        self.assertIsNone(h["error"])
        self.assertGreaterEqual(h["latency_ms"], 150)
        # It stays degraded while slow, but is not failed: it still gets work.
        checks = h["consecutive_successes"]
        h = self.wait_health(aid, lambda h: h["consecutive_successes"] >= checks + 3,
                             "three more slow checks")
        self.assertEqual(h["status"], "degraded")
        a = self.agent(aid)
        self.assertEqual((a["status"], a["health"]), ("ready", "degraded"))
        tid = self.submit()
        self.assertEqual(self.claim(aid)["id"], tid)
        self.assertEqual(self.system()["status"], "degraded")
        # Fast again: healthy after recovery_threshold (2) fast checks.
        self.target.set("/slow", 200, 0.0)
        h = self.wait_status(aid, "healthy")
        self.assertLess(h["latency_ms"], 100)


# ---------------------------------------------------------------------------------------------
# tcp and exec probes


class TcpProbe(HealthCase):

    def test_closed_port_unhealthy_open_port_healthy(self):
        listener = Listener()
        self.addCleanup(listener.close)
        closed = self.register(health_probe={"type": "tcp",
                                             "address": "127.0.0.1:%d" % free_port()})["agent_id"]
        opened = self.register(health_probe={"type": "tcp",
                                             "address": "127.0.0.1:%d" % listener.port})["agent_id"]
        h = self.wait_status(closed, "unhealthy")
        self.assertHealthJSON(h, "tcp")
        self.assertIn("refused", h["error"])
        self.assertGreaterEqual(h["consecutive_failures"], 3)
        self.assertEqual(self.agent(closed)["status"], "failed")
        h = self.wait_health(opened, lambda h: h["consecutive_successes"] >= 3, "3 passes")
        self.assertHealthJSON(h, "tcp")
        self.assertEqual(h["status"], "healthy")
        self.assertIsNone(h["error"])
        self.assertGreaterEqual(listener.accepted, 1)
        self.assertEqual(self.agent(opened)["status"], "ready")


class ExecDisabled(HealthCase):

    def test_exec_refused_by_default(self):
        aid = self.uid("agent")
        r = self.c.post("agents", {"agent_id": aid,
                                   "health_probe": {"type": "exec", "command": "/bin/true"}})
        self.assertError(r, 400, "invalid_field", mentions="exec")
        self.assertIn("health_probe", r.body["error"])
        self.assertIn("disabled", r.body["error"])  # says why, not just "not loaded"
        self.assertError(self.c.get("agents/" + q(aid)), 404, "not_found")


class ExecEnabled(HealthCase):
    cpd_config = dict(PROBE_CFG, probes=dict(PROBE_CFG["probes"], exec={"enabled": True}))

    def test_exec_true_healthy_false_unhealthy(self):
        ok = self.register(health_probe={"type": "exec", "command": "/bin/true"})["agent_id"]
        bad = self.register(health_probe={"type": "exec", "command": ["/bin/false"]})["agent_id"]
        h = self.wait_health(ok, lambda h: h["consecutive_successes"] >= 2, "2 passes")
        self.assertHealthJSON(h, "exec")
        self.assertEqual(h["status"], "healthy")
        h = self.wait_status(bad, "unhealthy")
        self.assertHealthJSON(h, "exec")
        self.assertEqual(h["error"], "exit status 1")
        self.assertEqual(self.agent(bad)["status"], "failed")
        self.assertEqual(self.agent(ok)["status"], "ready")


# ---------------------------------------------------------------------------------------------
# Circuit breaker


COOLDOWN = 1.5


class Circuit(HealthCase):
    cpd_config = dict(PROBE_CFG, circuit={"failure_threshold": 3, "cooldown_seconds": COOLDOWN,
                                          "max_cooldown_seconds": 300})

    def fail_tasks(self, aid, cap, n):
        for _ in range(n):
            tid = self.submit(required_capabilities=[cap])
            task = self.claim(aid)
            self.assertIsNotNone(task)
            self.assertEqual(task["id"], tid)
            r = self.c.post("tasks/%s/fail" % tid, {"agent_id": aid, "error": "boom",
                                                     "requeue": False})
            self.assertStatus(r, 200)
            self.assertEqual(r.body["status"], "failed")

    def complete_one(self, aid, cap):
        tid = self.submit(required_capabilities=[cap])
        task = self.claim(aid)
        self.assertIsNotNone(task, "no task for a half-open agent")
        self.assertStatus(self.c.post("tasks/%s/complete" % tid, {"agent_id": aid,
                                                                   "result": {"ok": 1}}), 200)

    def wait_circuit(self, aid, state):
        return self.wait_health(aid, lambda h: h["circuit"]["state"] == state,
                                "circuit %s" % state)

    def assert_open_blocks(self, aid, cap, opened):
        """While open: AgentJSON says so, no claim, not available, never selected, counted."""
        a = self.agent(aid)
        self.assertEqual(a["circuit"], "open")
        pending = self.submit(required_capabilities=[cap])
        self.assertIsNone(self.claim(aid))
        self.assertEqual(self.task(pending)["status"], "pending")
        listed = self.c.get("agents?capability=" + cap).body
        self.assertEqual(listed["agents"], [])
        every = self.c.get("agents?available=false&capability=" + cap).body["agents"]
        self.assertEqual([x["agent_id"] for x in every], [aid])
        for strategy in ("least_loaded", "round_robin", "random"):
            self.assertError(self.c.get("agents/select?capability=%s&strategy=%s"
                                        % (cap, strategy)), 404, "no_agent")
        st = self.stats()
        self.assertEqual(st["health"]["circuits_open"], 1)
        self.assertEqual(st["registry"]["available_agents"], 0)
        m = self.c.get("/metrics").body
        self.assertIn("\ncp_circuits_open 1\n", m)
        # Everything above must have happened inside the cooldown, or it proved nothing.
        self.assertLess(time.time(), opened + COOLDOWN,
                        "the machine is too slow: the checks outlasted the cooldown")
        # The pending task is not for this test's later claims.
        self.assertStatus(self.c.post("tasks/%s/cancel" % pending), 200)

    def test_task_failures_open_half_open_close_reopen_doubled(self):
        cap = self.uid("cap")
        aid = self.register(capabilities=[cap])["agent_id"]
        self.fail_tasks(aid, cap, 2)
        h = self.health(aid)
        self.assertEqual(h["circuit"], {"state": "closed", "failures": 2, "opened_at": None,
                                        "retry_at": None})
        self.assertEqual(h["status"], "healthy", "task failures changed health")
        self.fail_tasks(aid, cap, 1)
        h = self.health(aid)  # the third failure's answer comes after the breaker's update
        c = h["circuit"]
        self.assertEqual(c["state"], "open", h)
        self.assertEqual(c["failures"], 3)
        opened, retry = parse_timestamp(c["opened_at"]), parse_timestamp(c["retry_at"])
        self.assertLess(abs(opened - time.time()), 5)
        self.assertAlmostEqual(retry - opened, COOLDOWN, delta=0.002)
        self.assert_open_blocks(aid, cap, opened)

        # After the cooldown: half_open; one success closes it.
        h = self.wait_circuit(aid, "half_open")
        self.assertGreaterEqual(time.time() + 0.01, retry)
        self.assertEqual(self.agent(aid)["circuit"], "half_open")
        self.assertEqual(self.stats()["health"]["circuits_open"], 0)
        self.complete_one(aid, cap)
        h = self.health(aid)
        self.assertEqual(h["circuit"], {"state": "closed", "failures": 0, "opened_at": None,
                                        "retry_at": None})
        self.assertEqual(self.agent(aid)["circuit"], "closed")

        # Open again (the doubling was reset by closing), then a failure in half_open reopens it
        # with the cooldown doubled.
        self.fail_tasks(aid, cap, 3)
        c = self.health(aid)["circuit"]
        self.assertEqual(c["state"], "open")
        first_opened = parse_timestamp(c["opened_at"])
        self.assertAlmostEqual(parse_timestamp(c["retry_at"]) - first_opened, COOLDOWN,
                               delta=0.002)
        self.wait_circuit(aid, "half_open")
        self.fail_tasks(aid, cap, 1)
        c = self.health(aid)["circuit"]
        self.assertEqual(c["state"], "open")
        opened, retry = parse_timestamp(c["opened_at"]), parse_timestamp(c["retry_at"])
        self.assertGreater(opened, first_opened)
        self.assertAlmostEqual(retry - opened, 2 * COOLDOWN, delta=0.002)
        self.assertIsNone(self.claim(aid))
        self.assertEqual(self.stats()["health"]["circuits_open"], 1)
        # ... and once more: 4 x cooldown.
        self.wait_circuit(aid, "half_open")
        self.fail_tasks(aid, cap, 1)
        c = self.health(aid)["circuit"]
        self.assertAlmostEqual(parse_timestamp(c["retry_at"]) - parse_timestamp(c["opened_at"]),
                               4 * COOLDOWN, delta=0.002)

    def test_task_timeouts_count_as_failures(self):
        cap = self.uid("cap")
        aid = self.register(capabilities=[cap], max_concurrent_tasks=3)["agent_id"]
        t1 = self.submit(required_capabilities=[cap], timeout_seconds=0.3, max_retries=0)
        self.assertEqual(self.claim(aid)["id"], t1)
        wait_until(lambda: self.task(t1)["status"] == "timeout", WAIT, what="task timeout")
        h = self.wait_health(aid, lambda h: h["circuit"]["failures"] == 1, "1 circuit failure")
        self.assertEqual(h["circuit"]["state"], "closed")
        # Two reported failures on top of the timeout reach the threshold of 3.
        self.fail_tasks(aid, cap, 2)
        c = self.wait_circuit(aid, "open")["circuit"]
        self.assertEqual(c["failures"], 3)
        self.assertIsNone(self.claim(aid))

        # Only timeouts: three at once open a fresh agent's circuit.
        cap2 = self.uid("cap")
        bid = self.register(capabilities=[cap2], max_concurrent_tasks=3)["agent_id"]
        tids = [self.submit(required_capabilities=[cap2], timeout_seconds=0.3, max_retries=0)
                for _ in range(3)]
        for _ in tids:
            self.assertIsNotNone(self.claim(bid))
        for tid in tids:
            wait_until(lambda: self.task(tid)["status"] == "timeout", WAIT, what="task timeout")
        c = self.wait_circuit(bid, "open")["circuit"]
        self.assertEqual(c["failures"], 3)
        self.assertIsNone(self.claim(bid))
        self.assertEqual(self.stats()["health"]["circuits_open"], 2)

    def test_probe_failures_feed_the_breaker(self):
        aid = self.register(health_probe=self.http_probe("/down", 500))["agent_id"]
        h = self.wait_circuit(aid, "open")
        self.assertGreaterEqual(h["circuit"]["failures"], 3)
        self.assertEqual(h["status"], "unhealthy")


# ---------------------------------------------------------------------------------------------
# System status, agents without a probe


class SystemStatus(HealthCase):
    cpd_config = dict(PROBE_CFG, health={"unhealthy_threshold": 3, "recovery_threshold": 2,
                                         "slow_probe_seconds": 0.1})

    def settle(self, ids, want):
        """Wait until GET /health shows every agent of ids[i] with health want[i]; returns it."""
        box = {}

        def check():
            box["b"] = self.system()
            agents = box["b"]["agents"]
            return all(agents.get(i, {}).get("status") == w for i, w in zip(ids, want))

        try:
            wait_until(check, WAIT, what="agents to reach %r" % (want,))
        except AssertionError as e:
            raise AssertionError("%s; last: %r" % (e, {i: a["status"] for i, a in
                                                       box["b"]["agents"].items()}))
        return box["b"]

    def test_healthy_degraded_unhealthy_critical(self):
        b = self.system()
        self.assertEqual(b["status"], "healthy")
        self.assertEqual(b["agents"], {})
        self.assertEqual(self.stats()["health"]["system_health"], "healthy")

        ids = [self.register(health_probe=self.http_probe("/s%d" % i))["agent_id"]
               for i in range(8)]
        b = self.settle(ids, ["healthy"] * 8)
        self.assertEqual(b["status"], "healthy")

        def step(failing, slow, expect):
            for i in range(8):
                self.target.set("/s%d" % i, 500 if i in failing else 200,
                                0.2 if i in slow else 0.0)
            want = ["unhealthy" if i in failing else "degraded" if i in slow else "healthy"
                    for i in range(8)]
            b = self.settle(ids, want)
            self.assertEqual(b["status"], expect, "failing=%r slow=%r" % (failing, slow))
            st = self.stats()["health"]
            self.assertEqual((st["unhealthy_count"], st["degraded_count"], st["healthy_count"]),
                             (want.count("unhealthy"), want.count("degraded"),
                              want.count("healthy")))
            self.assertEqual(st["system_health"], expect)

        step(set(), {0}, "degraded")               # one slow agent
        step({0}, set(), "degraded")               # 1/8 unhealthy
        step({0, 1}, set(), "degraded")            # exactly a quarter: not enough
        step({0, 1, 2}, set(), "unhealthy")        # more than a quarter
        step({0, 1, 2, 3}, set(), "unhealthy")     # exactly half: not critical yet
        step({0, 1, 2, 3, 4}, set(), "critical")   # more than half
        step(set(), set(), "healthy")              # all recovered


class WithoutProbe(HealthCase):
    cpd_config = dict(PROBE_CFG, agents={"heartbeat_timeout_seconds": 1})

    def test_health_follows_liveness(self):
        aid = self.register()["agent_id"]
        h = self.health(aid)
        self.assertHealthJSON(h, None)
        self.assertEqual(h["status"], "healthy")
        self.assertEqual(self.agent(aid)["health"], "healthy")
        self.assertEqual(self.system()["status"], "healthy")
        # Silent past the heartbeat timeout: offline, unhealthy (1 of 1: critical).
        wait_until(lambda: self.agent(aid)["status"] == "offline", WAIT, what="offline")
        self.assertEqual(self.health(aid)["status"], "unhealthy")
        self.assertEqual(self.agent(aid)["health"], "unhealthy")
        self.assertEqual(self.system()["status"], "critical")
        self.assertEqual(self.stats()["health"]["unhealthy_count"], 1)
        # Back with a heartbeat.
        self.assertEqual(self.heartbeat(aid)["status"], "ready")
        self.assertEqual(self.health(aid)["status"], "healthy")
        self.assertEqual(self.system()["status"], "healthy")

    def test_heartbeat_keeps_a_failing_agent_alive_but_failed(self):
        aid = self.register(health_probe=self.http_probe("/bad", 500))["agent_id"]
        self.wait_status(aid, "unhealthy")
        # Heartbeats for 2.5 heartbeat timeouts: never offline, never ready.
        end = time.monotonic() + 2.5
        while time.monotonic() < end:
            self.assertEqual(self.heartbeat(aid)["status"], "failed")
            a = self.agent(aid)
            self.assertEqual((a["status"], a["health"]), ("failed", "unhealthy"))
            time.sleep(0.2)
        # Silent: offline (liveness wins over failed), still unhealthy.
        wait_until(lambda: self.agent(aid)["status"] == "offline", WAIT, what="offline")
        self.assertEqual(self.health(aid)["status"], "unhealthy")

    def test_heartbeat_of_offline_agent_with_failing_probe_stays_failed(self):
        """An offline agent whose probe fails comes back failed on a heartbeat.

        CONTRACT §5: "While its probe fails, a heartbeat keeps the agent alive but does not
        clear failed." An agent that went offline while unhealthy must come back failed, not
        ready: as ready it may claim work until its next probe (up to PROBE_INTERVAL later)."""
        aid = self.register(health_probe=self.http_probe("/bad", 500))["agent_id"]
        self.wait_status(aid, "unhealthy")
        wait_until(lambda: self.agent(aid)["status"] == "offline", WAIT, what="offline")
        self.assertEqual(self.health(aid)["status"], "unhealthy")
        self.assertEqual(self.heartbeat(aid)["status"], "failed")


# ---------------------------------------------------------------------------------------------
# Public endpoints, /metrics


TOKEN = "adm-4c1d9e7f20"


class PublicWithAuth(HealthCase):
    cpd_config = dict(PROBE_CFG, auth={"tokens": [{"token": TOKEN, "role": "admin"}]})

    def test_health_and_metrics_need_no_token(self):
        admin = self.cpd.client(token=TOKEN)
        aid = self.register(client=admin, health_probe=self.http_probe("/ok"))["agent_id"]
        wait_until(lambda: admin.get("health/" + q(aid)).body["status"] == "healthy", WAIT,
                   what="healthy")
        anon = Client(self.cpd.port)
        self.addCleanup(anon.close)
        r = anon.get("health")
        self.assertStatus(r, 200)
        self.assertEqual(r.body["status"], "healthy")
        self.assertEqual(r.body["agents"][aid]["status"], "healthy")
        r = anon.get("/metrics")
        self.assertStatus(r, 200)
        self.assertIn("text/plain", r.headers.get("Content-Type", ""))
        self.assertIn('cp_probe_results_total{type="http",result="pass"}', r.body)
        self.assertError(anon.get("agents"), 401, "unauthorized")
        self.assertError(anon.get("stats"), 401, "unauthorized")


class Metrics(HealthCase):
    cpd_config = dict(PROBE_CFG, circuit={"failure_threshold": 2, "cooldown_seconds": 30})

    FAMILIES = {
        "cp_agents": "gauge", "cp_agents_available": "gauge", "cp_agents_by_health": "gauge",
        "cp_circuits_open": "gauge", "cp_tasks": "gauge",
        "cp_tasks_submitted_total": "counter", "cp_tasks_completed_total": "counter",
        "cp_tasks_failed_total": "counter", "cp_tasks_timeout_total": "counter",
        "cp_claim_wait_seconds": "histogram", "cp_http_request_duration_seconds": "histogram",
        "cp_probe_results_total": "counter", "cp_probe_duration_seconds": "histogram",
    }

    def traffic(self):
        """Probes passing and failing, tasks completed, failed and timed out, error answers."""
        good = self.register(health_probe=self.http_probe("/good"))["agent_id"]
        bad = self.register(health_probe=self.http_probe("/bad", 500))["agent_id"]
        closed = self.register(health_probe={"type": "tcp",
                                             "address": "127.0.0.1:%d" % free_port()})["agent_id"]
        worker = self.register(capabilities=["job"], max_concurrent_tasks=4)["agent_id"]
        done = self.submit(task_type="ns/odd:type@v1.0", required_capabilities=["job"])
        self.claim(worker)
        self.assertStatus(self.c.post("tasks/%s/complete" % done, {"agent_id": worker}), 200)
        failed = self.submit(task_type="fails", required_capabilities=["job"])
        self.claim(worker)
        self.assertStatus(self.c.post("tasks/%s/fail" % failed,
                                      {"agent_id": worker, "requeue": False}), 200)
        late = self.submit(task_type="late", required_capabilities=["job"], timeout_seconds=0.2,
                           max_retries=0)
        self.claim(worker)
        self.assertEqual(self.c.get("tasks/%s?wait_ms=5000" % late).body["status"], "timeout")
        self.assertError(self.c.get("agents/nobody"), 404, "not_found")
        self.assertError(self.c.post("agents", {"agent_id": 5}), 400, "invalid_field")
        self.assertStatus(self.c.request("PUT", "agents"), 405)
        self.assertError(self.c.get("no/such/route"), 404, "not_found")
        self.wait_status(good, "healthy")
        for aid in (bad, closed):
            self.wait_status(aid, "unhealthy")
        # Open circuits (failure_threshold 2): both failing probes, and the worker (a failure
        # and a timeout in a row).
        for aid in (bad, closed, worker):
            self.wait_health(aid, lambda h: h["circuit"]["state"] == "open", "circuit open")

    def scrape(self):
        r = self.c.get("/metrics")
        self.assertStatus(r, 200)
        self.assertIn("text/plain; version=0.0.4", r.headers.get("Content-Type", ""))
        return r.body

    def test_metrics_reflect_traffic(self):
        self.traffic()
        text = self.scrape()
        lines = text.splitlines()
        for fam, typ in self.FAMILIES.items():
            self.assertIn("# TYPE %s %s" % (fam, typ), lines)
            self.assertTrue(any(x.startswith("# HELP %s " % fam) for x in lines), fam)
        samples = {}
        for line in lines:
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                samples[name] = float(value)
        self.assertGreater(samples['cp_probe_results_total{type="http",result="pass"}'], 0)
        self.assertGreater(samples['cp_probe_results_total{type="http",result="fail"}'], 2)
        self.assertGreater(samples['cp_probe_results_total{type="tcp",result="fail"}'], 0)
        self.assertGreater(samples['cp_probe_duration_seconds_count{type="http"}'], 2)
        self.assertEqual(samples['cp_tasks_completed_total{task_type="ns/odd:type@v1.0"}'], 1)
        self.assertEqual(samples['cp_tasks_failed_total{task_type="fails"}'], 1)
        self.assertEqual(samples['cp_tasks_timeout_total{task_type="late"}'], 1)
        self.assertEqual(samples["cp_circuits_open"], 3)
        self.assertEqual(samples['cp_agents_by_health{health="unhealthy"}'], 2)
        self.assertEqual(samples['cp_agents{status="failed"}'], 2)
        self.assertTrue(any(k.startswith("cp_http_request_duration_seconds_count{") and
                            'status="404"' in k for k in samples), "no 404 series")

    def test_promtool_check_metrics(self):
        promtool = shutil.which("promtool")
        if not promtool:
            self.skipTest("promtool is not installed (Debian package 'prometheus'; "
                          "scripts/test.sh installs it): /metrics not checked by promtool")
        self.traffic()
        text = self.scrape()
        p = subprocess.run([promtool, "check", "metrics"], input=text.encode(),
                           capture_output=True, timeout=30)
        out = (p.stdout + p.stderr).decode(errors="replace")
        self.assertEqual(p.returncode, 0, "promtool check metrics failed:\n%s\n--- metrics:\n%s"
                         % (out, text))


if __name__ == "__main__":
    main()
