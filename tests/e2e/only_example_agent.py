"""only_example_agent.py — examples/agent (`example-agent`) against a real cpd: it registers,
keeps itself alive with heartbeats, long-polls, reverses text (each completion claiming the next
task), fails (and requeues) on request,
reports draining on SIGTERM, finishes the task in hand and unregisters."""

import os
import signal
import subprocess
import time

import cpdtest

AGENT_BIN = os.path.join(cpdtest.BUILD_DIR, "example-agent")
HEARTBEAT_TIMEOUT = 2


class ExampleAgentTest(cpdtest.CpdTestCase):
    cpd_env = {"HEARTBEAT_TIMEOUT": HEARTBEAT_TIMEOUT}

    def start_agent(self, agent_id, *extra):
        env = dict(os.environ)
        env["HEARTBEAT_TIMEOUT"] = str(HEARTBEAT_TIMEOUT)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        self.agent_log = os.path.join(self.cpd.dir, agent_id + ".log")
        log = open(self.agent_log, "wb")
        proc = subprocess.Popen(
            [AGENT_BIN, "--url", "http://127.0.0.1:%d" % self.cpd.port, "--id", agent_id]
            + list(extra), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env)
        log.close()
        self.addCleanup(self.kill, proc)
        cpdtest.wait_until(lambda: self.c.get("agents/" + agent_id).status == 200, 10,
                           what="agent %s to register" % agent_id)
        return proc

    def kill(self, proc):
        if proc.poll() is None:
            proc.kill()
            proc.wait()

    def log(self):
        with open(self.agent_log, errors="replace") as f:
            return f.read()

    def stop_agent(self, proc, within=10.0):
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(within)
        except subprocess.TimeoutExpired:
            self.fail("agent did not exit within %.0fs of SIGTERM:\n%s" % (within, self.log()))
        self.assertEqual(rc, 0, self.log())
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            self.assertNotIn(marker, self.log())

    def wait_task(self, task_id, timeout=15):
        r = self.c.get("tasks/%s?wait_ms=%d" % (task_id, timeout * 1000),
                       timeout=timeout + 5)
        self.assertStatus(r, 200)
        return r.body

    def test_work_fail_and_liveness(self):
        proc = self.start_agent("ex-1", "--block-ms", "5000")
        a = self.agent("ex-1")
        self.assertEqual((a["capabilities"], a["model"], a["provider"], a["status"]),
                         (["reverse"], "toy-reverser", "example", "ready"))
        self.assertEqual(a["metadata"]["example"], True)

        tid = self.submit(task_type="reverse", payload={"text": "héllo, wörld"},
                          required_capabilities=["reverse"])
        t = self.wait_task(tid)
        self.assertEqual(t["status"], "completed", t)
        self.assertEqual(t["result"], {"reversed": "dlröw ,olléh"})
        self.assertEqual(t["assigned_agent"], "ex-1")
        self.assertIsNotNone(t["started_at"])  # it called start before working

        tid = self.submit(task_type="reverse", payload={"fail": "model overloaded"},
                          required_capabilities=["reverse"], max_retries=2)
        t = self.wait_task(tid)
        self.assertEqual((t["status"], t["retries"], t["error"]), ("failed", 2, "model overloaded"))
        tid = self.submit(task_type="reverse", payload={"no": "text"})
        t = self.wait_task(tid)
        self.assertEqual((t["status"], t["retries"]), ("failed", 3))  # default MAX_TASK_RETRIES
        self.assertIn("text", t["error"])

        a = self.agent("ex-1")
        self.assertEqual((a["tasks_completed"], a["status"]), (1, "ready"))
        self.assertEqual(a["tasks_failed"], 5)

        # Heartbeats keep it alive well past HEARTBEAT_TIMEOUT while it idles in long polls.
        time.sleep(HEARTBEAT_TIMEOUT * 2)
        a = self.agent("ex-1")
        self.assertEqual(a["status"], "ready", a)
        self.assertLess(time.time() - cpdtest.parse_timestamp(a["last_heartbeat"]),
                        HEARTBEAT_TIMEOUT)
        self.stop_agent(proc)
        self.assertEqual(self.c.get("agents/ex-1").status, 404)

    def requests(self, route_end, status="200"):
        """How many requests to a route (its template ending in route_end) were answered."""
        body = self.c.get("/metrics").body
        n = 0
        for line in body.splitlines():
            if (line.startswith("cp_http_request_duration_seconds_count{")
                    and ('route="' in line) and line.split('route="')[1].split('"')[0]
                    .endswith(route_end) and 'status="%s"' % status in line):
                n += int(float(line.rsplit(" ", 1)[1]))
        return n

    def test_completions_claim_the_next_task(self):
        # Two requests per task: each completion brings the next task, so a queue of tasks is
        # worked through without claims of their own.
        proc = self.start_agent("ex-next", "--block-ms", "5000")
        cpdtest.wait_until(lambda: self.c.get("stats").body["scheduler"]["held_claims"] == 1, 10,
                           what="the agent's first claim held")
        claims0 = self.requests("/tasks/claim")
        r = self.c.post("tasks/batch", {"tasks": [
            {"task_type": "reverse", "payload": {"text": "t%d" % i},
             "required_capabilities": ["reverse"]} for i in range(6)]})
        self.assertStatus(r, 200)
        tids = [t["task_id"] for t in r.body["results"]]
        for tid in tids:
            self.assertEqual(self.wait_task(tid)["status"], "completed")
        # The held first claim took one task; the other five came with completions (a claim
        # of its own only if a completion found the queue momentarily empty).
        self.assertLessEqual(self.requests("/tasks/claim") - claims0, 2)
        # (the sixth completion is still held, waiting for a seventh task)
        self.assertGreaterEqual(self.requests("/tasks/:id/complete"), 5)
        self.stop_agent(proc)

    def test_sigterm_drains_and_finishes_the_task(self):
        proc = self.start_agent("ex-2")
        slow = self.submit(task_type="reverse", payload={"text": "slow", "sleep_ms": 1500},
                           required_capabilities=["reverse"])
        cpdtest.wait_until(lambda: self.task(slow)["status"] == "running", 10,
                           what="the agent to start the slow task")
        proc.send_signal(signal.SIGTERM)
        cpdtest.wait_until(lambda: self.agent("ex-2")["status"] == "draining", 1.0,
                           what="the agent to report draining")
        later = self.submit(task_type="reverse", payload={"text": "later"},
                            required_capabilities=["reverse"])
        t = self.wait_task(slow)
        self.assertEqual((t["status"], t["result"]), ("completed", {"reversed": "wols"}))
        self.stop_agent(proc)
        self.assertEqual(self.c.get("agents/ex-2").status, 404)
        self.assertEqual(self.task(later)["status"], "pending")  # never handed to a drainer

    def test_sigterm_ends_a_held_claim_at_once(self):
        proc = self.start_agent("ex-3", "--block-ms", "60000")
        time.sleep(0.3)  # let it enter its long poll (nothing to claim)
        t0 = time.monotonic()
        self.stop_agent(proc)
        self.assertLess(time.monotonic() - t0, 5.0)
        self.assertEqual(self.c.get("agents/ex-3").status, 404)

    def test_bad_arguments(self):
        for args in (["--block-ms", "0"], ["--block-ms", "70000"], ["--heartbeat-seconds", "x"],
                     ["--bogus"], ["extra"]):
            p = subprocess.run([AGENT_BIN] + args, capture_output=True, timeout=10)
            self.assertEqual(p.returncode, 2, args)
            self.assertIn(b"usage", p.stderr)
        p = subprocess.run([AGENT_BIN, "--help"], capture_output=True, timeout=10)
        self.assertEqual(p.returncode, 0)
        # Unreachable control plane: a clear message and exit 3.
        p = subprocess.run([AGENT_BIN, "--url", "http://127.0.0.1:%d" % cpdtest.free_port()],
                           capture_output=True, timeout=20)
        self.assertEqual(p.returncode, 3)
        self.assertIn(b"register", p.stderr)


if __name__ == "__main__":
    cpdtest.main()
