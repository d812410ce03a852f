"""test_operators.py — the operator calls of the blocking and async clients against a real cpd:
list_plugins() (GET /plugins) and select_agent(hints=...) passed to a strategy that reads them
(examples/strategies/region_affinity.c, built into <build>/examples)."""

import os
import unittest

import cpdtest
from support import CpdCase, run_async

import cpclient
from cpclient import BadRequestError, PluginInfo

REGION = os.path.join(cpdtest.BUILD_DIR, "examples", "region_affinity.so")


class PluginsTest(CpdCase):
    cpd_config = {"selection": {"default": "least_loaded",
                                "plugins": ["least_loaded", "round_robin",
                                            {"plugin": REGION, "options": {"key": "region"}}]}}

    def setUp(self):
        if not os.path.exists(REGION):
            raise unittest.SkipTest("%s is not built" % REGION)
        super().setUp()

    def test_list_plugins(self):
        plugins = self.client().list_plugins()
        self.assertTrue(all(isinstance(p, PluginInfo) for p in plugins))
        kinds = [p.kind for p in plugins]
        self.assertEqual(kinds[0], "storage")
        self.assertEqual(kinds, sorted(kinds, key=["storage", "selection", "probe"].index))
        by_name = {(p.kind, p.name): p for p in plugins}
        ll = by_name[("selection", "least_loaded")]
        self.assertTrue(ll.default)
        self.assertRegex(ll.abi_version, r"^2\.\d+$")
        self.assertTrue(ll.path.endswith("least_loaded.so"))
        ra = by_name[("selection", "region_affinity")]
        self.assertEqual((ra.options, ra.default, ra.path), (["key"], False, REGION))
        self.assertIn(("probe", "http"), by_name)
        self.assertEqual(run_async(self._async_names()), [p.name for p in plugins])

    async def _async_names(self):
        async with cpclient.AsyncClient(self.url) as c:
            return [p.name for p in await c.list_plugins()]

    def test_select_with_hints(self):
        c = self.client()
        c.register_agent("a-eu", ["x"], metadata={"region": "eu"})
        c.register_agent("b-us", ["x"], metadata={"region": "us"})
        pick = lambda **kw: c.select_agent(["x"], strategy="region_affinity", **kw).agent_id
        self.assertEqual(pick(), "a-eu")
        self.assertEqual(pick(hints={"region": "us"}), "b-us")
        self.assertEqual(pick(hints={"region": "eu"}), "a-eu")
        with self.assertRaises(BadRequestError) as cm:
            c.select_agent(["x"], hints={"bad key": "v"})
        self.assertIn("hint.bad", str(cm.exception))
        with self.assertRaises(BadRequestError) as cm:
            c.select_agent(["x"], strategy="nope")
        self.assertIn("least_loaded, round_robin, region_affinity", str(cm.exception))


class DrainTest(CpdCase):
    def test_drain_and_undrain(self):
        c = self.client()
        c.register_agent("w", ["x"], max_concurrent_tasks=2)
        c.register_agent("y", ["x"])
        a = c.drain_agent("w")
        self.assertIs(a.status, cpclient.AgentStatus.DRAINING)
        self.assertTrue(a.drained)
        self.assertIsNotNone(a.drained_at)
        self.assertFalse(a.is_available())
        self.assertTrue(c.heartbeat("w", "ready"))
        self.assertIs(c.get_agent("w").status, cpclient.AgentStatus.DRAINING)  # sticks
        self.assertEqual([x.agent_id for x in c.list_agents("x")], ["y"])
        self.assertEqual(c.select_agent(["x"]).agent_id, "y")
        c.submit_task("t", {}, ["x"])
        self.assertIsNone(c.claim_task("w"))
        self.assertIsNone(c.drain_agent("nobody"))
        a = c.undrain_agent("w")
        self.assertIs(a.status, cpclient.AgentStatus.READY)
        self.assertFalse(a.drained)
        self.assertIsNone(a.drained_at)
        self.assertIsNotNone(c.claim_task("w"))
        self.assertIsNone(c.undrain_agent("nobody"))
        run_async(self._async_drain())

    async def _async_drain(self):
        async with cpclient.AsyncClient(self.url) as c:
            self.assertTrue((await c.drain_agent("y")).drained)
            self.assertFalse((await c.undrain_agent("y")).drained)

    def test_self_reported_busy_is_not_available(self):
        c = self.client()
        c.register_agent("b", ["x"], max_concurrent_tasks=3)
        self.assertTrue(c.is_agent_available("b"))
        c.heartbeat("b", "busy")
        info = c.get_agent("b")
        self.assertIs(info.status, cpclient.AgentStatus.BUSY)
        self.assertEqual(info.tasks_in_flight, 0)
        self.assertFalse(info.is_available())
        self.assertFalse(c.is_agent_available("b"))
        self.assertEqual(c.list_agents("x"), [])
        self.assertIsNone(c.select_agent(["x"]))
        c.heartbeat("b", "ready")
        self.assertTrue(c.is_agent_available("b"))
