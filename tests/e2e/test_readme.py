"""test_readme.py — README.md's quick start, followed literally: every curl command of its first
shell block, in order, against a real cpd (both stores), with `task_…` standing for the id the
submit step answered. Each must succeed; the agent the README registers must claim the task the
README submits (an agent that reported busy would get none: so the README must not leave it
busy), complete it, and the status check must show it completed.

The commands are read from the README itself, so the test follows the document as it changes:
a step added, reordered or broken fails here."""

import os
import re
import shlex
import unittest

import cpdtest

README = os.path.join(cpdtest.SOURCE_DIR, "README.md")
BASE_URL = "http://localhost:8080"


def readme_curl_commands():
    """The curl commands of the first ```sh block that has any, continuation lines joined."""
    with open(README) as f:
        text = f.read()
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        cmds, cur = [], None
        for line in block.replace("\\\n", " ").split("\n"):
            if cur is None and not line.strip().startswith("curl "):
                continue
            cur = line if cur is None else cur + "\n" + line
            try:  # a quoted body may span lines: read on until the quotes close
                shlex.split(cur)
            except ValueError:
                continue
            cmds.append(cur.strip())
            cur = None
        if cmds:
            return cmds
    return []


def parse_curl(cmd):
    """(method, path relative to BASE_URL, body text or None) of one curl command line."""
    argv = shlex.split(cmd)
    assert argv[0] == "curl", cmd
    method, body, url, headers = None, None, None, {}
    i = 1
    while i < len(argv):
        a = argv[i]
        if a == "-X":
            method = argv[i + 1]
            i += 2
        elif a == "-H":
            k, _, v = argv[i + 1].partition(":")
            headers[k.strip().lower()] = v.strip()
            i += 2
        elif a == "-d":
            body = argv[i + 1]
            i += 2
        elif a.startswith("-"):
            raise AssertionError("curl option %r in README.md is not understood here" % a)
        else:
            url = a
            i += 1
    assert url and url.startswith(BASE_URL), "README curl without %s URL: %s" % (BASE_URL, cmd)
    if body is not None:
        assert headers.get("content-type") == "application/json", cmd
    return method or ("POST" if body is not None else "GET"), url[len(BASE_URL):], body


class Readme(cpdtest.CpdTestCase):
    def test_quick_start_followed_literally(self):
        cmds = readme_curl_commands()
        self.assertGreaterEqual(len(cmds), 6, "no quick start curl block in README.md")
        task_id = claimed = None
        seen = []
        for cmd in cmds:
            method, path, body = parse_curl(cmd)
            if "task_…" in path:
                self.assertIsNotNone(task_id, "README uses task_… before submitting: " + cmd)
                path = path.replace("task_…", task_id)
            r = self.c.request(method, path, raw=body)
            self.assertLess(r.status, 300, "README step failed: %s\n-> %r" % (cmd, r))
            route = re.sub(r"task_[0-9a-f]{24}", ":id", path.split("?")[0])
            seen.append((method, route))
            if (method, route) == ("POST", "/api/control-plane/tasks"):
                task_id = r.body["task_id"]
            elif route == "/api/control-plane/tasks/claim":
                claimed = r.body["task"]
                self.assertIsNotNone(claimed, "the README's agent got no task: %s" % cmd)
                self.assertEqual(claimed["id"], task_id)
                self.assertEqual(claimed["assigned_agent"], "claude-3")
            elif (method, route) == ("GET", "/api/control-plane/tasks/:id"):
                self.assertEqual(r.body["status"], "completed", r.body)
        # The steps the quick start is about, in this order.
        wanted = [("POST", "/api/control-plane/agents"),
                  ("POST", "/api/control-plane/agents/claude-3/heartbeat"),
                  ("POST", "/api/control-plane/tasks"),
                  ("POST", "/api/control-plane/tasks/claim"),
                  ("POST", "/api/control-plane/tasks/:id/complete"),
                  ("GET", "/api/control-plane/tasks/:id")]
        positions = [seen.index(w) for w in wanted]
        self.assertEqual(positions, sorted(positions), seen)
        self.assertIsNotNone(claimed)


class ReadmeBusyAgent(cpdtest.CpdTestCase):
    """What the README's heartbeat comment says of busy, and what GET /agents says of it."""

    def test_a_busy_agent_is_neither_listed_selected_nor_given_a_task(self):
        self.register("claude-3", capabilities=["debate"])
        self.heartbeat("claude-3", "busy")
        tid = self.submit(task_type="debate", required_capabilities=["debate"])
        self.assertEqual(self.c.get("agents?capability=debate").body["agents"], [])
        self.assertEqual(self.c.get("agents/select?capability=debate").status, 404)
        self.assertIsNone(self.claim("claude-3"))
        self.assertEqual(self.c.get("stats").body["registry"]["available_agents"], 0)
        self.heartbeat("claude-3", "ready")
        self.assertEqual(len(self.c.get("agents?capability=debate").body["agents"]), 1)
        self.assertEqual(self.claim("claude-3")["id"], tid)


if __name__ == "__main__":
    unittest.main(verbosity=2)
