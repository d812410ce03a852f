"""redis_kill9.py — kill -9 of one cpd process loses nothing: two cpd processes A and B on one
Redis; agents claim (and some start) tasks through A, others hold long-poll claims on A; A is
killed with SIGKILL. Through B the claimed tasks are still claimed by their agents and are
completed by them; the held claims on A are simply gone (no task is handed to them); pending
tasks are claimable through B; a restarted A sees everything B sees."""

import http.client
import time
import uuid

from cpdtest import CpdTestCase, in_thread, main, shared_redis
from rediscluster import shared_prefix_config, stats

N_PENDING = 6


class Kill9(CpdTestCase):
    start_server = False

    def setUp(self):
        super().setUp()
        self.redis = shared_redis()
        self.cfg = shared_prefix_config("kill9:%s:" % uuid.uuid4().hex[:10])
        self.a = self.start_cpd(store="redis", redis=self.redis, config=self.cfg)
        self.b = self.start_cpd(store="redis", redis=self.redis, config=self.cfg)
        self.ca, self.cb = self.a.client(), self.b.client()

    def test_kill9_of_one_process_loses_nothing(self):
        rare = "rare-" + uuid.uuid4().hex[:6]
        workers = ["w%d" % i for i in range(4)]
        for w in workers + ["late1", "late2"]:
            self.register(w, client=self.ca, capabilities=["work", rare])
        for h in ("h1", "h2"):  # they can only take tasks needing `rare` alone
            self.register(h, client=self.ca, capabilities=[rare])
        tids = [self.submit(client=self.ca, task_type="k9", payload={"i": i},
                            required_capabilities=["work"])
                for i in range(len(workers) + N_PENDING)]

        # w0..w3 claim through A (FIFO: tids[0..3]); w0, w1 also start theirs.
        held = {}
        for i, w in enumerate(workers):
            t = self.claim(w, client=self.ca)
            self.assertEqual(t["id"], tids[i])
            held[w] = t["id"]
            if i < 2:
                self.assertStatus(self.ca.post("tasks/%s/start" % t["id"], {"agent_id": w}), 200)
        # h1, h2 hold long-poll claims on A (nothing requires `rare`).
        holds = [in_thread(self.a.client(timeout=30).post, "tasks/claim",
                           {"agent_id": h, "block_ms": 20000}) for h in ("h1", "h2")]
        deadline = time.monotonic() + 5
        while stats(self.ca)["scheduler"]["held_claims"] != 2:
            self.assertLess(time.monotonic(), deadline, "claims not held on A")
            time.sleep(0.01)
        before = self.snapshot(client=self.cb)

        self.a.kill()  # SIGKILL, no clean-up
        for hd in holds:  # the held claims' connections die with A: no task, no answer
            with self.assertRaises((OSError, http.client.HTTPException)):
                hd.join(5)

        # B sees exactly what was there before the kill.
        self.assertEqual(self.snapshot(client=self.cb), before)
        st = stats(self.cb)
        self.assertEqual(st["scheduler"]["by_status"]["pending"], N_PENDING)
        self.assertEqual(st["scheduler"]["by_status"]["claimed"], 2)
        self.assertEqual(st["scheduler"]["by_status"]["running"], 2)
        self.assertEqual(st["scheduler"]["held_claims"], 0)
        for i, w in enumerate(workers):
            t = self.task(held[w], client=self.cb)
            self.assertEqual((t["status"], t["assigned_agent"], t["attempt"]),
                             ("running" if i < 2 else "claimed", w, 1))
            a = self.agent(w, client=self.cb)
            self.assertEqual((a["current_task_id"], a["tasks_in_flight"], a["status"]),
                             (held[w], 1, "busy"))

        # A task for the agents that held claims on A stays pending: those claims are gone.
        rare_tid = self.submit(client=self.cb, task_type="k9", required_capabilities=[rare])
        time.sleep(0.3)
        self.assertEqual(self.task(rare_tid, client=self.cb)["status"], "pending")
        for h in ("h1", "h2"):
            self.assertEqual(self.agent(h, client=self.cb)["tasks_in_flight"], 0)

        # The agents finish their tasks through B.
        for i, w in enumerate(workers):
            if i >= 2:
                self.assertStatus(self.cb.post("tasks/%s/start" % held[w], {"agent_id": w}), 200)
            r = self.cb.post("tasks/%s/complete" % held[w],
                             {"agent_id": w, "result": {"by": w}})
            self.assertStatus(r, 200)
        # Pending tasks are claimable through B, in order, by anyone (w0..w3 are free again).
        done = {}
        for k in range(N_PENDING):
            w = (workers + ["late1", "late2"])[k]
            t = self.claim(w, client=self.cb)
            self.assertIsNotNone(t, "pending task %d not claimable through B" % k)
            self.assertEqual(t["id"], tids[len(workers) + k])
            self.assertStatus(self.cb.post("tasks/%s/complete" % t["id"],
                                           {"agent_id": w, "result": {"by": w}}), 200)
            done[t["id"]] = w
        self.assertEqual(self.claim("h1", client=self.cb)["id"], rare_tid)
        self.assertStatus(self.cb.post("tasks/%s/complete" % rare_tid, {"agent_id": "h1"}), 200)
        self.assertIsNone(self.claim("late1", client=self.cb))

        # A restarted A (same prefix, same port) sees everything B sees.
        self.a.start()
        ca2 = self.a.client()
        after_b = self.snapshot(client=self.cb)
        self.assertEqual(self.snapshot(client=ca2), after_b)
        self.assertEqual(len(after_b["tasks"]), len(tids) + 1)
        for t in after_b["tasks"]:
            self.assertEqual((t["status"], t["attempt"], t["retries"]), ("completed", 1, 0), t)
        expected = {tid: w for w, tid in held.items()}
        expected.update(done)
        expected[rare_tid] = "h1"
        self.assertEqual({t["id"]: t["assigned_agent"] for t in after_b["tasks"]}, expected)
        sa, sb = stats(ca2), stats(self.cb)
        for part in ("registry", "scheduler", "health"):
            self.assertEqual(sa[part], sb[part], part)
        self.assertEqual(sb["scheduler"]["by_status"]["completed"], len(tids) + 1)
        counts = {}
        for tid, w in expected.items():
            counts[w] = counts.get(w, 0) + 1
        for w, n in counts.items():
            a = self.agent(w, client=ca2)
            self.assertEqual((a["tasks_completed"], a["tasks_in_flight"]), (n, 0), w)
        # The restarted A serves long polls again, woken from B.
        h = in_thread(self.a.client().post, "tasks/claim", {"agent_id": "h2", "block_ms": 10000})
        deadline = time.monotonic() + 5
        while stats(ca2)["scheduler"]["held_claims"] != 1:
            self.assertLess(time.monotonic(), deadline, "claim not held on the new A")
            time.sleep(0.01)
        t0 = time.monotonic()
        tid = self.submit(client=self.cb, required_capabilities=[rare])
        r, _ = h.join(15)
        self.assertEqual(r.body["task"]["id"], tid)
        self.assertLess(time.monotonic() - t0, 1.0)
        self.a.stop()
        self.b.stop()


if __name__ == "__main__":
    main()
