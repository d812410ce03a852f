"""test_quotas.py — provider quotas through the client (docs/fleet.md): put/list/get/delete
quotas, est_tokens on submit, usage on complete, a 429 reported with fail(rate_limited=True)
pausing the quota, quota_scopes on register. Both stores."""

import unittest

from support import CpdCase, run_async

import cpclient


class QuotasTest(CpdCase):
    def test_quotas_tokens_and_429(self):
        c = self.client()
        q = c.put_quota("oa", "openai", model="gpt", rpm=10, tpm=1000, max_in_flight=2)
        self.assertEqual((q["id"], q["requests_left"], q["tokens_left"]), ("oa", 10, 1000))
        a = c.register_agent("w", ["x"], model="gpt", provider="openai",
                             quota_scopes=[{"provider": "openai", "key_id": "k"}])
        self.assertEqual(a.agent_id, "w")
        tid = c.submit_task("t", {}, ["x"], est_tokens={"input": 300, "max_output": 100})
        task = c.claim_task("w")
        self.assertEqual(task.id, tid)
        self.assertEqual(c.get_quota("oa")["tokens_used"], 400)
        self.assertTrue(c.complete_task(tid, {"ok": True}, agent_id="w",
                                        usage={"input_tokens": 50, "output_tokens": 10}))
        self.assertEqual(c.get_quota("oa")["tokens_used"], 60)
        tid2 = c.submit_task("t", {}, ["x"])
        c.claim_task("w")
        r = c.fail_task(tid2, "429", agent_id="w", rate_limited=True, retry_after_ms=60000)
        self.assertEqual(r.retries, 0)
        self.assertIsNotNone(c.get_quota("oa")["paused_until"])
        self.assertEqual([x["id"] for x in c.list_quotas()], ["oa"])
        self.assertTrue(c.delete_quota("oa"))
        self.assertFalse(c.delete_quota("oa"))
        self.assertIsNone(c.get_quota("oa"))

    def test_async(self):
        async def go():
            async with cpclient.AsyncClient(self.url) as c:
                await c.put_quota("q2", "p", rpm=5)
                return await c.list_quotas()
        self.assertEqual([q["id"] for q in run_async(go())], ["q2"])


if __name__ == "__main__":
    unittest.main()
