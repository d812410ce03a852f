#!/usr/bin/env python3
"""test_compat.py — the original project's dashboard reads, on both stores:
GET /api/control-plane/queue (tasks as "jobs": status mapping, name and progress from metadata,
started_at, agents_assigned, total and limit) and GET /api/control-plane/metrics (the counters,
checked against a fleet and a queue built to known numbers); reader role; bad limit refused."""

import time

from cpdtest import CpdTestCase, main

ADMIN, READER = "adm-c0mp47-9e1d", "rdr-c0mp47-2e8a"


class CompatTest(CpdTestCase):
    cpd_config = {"tasks": {"pass_over_seconds": 0.001}}

    def build(self):
        """3 agents (a1 busy at its limit, a2 ready, a3 draining) and 7 tasks: 2 pending, 1
        claimed, 1 running, 1 completed, 1 failed, 1 cancelled."""
        self.register("a1", capabilities=["c1"], max_concurrent_tasks=2)
        self.register("a2", capabilities=["c2"])
        self.register("a3", capabilities=["c3"])
        self.heartbeat("a3", "draining")
        ids = {}
        ids["done"] = self.submit(task_type="sum", required_capabilities=["c2"])
        t = self.claim("a2")
        self.assertEqual(t["id"], ids["done"])
        self.assertStatus(self.c.post("tasks/%s/complete" % t["id"],
                                      {"agent_id": "a2", "result": {"n": 3}}), 200)
        ids["failed"] = self.submit(task_type="sum", required_capabilities=["c2"], max_retries=0)
        self.claim("a2")
        self.assertStatus(self.c.post("tasks/%s/fail" % ids["failed"],
                                      {"agent_id": "a2", "error": "boom"}), 200)
        ids["claimed"] = self.submit(task_type="render", required_capabilities=["c1"],
                                     metadata={"name": "Render frame", "progress": 40})
        self.claim("a1")
        ids["running"] = self.submit(task_type="render", required_capabilities=["c1"],
                                     metadata={"progress": 62.5})
        self.claim("a1")
        self.assertStatus(self.c.post("tasks/%s/start" % ids["running"], {"agent_id": "a1"}),
                          200)
        # progress its holder reports wins over metadata.progress
        self.assertStatus(self.c.post("tasks/%s/extend" % ids["claimed"], {
            "agent_id": "a1", "progress": {"percent": 75, "message": "most"}}), 200)
        ids["cancelled"] = self.submit(task_type="x", required_capabilities=["nobody"])
        self.assertStatus(self.c.post("tasks/%s/cancel" % ids["cancelled"]), 200)
        ids["pending"] = self.submit(task_type="x", required_capabilities=["nobody"],
                                     metadata={"name": 7, "progress": 50})
        ids["pending2"] = self.submit(task_type="y", required_capabilities=["nobody"])
        return ids

    def test_metrics_counts(self):
        empty = self.c.get("metrics")
        self.assertStatus(empty, 200)
        self.assertEqual(empty.body, {"active_jobs": 0, "queued_jobs": 0, "completed_jobs": 0,
                                      "failed_jobs": 0, "agents_available": 0, "agents_busy": 0,
                                      "total_agents": 0})
        self.build()
        r = self.c.get("metrics")
        self.assertStatus(r, 200)
        self.assertIn("application/json", r.headers.get("Content-Type", ""))
        # a1 is busy (2 of 2 in flight): not available; a2 ready: available; a3 draining: neither
        self.assertEqual(r.body, {"active_jobs": 2, "queued_jobs": 2, "completed_jobs": 1,
                                  "failed_jobs": 2, "agents_available": 1, "agents_busy": 1,
                                  "total_agents": 3})
        # the Prometheus /metrics outside the API prefix is unchanged by this route
        prom = self.c.request("GET", "/metrics")
        self.assertStatus(prom, 200)
        self.assertNotIsInstance(prom.body, dict)

    def test_queue_jobs(self):
        before = time.time()
        ids = self.build()
        r = self.c.get("queue")
        self.assertStatus(r, 200)
        self.assertEqual(set(r.body), {"jobs", "total"})
        self.assertEqual(r.body["total"], 7)
        jobs = {j["id"]: j for j in r.body["jobs"]}
        self.assertEqual(set(jobs), set(ids.values()))
        # newest submitted first
        self.assertEqual(r.body["jobs"][0]["id"], ids["pending2"])
        for j in r.body["jobs"]:
            self.assertEqual(set(j), {"id", "type", "name", "status", "progress", "started_at",
                                      "agents_assigned"})
        want = {  # key: (type, name, status, progress, agents_assigned, started)
            "done": ("sum", "sum", "completed", 100, ["a2"], True),
            "failed": ("sum", "sum", "failed", 100, ["a2"], True),
            "claimed": ("render", "Render frame", "running", 75, ["a1"], True),
            "running": ("render", "render", "running", 62.5, ["a1"], True),
            "cancelled": ("x", "x", "failed", 100, [], False),
            "pending": ("x", "x", "queued", 0, [], False),
            "pending2": ("y", "y", "queued", 0, [], False),
        }
        for key, (typ, name, status, progress, assigned, started) in want.items():
            j = jobs[ids[key]]
            got = (j["type"], j["name"], j["status"], j["progress"], j["agents_assigned"])
            self.assertEqual(got, (typ, name, status, progress, assigned), key)
            if started:
                self.assertTimestamp(j["started_at"], near=before)
            else:
                self.assertIsNone(j["started_at"], key)
        # claimed, not started: started_at is the claim time; running: the start time
        self.assertEqual(jobs[ids["claimed"]]["started_at"],
                         self.task(ids["claimed"])["claimed_at"])
        self.assertEqual(jobs[ids["running"]]["started_at"],
                         self.task(ids["running"])["started_at"])
        two = self.c.get("queue?limit=2")
        self.assertStatus(two, 200)
        self.assertEqual([j["id"] for j in two.body["jobs"]], [ids["pending2"], ids["pending"]])
        self.assertEqual(two.body["total"], 7)
        for bad in ("0", "1001", "x", "-1"):
            self.assertError(self.c.get("queue?limit=" + bad), 400, "invalid_field", "limit")

    def test_empty_queue(self):
        r = self.c.get("queue")
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"jobs": [], "total": 0})


class CompatAuthTest(CpdTestCase):
    cpd_config = {"auth": {"tokens": [{"token": ADMIN, "role": "admin"},
                                      {"token": READER, "role": "reader"}]}}

    def test_reader_role(self):
        self.submit(client=self.cpd.client(token=ADMIN), required_capabilities=["nobody"])
        for path in ("queue", "metrics"):
            self.assertError(self.c.get(path), 401, "unauthorized")
            r = self.c.get(path, token=READER)
            self.assertStatus(r, 200, path)
        self.assertEqual(self.c.get("queue", token=READER).body["total"], 1)
        self.assertEqual(self.c.get("metrics", token=READER).body["queued_jobs"], 1)
        self.assertError(self.c.post("queue", {}, token=ADMIN), 405, "method_not_allowed")


if __name__ == "__main__":
    main()
