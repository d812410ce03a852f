"""only_check_config.py — `cpd --check-config` loads and checks every plugin a configuration
names, the storage plugin included, and runs the storage plugin's option validation without
connecting anywhere: what it calls OK can start, what it refuses gets exit 2 and one line."""

import glob
import os
import time

from cpdtest import FIXTURE_DIR, PLUGIN_DIR, CpdTestCase, free_port, main, run_cpd_to_exit


def lines(text):
    return [l for l in text.splitlines() if l.strip()]


class StoragePlugin(CpdTestCase):
    start_server = False

    def check(self, env, config_text=None):
        return run_cpd_to_exit(["--check-config"], env=env, config_text=config_text)

    def assertRefused(self, result, *mentions):
        rc, out, err = result
        self.assertEqual(rc, 2, "expected exit 2, got %d:\n%s%s" % (rc, out, err))
        self.assertNotIn("configuration OK", out)
        self.assertEqual(len(lines(err)), 1, "expected one line:\n" + err)
        for m in mentions:
            self.assertIn(m, err)
        self.assertNotIn("Sanitizer", err)

    def test_tenants(self):
        for text, mention in (
                ('tenants: {list: [{id: "bad id"}]}\n', "tenants.list[0]"),
                ('tenants: {list: [{id: a, weight: 0}]}\n', "weight"),
                ('tenants: {list: [{id: a, max_in_flight: -1}]}\n', "max_in_flight"),
                ('tenants: {list: [{id: a}, {id: a}]}\n', "listed twice"),
                ('tenants: {list: [{id: a, share: 2}]}\n', "share"),
                ('tenants: {list: {id: a}}\n', "must be a list"),
                ('tenants: {aging_seconds: soon}\n', "tenants.aging_seconds"),
                ('tenants: {ageing_seconds: 3}\n', "ageing_seconds")):
            with self.subTest(text=text):
                self.assertRefused(self.check({}, text), mention)
        rc, out, err = self.check({}, "tenants:\n  aging_seconds: 30\n  list:\n"
                                       "    - {id: acme, weight: 3, max_in_flight: 10}\n")
        self.assertEqual(rc, 0, out + err)

    def test_not_a_plugin(self):
        self.assertRefused(self.check({"CONTROL_PLANE_STORAGE": "/etc/passwd"}),
                           "/etc/passwd", "not a loadable shared object")

    def test_redis_url_garbage(self):
        self.assertRefused(self.check({"CONTROL_PLANE_STORAGE": "redis", "REDIS_URL": "garbage"}),
                           "redis.so", "bad url")

    def test_redis_other_options(self):
        for text, mention in (
                ('storage: {plugin: redis, options: {timeout_ms: "soon"}}\n', "timeout_ms"),
                ('storage: {plugin: redis, options: {prefix: "{p}"}}\n', "prefix"),
                ('storage: {plugin: redis, options: {lua: "fast"}}\n', "lua")):
            with self.subTest(text=text):
                self.assertRefused(self.check({}, text), mention)

    def test_fallback_does_not_excuse_a_broken_plugin(self):
        self.assertRefused(self.check({}, "storage: {plugin: /etc/passwd, fallback: memory}\n"),
                           "/etc/passwd")

    def test_fixtures_as_storage(self):
        fixtures = sorted(glob.glob(os.path.join(FIXTURE_DIR, "*.so")))
        if not fixtures:
            self.skipTest("no fixture plugins in %s" % FIXTURE_DIR)
        for path in fixtures:
            with self.subTest(fixture=os.path.basename(path)):
                self.assertRefused(self.check({"CONTROL_PLANE_STORAGE": path}),
                                   os.path.basename(path))

    def test_valid_redis_config_is_ok_without_connecting(self):
        # Nothing listens on this port: a check that connected would fail (or wait).
        url = "redis://127.0.0.1:%d/0" % free_port()
        t0 = time.monotonic()
        rc, out, err = self.check({"CONTROL_PLANE_STORAGE": "redis", "REDIS_URL": url})
        self.assertEqual(rc, 0, err)
        self.assertIn("configuration OK", out)
        self.assertLess(time.monotonic() - t0, 30)
        # ...while a real start with that url does fail: the check says what it checked.
        rc, out, err = run_cpd_to_exit(["--listen", "127.0.0.1:%d" % free_port()],
                                       env={"CONTROL_PLANE_STORAGE": "redis", "REDIS_URL": url,
                                            "CONTROL_PLANE_PREFIX": "x:"})
        self.assertEqual(rc, 2, err)

    def test_memory_and_bundled_plugins_are_ok(self):
        rc, out, err = self.check({})
        self.assertEqual(rc, 0, err)
        rc, out, err = self.check({"CONTROL_PLANE_STORAGE": os.path.join(PLUGIN_DIR,
                                                                         "memory.so")})
        self.assertEqual(rc, 0, err)


if __name__ == "__main__":
    main()
