"""test_examples.py — examples/python against a live cpd: the guide's Quick Start
(quickstart.py) answered by the example agent (agent.py), the agent draining on SIGTERM, and
every source of the package and the examples parsing as Python 3.9."""

import ast
import glob
import os
import signal
import subprocess
import sys
import time

import cpdtest
import support
from support import EXAMPLES, CpdCase

import cpclient
from cpclient import AgentStatus, Client, TaskStatus


class ExamplesTest(CpdCase):
    def env(self):
        env = dict(os.environ, CONTROL_PLANE_URL=self.url)
        env.pop("CONTROL_PLANE_TOKEN", None)
        return env

    def start_agent(self, *args):
        p = subprocess.Popen([sys.executable, os.path.join(EXAMPLES, "agent.py")] + list(args),
                             env=self.env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        def stop():
            if p.poll() is None:
                p.kill()
            p.communicate()
        self.addCleanup(stop)
        return p

    def test_quickstart(self):
        agent = self.start_agent("--id", "py-debater", "--capability", "debate")
        c = self.client()
        cpdtest.wait_until(lambda: c.get_agent("py-debater"), 10, what="the agent")
        out = subprocess.run([sys.executable, os.path.join(EXAMPLES, "quickstart.py")],
                             env=self.env(), capture_output=True, timeout=90)
        self.assertEqual(out.returncode, 0, out.stderr.decode())
        # print(result.result) of the guide: the agent reversed the question.
        self.assertEqual(out.stdout.decode().strip(),
                         "{'reversed': '?secivresorcim esu ew dluohS'}")
        self.assertEqual(c.get_agent("claude-3").provider, "anthropic")  # registered by it
        agent.send_signal(signal.SIGTERM)
        log = agent.communicate(timeout=15)[0].decode()
        self.assertEqual(agent.returncode, 0, log)
        self.assertIn("unregistered", log)
        self.assertIsNone(c.get_agent("py-debater"))

    def test_agent_drains_on_sigterm(self):
        agent = self.start_agent("--id", "py-slow")
        c = self.client()
        cpdtest.wait_until(lambda: c.get_agent("py-slow"), 10, what="the agent")
        tid = c.submit_task("reverse", {"text": "slow", "sleep_ms": 1500}, ["reverse"])
        cpdtest.wait_until(lambda: c.get_task(tid).status is TaskStatus.RUNNING, 10,
                           what="the task to run")
        agent.send_signal(signal.SIGTERM)
        # At once, while the task (1.5 s) is still in hand.
        cpdtest.wait_until(lambda: c.get_agent("py-slow").status is AgentStatus.DRAINING, 1.0,
                           what="draining")
        self.assertIs(c.get_task(tid).status, TaskStatus.RUNNING)
        log = agent.communicate(timeout=15)[0].decode()
        self.assertEqual(agent.returncode, 0, log)
        done = c.get_task(tid)
        self.assertEqual((done.status, done.result), (TaskStatus.COMPLETED,
                                                      {"reversed": "wols"}))
        self.assertIsNone(c.get_agent("py-slow"))
        self.assertIn("1 completed", log)

    def test_agent_fails_and_retries(self):
        self.start_agent("--id", "py-f")
        c = self.client()
        cpdtest.wait_until(lambda: c.get_agent("py-f"), 10, what="the agent")
        retried = c.submit_task("reverse", {"fail": "why"}, ["reverse"], max_retries=2)
        final = c.submit_task("reverse", {"no": "text"}, ["reverse"])
        t = c.wait_for_result(retried, timeout=20)
        self.assertEqual((t.status, t.retries, t.error), (TaskStatus.FAILED, 2, "why"))
        t = c.wait_for_result(final, timeout=20)
        self.assertEqual((t.status, t.retries), (TaskStatus.FAILED, 1))
        self.assertIn("no \"text\"", t.error)


class PythonVersionTest(support.unittest.TestCase):
    def test_sources_parse_as_python_3_9(self):
        pkg = os.path.dirname(cpclient.__file__)
        files = glob.glob(os.path.join(pkg, "*.py")) + glob.glob(os.path.join(EXAMPLES, "*.py"))
        self.assertGreater(len(files), 8)
        for path in files:
            with open(path) as f:
                ast.parse(f.read(), path, feature_version=(3, 9))


if __name__ == "__main__":
    support.main()
