"""only_sdk_install.py — the SDK as a third party sees it: `cmake --install` the build into a
temporary prefix, build examples/strategies (the lowest_latency selection plugin) out of tree
with CMake (find_package(cp)) and with make (pkg-config cp), build a small libcpclient program
both ways, then run a real cpd whose config loads the plugin by path and check that
GET /agents/select?strategy=lowest_latency picks as the plugin documents:
lowest average latency; agents with no finished task count as 0; ties -> fewest in flight,
then agent_id.
"""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

import cpdtest

SRC = cpdtest.SOURCE_DIR
BUILD = cpdtest.BUILD_DIR
STRATEGIES = os.path.join(SRC, "examples", "strategies")

CLIENT_C = r"""
#include <stdio.h>
#include <cp/client.h>
int main(int argc, char **argv)
{
    cp_client *c = cp_client_new(argv[1], NULL);
    struct cpc_stats *s = NULL;
    int rc = cp_client_stats(c, &s);
    if (rc) { fprintf(stderr, "stats: %s\n", cp_client_last_message(c)); return 1; }
    printf("agents=%llu\n", (unsigned long long)s->total_agents);
    cp_client_stats_free(s);
    cp_client_free(c);
    (void)argc;
    return 0;
}
"""

CLIENT_CMAKE = """
cmake_minimum_required(VERSION 3.16)
project(cpclient_user C)
find_package(cp REQUIRED)
add_executable(user_shared main.c)
target_link_libraries(user_shared PRIVATE cp::client)
add_executable(user_static main.c)
target_link_libraries(user_static PRIVATE cp::client_static)
"""


def run(argv, cwd=None, env=None, timeout=300):
    p = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, timeout=timeout)
    out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
    if p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s" % (" ".join(argv), p.returncode, out))
    return out


def sanitized_build():
    """A CP_SANITIZE build installs an instrumented libcpclient: its users need the flags."""
    try:
        with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
            return any(line.strip() == "CP_SANITIZE:BOOL=ON" for line in f)
    except OSError:
        return False


SAN_FLAGS = "-fsanitize=address,undefined" if sanitized_build() else ""


def exported_symbols(so):
    nm = shutil.which("nm")
    if not nm:
        return None
    out = run([nm, "-D", "--defined-only", so])
    return sorted(line.split()[-1] for line in out.splitlines() if line.strip())


class SdkInstallTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="cp-sdk-")
        cls.prefix = os.path.join(cls.tmp, "prefix")
        run(["cmake", "--install", BUILD, "--prefix", cls.prefix])
        libdirs = [d for d in ("lib", "lib64") if os.path.isdir(os.path.join(cls.prefix, d))]
        cls.libdir = os.path.join(cls.prefix, libdirs[0])
        cls.env = dict(os.environ)
        cls.env["PKG_CONFIG_PATH"] = os.path.join(cls.libdir, "pkgconfig")
        cls.env.pop("CFLAGS", None)
        # Built once for all tests: the plugin both ways.
        cls.cmake_dir = os.path.join(cls.tmp, "ll-cmake")
        run(["cmake", "-S", STRATEGIES, "-B", cls.cmake_dir,
             "-DCMAKE_PREFIX_PATH=" + cls.prefix], env=cls.env)
        run(["cmake", "--build", cls.cmake_dir], env=cls.env)
        cls.plugin_cmake = os.path.join(cls.cmake_dir, "lowest_latency.so")
        cls.make_dir = os.path.join(cls.tmp, "ll-make")
        os.makedirs(cls.make_dir)
        run(["make", "-C", STRATEGIES, "OUT=" + cls.make_dir], env=cls.env)
        cls.plugin_make = os.path.join(cls.make_dir, "lowest_latency.so")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    # -- what was installed

    def test_installed_layout(self):
        for rel in ("include/cp/abi.h", "include/cp/plugin.h", "include/cp/types.h",
                    "include/cp/storage.h", "include/cp/selection.h", "include/cp/probe.h",
                    "include/cp/client.h", "include/cp/time.h", "bin/cpctl"):
            self.assertTrue(os.path.exists(os.path.join(self.prefix, rel)), rel)
        for rel in ("libcpclient.so", "libcpclient.a", "pkgconfig/cp.pc",
                    "cmake/cp/cpConfig.cmake", "cmake/cp/cpConfigVersion.cmake",
                    "cmake/cp/cpTargets.cmake"):
            self.assertTrue(os.path.exists(os.path.join(self.libdir, rel)), rel)
        pc = lambda *a: run(["pkg-config"] + list(a) + ["cp"], env=self.env).strip()
        includes = [os.path.normpath(f[2:]) for f in pc("--cflags").split() if f.startswith("-I")]
        self.assertIn(os.path.join(self.prefix, "include"), includes)  # relocated prefix
        self.assertIn("-lcpclient", pc("--libs"))
        with open(os.path.join(SRC, "sdk", "include", "cp", "abi.h")) as f:
            abi = dict(re.findall(r"^#define CP_ABI_(MAJOR|MINOR) (\d+)$", f.read(), re.M))
        self.assertEqual(pc("--variable=abi_major"), abi["MAJOR"])
        self.assertEqual(pc("--variable=abi_minor"), abi["MINOR"])
        self.assertEqual(pc("--modversion"), "0.1.0")

    def test_plugins_export_only_the_descriptor(self):
        for so in (self.plugin_cmake, self.plugin_make):
            self.assertTrue(os.path.exists(so), so)
            syms = exported_symbols(so)
            if syms is not None:
                self.assertEqual(syms, ["cp_plugin_descriptor"], so)

    # -- a client program built against the installed SDK, both ways

    def test_client_program(self):
        cpd = cpdtest.Cpd().start()
        try:
            url = "http://127.0.0.1:%d" % cpd.port
            src = os.path.join(self.tmp, "client-src")
            os.makedirs(src, exist_ok=True)
            with open(os.path.join(src, "main.c"), "w") as f:
                f.write(CLIENT_C)
            with open(os.path.join(src, "CMakeLists.txt"), "w") as f:
                f.write(CLIENT_CMAKE)
            bdir = os.path.join(self.tmp, "client-cmake")
            run(["cmake", "-S", src, "-B", bdir, "-DCMAKE_PREFIX_PATH=" + self.prefix,
                 "-DCMAKE_C_FLAGS=" + SAN_FLAGS, "-DCMAKE_EXE_LINKER_FLAGS=" + SAN_FLAGS],
                env=self.env)
            run(["cmake", "--build", bdir], env=self.env)
            run_env = dict(self.env)
            run_env["ASAN_OPTIONS"] = "detect_leaks=1"
            for exe in ("user_shared", "user_static"):
                out = run([os.path.join(bdir, exe), url], env=run_env)
                self.assertIn("agents=0", out)
            # pkg-config: cflags + libs (shared), --static for the archive.
            exe = os.path.join(self.tmp, "user_pc")
            flags = run(["pkg-config", "--cflags", "--libs", "cp"], env=self.env).split()
            run(["cc", os.path.join(src, "main.c"), "-o", exe] + SAN_FLAGS.split() + flags +
                ["-Wl,-rpath," + self.libdir], env=self.env)
            self.assertIn("agents=0", run([exe, url], env=run_env))
            cpd.stop()
        finally:
            cpd.cleanup()

    # -- the plugin in a real cpd

    def start_cpd(self, plugin):
        return cpdtest.Cpd(config={"selection": {
            "default": "least_loaded",
            "plugins": ["least_loaded", "round_robin", "random", plugin]}}).start()

    def select(self, c, exclude=None):
        path = "agents/select?strategy=lowest_latency&capability=ll"
        if exclude:
            path += "&exclude=" + ",".join(exclude)
        r = c.get(path)
        self.assertEqual(r.status, 200, r)
        return r.body["agent_id"]

    def finish_one(self, c, agent, latency_ms):
        """Submit a task only `agent` can take (its own capability), claim and complete it."""
        r = c.post("tasks", {"task_type": "ll", "required_capabilities": ["only-" + agent]})
        self.assertEqual(r.status, 201, r)
        r = c.post("tasks/claim", {"agent_id": agent})
        self.assertEqual(r.status, 200, r)
        self.assertIsNotNone(r.body["task"], "agent %s got no task" % agent)
        r = c.post("tasks/%s/complete" % r.body["task"]["id"],
                   {"agent_id": agent, "result": {}, "latency_ms": latency_ms})
        self.assertEqual(r.status, 200, r)

    def test_lowest_latency_cmake_build(self):
        cpd = self.start_cpd(self.plugin_cmake)
        try:
            c = cpd.client()
            for name in ("a", "b", "c"):
                r = c.post("agents", {"agent_id": name, "capabilities": ["ll", "only-" + name]})
                self.assertEqual(r.status, 201, r)
            self.finish_one(c, "a", 300)
            self.finish_one(c, "b", 100)
            self.finish_one(c, "c", 200)
            self.finish_one(c, "b", 300)  # b: (100 + 300) / 2 = 200, ties with c
            self.finish_one(c, "c", 100)  # c: 150
            self.assertEqual(self.select(c), "c")
            self.assertEqual(self.select(c, exclude=["c"]), "b")  # b 200 < a 300
            self.assertEqual(c.get("agents/b").body["avg_latency_ms"], 200)

            # No finished task counts as 0 ms: a newcomer is tried first.
            r = c.post("agents", {"agent_id": "z-new", "capabilities": ["ll"]})
            self.assertEqual(r.status, 201, r)
            self.assertEqual(self.select(c), "z-new")

            # Equal averages: fewer in flight wins, then agent_id.
            for name in ("t1", "t2"):
                r = c.post("agents", {"agent_id": name, "max_concurrent_tasks": 2,
                                      "capabilities": ["ll", "only-" + name]})
                self.assertEqual(r.status, 201, r)
                self.finish_one(c, name, 10)
            self.assertEqual(self.select(c, exclude=["z-new"]), "t1")  # by agent_id
            r = c.post("tasks", {"task_type": "ll", "required_capabilities": ["only-t1"]})
            self.assertEqual(c.post("tasks/claim", {"agent_id": "t1"}).status, 200)
            self.assertEqual(self.select(c, exclude=["z-new"]), "t2")  # t1 has one in flight

            # The default strategy is unaffected; an unknown one is still a 400.
            self.assertEqual(c.get("agents/select?capability=ll").status, 200)
            self.assertEqual(c.get("agents/select?strategy=nope").status, 400)
            cpd.stop()
        finally:
            cpd.cleanup()

    def test_lowest_latency_make_build(self):
        cpd = self.start_cpd(self.plugin_make)
        try:
            c = cpd.client()
            for name in ("a", "b"):
                r = c.post("agents", {"agent_id": name, "capabilities": ["ll", "only-" + name]})
                self.assertEqual(r.status, 201, r)
            self.finish_one(c, "a", 50)
            self.finish_one(c, "b", 500)
            self.assertEqual(self.select(c), "a")
            self.assertEqual(self.select(c, exclude=["a"]), "b")
            cpd.stop()
        finally:
            cpd.cleanup()

    def test_bad_plugin_path_stops_startup(self):
        rc, out, err = cpdtest.run_cpd_to_exit(
            ["--check-config"],
            config_text="selection:\n  plugins: [least_loaded, %s]\n"
                        % os.path.join(self.tmp, "missing.so"))
        self.assertNotEqual(rc, 0)
        self.assertIn("missing.so", out + err)


if __name__ == "__main__":
    cpdtest.main()
