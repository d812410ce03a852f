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
