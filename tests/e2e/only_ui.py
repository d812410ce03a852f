#!/usr/bin/env python3
"""only_ui.py — the web dashboard at /ui/.

UiFilesTest: the files are served with their content types and security headers, /ui redirects
to /ui/, HEAD works, other methods are 405, and nothing outside the dashboard's directory or
hidden in it can be read (traversal, percent-encoding, hidden files, unknown extensions).

UiBrowserTest: the dashboard in headless Chromium (Debian's `chromium`, driven over the
DevTools protocol by cdp.py) against a live cpd with auth on: the token is asked once and kept
in sessionStorage; agents registered and tasks submitted, claimed, completed and failed through
the API *after* the page loaded appear on the fleet, queue, event-feed and task pages without a
reload; the system page shows the storage; a reload keeps the token; every request the page made
went to cpd. A screenshot of each page is saved in the test output directory
($CP_TEST_OUTPUT_DIR, else <build>/test-output/ui).

Without chromium the browser test cannot run: the script says so loudly and exits 77, which
ctest reports as skipped (never as passed)."""

import os
import sys
import unittest

import cpdtest
from cdp import Browser, find_chromium
from cpdtest import CpdTestCase

ADMIN, AGENT, READER = "adm-u1-7f3c9e1d2b", "agt-u1-5a8e0c4f61", "rdr-u1-19b7d2e8a0"
TOKENS = [{"token": ADMIN, "role": "admin"}, {"token": AGENT, "role": "agent"},
          {"token": READER, "role": "reader"}]
CHROMIUM = find_chromium()
OUTPUT_DIR = os.environ.get("CP_TEST_OUTPUT_DIR") or os.path.join(cpdtest.BUILD_DIR,
                                                                  "test-output", "ui")


class UiFilesTest(CpdTestCase):
    per_test = False
    cpd_config = {"auth": {"tokens": TOKENS}}

    def test_files_and_headers(self):
        for path, ctype, needle in (("/ui/", "text/html; charset=utf-8", b"<title>cpd"),
                                    ("/ui/index.html", "text/html; charset=utf-8", b"app.js"),
                                    ("/ui/app.js", "text/javascript; charset=utf-8",
                                     b"EventSource"),
                                    ("/ui/style.css", "text/css; charset=utf-8", b"body"),
                                    ("/ui/favicon.svg", "image/svg+xml", b"<svg")):
            r = self.c.request("GET", path)  # public: no token
            self.assertStatus(r, 200, path)
            self.assertEqual(r.headers["Content-Type"], ctype, path)
            self.assertIn(needle.decode(), r.body, path)
            self.assertEqual(r.headers["X-Content-Type-Options"], "nosniff")
            csp = r.headers["Content-Security-Policy"]
            self.assertIn("default-src 'none'", csp)
            self.assertIn("connect-src 'self'", csp)
            self.assertNotIn("http", csp)  # nothing from elsewhere
            self.assertEqual(r.headers["Cache-Control"], "no-cache")
        with open(os.path.join(cpdtest.SOURCE_DIR, "ui", "app.js"), encoding="utf-8") as f:
            self.assertEqual(self.c.request("GET", "/ui/app.js").body, f.read())

    def test_redirect_head_and_methods(self):
        r = self.c.request("GET", "/ui")
        self.assertStatus(r, 301)
        self.assertEqual(r.headers["Location"], "/ui/")
        h = self.c.request("HEAD", "/ui/app.js")
        self.assertStatus(h, 200)
        self.assertEqual(h.headers["Content-Type"], "text/javascript; charset=utf-8")
        self.assertFalse(h.body)
        r = self.c.request("POST", "/ui/app.js", body={})
        self.assertError(r, 405, "method_not_allowed")
        self.assertEqual(r.headers["Allow"], "GET, HEAD")

    def test_nothing_else_is_readable(self):
        for path in ("/ui/../api/control-plane/stats", "/ui/%2e%2e/%2e%2e/etc/passwd",
                     "/ui/..%2f..%2fetc%2fpasswd", "/ui/../../../../etc/passwd",
                     "/ui/.hidden", "/ui/./app.js", "/ui//app.js", "/ui/app.js/",
                     "/ui/%61pp.js", "/ui/nope.html", "/ui/CMakeLists.txt.bak",
                     "/ui/app.js.map", "/ui/app", "/ui/a/b/c/d/e.js", "/ui/app.js%00.html",
                     "/ui/" + "a" * 300 + ".js", "/ui/x%20y.js", "/ui/app.JS"):
            r = self.c.request("GET", path)
            self.assertError(r, 404, "not_found")
        # /uix is not the dashboard but an unknown route
        self.assertError(self.c.request("GET", "/uix"), 404, "not_found", "no such route")


