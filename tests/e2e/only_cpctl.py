"""only_cpctl.py — the operator CLI against a real cpd: every command, --json, --help, the
global options and environment variables, and the exit codes (0 ok, 1 not found, 2 usage,
3 server/connection error, 4 `tasks wait` without success). The event stream, connections,
the environment and tokens: only_cpctl_session.py."""

import json
import os
import re

import cpdtest
from cpctl_case import CpctlCase
from lossyproxy import LossyProxy


class CpctlTest(CpctlCase):
    def column(self, table, header):
        """Values of one column of an aligned table (cells start where the header starts)."""
        lines = table.rstrip("\n").split("\n")
        start = lines[0].index(header)
        return [line[start:].split("  ")[0].strip() for line in lines[1:]]

    # -- help and usage

    def test_help(self):
        out = self.ok("--help")
        for cmd in ("agents", "tasks", "health", "stats", "events", "plugins", "--json", "--url",
                    "--token"):
            self.assertIn(cmd, out)
        for args in (["agents", "--help"], ["agents", "list", "--help"], ["agents", "get", "-h"],
                     ["agents", "rm", "--help"], ["agents", "select", "--help"],
                     ["tasks", "--help"], ["tasks", "submit", "--help"], ["tasks", "get", "-h"],
                     ["tasks", "wait", "--help"], ["tasks", "cancel", "--help"],
                     ["tasks", "list", "--help"], ["tasks", "extend", "--help"],
                     ["tasks", "retry", "--help"], ["tasks", "purge", "--help"],
                     ["health", "--help"], ["stats", "--help"], ["events", "--help"],
                     ["plugins", "--help"], ["queue", "--help"],
                     ["metrics", "--help"]):
            out = self.ok(*args, url=False)
            self.assertIn("usage: cpctl " + args[0], out)
        self.assertRegex(self.ok("--version", url=False), r"^cpctl \d+\.\d+\.\d+")

    def test_usage_errors(self):
        self.rc(2, url=False)
        self.rc(2, "frobnicate")
        self.rc(2, "agents")
        self.rc(2, "agents", "dance")
        self.rc(2, "agents", "get")
        self.rc(2, "agents", "get", "a", "b")
        self.rc(2, "agents", "list", "--bogus")
        self.rc(2, "agents", "list", "--capability", "a,,b")
        self.rc(2, "tasks", "submit")
        self.rc(2, "tasks", "submit", "t", "--payload", "{oops")
        self.rc(2, "tasks", "submit", "t", "--timeout", "soon")
        self.rc(2, "tasks", "list", "--limit", "0")
        self.rc(2, "tasks", "list", "--limit", "1001")
        self.rc(2, "tasks", "wait", "task_x", "--timeout", "-1")
        self.rc(2, "stats", "extra")
        self.rc(2, "health", "a", "b")
        self.rc(2, "--url", "ftp://example", "stats", url=False)
        self.rc(2, "--request-timeout", "0", "stats")
        _, err = self.rc(2, "--url", url=False)
        self.assertIn("--url", err)

    # -- agents

    def test_agents(self):
        a1, a2, cap = self.uid("agent"), self.uid("agent"), self.uid("cap")
        self.register(a1, capabilities=[cap, "x"], model="claude-3-opus")
        self.register(a2, capabilities=[cap])
        self.heartbeat(a2, "draining")

        out = self.ok("agents", "list", "--capability", cap)
        self.assertTrue(out.startswith("AGENT_ID"), out)
        self.assertEqual(self.column(out, "AGENT_ID"), [a1])  # a2 is draining
        self.assertEqual(self.column(out, "STATUS"), ["ready"])
        self.assertEqual(self.column(out, "MODEL"), ["claude-3-opus"])
        self.assertEqual(self.column(out, "CAPABILITIES"), ["%s,x" % cap])

        out = self.ok("agents", "list", "--capability", cap, "--all")
        self.assertEqual(sorted(self.column(out, "AGENT_ID")), sorted([a1, a2]))
        out = self.ok("agents", "list", "--all", "--status", "draining", "--capability", cap)
        self.assertEqual(self.column(out, "AGENT_ID"), [a2])
        out = self.ok("agents", "list", "--capability", "%s,x" % cap, "--all")
        self.assertEqual(self.column(out, "AGENT_ID"), [a1])
        body = json.loads(self.ok("--json", "agents", "list", "--capability", cap, "--all"))
        self.assertEqual(body["total"], 2)
        self.assertEqual(sorted(a["agent_id"] for a in body["agents"]), sorted([a1, a2]))
        self.rc(2, "agents", "list", "--status", "sleepy")

        # One page at a time: "next: ID" under the table while there are more.
        first, second = sorted([a1, a2])
        out = self.ok("agents", "list", "--capability", cap, "--all", "--limit", "1")
        table, _, tail = out.rstrip("\n").rpartition("\n")
        self.assertEqual(self.column(table + "\n", "AGENT_ID"), [first])
        self.assertEqual(tail, "next: " + first)
        out = self.ok("agents", "list", "--capability", cap, "--all", "--limit", "1",
                      "--after", first)
        self.assertEqual(self.column(out, "AGENT_ID"), [second])
        self.assertNotIn("next:", out)
        body = json.loads(self.ok("--json", "agents", "list", "--capability", cap, "--all",
                                  "--limit", "1"))
        self.assertEqual((len(body["agents"]), body["next"]), (1, first))
        self.rc(2, "agents", "list", "--limit", "0")
        self.rc(2, "agents", "list", "--after", first)

        out = self.ok("agents", "get", a1)
        self.assertRegex(out, r"(?m)^agent_id +%s$" % re.escape(a1))
        self.assertRegex(out, r"(?m)^status +ready$")
        self.assertRegex(out, r"(?m)^tasks_in_flight +0/1$")
        body = json.loads(self.ok("agents", "get", a1, "--json"))
        self.assertEqual(body["agent_id"], a1)
        self.assertEqual(body["model"], "claude-3-opus")
        _, err = self.rc(1, "agents", "get", "nobody-here")
        self.assertIn("not_found", err)

        self.assertIn("unregistered " + a2, self.ok("agents", "rm", a2))
        self.rc(1, "agents", "rm", a2)
        self.assertEqual(self.c.get("agents/" + a2).status, 404)

    def test_select(self):
        cap = self.uid("scap")
        a1, a2 = "%s-a" % cap, "%s-b" % cap
        self.register(a1, capabilities=[cap])
        self.register(a2, capabilities=[cap])
        out = self.ok("agents", "select", "--capability", cap, "--exclude", a1)
        self.assertEqual(self.column(out, "AGENT_ID"), [a2])
        picks = set()
        for _ in range(2):
            body = json.loads(self.ok("--json", "agents", "select", "--capability", cap,
                                      "--strategy", "round_robin"))
            picks.add(body["agent_id"])
        self.assertEqual(picks, {a1, a2})
        _, err = self.rc(1, "agents", "select", "--capability", cap, "--exclude",
                         "%s,%s" % (a1, a2))
        self.assertIn("no_agent", err)
        _, err = self.rc(2, "agents", "select", "--strategy", "no_such_strategy")
        self.assertIn("loaded strategies: least_loaded", err)
        # Hints reach the server (the default strategy ignores them; a bad one is refused).
        out = self.ok("agents", "select", "--capability", cap, "--exclude", a1,
                      "--hint", "region=eu", "--hint", "zone=a=b")
        self.assertEqual(self.column(out, "AGENT_ID"), [a2])
        _, err = self.rc(2, "agents", "select", "--hint", "bad key=1")
        self.assertIn("hint.bad", err)
        self.rc(2, "agents", "select", "--hint", "novalue")
        self.rc(2, "agents", "select", "--hint", "=v")

    def test_drain(self):
        a, cap = self.uid("agent"), self.uid("cap")
        self.register(a, capabilities=[cap])
        out = self.ok("agents", "drain", a)
        self.assertRegex(out, r"(?m)^status +draining$")
        self.assertRegex(out, r"(?m)^drained_at +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
        self.heartbeat(a, "ready")  # the agent's word does not end an operator's drain
        self.assertEqual(self.agent(a)["status"], "draining")
        self.assertEqual(self.column(self.ok("agents", "list", "--capability", cap,
                                             "--all"), "STATUS"), ["draining"])
        body = json.loads(self.ok("--json", "agents", "undrain", a))
        self.assertEqual((body["status"], body["drained_at"]), ("ready", None))
        _, err = self.rc(1, "agents", "drain", "nobody-here")
        self.assertIn("not_found", err)
        self.rc(2, "agents", "drain")
        self.rc(2, "agents", "undrain", a, "extra")
        self.assertIn("usage: cpctl agents", self.ok("agents", "drain", "--help", url=False))

    def test_tenants(self):
        tenant = self.uid("tenant")
        out = self.ok("tenants", "set", tenant, "--weight", "3", "--max-in-flight", "2")
        self.assertTrue(out.startswith("TENANT"), out)
        self.assertEqual(self.column(out, "WEIGHT"), ["3"])
        tid = self.ok("tasks", "submit", self.uid("type"), "--tenant", tenant).strip()
        self.assertRegex(self.ok("tasks", "get", tid), r"(?m)^tenant +%s$" % tenant)
        listed = self.ok("tenants", "list")
        row = [line for line in listed.splitlines() if line.startswith(tenant + " ")]
        self.assertEqual(len(row), 1, listed)
        body = json.loads(self.ok("--json", "tenants", "get", tenant))
        self.assertEqual((body["weight"], body["max_in_flight"], body["waiting"]), (3, 2, 1))
        body = json.loads(self.ok("--json", "tenants", "rm", tenant))
        self.assertEqual((body["weight"], body["configured"]), (1, False))
        _, err = self.rc(1, "tenants", "rm", tenant)
        self.assertIn("not_found", err)
        self.rc(2, "tenants", "set", tenant, "--weight", "0")
        self.rc(2, "tenants", "set", tenant, "--bogus", "1")
        self.rc(2, "tenants", "frobnicate")
        self.assertIn("usage: cpctl tenants", self.ok("tenants", "--help", url=False))

    def test_plugins(self):
        out = self.ok("plugins")
        self.assertTrue(out.startswith("KIND"), out)
        kinds = self.column(out, "KIND")
        self.assertEqual(kinds[0], "storage")
        self.assertIn("least_loaded *", self.column(out, "NAME"))
        self.assertTrue(all(re.match(r"^2\.\d+$", v) for v in self.column(out, "ABI")))
        body = json.loads(self.ok("--json", "plugins"))
        self.assertEqual(body["total"], len(body["plugins"]))
        self.assertEqual(len(body["plugins"]), len(kinds))
        self.assertEqual([p["kind"] for p in body["plugins"]], kinds)
        self.rc(2, "plugins", "extra")

    # -- tasks

    def test_submit_get_list_cancel(self):
        ttype, cap = self.uid("type"), self.uid("cap")
        out = self.ok("tasks", "submit", ttype, "--payload", '{"text": "abc"}',
                      "--capability", cap, "--priority", "high", "--timeout", "12.5",
                      "--max-retries", "1", "--metadata", '{"pr": "7"}', "--strategy", "random")
        tid = out.strip()
        self.assertRegex(tid, cpdtest.TASK_ID_RE)
        t = self.task(tid)
        self.assertEqual((t["task_type"], t["payload"], t["required_capabilities"], t["priority"],
                          t["timeout_seconds"], t["max_retries"], t["metadata"]),
                         (ttype, {"text": "abc"}, [cap], "high", 12.5, 1, {"pr": "7"}))
        tid2 = json.loads(self.ok("--json", "tasks", "submit", ttype))["task_id"]
        self.assertRegex(tid2, cpdtest.TASK_ID_RE)
        _, err = self.rc(2, "tasks", "submit", ttype, "--priority", "whenever")
        self.assertIn("priority", err)
        # Prompt-cache affinity: kept with the task; a TTL alone is a usage error.
        tid3 = self.ok("tasks", "submit", self.uid("aff"), "--affinity-key", "conv-1",
                       "--affinity-ttl", "20").strip()
        md = self.task(tid3)["metadata"]
        self.assertEqual((md["affinity_key"], md["affinity_ttl_seconds"]), ("conv-1", 20))
        _, err = self.rc(2, "tasks", "submit", ttype, "--affinity-ttl", "5")
        self.assertIn("--affinity-key", err)
        _, err = self.rc(2, "tasks", "submit", ttype, "--affinity-key", "a b")
        self.assertIn("affinity_key", err)

        out = self.ok("tasks", "get", tid)
        self.assertRegex(out, r"(?m)^id +%s$" % tid)
        self.assertRegex(out, r"(?m)^status +pending$")
        self.assertRegex(out, r"(?m)^priority +high$")
        self.assertEqual(json.loads(self.ok("tasks", "get", tid, "--json"))["id"], tid)
        self.rc(1, "tasks", "get", "task_000000000000000000000000")

        out = self.ok("tasks", "list", "--type", ttype)
        self.assertEqual(self.column(out, "ID"), [tid2, tid])  # newest first
        self.assertEqual(self.column(out, "STATUS"), ["pending", "pending"])
        out = self.ok("tasks", "list", "--type", ttype, "--limit", "1")
        self.assertEqual(self.column(out, "ID"), [tid2])
        self.assertIn("1 of 2", self.cpctl("tasks", "list", "--type", ttype, "--limit", "1")[2])
        body = json.loads(self.ok("tasks", "list", "--type", ttype, "--json"))
        self.assertEqual(body["total"], 2)
        self.rc(2, "tasks", "list", "--status", "lost")

        self.assertIn("cancelled " + tid, self.ok("tasks", "cancel", tid))
        _, err = self.rc(3, "tasks", "cancel", tid)  # terminal: 409
        self.assertIn("conflict", err)
        self.rc(1, "tasks", "cancel", "task_000000000000000000000000")
        out = self.ok("tasks", "list", "--type", ttype, "--status", "cancelled")
        self.assertEqual(self.column(out, "ID"), [tid])
        self.ok("tasks", "cancel", tid2)

    def test_submit_options_and_keys(self):
        ttype, key = self.uid("type"), self.uid("key")
        out = self.ok("--json", "tasks", "submit", ttype, "--delay", "60", "--idempotency-key",
                      key, "--backoff", "exponential", "--backoff-seconds", "2",
                      "--backoff-max", "20", "--backoff-jitter")
        first = json.loads(out)
        self.assertTrue(first["created"])
        t = self.task(first["task_id"])
        self.assertEqual(t["idempotency_key"], key)
        self.assertIsNotNone(t["not_before"])
        self.assertEqual(t["retry_backoff"],
                         {"type": "exponential", "seconds": 2, "max_seconds": 20, "jitter": True})
        again = json.loads(self.ok("--json", "tasks", "submit", ttype, "--idempotency-key", key))
        self.assertEqual((again["task_id"], again["created"]), (first["task_id"], False))
        # Without a key cpctl sends one of its own (retries would find the task).
        tid = self.ok("tasks", "submit", ttype, "--run-at", "2020-01-01T00:00:00Z").strip()
        self.assertTrue(self.task(tid)["idempotency_key"].startswith("cpc-"))
        out = self.ok("tasks", "get", first["task_id"])
        self.assertRegex(out, r"(?m)^idempotency_key +%s$" % key)
        self.rc(2, "tasks", "submit", ttype, "--backoff-seconds", "2")
        self.rc(2, "tasks", "submit", ttype, "--run-at", "soon")
        self.rc(2, "tasks", "submit", ttype, "--delay", "-3")

    def test_submit_file(self):
        ttype = self.uid("file")
        path = os.path.join(self.cpd.dir, "tasks.jsonl")
        with open(path, "w") as f:
            f.write('{"task_type": "%s", "payload": {"n": 1}}\n' % ttype)
            f.write("\n# a comment\n")
            f.write("[1, 2]\n")
            f.write('{"task_type": "%s", "priority": "high"}\n' % ttype)
            f.write('{"task_type": "bad type"}\n')
            f.write('  {"task_type": "%s", "idempotency_key": "%s"}  \n' % (ttype, ttype))
        out, err = self.rc(2, "tasks", "submit", "--file", path)
        lines = out.strip().split("\n")
        self.assertEqual(len(lines), 5, out)
        for i in (0, 2, 4):
            self.assertRegex(lines[i], cpdtest.TASK_ID_RE)
        self.assertIn("line 4: not a JSON object", lines[1])
        self.assertIn("line 6:", lines[3])
        self.assertIn("task_type", lines[3])
        self.assertIn("submitted 3 of 5", err)
        self.assertEqual(self.c.get("tasks?task_type=%s&limit=1" % ttype).body["total"], 3)
        # --json: one object per line, in order.
        out, _ = self.rc(2, "--json", "tasks", "submit", "--file", path)
        rows = [json.loads(x) for x in out.strip().split("\n")]
        self.assertEqual([r["line"] for r in rows], [1, 4, 5, 6, 7])
        self.assertEqual(rows[4]["task_id"], lines[4])  # its key found the task
        self.assertFalse(rows[4]["created"])
        # More lines than one batch holds.
        big = os.path.join(self.cpd.dir, "big.jsonl")
        with open(big, "w") as f:
            for i in range(1500):
                f.write('{"task_type": "%s-big", "payload": {"i": %d}}\n' % (ttype, i))
        out = self.ok("tasks", "submit", "--file", big)
        self.assertEqual(len(set(out.split())), 1500)
        self.assertEqual(self.c.get("tasks?task_type=%s-big&limit=1" % ttype).body["total"], 1500)
        self.rc(2, "tasks", "submit", "--file", path, "extra")
        self.rc(2, "tasks", "submit", "--file", os.path.join(self.cpd.dir, "missing.jsonl"))

    def test_extend_retry_purge(self):
        agent, cap, ttype = self.uid("ag"), self.uid("cap"), self.uid("type")
        self.register(agent, capabilities=[cap], max_concurrent_tasks=5)
        tids = [self.submit(task_type=ttype, required_capabilities=[cap], priority="critical",
                            max_retries=0) for _ in range(3)]
        for tid in tids:
            self.assertIn(self.claim(agent, capabilities=[cap])["id"], tids)
        out = self.ok("tasks", "extend", tids[0], "--agent", agent, "--seconds", "120",
                      "--percent", "50", "--message", "half way")
        self.assertIn("extended %s until" % tids[0], out)
        self.assertEqual(self.task(tids[0])["progress"], {"percent": 50, "message": "half way"})
        _, err = self.rc(3, "tasks", "extend", tids[0], "--agent", "someone-else")
        self.assertIn("conflict", err)
        self.rc(2, "tasks", "extend", tids[0], "--percent", "101")
        for tid in tids:
            self.c.post("tasks/%s/fail" % tid, {"agent_id": agent})
        self.assertIn("retried " + tids[0], self.ok("tasks", "retry", tids[0]))
        self.assertEqual(self.task(tids[0])["status"], "pending")
        _, err = self.rc(3, "tasks", "retry", tids[0])
        self.assertIn("conflict", err)
        out, err = self.cpctl("tasks", "retry", "--status", "failed", "--type", ttype)[1:]
        self.assertEqual(sorted(out.split()), sorted(tids[1:]))
        self.assertIn("retried 2", err)
        self.rc(2, "tasks", "retry", "--status", "completed")
        self.rc(2, "tasks", "retry")
        for _ in tids:
            t = self.claim(agent, capabilities=[cap])
            self.c.post("tasks/%s/complete" % t["id"], {"agent_id": agent})
        self.assertIn("purged 0", self.ok("tasks", "purge", "--type", ttype, "--older-than",
                                          "3600"))
        self.assertIn("purged 3", self.ok("tasks", "purge", "--status", "completed", "--type",
                                          ttype))
        self.rc(1, "tasks", "get", tids[0])
        self.rc(2, "tasks", "purge", "--status", "pending")

    def test_retried_submit_through_a_lossy_proxy(self):
        proxy = LossyProxy(self.cpd.port).start()
        try:
            ttype = self.uid("lossy")
            tid = self.ok("tasks", "submit", ttype, url=False,
                          env={"CONTROL_PLANE_URL": proxy.url}).strip()
            self.assertRegex(tid, cpdtest.TASK_ID_RE)
            self.assertEqual(self.c.get("tasks?task_type=%s" % ttype).body["total"], 1)
            path = os.path.join(self.cpd.dir, "lossy.jsonl")
            with open(path, "w") as f:
                for i in range(5):
                    f.write('{"task_type": "%s-f", "payload": {"i": %d}}\n' % (ttype, i))
            out = self.ok("tasks", "submit", "--file", path, url=False,
                          env={"CONTROL_PLANE_URL": proxy.url})
            self.assertEqual(len(set(out.split())), 5)
            self.assertEqual(self.c.get("tasks?task_type=%s-f" % ttype).body["total"], 5)
            self.assertEqual([first for _, first in proxy.submits()], [True, False, True, False])
        finally:
            proxy.stop()

    def test_wait(self):
        agent, cap = self.uid("w"), self.uid("wcap")
        self.register(agent, capabilities=[cap])
        # critical: claimed before tasks other tests left pending (they require nothing)
        tid = self.submit(required_capabilities=[cap], priority="critical")

        # Still pending at the deadline: exit 4, the task printed.
        rc, out, err = self.cpctl("tasks", "wait", tid, "--timeout", "0.3")
        self.assertEqual(rc, 4, out + err)
        self.assertRegex(out, r"(?m)^status +pending$")

        def finish():
            c = self.cpd.client()
            t = self.claim(agent, client=c)
            c.post("tasks/%s/complete" % t["id"], {"agent_id": agent, "result": {"ok": 1}})
            c.close()

        waiter = cpdtest.in_thread(self.cpctl, "--json", "tasks", "wait", tid, "--timeout", "20")
        finish()
        (rc, out, err), elapsed = waiter.join()
        self.assertEqual(rc, 0, out + err)
        body = json.loads(out)
        self.assertEqual((body["status"], body["result"]), ("completed", {"ok": 1}))
        self.assertLess(elapsed, 15)

        tid2 = self.submit()
        self.ok("tasks", "cancel", tid2)
        rc, out, _ = self.cpctl("tasks", "wait", tid2)
        self.assertEqual(rc, 4)
        self.assertRegex(out, r"(?m)^status +cancelled$")
        self.rc(1, "tasks", "wait", "task_000000000000000000000000", "--timeout", "1")

    # -- health and stats

    def test_health_and_stats(self):
        agent = self.uid("h")
        self.register(agent)
        out = self.ok("health")
        self.assertRegex(out, r"^system: (healthy|degraded|unhealthy|critical) \(\d+ agents: "
                              r"\d+ healthy, \d+ degraded, \d+ unhealthy, \d+ unknown\)\n\n")
        table = out.split("\n\n", 1)[1]
        rows = dict(zip(self.column(table, "AGENT_ID"), self.column(table, "HEALTH")))
        self.assertEqual(rows.get(agent), "healthy")
        self.assertIn(agent, json.loads(self.ok("health", "--json"))["agents"])
        # --all reads the map in pages; --summary lists only the unwell (none here).
        out = self.ok("health", "--all")
        self.assertIn(agent, self.column(out.split("\n\n", 1)[1], "AGENT_ID"))
        out = self.ok("health", "--summary")
        self.assertIn("degraded and unhealthy agents:", out)
        self.assertNotIn(agent, out)
        body = json.loads(self.ok("--json", "health", "--summary"))
        self.assertEqual(body["form"], "summary")
        self.assertGreaterEqual(body["summary"]["by_health"]["healthy"], 1)
        self.rc(2, "health", "--all", "--summary")
        self.rc(2, "health", "--all", agent)
        out = self.ok("health", agent)
        self.assertRegex(out, r"(?m)^status +healthy$")
        self.assertRegex(out, r"(?m)^circuit +closed$")
        self.assertEqual(json.loads(self.ok("--json", "health", agent))["circuit"]["state"],
                         "closed")
        self.rc(1, "health", "nobody-here")

        out = self.ok("stats")
        for key in ("registry", "total_agents", "scheduler", "pending_tasks", "by_priority",
                    "health", "system_health", "circuits_open"):
            self.assertRegex(out, r"(?m)^ *%s\b" % key)
        stats = json.loads(self.ok("stats", "--json"))
        server = self.c.get("stats").body
        self.assertEqual(stats["registry"]["total_agents"], server["registry"]["total_agents"])
        m = re.search(r"(?m)^  total_agents +(\d+)$", out)
        self.assertEqual(int(m.group(1)), server["registry"]["total_agents"])

    def test_queue_and_metrics(self):
        task_type = self.uid("qt")
        t1 = self.submit(task_type=task_type, required_capabilities=["nobody"],
                         metadata={"name": "First job"})
        t2 = self.submit(task_type=task_type, required_capabilities=["nobody"])
        out = self.ok("queue", "--limit", "2")
        rows = dict(zip(self.column(out, "ID"), self.column(out, "NAME")))
        self.assertEqual(rows, {t1: "First job", t2: task_type})
        self.assertEqual(self.column(out, "STATUS"), ["queued", "queued"])
        self.assertEqual(self.column(out, "PROGRESS"), ["0", "0"])
        jobs = json.loads(self.ok("--json", "queue", "--limit", "1"))
        self.assertEqual([j["id"] for j in jobs["jobs"]], [t2])
        self.rc(2, "queue", "--limit", "0")
        server = self.c.get("metrics").body
        out = self.ok("metrics")
        for key, value in server.items():
            self.assertRegex(out, r"(?m)^%s +%d$" % (key, value))
        self.assertGreaterEqual(server["queued_jobs"], 2)
        self.assertEqual(json.loads(self.ok("metrics", "--json")), server)


if __name__ == "__main__":
    cpdtest.main()
