"""redis_quotas.py — provider quotas shared by two cpd processes on one Redis (docs/fleet.md):
the claim's check and reservation happen in the claim script, so agents claiming concurrently
through both processes under one quota never get more than its limits between them; a 429
reported through one process pauses the quota for claims on the other; a claim held by the
quota on one process is woken when room returns through the other (no polling), and both
processes' event streams tell the quota's pause and resume."""

import random
import threading
import time
import uuid

from cpdtest import CpdTestCase, SseReader, in_thread, main, shared_redis
from rediscluster import shared_prefix_config, stats

HOLD_MS = 15000


class QuotasTwoProcesses(CpdTestCase):
    start_server = False

    def setUp(self):
        super().setUp()
        self.redis = shared_redis()
        cfg = shared_prefix_config("quota:%s:" % uuid.uuid4().hex[:10])
        self.a = self.start_cpd(store="redis", redis=self.redis, config=cfg)
        self.b = self.start_cpd(store="redis", redis=self.redis, config=cfg)
        self.ca, self.cb = self.a.client(), self.b.client()

    def put_quota(self, client, **q):
        r = client.post("quotas", q)
        self.assertIn(r.status, (200, 201), r.body)
        return r.body

    def quota(self, client, qid):
        r = client.get("quotas/" + qid)
        self.assertStatus(r, 200)
        return r.body

    def wait_held(self, client, n=1):
        deadline = time.monotonic() + 5
        while stats(client)["scheduler"]["held_claims"] != n:
            self.assertLess(time.monotonic(), deadline, "the claim was never held")
            time.sleep(0.01)

    def test_many_agents_on_both_processes_never_exceed_the_limits(self):
        """12 agents (6 on each process) claim as fast as they can under one quota; what the
        clients were told adds up to no more than rpm requests, tpm tokens (the reservation,
        settled to the usage reported) and max_in_flight tasks at once — and the limits were
        reached, so the check was put to the test."""
        rpm, tpm, mif = 20, 9000, 4
        self.put_quota(self.ca, id="shared", scope={"provider": "prov"}, rpm=rpm, tpm=tpm,
                       max_in_flight=mif)
        cap = "q-" + uuid.uuid4().hex[:6]
        agents = [("a%d" % i, self.a if i % 2 == 0 else self.b) for i in range(12)]
        for aid, cpd in agents:
            self.register(aid, client=cpd.client(), capabilities=[cap], provider="prov",
                          max_concurrent_tasks=2)
        for i in range(40):
            self.submit(client=self.ca if i % 2 else self.cb, required_capabilities=[cap],
                        est_tokens={"input": 600, "max_output": 400})
        lock = threading.Lock()
        told = []  # (claimed at, completed at, task id, tokens charged)
        in_flight, peak = [0], [0]
        stop = time.monotonic() + 6

        def agent(aid, cpd):
            c = cpd.client()
            r2 = random.Random(aid)
            while time.monotonic() < stop:
                r = c.post("tasks/claim", {"agent_id": aid, "block_ms": 500})
                self.assertEqual(r.status, 200, r.body)
                t = r.body["task"]
                if not t:
                    continue
                t0 = time.monotonic()
                with lock:
                    in_flight[0] += 1
                    peak[0] = max(peak[0], in_flight[0])
                time.sleep(r2.uniform(0.01, 0.08))
                used = r2.randint(300, 1000)  # at most the estimate
                with lock:
                    in_flight[0] -= 1  # before the store gives the place back
                r = c.post("tasks/%s/complete" % t["id"],
                           {"agent_id": aid, "usage": {"input_tokens": used - 100,
                                                       "output_tokens": 100}})
                self.assertEqual(r.status, 200, r.body)
                with lock:
                    told.append((t0, time.monotonic(), t["id"], used))

        threads = [threading.Thread(target=agent, args=x) for x in agents]
        for th in threads:
            th.start()
        for th in threads:
            th.join(30)
        self.assertTrue(all(not th.is_alive() for th in threads))
        ids = [x[2] for x in told]
        self.assertEqual(len(ids), len(set(ids)), "a task handed out twice")
        charged = sum(x[3] for x in told)
        # The whole run lies inside one 60 s window: its totals are what any window saw.
        self.assertLessEqual(len(told), rpm, "more claims than rpm")
        self.assertLessEqual(charged, tpm, "more tokens than tpm")
        self.assertLessEqual(peak[0], mif, "more tasks at once than max_in_flight")
        # ...and a limit was reached: no request left, or the next task (1000) did not fit
        self.assertTrue(len(told) == rpm or charged + 1000 > tpm,
                        "limits not reached: %d claims, %d tokens" % (len(told), charged))
        for c in (self.ca, self.cb):
            q = self.quota(c, "shared")
            self.assertEqual(q["requests_used"], len(told))
            self.assertEqual(q["tokens_used"], charged)
            self.assertEqual(q["in_flight"], 0)
        print("claims %d of rpm %d, tokens %d of tpm %d, peak in flight %d of %d" %
              (len(told), rpm, charged, tpm, peak[0], mif))
        self.a.stop()
        self.b.stop()

    def test_429_through_one_process_pauses_and_room_wakes_the_other(self):
        self.put_quota(self.ca, id="p1", scope={"provider": "px"}, max_in_flight=1)
        cap = "r-" + uuid.uuid4().hex[:6]
        self.register("wa", client=self.ca, capabilities=[cap], provider="px")
        self.register("wb", client=self.cb, capabilities=[cap], provider="px")
        self.register("wc", client=self.cb, capabilities=[cap], provider="py")  # not under it
        ev_b = SseReader(self.b.port, "events")
        try:
            t1 = self.submit(client=self.ca, required_capabilities=[cap])
            t2 = self.submit(client=self.ca, required_capabilities=[cap])
            # 1. room: wb's claim is held on B by max_in_flight, woken by a completion on A
            self.assertEqual(self.claim("wa", client=self.ca)["id"], t1)
            self.assertIsNone(self.claim("wb", client=self.cb))
            h = in_thread(self.b.client().post, "tasks/claim",
                          {"agent_id": "wb", "block_ms": HOLD_MS})
            self.wait_held(self.cb)
            t0 = time.monotonic()
            self.assertStatus(self.ca.post("tasks/%s/complete" % t1, {"agent_id": "wa"}), 200)
            r, _ = h.join(HOLD_MS / 1000.0 + 5)
            woke = time.monotonic() - t0
            self.assertEqual(r.body["task"]["id"], t2)
            self.assertLess(woke, 2.0, "room through A woke B's claim after %.2fs" % woke)
            # 2. a 429 through B pauses the quota for claims through A
            r = self.cb.post("tasks/%s/fail" % t2, {"agent_id": "wb", "error": "429",
                                                     "reason": "rate_limited",
                                                     "retry_after_ms": 2000})
            self.assertStatus(r, 200)
            self.assertEqual((r.body["status"], r.body["retries"]), ("pending", 0))
            paused = self.quota(self.ca, "p1")
            self.assertIsNotNone(paused["paused_until"])
            self.assertEqual((paused["rate_limited"], paused["in_flight"]), (1, 0))
            ra = self.ca.post("tasks/claim", {"agent_id": "wa"})
            self.assertStatus(ra, 200)
            self.assertIsNone(ra.body["task"], "claimed through A during B's pause")
            # 3. held through A by the pause, woken when it ends (a timer, not polling)
            h = in_thread(self.a.client().post, "tasks/claim",
                          {"agent_id": "wa", "block_ms": HOLD_MS})
            self.wait_held(self.ca)
            t0 = time.monotonic()
            r, _ = h.join(HOLD_MS / 1000.0 + 5)
            woke = time.monotonic() - t0
            self.assertEqual(r.body["task"]["id"], t2)
            self.assertLess(woke, 4.0)
            # both events reached B's stream (the change feed), though the pause was made on B
            # and its end seen on A
            seen = ev_b.until(lambda e: e["event"] == "quota_resumed", timeout=5)
            kinds = [e["event"] for e in seen if e["event"].startswith("quota_")]
            self.assertEqual(kinds, ["quota_paused", "quota_resumed"])
            self.assertEqual(seen[-1]["data"]["quota_id"], "p1")
        finally:
            ev_b.close()
        self.assertEqual(self.agent("wb", client=self.ca)["tasks_failed"], 0)
        self.a.stop()
        self.b.stop()

    def test_aimd_cut_through_one_process_limits_the_other(self):
        self.put_quota(self.cb, id="ai", scope={"provider": "pz"}, max_in_flight=4)
        cap = "c-" + uuid.uuid4().hex[:6]
        self.register("x", client=self.ca, capabilities=[cap], provider="pz",
                      max_concurrent_tasks=8)
        ids = [self.submit(client=self.ca, required_capabilities=[cap]) for _ in range(6)]
        ev_a = SseReader(self.a.port, "events")
        try:
            self.assertEqual(self.claim("x", client=self.ca)["id"], ids[0])
            self.assertStatus(self.cb.post("tasks/%s/fail" % ids[0],
                                           {"agent_id": "x", "reason": "rate_limited"}), 200)
            self.assertEqual(self.quota(self.ca, "ai")["concurrency_limit"], 2)
            got = [self.claim("x", client=c) for c in (self.ca, self.cb, self.ca)]
            self.assertIsNotNone(got[0])
            self.assertIsNotNone(got[1])
            self.assertIsNone(got[2])  # the cut limit holds across processes
            self.assertStatus(self.cb.post("tasks/%s/complete" % got[0]["id"],
                                           {"agent_id": "x"}), 200)
            self.assertEqual(self.quota(self.ca, "ai")["concurrency_limit"], 3)
            seen = ev_a.until(lambda e: e["event"] == "quota_concurrency" and
                              e["data"].get("concurrency_limit") == 3, timeout=5)
            self.assertEqual(seen[-1]["data"]["quota_id"], "ai")
        finally:
            ev_a.close()
        # A's gauges: its copy of the quotas' state, re-read at most a second apart
        deadline = time.monotonic() + 5
        while 'cp_quota_concurrency_limit{quota="ai"} 3' not in self.ca.get("/metrics").body:
            self.assertLess(time.monotonic(), deadline, "A's gauges never showed the cut")
            time.sleep(0.1)
        self.a.stop()
        self.b.stop()


if __name__ == "__main__":
    main()