@unittest.skipUnless(CHROMIUM, "chromium is not installed")
class UiBrowserTest(CpdTestCase):
    cpd_config = {"auth": {"tokens": TOKENS}, "tasks": {"pass_over_seconds": 0.001}}

    def setUp(self):
        super().setUp()
        os.makedirs(OUTPUT_DIR, exist_ok=True)
        self.admin = self.cpd.client(token=ADMIN)
        self.agent_c = self.cpd.client(token=AGENT)
        self.base = "http://127.0.0.1:%d" % self.cpd.port
        self.b = Browser(CHROMIUM)
        self.addCleanup(self.b.close)
        self.b.call("Page.enable")
        self.b.call("Network.enable")
        self.b.call("Runtime.enable")

    def js_text(self, selector):
        return "(document.querySelector(%r) || {}).innerText || ''" % selector

    def shot(self, name):
        path = self.b.screenshot(os.path.join(OUTPUT_DIR, name + ".png"))
        self.assertGreater(os.path.getsize(path), 5000, path)
        return path

    def goto(self, hash_):
        self.b.evaluate("location.hash = %r" % hash_)

    def test_dashboard_live(self):
        b = self.b
        # refresh=0: the page re-reads only when an event arrives, so every update below proves
        # the event stream drives it
        b.call("Page.navigate", {"url": self.base + "/ui/?refresh=0"})
        # auth is on: the page asks for a token before anything else
        b.wait_for("!document.querySelector('#login').hidden", what="the token form")
        b.evaluate("document.querySelector('#token').value = %r;"
                   "document.querySelector('#login-form').requestSubmit()" % READER)
        b.wait_for("document.querySelector('#live').textContent === 'live'",
                   what="the live event stream (cookie auth)")
        b.wait_for("document.querySelector('#fleet')", what="the fleet page")
        self.assertEqual(b.evaluate("sessionStorage.getItem('cp_token')"), READER)
        self.assertIn("No agents", b.evaluate(self.js_text("#fleet")))
        b.evaluate("window.__cp_marker = 'same page'")  # gone if the page ever reloads

        # agents registered after the page loaded appear, and their changes follow
        self.register("ui-a1", client=self.agent_c, capabilities=["sum"], model="m-one",
                      max_concurrent_tasks=2)
        self.register("ui-a2", client=self.agent_c, capabilities=["other"])
        row = "[data-agent-id=\"ui-a1\"]"
        b.wait_for("document.querySelector('%s')" % row.replace("'", "\\'"),
                   what="agent ui-a1 in the fleet")
        b.wait_for("document.querySelector('[data-agent-id=\"ui-a2\"]')", what="agent ui-a2")
        text = b.evaluate(self.js_text(row))
        for want in ("ui-a1", "ready", "closed", "0 / 2", "sum", "m-one"):
            self.assertIn(want, text)
        self.heartbeat("ui-a2", "draining", client=self.agent_c)
        b.wait_for("(%s).includes('draining')" % self.js_text("[data-agent-id=\"ui-a2\"]"),
                   what="ui-a2 draining")
        self.shot("fleet")

        # the queue: pending by priority and type, then running, then outcomes
        self.goto("#/queue")
        b.wait_for("document.querySelector('#queue-cards')", what="the queue page")
        t1 = self.submit(client=self.admin, task_type="summarize", priority="high",
                         required_capabilities=["sum"], payload={"text": "hello dashboard"})
        t2 = self.submit(client=self.admin, task_type="translate", required_capabilities=["sum"],
                         max_retries=0, payload={"text": "bonjour"})
        b.wait_for("document.querySelector('#pending [data-task-id=\"%s\"]')" % t2,
                   what="task t2 pending")
        b.wait_for("document.querySelector('#pending [data-task-id=\"%s\"]')" % t1,
                   what="task t1 pending")
        by_type = b.evaluate(self.js_text("#pending-by-type"))
        self.assertIn("summarize", by_type)
        self.assertIn("translate", by_type)
        by_prio = b.evaluate("[...document.querySelectorAll('#pending-by-priority tr')]"
                             ".map(r => r.innerText.replace(/\\s+/g, ' ').trim())")
        self.assertIn("high 1", by_prio)
        self.assertIn("normal 1", by_prio)
        self.shot("queue")

        got = self.claim("ui-a1", client=self.agent_c)
        self.assertEqual(got["id"], t1)  # high priority first
        self.assertStatus(self.agent_c.post("tasks/%s/start" % t1, {"agent_id": "ui-a1"}), 200)
        b.wait_for("document.querySelector('#running [data-task-id=\"%s\"]')" % t1,
                   what="t1 running")
        self.assertIn("ui-a1", b.evaluate(self.js_text("#running [data-task-id=\"%s\"]" % t1)))
        self.assertStatus(self.agent_c.post("tasks/%s/complete" % t1, {
            "agent_id": "ui-a1", "result": {"summary": "a short one"}}), 200)
        self.assertEqual(self.claim("ui-a1", client=self.agent_c)["id"], t2)
        self.assertStatus(self.agent_c.post("tasks/%s/fail" % t2, {
            "agent_id": "ui-a1", "error": "model refused: boom"}), 200)
        b.wait_for("(%s).includes('completed')" % self.js_text(
            "#outcomes [data-task-id=\"%s\"]" % t1), what="t1 completed in the outcomes")
        b.wait_for("(%s).includes('model refused: boom')" % self.js_text(
            "#outcomes [data-task-id=\"%s\"]" % t2), what="t2 failed in the outcomes")
        self.assertEqual(b.evaluate("document.querySelectorAll('#pending [data-task-id]')"
                                    ".length"), 0)

        # the live feed holds what happened, in order
        self.goto("#/events")
        b.wait_for("document.querySelector('#feed')", what="the event feed")
        types = b.evaluate("[...document.querySelectorAll('#feed li')].map(li => li.dataset.type)"
                           ".reverse()")
        for want in ("agent_registered", "agent_status_changed", "task_submitted",
                     "task_claimed", "task_started", "task_completed", "task_failed"):
            self.assertIn(want, types)
        self.assertLess(types.index("task_submitted"), types.index("task_completed"))
        self.assertRegex(b.evaluate(self.js_text("#last-event-id")), r"^\d+$")
        self.register("ui-a3", client=self.agent_c)
        b.wait_for("(%s).includes('ui-a3')" % self.js_text("#feed"),
                   what="a new event at the top of the feed")
        self.shot("events")

        # task detail: payload, result, error, attempts
        self.goto("#/task/" + t1)
        b.wait_for("document.querySelector('#task-detail[data-status=\"completed\"]')",
                   what="t1's detail")
        self.assertIn("hello dashboard", b.evaluate(self.js_text("#task-payload")))
        self.assertIn("a short one", b.evaluate(self.js_text("#task-result")))
        detail = b.evaluate(self.js_text("#task-detail"))
        self.assertIn("ui-a1", detail)
        self.assertIn("1 (retries 0 of", detail)
        self.shot("task")
        self.goto("#/task/" + t2)
        b.wait_for("document.querySelector('#task-detail[data-status=\"failed\"]')",
                   what="t2's detail")
        self.assertIn("model refused: boom", b.evaluate(self.js_text("#task-error")))
        attempts = b.evaluate("[...document.querySelectorAll('#task-attempts tbody tr')]"
                              ".map(r => r.innerText)")
        self.assertEqual(len(attempts), 1, attempts)
        for want in ("ui-a1", "failed", "model refused: boom"):
            self.assertIn(want, attempts[0])
        self.goto("#/task/task_000000000000000000000000")
        b.wait_for("document.querySelector('#task-missing')", what="an unknown task")

        # system health and storage
        self.goto("#/system")
        b.wait_for("document.querySelector('#storage')", what="the system page")
        self.assertIn(cpdtest.STORE, b.evaluate(self.js_text("#storage")))
        self.assertIn("healthy", b.evaluate(self.js_text("#system-cards")))
        self.shot("system")

        self.assertEqual(b.evaluate("window.__cp_marker"), "same page",
                         "the page reloaded: updates must arrive without one")

        # a reload keeps the token (sessionStorage): no second prompt
        b.call("Page.reload")
        b.wait_for("document.querySelector('#live').textContent === 'live'",
                   what="the stream after a reload")
        self.assertTrue(b.evaluate("document.querySelector('#login').hidden"))
        b.wait_for("document.querySelector('#storage')", what="the system page after reload")

        # everything the page loaded came from cpd itself
        urls = [p["request"]["url"] for m, p in b.events if m == "Network.requestWillBeSent"]
        urls += [p["request"]["url"] for m, p in self.b.events
                 if m == "Network.requestWillBeSentExtraInfo" and "request" in p]
        self.assertTrue(any(u.endswith("/api/control-plane/events") for u in urls), urls)
        for u in urls:
            self.assertTrue(u.startswith(self.base + "/") or u.startswith("data:"),
                            "the page loaded %s from elsewhere" % u)
        print("ui screenshots in %s" % OUTPUT_DIR, file=sys.stderr)

    def test_token_refused_then_accepted(self):
        b = self.b
        b.call("Page.navigate", {"url": self.base + "/ui/#/queue"})
        b.wait_for("!document.querySelector('#login').hidden", what="the token form")
        b.evaluate("document.querySelector('#token').value = 'wrong-token';"
                   "document.querySelector('#login-form').requestSubmit()")
        b.wait_for("(%s).includes('refused')" % self.js_text("#login-error"),
                   what="the refusal")
        self.assertIsNone(b.evaluate("sessionStorage.getItem('cp_token')"))
        b.evaluate("document.querySelector('#token').value = %r;"
                   "document.querySelector('#login-form').requestSubmit()" % ADMIN)
        b.wait_for("document.querySelector('#queue-cards')", what="the queue page")
        b.wait_for("document.querySelector('#live').textContent === 'live'", what="live")
        b.evaluate("document.querySelector('#logout').click()")
        b.wait_for("!document.querySelector('#login').hidden", what="the form after forgetting")
        self.assertIsNone(b.evaluate("sessionStorage.getItem('cp_token')"))


if __name__ == "__main__":
    print("cpdtest: store=%s cpd=%s" % (cpdtest.STORE, cpdtest.CPD_BIN), file=sys.stderr)
    result = unittest.main(verbosity=2, exit=False).result
    if not result.wasSuccessful():
        sys.exit(1)
    if not CHROMIUM:
        print("\n*** SKIPPED: the dashboard's browser test did not run: chromium is not "
              "installed (Debian package 'chromium'; scripts/lib/deps.sh installs it). ***\n",
              file=sys.stderr)
        sys.exit(77)
