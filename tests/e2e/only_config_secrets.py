"""only_config_secrets.py — secrets out of the configuration file: ${VAR} in YAML values comes
from the environment (an unset variable stops start-up naming it, instead of becoming a literal,
guessable token), "$$" is a literal '$', and token_file reads a token from a file only its owner
may read."""

import os
import stat
import tempfile

from cpdtest import CpdTestCase, main, run_cpd_to_exit

DOC_EXAMPLE = """auth:
  tokens:
    - {token: "${ADMIN_TOKEN}", role: admin}
    - {token: "${AGENT_TOKEN}", role: agent}
"""


class Expansion(CpdTestCase):
    start_server = False

    def test_unset_variable_stops_start_up(self):
        rc, out, err = run_cpd_to_exit(["--check-config"], config_text=DOC_EXAMPLE,
                                       env={"ADMIN_TOKEN": None, "AGENT_TOKEN": "x"})
        self.assertEqual(rc, 2, "an unset ${ADMIN_TOKEN} was accepted:\n" + out + err)
        self.assertIn("ADMIN_TOKEN is not set", err)
        self.assertIn("line 3", err)

    def test_variables_become_the_tokens(self):
        cpd = self.start_cpd(config={"auth": {"tokens": [
            {"token": "${ADMIN_TOKEN}", "role": "admin"},
            {"token": "lit$$eral", "role": "reader"}]}},
            env={"ADMIN_TOKEN": "adm-from-env"})
        c = cpd.client()
        self.assertEqual(c.get("agents", token="adm-from-env").status, 200)
        self.assertEqual(c.get("agents", token="lit$eral").status, 200)
        for literal in ("${ADMIN_TOKEN}", "lit$$eral"):
            self.assertEqual(c.get("agents", token=literal).status, 401, literal)
        cpd.stop()


class TokenFile(CpdTestCase):
    start_server = False

    def token_file(self, text, mode):
        fd, path = tempfile.mkstemp(prefix="cpd-token-")
        os.write(fd, text.encode())
        os.close(fd)
        os.chmod(path, mode)
        self.addCleanup(os.unlink, path)
        return path

    def test_token_from_a_private_file(self):
        path = self.token_file("tok-in-file\n", 0o600)
        cpd = self.start_cpd(config={"auth": {"tokens": [
            {"token_file": path, "role": "admin"}]}})
        c = cpd.client()
        self.assertEqual(c.get("agents", token="tok-in-file").status, 200)
        self.assertEqual(c.get("agents", token="tok-in-file\n".strip() + "x").status, 401)
        cpd.stop()

    def test_readable_token_file_is_refused(self):
        path = self.token_file("tok-in-file\n", 0o644)
        text = 'auth:\n  tokens:\n    - {token_file: "%s", role: admin}\n' % path
        rc, out, err = run_cpd_to_exit(["--check-config"], config_text=text)
        self.assertEqual(rc, 2, out + err)
        self.assertIn(path, err)
        self.assertIn("chmod 600", err)
        self.assertNotIn("tok-in-file", err)


if __name__ == "__main__":
    main()
