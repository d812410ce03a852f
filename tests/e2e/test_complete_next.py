"""test_complete_next.py — complete-and-claim-next (docs/api.md "Complete and claim the next
task"): POST /tasks/:id/complete and /fail with "next" answer the completion and the agent's
next task in one request; a claim that finds nothing is held like a claim's long poll (woken by
a submit) or answers null at block_ms; fencing refusals and a bad "next" change nothing; the
event stream tells the completion before the claim. Runs on both stores.
"""

import json
import socket
import time

from cpdtest import CpdTestCase, SseReader, in_thread, main, wait_until


class CompleteNext(CpdTestCase):
    per_test = False

    def agent_with_cap(self, **fields):
        cap = self.uid("cap")
        agent = self.register(capabilities=[cap], **fields)["agent_id"]
        return agent, cap

    def complete(self, tid, agent, next_, kind="complete", **fields):
        body = dict(fields, agent_id=agent, next=next_)
        return self.c.post("tasks/%s/%s" % (tid, kind), body)

    def test_stats_follow_the_agent_through_both_steps(self):
        # The agent (max 1) goes ready by the completion and busy again by the claim within one
        # call: /stats must show where it ended (Redis nets the two steps' counter changes).
        def reg():
            r = self.c.get("stats").body["registry"]
            return (r["by_status"]["ready"], r["by_status"]["busy"], r["available_agents"])
        agent, cap = self.agent_with_cap(max_concurrent_tasks=1)
        t1 = self.submit(required_capabilities=[cap])
        t2 = self.submit(required_capabilities=[cap])
        self.assertEqual(self.claim(agent)["id"], t1)
        ready, busy, avail = reg()
        r = self.complete(t1, agent, {"block_ms": 0})
        self.assertStatus(r, 200)
        self.assertEqual(r.body["next"]["id"], t2)
        self.assertEqual(reg(), (ready, busy, avail))
        r = self.complete(t2, agent, {"block_ms": 0})
        self.assertStatus(r, 200)
        self.assertIsNone(r.body["next"])
        self.assertEqual(reg(), (ready + 1, busy - 1, avail + 1))

    def test_next_task_comes_with_the_completion(self):
        agent, cap = self.agent_with_cap(max_concurrent_tasks=1)
        t1 = self.submit(required_capabilities=[cap])
        t2 = self.submit(required_capabilities=[cap])
        self.assertEqual(self.claim(agent)["id"], t1)
        r = self.complete(t1, agent, {}, result={"n": 1})
        self.assertStatus(r, 200)
        self.assertIs(r.body["completed"], True)
        nxt = r.body["next"]
        self.assertEqual((nxt["id"], nxt["status"], nxt["assigned_agent"], nxt["attempt"]),
                         (t2, "claimed", agent, 1))
        self.assertEqual(self.task(t1)["status"], "completed")
        self.assertEqual(self.task(t1)["result"], {"n": 1})
        a = self.agent(agent)
        self.assertEqual((a["status"], a["tasks_in_flight"], a["current_task_id"]),
                         ("busy", 1, t2))
        self.assertEqual(a["tasks_completed"], 1)
        # Nothing left: null at once (block_ms 0), the completion stands.
        r = self.complete(t2, agent, {"block_ms": 0})
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"completed": True, "next": None})
        self.assertEqual(self.task(t2)["status"], "completed")
        self.assertEqual(self.agent(agent)["tasks_in_flight"], 0)

    def test_fail_with_next_keeps_its_body(self):
        agent, cap = self.agent_with_cap()
        t1 = self.submit(required_capabilities=[cap], max_retries=0)
        t2 = self.submit(required_capabilities=[cap])
        self.claim(agent)
        r = self.complete(t1, agent, {"capabilities": [cap]}, kind="fail", error="boom")
        self.assertStatus(r, 200)
        self.assertEqual((r.body["failed"], r.body["status"], r.body["retries"]),
                         (True, "failed", 1))
        self.assertEqual(r.body["next"]["id"], t2)
        self.assertEqual(self.task(t1)["error"], "boom")

    def test_next_capabilities_limit_the_claim(self):
        agent = self.uid("agent")
        c1, c2 = self.uid("cap"), self.uid("cap")
        self.register(agent, capabilities=[c1, c2], max_concurrent_tasks=4)
        t1 = self.submit(required_capabilities=[c1])
        t2 = self.submit(required_capabilities=[c2])
        self.claim(agent, capabilities=[c1])
        r = self.complete(t1, agent, {"capabilities": [c1]})
        self.assertStatus(r, 200)
        self.assertIsNone(r.body["next"])
        self.assertEqual(self.task(t2)["status"], "pending")

    def test_held_until_a_submit_arrives(self):
        agent, cap = self.agent_with_cap()
        t1 = self.submit(required_capabilities=[cap])
        self.claim(agent)
        c2 = self.cpd.client()
        self.addCleanup(c2.close)
        h = in_thread(c2.post, "tasks/%s/complete" % t1,
                      {"agent_id": agent, "next": {"block_ms": 20000}})
        # The completion is done while the claim is held.
        time.sleep(0.4)
        self.assertEqual(self.task(t1)["status"], "completed")
        t2 = self.submit(required_capabilities=[cap])
        r, elapsed = h.join(15)
        self.assertStatus(r, 200)
        self.assertTrue(r.body["completed"])
        self.assertEqual(r.body["next"]["id"], t2)
        self.assertLess(elapsed, 10, "the held claim was not woken by the submit")
        self.assertEqual(self.task(t2)["assigned_agent"], agent)

    def test_client_gone_while_held_loses_no_task(self):
        agent, cap = self.agent_with_cap()
        t1 = self.submit(required_capabilities=[cap])
        self.claim(agent)
        body = json.dumps({"agent_id": agent, "next": {"block_ms": 20000}}).encode()
        s = socket.create_connection(("127.0.0.1", self.cpd.port))
        s.sendall(b"POST /api/control-plane/tasks/%s/complete HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                  % (t1.encode(), len(body)) + body)
        wait_until(lambda: self.c.get("stats").body["scheduler"]["held_claims"] == 1, 5.0,
                   what="the next claim held")
        self.assertEqual(self.task(t1)["status"], "completed")  # done before the wait
        s.close()
        wait_until(lambda: self.c.get("stats").body["scheduler"]["held_claims"] == 0, 5.0,
                   what="the held claim dropped")
        t2 = self.submit(required_capabilities=[cap])
        time.sleep(0.2)
        self.assertEqual(self.task(t2)["status"], "pending")  # nobody took it for the gone client
        self.assertEqual(self.claim(agent)["id"], t2)

    def test_null_at_block_ms(self):
        agent, cap = self.agent_with_cap()
        t1 = self.submit(required_capabilities=[cap])
        self.claim(agent)
        t0 = time.monotonic()
        r = self.complete(t1, agent, {"block_ms": 400})
        elapsed = time.monotonic() - t0
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"completed": True, "next": None})
        self.assertGreaterEqual(elapsed, 0.35)
        self.assertEqual(self.task(t1)["status"], "completed")

    def test_an_agent_that_may_not_claim_gets_null_at_once(self):
        agent, cap = self.agent_with_cap(max_concurrent_tasks=2)
        t1 = self.submit(required_capabilities=[cap])
        self.claim(agent)
        self.heartbeat(agent, "draining")
        t2 = self.submit(required_capabilities=[cap])
        t0 = time.monotonic()
        r = self.complete(t1, agent, {"block_ms": 20000})
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"completed": True, "next": None})
        self.assertLess(time.monotonic() - t0, 10)
        self.assertEqual(self.task(t2)["status"], "pending")

    def test_fencing_refusals_change_nothing(self):
        agent, cap = self.agent_with_cap()
        other = self.register(capabilities=[cap])["agent_id"]
        t1 = self.submit(required_capabilities=[cap])
        self.claim(agent)
        pending = self.submit(required_capabilities=[cap])
        before = self.snapshot()
        # Not its task.
        r = self.complete(t1, other, {})
        self.assertError(r, 409, "conflict", mentions=agent)
        r = self.complete(t1, other, {}, kind="fail", error="x")
        self.assertError(r, 409, "conflict")
        self.assertEqual(self.snapshot(), before)
        # Finished already: the second completion is refused and claims nothing.
        self.assertStatus(self.c.post("tasks/%s/complete" % t1, {"agent_id": agent}), 200)
        before = self.snapshot()
        r = self.complete(t1, agent, {"block_ms": 5000})
        self.assertError(r, 409, "conflict", mentions="completed")
        self.assertEqual(self.snapshot(), before)
        self.assertEqual(self.task(pending)["status"], "pending")
        # Unknown task.
        self.assertError(self.complete("task_000000000000000000000000", agent, {}), 404,
                         "not_found")
        self.assertEqual(self.snapshot(), before)

    def test_bad_next_is_400_naming_the_member_and_completes_nothing(self):
        agent, cap = self.agent_with_cap()
        t1 = self.submit(required_capabilities=[cap])
        self.claim(agent)
        self.submit(required_capabilities=[cap])
        before = self.snapshot()
        cases = [
            ({"agent_id": agent, "next": 5}, "next"),
            ({"agent_id": agent, "next": []}, "next"),
            ({"agent_id": agent, "next": {"block_ms": -1}}, "next.block_ms"),
            ({"agent_id": agent, "next": {"block_ms": "soon"}}, "next.block_ms"),
            ({"agent_id": agent, "next": {"block_ms": 600001}}, "next.block_ms"),
            ({"agent_id": agent, "next": {"capabilities": "x"}}, "next.capabilities"),
            ({"agent_id": agent, "next": {"capabilities": ["bad cap"]}}, "next.capabilities"),
            ({"agent_id": agent, "next": {"blocks_ms": 10}}, "next.blocks_ms"),
            ({"next": {}}, "agent_id"),
        ]
        for kind in ("complete", "fail"):
            for body, named in cases:
                r = self.c.post("tasks/%s/%s" % (t1, kind), body)
                self.assertEqual(r.status, 400, (kind, body, r.body))
                self.assertIn(r.body["code"], ("invalid_field", "missing_field"), r.body)
                self.assertIn(named, r.body["error"], (kind, body))
        self.assertEqual(self.snapshot(), before)
        # next: null is no next at all (the plain reply).
        r = self.c.post("tasks/%s/complete" % t1, {"agent_id": agent, "next": None})
        self.assertStatus(r, 200)
        self.assertEqual(r.body, {"completed": True})


