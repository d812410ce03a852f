"""only_install.py — an installed cpd as an operator gets it: `cmake --install` into a
temporary prefix and `cpack -G DEB` unpacked with `dpkg-deb -x`. In both trees cpd starts from
its own location with no plugin_dir and no CONTROL_PLANE_PLUGIN_DIR, finds <prefix>/lib/cp/plugins
and answers /health; cpctl finds libcpclient through its RPATH ($ORIGIN/../lib); the systemd
unit names the tree's own paths (and passes `systemd-analyze verify` where systemd is
installed); directories are not writable by group or others even under umask 002.
"""

import os
import re
import shutil
import stat
import subprocess
import tempfile
import unittest

import cpdtest

BUILD = cpdtest.BUILD_DIR


def run(argv, env=None, cwd=None, timeout=300, umask=None, check=True):
    pre = (lambda: os.umask(umask)) if umask is not None else None
    p = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, timeout=timeout,
                       preexec_fn=pre)
    out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
    if check and p.returncode != 0:
        raise AssertionError("%s failed (%d):\n%s" % (" ".join(argv), p.returncode, out))
    return out if check else (p.returncode, out)


def clean_env():
    """The environment without anything that would tell cpd where its plugins are."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CONTROL_PLANE_") and k not in ("LD_LIBRARY_PATH", "REDIS_URL")}
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0:exitcode=23")
    return env


def cache_value(name):
    with open(os.path.join(BUILD, "CMakeCache.txt")) as f:
        for line in f:
            if line.startswith(name + ":"):
                return line.split("=", 1)[1].strip()
    return None


class InstalledCpd(cpdtest.Cpd):
    """cpd started from an installed tree, with that tree's configuration file and nothing in
    the environment about plugins."""

    def __init__(self, bin_path, config_path):
        super().__init__(write_config=False, plugin_dir_env=False,
                         env={"LD_LIBRARY_PATH": None},
                         args=["--config", config_path])
        self.bin_path = bin_path

    def argv(self):
        return [self.bin_path] + super().argv()[1:]


class InstalledTreeChecks:
    """What must hold in an installed tree rooted at self.root with prefix self.prefix_dir and
    configuration directory self.etc_dir (mixed into the two test classes below)."""

    def start_installed_cpd(self):
        cpd = InstalledCpd(os.path.join(self.prefix_dir, "bin", "cpd"),
                           os.path.join(self.etc_dir, "cpd", "cpd.yaml"))
        self.addCleanup(cpd.cleanup)
        return cpd.start()

    def test_cpd_finds_its_plugins(self):
        cpd = self.start_installed_cpd()
        plugins = os.path.realpath(os.path.join(self.prefix_dir, "lib", "cp", "plugins"))
        self.assertIn("plugins from %s," % plugins, cpd.stderr())
        c = cpd.client()
        r = c.get("health")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body["storage"]["backend"], "memory")
        # The selection plugins are loaded: every strategy the config names answers.
        r = c.post("agents", {"agent_id": "inst-1", "capabilities": ["x"]})
        self.assertEqual(r.status, 201, r)
        for strategy in ("least_loaded", "round_robin", "random"):
            r = c.get("agents/select?capability=x&strategy=" + strategy)
            self.assertEqual((r.status, r.body.get("agent_id")), (200, "inst-1"), strategy)
        self.assertEqual(c.get("agents/select?strategy=nope").status, 400)
        # The dashboard's files, found from the binary's location like the plugins.
        r = c.request("GET", "/ui/")
        self.assertEqual(r.status, 200, r)
        self.assertIn("<title>cpd dashboard</title>", r.body)
        self.assertEqual(c.request("GET", "/ui/app.js").status, 200)
        cpd.stop()

    def test_cpctl_finds_libcpclient(self):
        cpctl = os.path.join(self.prefix_dir, "bin", "cpctl")
        dyn = run(["readelf", "-d", cpctl])
        self.assertRegex(dyn, r"NEEDED.*libcpclient\.so\.0")
        self.assertRegex(dyn, r"R(UN)?PATH.*\[\$ORIGIN/\.\./lib\]")
        ldd = run(["ldd", cpctl], env=clean_env())
        lib = os.path.realpath(os.path.join(self.prefix_dir, "lib", "libcpclient.so.0"))
        found = re.search(r"libcpclient\.so\.0 => (\S+)", ldd)
        self.assertTrue(found, ldd)
        self.assertEqual(os.path.realpath(found.group(1)), lib)
        cpd = self.start_installed_cpd()
        out = run([cpctl, "--url", "http://127.0.0.1:%d" % cpd.port, "stats"], env=clean_env())
        self.assertRegex(out, r"total_agents\s+0")
        cpd.stop()

    def test_unit_names_this_tree(self):
        unit_path = os.path.join(self.prefix_dir, "lib", "systemd", "system", "cpd.service")
        with open(unit_path) as f:
            unit = f.read()
        bin_cpd = os.path.join(self.unit_prefix, "bin", "cpd")
        conf = os.path.join(self.unit_etc, "cpd", "cpd.yaml")
        self.assertIn("ExecStart=%s --config %s\n" % (bin_cpd, conf), unit)
        self.assertIn("ExecReload=/bin/kill -HUP $MAINPID\n", unit)
        for option in ("User=cpd", "NoNewPrivileges=yes", "ProtectSystem=strict"):
            self.assertIn(option + "\n", unit)
        analyze = shutil.which("systemd-analyze")
        if not analyze:
            print("systemd-analyze not installed: unit not verified")
            return
        # verify checks that ExecStart's binary exists: point the copy at this tree.
        local = os.path.join(self.tmp, "verify", "cpd.service")
        os.makedirs(os.path.dirname(local), exist_ok=True)
        with open(local, "w") as f:
            f.write(unit.replace(bin_cpd, os.path.join(self.prefix_dir, "bin", "cpd"))
                    .replace(conf, os.path.join(self.etc_dir, "cpd", "cpd.yaml")))
        rc, out = run([analyze, "verify", local], check=False)
        self.assertEqual(rc, 0, out)
        # Exposure score (0 safest .. 10): the hardening options are in effect.
        rc, out = run([analyze, "security", "--offline=yes", "--threshold=20", local],
                      check=False)
        self.assertEqual(rc, 0, out)

    def test_directories_not_writable_by_others(self):
        for dirpath, dirnames, _ in os.walk(self.root):
            for d in dirnames:
                mode = os.lstat(os.path.join(dirpath, d)).st_mode
                self.assertEqual(mode & (stat.S_IWGRP | stat.S_IWOTH), 0,
                                 "%s is %o" % (os.path.join(dirpath, d), mode & 0o777))


class CmakeInstallTest(InstalledTreeChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="cp-install-")
        cls.root = cls.prefix_dir = cls.unit_prefix = os.path.join(cls.tmp, "prefix")
        cls.etc_dir = cls.unit_etc = os.path.join(cls.prefix_dir, "etc")
        run(["cmake", "--install", BUILD, "--prefix", cls.prefix_dir], umask=0o002)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_configure_time_prefix_is_not_where_plugins_are(self):
        # The binary was configured for another prefix: finding the plugins above proves it
        # looked relative to itself.
        configured = cache_value("CMAKE_INSTALL_PREFIX")
        self.assertNotEqual(os.path.realpath(configured), os.path.realpath(self.prefix_dir))

    def test_reinstall_keeps_an_edited_configuration(self):
        conf = os.path.join(self.etc_dir, "cpd", "cpd.yaml")
        with open(conf) as f:
            original = f.read()
        try:
            with open(conf, "a") as f:
                f.write("# edited by the operator\n")
            out = run(["cmake", "--install", BUILD, "--prefix", self.prefix_dir])
            self.assertIn("Keeping: " + conf, out)
            with open(conf) as f:
                self.assertTrue(f.read().endswith("# edited by the operator\n"))
        finally:
            with open(conf, "w") as f:
                f.write(original)

    def test_pkg_config_program_finds_the_library(self):
        """docs/client.md: a program built with pkg-config outside the linker's default paths
        needs the library's directory at run time: -Wl,-rpath,$(pkg-config --variable=libdir
        cp), or LD_LIBRARY_PATH."""
        env = clean_env()
        env["PKG_CONFIG_PATH"] = os.path.join(self.prefix_dir, "lib", "pkgconfig")
        src = os.path.join(self.tmp, "prog.c")
        with open(src, "w") as f:
            f.write('#include <cp/client.h>\n#include <stdio.h>\n'
                    'int main(void) { printf("%s\\n", cp_client_strerror(CPC_ERR_CONFLICT));'
                    ' return 0; }\n')
        flags = run(["pkg-config", "--cflags", "--libs", "cp"], env=env).split()
        libdir = run(["pkg-config", "--variable=libdir", "cp"], env=env).strip()
        san = (["-fsanitize=address,undefined"]
               if cache_value("CP_SANITIZE") == "ON" else [])
        plain = os.path.join(self.tmp, "prog-plain")
        run(["cc", src, "-o", plain] + san + flags, env=env)
        rc, out = run([plain], env=env, check=False)
        if "libcpclient" not in run(["ldconfig", "-p"], check=False)[1]:
            # Not installed system-wide here: without rpath or LD_LIBRARY_PATH it is not found.
            self.assertNotEqual(rc, 0, "found libcpclient without being told where: " + out)
            self.assertIn("libcpclient.so.0", out)
        ld_env = dict(env, LD_LIBRARY_PATH=libdir)
        self.assertNotEqual(run([plain], env=ld_env).strip(), "")
        rpath = os.path.join(self.tmp, "prog-rpath")
        run(["cc", src, "-o", rpath] + san + flags + ["-Wl,-rpath," + libdir], env=env)
        self.assertNotEqual(run([rpath], env=env).strip(), "")


class DebPackageTest(InstalledTreeChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for tool in ("cpack", "dpkg-deb"):
            if not shutil.which(tool):
                raise unittest.SkipTest(tool + " not installed")
        cls.tmp = tempfile.mkdtemp(prefix="cp-deb-")
        out_dir = os.path.join(cls.tmp, "out")
        run(["cpack", "--config", os.path.join(BUILD, "CPackConfig.cmake"), "-G", "DEB",
             "-B", out_dir], umask=0o002)
        debs = [f for f in os.listdir(out_dir) if f.endswith(".deb")]
        if len(debs) != 1:
            raise AssertionError("expected one .deb in %s: %s" % (out_dir, debs))
        cls.deb = os.path.join(out_dir, debs[0])
        cls.root = os.path.join(cls.tmp, "root")
        run(["dpkg-deb", "-x", cls.deb, cls.root])
        cls.prefix_dir = os.path.join(cls.root, "usr")
        cls.etc_dir = os.path.join(cls.root, "etc")
        cls.unit_prefix, cls.unit_etc = "/usr", "/etc"

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_contents(self):
        listing = run(["dpkg-deb", "-c", self.deb])
        for path in ("./usr/bin/cpd", "./usr/bin/cpctl", "./usr/lib/cp/plugins/memory.so",
                     "./usr/lib/cp/plugins/redis.so", "./usr/lib/cp/plugins/least_loaded.so",
                     "./usr/lib/libcpclient.so.0", "./usr/lib/libcpclient.a",
                     "./usr/include/cp/client.h", "./usr/include/cp/plugin.h",
                     "./usr/lib/pkgconfig/cp.pc", "./usr/lib/cmake/cp/cpConfig.cmake",
                     "./usr/lib/systemd/system/cpd.service", "./etc/cpd/cpd.yaml",
                     "./usr/share/cp/ui/index.html", "./usr/share/cp/ui/app.js"):
            self.assertRegex(listing, r"(?m) %s( -> \S+)?$" % re.escape(path))
        self.assertRegex(listing, r"(?m)^-rwxr-xr-x root/root .* \./usr/bin/cpd$")

    def test_control(self):
        info = run(["dpkg-deb", "-I", self.deb])
        self.assertRegex(info, r"(?m)^ Package: cpd$")
        self.assertRegex(info, r"(?m)^ Depends: .*\badduser\b")
        self.assertRegex(info, r"(?m)^ Depends: .*\blibevent-2\.1")
        ctrl = os.path.join(self.tmp, "control")
        run(["dpkg-deb", "-e", self.deb, ctrl])
        with open(os.path.join(ctrl, "conffiles")) as f:
            self.assertEqual(f.read().split(), ["/etc/cpd/cpd.yaml"])
        with open(os.path.join(ctrl, "postinst")) as f:
            self.assertIn("adduser --system", f.read())
        with open(os.path.join(ctrl, "triggers")) as f:
            self.assertIn("ldconfig", f.read())
        self.assertTrue(os.stat(os.path.join(ctrl, "postinst")).st_mode & stat.S_IXUSR)

    def test_default_configuration_checks(self):
        rc, out = run([os.path.join(self.prefix_dir, "bin", "cpd"), "--config",
                       os.path.join(self.etc_dir, "cpd", "cpd.yaml"), "--check-config"],
                      env=clean_env(), check=False)
        self.assertEqual(rc, 0, out)
        self.assertIn("configuration OK", out)


if __name__ == "__main__":
    cpdtest.main()
