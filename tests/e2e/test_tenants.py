"""test_tenants.py — fair share between tenants, on both stores: tasks carry `tenant` (absent:
"default"); /tenants sets weights and max_in_flight (admin) and lists what each tenant has
(reader); while one tenant floods, the others' share of claims follows their weights; a tenant
at its max_in_flight is skipped, and served again when a task of it ends; a task pending past
tenants.aging_seconds counts one band higher; /stats by_tenant."""

import time
import unittest

import cpdtest
from cpdtest import wait_until


class Tenants(cpdtest.CpdTestCase):
    cpd_config = {"auth": {"tokens": ["adm:admin", "ag:agent", "rd:reader"]},
                  "tenants": {"list": [{"id": "cfg-t", "weight": 5, "max_in_flight": 7}]}}
    token = "adm"

    def put(self, tenant, body, token=None, expect=200):
        r = self.c.request("PUT", "tenants/" + cpdtest.q(tenant), body, token=token)
        self.assertStatus(r, expect)
        return r.body

    def batch(self, tenant, n, **fields):
        ids = []
        while n > 0:
            k = min(n, 500)
            items = [dict(task_type="t", tenant=tenant, **fields) for _ in range(k)]
            r = self.c.post("tasks/batch", {"tasks": items})
            self.assertStatus(r, 200)
            ids += [x["task_id"] for x in r.body["results"]]
            n -= k
        return ids

    def serve(self, agent, n):
        """Claim and complete n tasks one at a time; the tenants in claim order."""
        order = []
        for _ in range(n):
            t = self.claim(agent)
            if t is None:
                break
            order.append(t["tenant"])
            r = self.c.post("tasks/%s/complete" % t["id"], {"agent_id": agent})
            self.assertStatus(r, 200)
        return order

    def test_api_and_roles(self):
        t = self.put("acme", {"weight": 3, "max_in_flight": 2})
        self.assertEqual((t["id"], t["weight"], t["max_in_flight"], t["configured"]),
                         ("acme", 3, 2, True))
        listed = self.c.get("tenants", token="rd").body
        ids = [x["id"] for x in listed["tenants"]]
        self.assertEqual(ids, sorted(ids))
        self.assertIn("acme", ids)
        self.assertIn("cfg-t", ids)  # from the configuration file
        cfg_t = self.c.get("tenants/cfg-t", token="rd").body
        self.assertEqual((cfg_t["weight"], cfg_t["max_in_flight"]), (5, 7))
        self.assertEqual(self.c.get("tenants/acme").body["weight"], 3)
        self.assertError(self.c.get("tenants/nobody"), 404, "not_found")
        # Changes are admin-only; bad input changes nothing.
        for tok in ("ag", "rd"):
            self.assertError(self.c.request("PUT", "tenants/acme", {"weight": 9}, token=tok),
                             403, "forbidden")
            self.assertError(self.c.delete("tenants/acme", token=tok), 403, "forbidden")
        self.assertError(self.c.request("PUT", "tenants/acme", {"weight": 0}), 400,
                         "invalid_field")
        self.assertError(self.c.request("PUT", "tenants/acme", {"weight": "x"}), 400,
                         "invalid_field")
        self.assertError(self.c.request("PUT", "tenants/acme", {"wieght": 2}), 400,
                         "invalid_field")
        self.assertError(self.c.request("PUT", "tenants/bad%20id", {"weight": 2}), 400,
                         "invalid_field")
        self.assertEqual(self.c.get("tenants/acme").body["weight"], 3)
        d = self.c.delete("tenants/acme")
        self.assertStatus(d, 200)
        self.assertEqual((d.body["weight"], d.body["max_in_flight"], d.body["configured"]),
                         (1, 0, False))
        self.assertError(self.c.delete("tenants/acme"), 404, "not_found")

    def test_task_field(self):
        tid = self.submit(tenant="acme")
        self.assertEqual(self.task(tid)["tenant"], "acme")
        self.assertEqual(self.task(self.submit())["tenant"], "default")
        for bad in ("", "a b", 7, "x" * 129):
            r = self.c.post("tasks", {"task_type": "t", "tenant": bad})
            self.assertError(r, 400, "invalid_field")
        st = self.c.get("stats").body["by_tenant"]
        self.assertEqual(st["acme"]["waiting"], 1)
        self.assertEqual(st["default"]["waiting"], 1)

    def test_weighted_share_while_one_floods(self):
        self.put("a", {"weight": 2})
        self.put("b", {"weight": 1})
        self.put("flood", {"weight": 1})
        self.batch("flood", 1500)
        self.batch("a", 200)
        self.batch("b", 200)
        self.register("w", capabilities=[], max_concurrent_tasks=1)
        order = self.serve("w", 200)
        self.assertEqual(len(order), 200)
        share = {k: order.count(k) for k in ("flood", "a", "b")}
        # Weights 1:2:1 of 200 claims: 50, 100, 50 (each within 3).
        self.assertLessEqual(abs(share["a"] - 100), 3, share)
        self.assertLessEqual(abs(share["b"] - 50), 3, share)
        self.assertLessEqual(abs(share["flood"] - 50), 3, share)
        # And in every window of 40 claims too (not only overall).
        for i in range(0, 200, 40):
            w = order[i:i + 40]
            self.assertLessEqual(abs(w.count("a") - 20), 2, (i, w))
        st = self.c.get("stats").body["by_tenant"]
        self.assertEqual(st["a"]["tokens_served"], share["a"])
        self.assertEqual(st["flood"]["waiting"], 1500 - share["flood"])
        self.assertEqual(st["b"]["in_flight"], 0)

    def test_max_in_flight_skips_the_tenant(self):
        self.put("busy", {"max_in_flight": 2})
        self.batch("busy", 5)
        self.register("w", capabilities=[], max_concurrent_tasks=10)
        got = [self.claim("w") for _ in range(3)]
        self.assertEqual([t["tenant"] for t in got[:2]], ["busy", "busy"])
        self.assertIsNone(got[2])  # at its limit: skipped, nothing else waits
        other = self.submit(tenant="calm")
        self.assertEqual(self.claim("w")["id"], other)
        self.assertEqual(self.c.get("tenants/busy").body["in_flight"], 2)
        r = self.c.post("tasks/%s/complete" % got[0]["id"], {"agent_id": "w"})
        self.assertStatus(r, 200)
        self.assertEqual(self.claim("w")["tenant"], "busy")
        # Raising the limit lets the rest through.
        self.put("busy", {"max_in_flight": 0})
        self.assertEqual([self.claim("w")["tenant"] for _ in range(2)], ["busy", "busy"])

    def test_a_band_comes_before_shares(self):
        self.put("rich", {"weight": 100})
        low = self.submit(tenant="rich", priority="low")
        high = self.submit(tenant="poor", priority="high")
        self.register("w", capabilities=[], max_concurrent_tasks=5)
        self.assertEqual(self.claim("w")["id"], high)
        self.assertEqual(self.claim("w")["id"], low)


class TenantAging(cpdtest.CpdTestCase):
    cpd_config = {"tenants": {"aging_seconds": 1}}

    def test_an_old_task_counts_one_band_higher(self):
        self.register("w", capabilities=[], max_concurrent_tasks=10)
        low = self.submit(priority="low")
        normal = self.submit(priority="normal")
        self.assertEqual(self.claim("w")["id"], normal)  # young: its own band
        self.assertEqual(self.claim("w")["id"], low)
        old_low = self.submit(priority="low")
        old_normal = self.submit(priority="normal")
        time.sleep(1.3)
        young_normal = self.submit(priority="normal")
        # Aged: old_low counts as normal and is older than young_normal, not than old_normal.
        got = [self.claim("w")["id"] for _ in range(3)]
        self.assertEqual(got, [old_normal, old_low, young_normal])
        # One band only: an aged low task never passes a high one.
        aged = self.submit(priority="low")
        time.sleep(1.3)
        high = self.submit(priority="high")
        self.assertEqual([self.claim("w")["id"] for _ in range(2)], [high, aged])
        self.assertEqual(self.c.get("tenants").body["aging_seconds"], 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
