"""test_python_client.py — the Python client as a user gets it: a fresh virtual environment,
`pip install ./clients/python` with no package index (setuptools and wheel come from Debian's
/usr/share/python-wheels, see scripts/lib/deps.sh; the environment is made with Debian's
/usr/bin/python3 when there is one, else this interpreter; CP_PYTHON overrides), then the
client's own suite (clients/python/tests: sync and async calls, the runner, the examples) run by
the environment's interpreter against real cpd processes on this run's store. The suite checks
that it imports the installed package, not the source tree.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import cpdtest

SRC = cpdtest.SOURCE_DIR
PACKAGE = os.path.join(SRC, "clients", "python")
WHEELS = os.environ.get("CP_PYTHON_WHEELS", "/usr/share/python-wheels")
# Debian's python3: the setuptools wheel in /usr/share/python-wheels is patched for it (it fails
# under another build of CPython, e.g. one from pyenv).
PYTHON = os.environ.get("CP_PYTHON") or (
    "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable)


def run(argv, env=None, cwd=None, timeout=600):
    p = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, timeout=timeout)
    out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
    return p.returncode, out


class PythonClientTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        names = os.listdir(WHEELS) if os.path.isdir(WHEELS) else []
        for need in ("setuptools-", "wheel-"):
            if not any(n.startswith(need) and n.endswith(".whl") for n in names):
                raise AssertionError("no %s*.whl in %s: install python3-setuptools-whl and "
                                     "python3-wheel-whl (scripts/lib/deps.sh)" % (need, WHEELS))
        cls.tmp = tempfile.mkdtemp(prefix="cp-pyclient-")
        cls.venv = os.path.join(cls.tmp, "venv")
        rc, out = run([PYTHON, "-m", "venv", cls.venv])
        if rc != 0:
            raise AssertionError("python -m venv failed (python3-venv missing?):\n" + out)
        cls.python = os.path.join(cls.venv, "bin", "python")
        # Built in a copy: pip must not leave build/ or *.egg-info in the source tree.
        src = os.path.join(cls.tmp, "src")
        shutil.copytree(PACKAGE, src, ignore=shutil.ignore_patterns(
            "build", "*.egg-info", "__pycache__"))
        rc, out = run([cls.python, "-m", "pip", "install", "--no-index", "--find-links", WHEELS,
                       "--disable-pip-version-check", "--no-cache-dir", src])
        if rc != 0:
            raise AssertionError("pip install ./clients/python failed:\n" + out)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_installed_metadata(self):
        rc, out = run([self.python, "-m", "pip", "show", "cpclient"])
        self.assertEqual(rc, 0, out)
        self.assertIn("Version: 0.1.0", out)
        self.assertIn("Requires: \n", out + "\n")  # standard library only
        rc, out = run([self.python, "-c", "import cpclient, sys; print(cpclient.__file__); "
                       "print(cpclient.__version__)"], cwd=self.tmp)
        self.assertEqual(rc, 0, out)
        self.assertTrue(out.startswith(self.venv), out)

    def test_client_suite(self):
        env = dict(os.environ)
        env["PYTHONPATH"] = os.path.join(SRC, "tests", "e2e")  # cpdtest only, not the sources
        env["CPCLIENT_EXPECT_INSTALLED"] = "1"
        env.pop("CONTROL_PLANE_URL", None)
        env.pop("CONTROL_PLANE_TOKEN", None)
        tests = os.path.join(PACKAGE, "tests")
        rc, out = run([self.python, "-m", "unittest", "discover", "-v", "-s", tests,
                       "-t", tests], env=env, cwd=self.tmp)
        print(out)
        self.assertEqual(rc, 0, "clients/python/tests failed (output above)")
        self.assertRegex(out, r"Ran [1-9][0-9]+ tests")


if __name__ == "__main__":
    cpdtest.main()
