"""only_plugins.py — plugins as an operator sees them: options for selection plugins from the
config (the entry form {plugin: ..., options: {...}} of selection.plugins, handed to the plugin
through host->option), checked at start-up and by --check-config; GET /plugins (kind, name,
version, ABI, path, option names but never values; reader role); unknown strategies named with
the loaded ones. Uses examples/strategies/lowest_latency.c, built in-tree into <build>/examples.
"""

import os
import unittest

import cpdtest

LOWEST = os.path.join(cpdtest.BUILD_DIR, "examples", "lowest_latency.so")


def selection(*entries):
    return {"selection": {"default": "least_loaded", "plugins": ["least_loaded"] + list(entries)}}


class PluginOptions(cpdtest.CpdTestCase):
    start_server = False

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(LOWEST):
            raise unittest.SkipTest("%s is not built" % LOWEST)
        super().setUpClass()

    def finish_one(self, c, agent, latency_ms):
        tid = self.submit(client=c, task_type="ll", required_capabilities=["only-" + agent])
        self.assertEqual(self.claim(agent, client=c)["id"], tid)
        r = c.post("tasks/%s/complete" % tid, {"agent_id": agent, "latency_ms": latency_ms})
        self.assertStatus(r, 200)

    def pick(self, options):
        """Which of a (one task, 100 ms) and b (none yet) lowest_latency picks."""
        entry = {"plugin": LOWEST}
        if options is not None:
            entry["options"] = options
        cpd = self.start_cpd(config=selection(entry))
        c = cpd.client()
        for name in ("a", "b"):
            self.register(name, client=c, capabilities=["ll", "only-" + name])
        self.finish_one(c, "a", 100)
        r = c.get("agents/select?strategy=lowest_latency&capability=ll")
        self.assertStatus(r, 200)
        cpd.stop()
        return r.body["agent_id"]

    def test_the_option_reaches_the_plugin(self):
        # Default: an agent without history counts as 0 ms and is tried first.
        self.assertEqual(self.pick(None), "b")
        # unknown_latency_ms: 1000 makes the measured 100 ms agent the better one.
        self.assertEqual(self.pick({"unknown_latency_ms": 1000}), "a")

    def test_a_bad_option_stops_start_up_and_check_config(self):
        text = cpdtest.to_yaml(selection({"plugin": LOWEST,
                                          "options": {"unknown_latency_ms": "fast"}}))
        for args in ([], ["--check-config"]):
            rc, out, err = cpdtest.run_cpd_to_exit(args + ["--listen", "127.0.0.1:%d"
                                                           % cpdtest.free_port()],
                                                   config_text=text)
            self.assertEqual(rc, 2, out + err)
            self.assertIn("unknown_latency_ms must be a number >= 0", err)
            self.assertIn("lowest_latency", err)
        text = cpdtest.to_yaml(selection({"plugin": LOWEST, "option": {"x": 1}}))
        rc, _, err = cpdtest.run_cpd_to_exit(["--check-config"], config_text=text)
        self.assertEqual(rc, 2, err)
        self.assertIn("selection.plugins[1]", err)
        self.assertIn("unknown or repeated key 'option'", err)


class PluginsEndpoint(cpdtest.CpdTestCase):
    per_test = False
    cpd_config = dict(selection({"plugin": LOWEST, "options": {"unknown_latency_ms": 1234}},
                                "round_robin"),
                      auth={"tokens": ["rd-token:reader", "adm-token:admin"]})
    token = "rd-token"

    @classmethod
    def setUpClass(cls):
        if not os.path.exists(LOWEST):
            raise unittest.SkipTest("%s is not built" % LOWEST)
        super().setUpClass()

    def test_list(self):
        r = self.c.get("plugins")
        self.assertStatus(r, 200)
        plugins = r.body["plugins"]
        self.assertEqual(r.body["total"], len(plugins))
        self.assertEqual([p["kind"] for p in plugins],
                         ["storage", "selection", "selection", "selection", "probe", "probe"])
        names = [(p["kind"], p["name"]) for p in plugins]
        self.assertEqual(names, [("storage", "memory"), ("selection", "least_loaded"),
                                 ("selection", "lowest_latency"), ("selection", "round_robin"),
                                 ("probe", "http"), ("probe", "tcp")])
        ll = plugins[2]
        self.assertEqual(ll["options"], ["unknown_latency_ms"])
        self.assertNotIn("1234", str(r.body))  # values are never shown
        self.assertEqual(ll["path"], LOWEST)
        self.assertEqual(ll["version"], "1.0")
        self.assertRegex(ll["abi_version"], r"^2\.\d+$")
        self.assertEqual([p["default"] for p in plugins],
                         [False, True, False, False, False, False])
        for p in plugins:
            self.assertEqual(sorted(p), ["abi_version", "default", "kind", "name", "options",
                                         "path", "version"])
            self.assertTrue(p["path"].endswith(".so"), p)
        self.assertError(self.c.get("plugins", token=""), 401, "unauthorized")
        self.assertError(self.c.post("plugins", {}), 405, "method_not_allowed")

    def test_unknown_strategy_names_the_loaded_ones(self):
        loaded = "loaded strategies: least_loaded, lowest_latency, round_robin"
        self.assertError(self.c.get("agents/select?strategy=fastest"), 400, "invalid_field",
                         loaded)
        r = self.c.post("tasks", {"task_type": "t", "strategy": "fastest"}, token="adm-token")
        self.assertError(r, 400, "invalid_field", loaded)
        self.assertIn("'fastest'", r.body["error"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
