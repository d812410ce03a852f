"""cpctl_case.py — what the cpctl end-to-end tests share (only_cpctl.py, only_cpctl_session.py):
a test case that runs the built cpctl against its cpd and checks exit statuses and sanitizer
output. Not a test itself (the e2e globs take test_*, redis_* and only_* files)."""

import os
import subprocess

import cpdtest

CPCTL = os.path.join(cpdtest.BUILD_DIR, "cpctl")


class CpctlCase(cpdtest.CpdTestCase):
    per_test = False

    def cpctl_env(self, env=None):
        """The environment cpctl runs in: without the caller's CONTROL_PLANE_* variables,
        leak checks on, plus env."""
        full_env = {k: v for k, v in os.environ.items()
                    if k not in ("CONTROL_PLANE_URL", "CONTROL_PLANE_TOKEN")}
        full_env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
        full_env.update(env or {})
        return full_env

    def cpctl(self, *args, env=None, url=True, timeout=60):
        """Runs cpctl; returns (exit status, stdout, stderr). url=True points it at self.cpd."""
        argv = [CPCTL]
        if url is True:
            argv += ["--url", "http://127.0.0.1:%d" % self.cpd.port]
        p = subprocess.run(argv + list(args), capture_output=True, env=self.cpctl_env(env),
                           timeout=timeout)
        out, err = p.stdout.decode(), p.stderr.decode()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            self.assertNotIn(marker, err)
        return p.returncode, out, err

    def ok(self, *args, **kw):
        rc, out, err = self.cpctl(*args, **kw)
        self.assertEqual(rc, 0, "cpctl %s -> %d\n%s%s" % (" ".join(args), rc, out, err))
        return out

    def rc(self, want, *args, **kw):
        rc, out, err = self.cpctl(*args, **kw)
        self.assertEqual(rc, want, "cpctl %s -> %d, want %d\n%s%s"
                         % (" ".join(args), rc, want, out, err))
        return out, err
