"""only_plugin_permissions.py — plugins that someone other than root or cpd's user could have
written are refused (sshd StrictModes): a world-writable plugin directory, a group/world-
writable .so, a .so owned by another non-root user. One line names the path and the fix;
plugins_strict_permissions: false (or CONTROL_PLANE_PLUGINS_STRICT_PERMISSIONS=false) turns the
check off for development."""

import grp
import os
import pwd
import shutil
import tempfile

from cpdtest import FIXTURE_DIR, CpdTestCase, free_port, main, run_cpd_to_exit, to_yaml

BUNDLED = ["least_loaded", "round_robin", "random", "affinity", "headroom"]


def lines(text):
    return [l for l in text.splitlines() if l.strip() and " warn " not in l]


class StrictModes(CpdTestCase):
    start_server = False

    def setUp(self):
        super().setUp()
        good = os.path.join(FIXTURE_DIR, "good.so")
        if not os.path.exists(good):
            self.skipTest("no good.so fixture")
        self.top = tempfile.mkdtemp(prefix="cpd-perm-")  # 0700, ours
        self.addCleanup(shutil.rmtree, self.top, True)
        self.dir = os.path.join(self.top, "plugins")
        os.mkdir(self.dir, 0o755)
        os.chmod(self.dir, 0o755)
        self.so = os.path.join(self.dir, "good.so")
        shutil.copy(good, self.so)
        os.chmod(self.so, 0o755)

    def run_with(self, extra=None, env=None):
        """--check-config loads plugins exactly as a start does."""
        cfg = {"selection": {"plugins": BUNDLED + [self.so]}}
        cfg.update(extra or {})
        return run_cpd_to_exit(["--check-config"], config_text=to_yaml(cfg), env=env)

    def assertRefused(self, result, path, fix):
        rc, out, err = result
        self.assertEqual(rc, 2, "expected exit 2, got %d:\n%s%s" % (rc, out, err))
        got = lines(err)
        self.assertEqual(len(got), 1, err)
        self.assertIn("refusing to load", got[0])
        self.assertIn(path + " is ", got[0])
        self.assertIn(fix, got[0])
        self.assertIn("plugins_strict_permissions: false", got[0])

    def assertLoads(self, result):
        rc, out, err = result
        self.assertEqual(rc, 0, err)

    def test_safe_plugin_loads(self):
        self.assertLoads(self.run_with())

    def test_world_writable_directory(self):
        os.chmod(self.dir, 0o777)
        self.assertRefused(self.run_with(), self.dir, "chmod go-w " + self.dir)
        os.chmod(self.top, 0o777)
        os.chmod(self.dir, 0o755)
        self.assertRefused(self.run_with(), self.top, "chmod go-w " + self.top)  # any ancestor
        # Sticky (as /tmp): others cannot rename or replace what is ours, and a file they put
        # there is theirs, which is refused by owner.
        os.chmod(self.top, 0o1777)
        os.chmod(self.dir, 0o1777)
        self.assertLoads(self.run_with())

    def test_world_or_group_writable_file(self):
        os.chmod(self.so, 0o666)
        self.assertRefused(self.run_with(), self.so, "chmod go-w " + self.so)
        other = [g for g in grp.getgrall()
                 if g.gr_gid != os.getegid() and g.gr_name != pwd.getpwuid(os.geteuid()).pw_name]
        if os.geteuid() == 0 and other:
            os.chown(self.so, 0, other[0].gr_gid)
            os.chmod(self.so, 0o775)
            self.assertRefused(self.run_with(), self.so, "chmod go-w")

    def test_group_writable_in_the_owners_private_group_is_fine(self):
        me = pwd.getpwuid(os.geteuid())
        try:
            g = grp.getgrgid(me.pw_gid)
        except KeyError:
            self.skipTest("no group entry for the primary group")
        if g.gr_name != me.pw_name or any(m != me.pw_name for m in g.gr_mem):
            self.skipTest("the primary group is not a user private group")
        os.chmod(self.so, 0o775)  # umask 002 on a user-private-group system
        os.chmod(self.dir, 0o775)
        self.assertLoads(self.run_with())

    def test_owned_by_another_user(self):
        if os.geteuid() != 0:
            self.skipTest("chown to another user needs root")
        nobody = pwd.getpwnam("nobody").pw_uid
        os.chown(self.so, nobody, -1)
        self.assertRefused(self.run_with(), self.so, "chown root " + self.so)
        os.chown(self.so, 0, -1)
        os.chown(self.dir, nobody, -1)
        self.assertRefused(self.run_with(), self.dir, "chown root")

    def test_check_can_be_turned_off(self):
        os.chmod(self.dir, 0o777)
        os.chmod(self.so, 0o666)
        rc, out, err = self.run_with({"plugins_strict_permissions": False})
        self.assertEqual(rc, 0, err)
        self.assertIn("plugins_strict_permissions is off", err)
        rc, out, err = self.run_with(env={"CONTROL_PLANE_PLUGINS_STRICT_PERMISSIONS": "false"})
        self.assertEqual(rc, 0, err)

    def test_a_real_start_is_refused_too(self):
        os.chmod(self.so, 0o666)
        cfg = {"selection": {"plugins": BUNDLED + [self.so]}}
        rc, out, err = run_cpd_to_exit(["--listen", "127.0.0.1:%d" % free_port()],
                                       config_text=to_yaml(cfg))
        self.assertEqual(rc, 2, err)
        self.assertIn("refusing to load", err)


if __name__ == "__main__":
    main()
