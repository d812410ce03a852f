"""only_build_without_redis.py — a memory-only cpd built where hiredis is not installed.

pkg-config is pointed at a copy of its search path without hiredis.pc, as on a machine without
libhiredis-dev. Then:
  - configuring with -DCP_WITH_REDIS=ON fails and names hiredis;
  - a tree configured with -DCP_WITH_REDIS=OFF builds cpd and the plugins a default config
    loads, and no redis.so;
  - that cpd runs a task's whole life cycle on the memory store, and a config asking for the
    redis store stops it at start-up with a line naming the missing redis.so.
The tree is <build>/no-redis and is kept between runs, so after the first run only what changed
is rebuilt (plain Debug, no sanitizers, no tests: a few dozen files).
"""

import glob
import os
import shutil
import subprocess
import tempfile
import unittest

import cpdtest

SRC = cpdtest.SOURCE_DIR
TREE = os.path.join(cpdtest.BUILD_DIR, "no-redis")
# What a default config loads (storage memory, selection and probe defaults), and cpd itself.
TARGETS = ["cpd", "plugin_memory", "plugin_least_loaded", "plugin_round_robin", "plugin_random",
           "plugin_affinity", "plugin_headroom", "plugin_http", "plugin_tcp"]


def run(argv, env=None, timeout=600, check=True):
    p = subprocess.run(argv, env=env, capture_output=True, timeout=timeout)
    out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s" % (" ".join(argv), p.returncode, out[-4000:]))
    return p.returncode, out


def env_without_hiredis(pc_dir):
    """An environment whose pkg-config sees every installed .pc file but hiredis'."""
    _, path = run(["pkg-config", "--variable", "pc_path", "pkg-config"])
    for d in path.strip().split(":"):
        for pc in glob.glob(os.path.join(d, "*.pc")):
            name = os.path.basename(pc)
            if not name.startswith("hiredis") and not os.path.exists(os.path.join(pc_dir, name)):
                os.symlink(pc, os.path.join(pc_dir, name))
    env = dict(os.environ)
    env["PKG_CONFIG_LIBDIR"] = pc_dir
    env.pop("PKG_CONFIG_PATH", None)
    return env


class NoRedisCpd(cpdtest.Cpd):
    """A cpd from the no-redis tree, with its plugin directory."""

    def argv(self):
        return [os.path.join(TREE, "cpd")] + super().argv()[1:]


class BuildWithoutRedisTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not shutil.which("cmake") or not shutil.which("pkg-config"):
            raise unittest.SkipTest("cmake and pkg-config are needed")
        cls.pc_dir = tempfile.mkdtemp(prefix="cpd-pc-")
        cls.env = env_without_hiredis(cls.pc_dir)
        rc, _ = run(["pkg-config", "--exists", "hiredis"], env=cls.env, check=False)
        assert rc != 0, "hiredis.pc is still visible to pkg-config"
        run(["cmake", "-S", SRC, "-B", TREE, "-DCP_WITH_REDIS=OFF", "-DCP_BUILD_TESTS=OFF",
             "-DCMAKE_BUILD_TYPE=Debug", "-DCP_SANITIZE=OFF"], env=cls.env)
        run(["cmake", "--build", TREE, "-j2", "--target"] + TARGETS, env=cls.env)
        cls.plugins = os.path.join(TREE, "plugins")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.pc_dir, ignore_errors=True)

    def test_redis_on_requires_hiredis(self):
        tree = tempfile.mkdtemp(prefix="cpd-redis-on-")
        try:
            rc, out = run(["cmake", "-S", SRC, "-B", tree, "-DCP_WITH_REDIS=ON",
                           "-DCP_BUILD_TESTS=OFF"], env=self.env, check=False)
        finally:
            shutil.rmtree(tree, ignore_errors=True)
        self.assertNotEqual(rc, 0, out)
        self.assertIn("hiredis", out)

    def test_tree_has_no_redis(self):
        with open(os.path.join(TREE, "CMakeCache.txt")) as f:
            cache = f.read()
        self.assertIn("CP_WITH_REDIS:STRING=OFF", cache)
        self.assertTrue(os.path.exists(os.path.join(self.plugins, "memory.so")))
        self.assertFalse(os.path.exists(os.path.join(self.plugins, "redis.so")))
        rc, out = run(["cmake", "--build", TREE, "--target", "plugin_redis"], env=self.env,
                      check=False)
        self.assertNotEqual(rc, 0, "the tree has a redis plugin target")

    def test_memory_cpd_runs_a_task(self):
        cpd = NoRedisCpd(store="memory", env={"CONTROL_PLANE_PLUGIN_DIR": self.plugins})
        try:
            cpd.start()
            c = cpd.client()
            r = c.post("agents", {"agent_id": "solo", "capabilities": ["x"]})
            self.assertEqual(r.status, 201, r.body)
            r = c.post("tasks", {"task_type": "t", "payload": {"n": 1},
                                 "required_capabilities": ["x"]})
            self.assertEqual(r.status, 201, r.body)
            task_id = r.body["task_id"]
            r = c.post("tasks/claim", {"agent_id": "solo"})
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.body["task"]["id"], task_id)
            r = c.post("tasks/%s/complete" % task_id, {"agent_id": "solo", "result": {"ok": 1}})
            self.assertEqual(r.status, 200, r.body)
            r = c.get("stats")
            self.assertEqual(r.status, 200, r.body)
            self.assertEqual(r.body["scheduler"]["by_status"]["completed"], 1)
            self.assertEqual(r.body["storage"]["backend"], "memory")
        finally:
            cpd.stop(check=False)
            cpd.cleanup()

    def test_redis_store_is_refused_clearly(self):
        cpd = NoRedisCpd(store="memory", env={"CONTROL_PLANE_PLUGIN_DIR": self.plugins},
                         config={"storage": {"plugin": "redis",
                                             "options": {"url": "redis://127.0.0.1:1"}}})
        try:
            cpd.spawn()
            self.assertEqual(cpd.wait_exit(), 2, cpd.describe())
            self.assertIn("redis.so: cannot open", cpd.stderr())
        finally:
            cpd.cleanup()


if __name__ == "__main__":
    unittest.main()