class CompleteNextEvents(CpdTestCase):
    def test_completed_before_claimed(self):
        s = SseReader(self.cpd.port, "events?types=task_completed,task_claimed,"
                                     "agent_status_changed")
        self.addCleanup(s.close)
        self.assertEqual(s.status, 200, s.body)
        agent, cap = self.uid("agent"), self.uid("cap")
        self.register(agent, capabilities=[cap], max_concurrent_tasks=1)
        t1 = self.submit(required_capabilities=[cap])
        t2 = self.submit(required_capabilities=[cap])
        self.claim(agent)
        r = self.c.post("tasks/%s/complete" % t1, {"agent_id": agent, "next": {}})
        self.assertStatus(r, 200)
        self.assertEqual(r.body["next"]["id"], t2)
        got = s.until(lambda e: e["event"] == "task_claimed" and e["data"]["task_id"] == t2)
        seq = [(e["event"], e["data"].get("task_id"), e["data"].get("old_status"),
                e["data"].get("new_status")) for e in got]
        want = [("task_completed", t1, "claimed", "completed"),
                ("agent_status_changed", None, "busy", "ready"),
                ("task_claimed", t2, "pending", "claimed")]
        self.assertEqual(seq[-3:], want)
        tail = s.until(lambda e: e["event"] == "agent_status_changed")
        self.assertEqual((tail[-1]["data"]["old_status"], tail[-1]["data"]["new_status"]),
                         ("ready", "busy"))


if __name__ == "__main__":
    main()
