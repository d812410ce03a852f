"""redis_tenant_index.py — the Redis claim index of tenants (docs/redis.md "Tenants": per
capability set and band a ZSET `ti:<set>:<band>` of the tenants with tasks there, by service):
kept by submits and claims, rebuilt by the first claim for data written before it existed
(simulated by deleting it and its mark), its stale entries (a cancelled task's tenant) dropped
by the claim that finds them, and shares by weight served through it."""

from cpdtest import CpdTestCase, main


class TenantIndex(CpdTestCase):
    def setUp(self):
        super().setUp()
        self.tag = "{%s}" % self.cpd.prefix
        self.redis = self.cpd.redis

    def index(self):
        """{tenant: service} of band normal's index entries (one capability set here)."""
        keys = self.redis.command("KEYS", self.tag + "ti:*:2")
        self.assertLessEqual(len(keys), 1, keys)
        if not keys:
            return {}
        flat = self.redis.command("ZRANGE", keys[0], "0", "-1", "WITHSCORES")
        return {flat[i]: float(flat[i + 1]) for i in range(0, len(flat), 2)}

    def serve(self, agent, n):
        counts = {}
        for _ in range(n):
            t = self.claim(agent)
            self.assertIsNotNone(t, "a claim found nothing with tasks queued")
            counts[t["tenant"]] = counts.get(t["tenant"], 0) + 1
            r = self.c.post("tasks/%s/complete" % t["id"],
                            {"agent_id": agent, "usage": {"input_tokens": 100,
                                                          "output_tokens": 0}})
            self.assertStatus(r, 200)
        return counts

    def test_index_kept_rebuilt_and_cleaned(self):
        cap = self.uid("cap")
        for tn, w in (("ix-a", 1), ("ix-b", 1), ("ix-c", 2)):
            self.assertStatus(self.c.request("PUT", "tenants/" + tn, {"weight": w}), 200)
        ids = {}
        for tn in ("ix-a", "ix-b", "ix-c"):
            r = self.c.post("tasks/batch", {"tasks": [
                {"task_type": "t", "tenant": tn, "required_capabilities": [cap],
                 "est_tokens": {"input": 100, "max_output": 50}} for _ in range(30)]})
            self.assertStatus(r, 200)
            ids[tn] = [x["task_id"] for x in r.body["results"]]
        self.assertEqual(sorted(self.index()), ["ix-a", "ix-b", "ix-c"])

        agent = self.uid("agent")
        self.register(agent, capabilities=[cap])
        got = self.serve(agent, 8)  # builds the index once (the mark), then serves through it
        self.assertEqual(self.redis.command("HGET", self.tag + "rsets", "!"), "1")
        self.assertEqual(sum(got.values()), 8)

        # Data from before the index: no index, no mark. The next claim rebuilds it, and the
        # shares still follow the weights 1 : 1 : 2 (usage 100 tokens per task).
        for k in self.redis.command("KEYS", self.tag + "ti:*"):
            self.redis.command("DEL", k)
        self.redis.command("DEL", self.tag + "rsets")
        got = self.serve(agent, 40)
        self.assertEqual(sorted(self.index()), ["ix-a", "ix-b", "ix-c"])
        self.assertTrue(9 <= got.get("ix-a", 0) <= 11, got)
        self.assertTrue(9 <= got.get("ix-b", 0) <= 11, got)
        self.assertTrue(19 <= got.get("ix-c", 0) <= 21, got)
        svc = self.index()
        self.assertLessEqual(abs(svc["ix-a"] - svc["ix-c"]), 150, svc)

        # ix-a's pending tasks cancelled: its entry is stale until a claim finds its queue
        # empty and drops it; the other tenants are served meanwhile.
        for tid in ids["ix-a"]:
            r = self.c.post("tasks/%s/cancel" % tid, {})
            self.assertIn(r.status, (200, 409))
        got = self.serve(agent, 6)
        self.assertNotIn("ix-a", got)
        self.assertNotIn("ix-a", self.index())
        self.assertEqual(sorted(self.index()), ["ix-b", "ix-c"])


if __name__ == "__main__":
    main()
