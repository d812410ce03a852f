"""test_lists.py — responses that grow with the fleet: GET /agents in pages (limit, after, next),
GET /health's summary and full forms (agents=auto|summary|all, paged), and long lists written
in chunks while other requests are served (a client that leaves mid-list, HTTP/1.0).
"""

import json
import os
import socket
import subprocess
import threading
import time
import unittest

from cpdtest import BUILD_DIR, CpdTestCase, main, wait_until


def fill(cpd, n, prefix):
    """Register n agents <prefix>-0..n-1 with cp-bench (many keep-alive connections)."""
    bench = os.path.join(BUILD_DIR, "cp-bench")
    if not os.path.exists(bench):
        raise unittest.SkipTest("cp-bench is not built")
    out = subprocess.run([bench, "-u", "http://127.0.0.1:%d" % cpd.port, "-s", "fill",
                          "--agents", str(n), "-c", "16", "--prefix", prefix],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120,
                         universal_newlines=True)
    assert out.returncode == 0, out.stdout


def raw_get(port, path, http10=False, keep_alive=False, read_at_most=None):
    """One GET on a fresh socket; (head, body bytes) read until the server closes (or
    read_at_most bytes, then the socket is closed)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    req = "GET %s HTTP/1.%d\r\nHost: x\r\n%s\r\n" % (
        path, 0 if http10 else 1,
        "Connection: keep-alive\r\n" if keep_alive else "" if http10 else "Connection: close\r\n")
    s.sendall(req.encode())
    data = b""
    while read_at_most is None or len(data) < read_at_most:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return head.decode("latin-1"), body


class AgentPages(CpdTestCase):
    def test_pages_follow_next_to_the_whole_list(self):
        ids = sorted(self.uid("p") for _ in range(23))
        for i, a in enumerate(ids):
            self.register(a, capabilities=["x"] if i % 3 else ["x", "y"])
        self.heartbeat(ids[4], "draining")
        whole = self.c.get("agents?available=false")
        self.assertStatus(whole, 200)
        self.assertEqual([a["agent_id"] for a in whole.body["agents"]], ids)
        self.assertEqual(whole.body["total"], 23)
        self.assertNotIn("next", whole.body)  # not a page: the members it always had

        for query in ("available=false", "available=true", "capability=y&available=false",
                      "status=ready"):
            want = [a["agent_id"] for a in self.c.get("agents?" + query).body["agents"]]
            got, after, pages = [], None, 0
            while True:
                r = self.c.get("agents?%s&limit=5%s" % (query, "&after=" + after if after else ""))
                self.assertStatus(r, 200)
                page = [a["agent_id"] for a in r.body["agents"]]
                self.assertLessEqual(len(page), 5)
                self.assertEqual(r.body["total"], len(page))
                got += page
                pages += 1
                after = r.body["next"]
                if after is None:
                    break
                self.assertEqual(after, page[-1], query)  # full pages end where next points
                self.assertEqual(len(page), 5, query)
            self.assertEqual(got, want, query)
            self.assertLessEqual(pages, len(want) // 5 + 2)

        # after need not be an agent: the page starts at the next id.
        r = self.c.get("agents?available=false&limit=2&after=" + ids[10] + "0")
        self.assertEqual([a["agent_id"] for a in r.body["agents"]], ids[11:13])
        r = self.c.get("agents?available=false&after=" + ids[-1])
        self.assertEqual((r.body["agents"], r.body["total"], r.body["next"]), ([], 0, None))

    def test_bad_page_parameters(self):
        for q in ("limit=0", "limit=100001", "limit=x", "limit=-1", "after=a%20b",
                  "after=" + "a" * 129):
            self.assertError(self.c.get("agents?" + q), 400, "invalid_field")
        for q in ("agents=everything", "limit=0", "after=%21"):
            self.assertError(self.c.get("health?" + q), 400, "invalid_field")


class HealthForms(CpdTestCase):
    cpd_env = {"HEARTBEAT_TIMEOUT": "1"}

    def test_small_fleet_full_map_and_summary_on_request(self):
        ids = sorted(self.uid("h") for _ in range(6))
        for a in ids:
            self.register(a)
        alive, silent = ids[::2], ids[1::2]

        def silent_offline():
            for a in alive:
                self.heartbeat(a)
            return all(self.agent(a)["status"] == "offline" for a in silent)
        wait_until(silent_offline, 10, interval=0.2, what="the silent agents offline")

        r = self.c.get("health")  # 6 agents: today's full map, plus the summary
        self.assertStatus(r, 200)
        b = r.body
        self.assertEqual(b["form"], "full")
        self.assertEqual(sorted(b["agents"]), ids)
        self.assertIsNone(b["next"])
        self.assertEqual(b["status"], "unhealthy")  # half unhealthy: more than a quarter
        s = b["summary"]
        self.assertEqual(s["agents"], 6)
        self.assertEqual(s["by_health"], {"healthy": 3, "degraded": 0, "unhealthy": 3,
                                          "unknown": 0})
        self.assertEqual(s["by_status"]["offline"], 3)
        self.assertEqual(s["by_status"]["ready"], 3)
        self.assertEqual(s["circuits_open"], 0)
        self.assertIn("storage", b)

        r = self.c.get("health?agents=summary")
        self.assertEqual(r.body["form"], "summary")
        self.assertNotIn("agents", r.body)
        self.assertEqual(sorted(r.body["unhealthy_agents"]), silent)
        self.assertEqual(r.body["unhealthy_agents"][silent[0]]["status"], "unhealthy")
        self.assertIsNone(r.body["next"])
        self.assertEqual(r.body["summary"], s)

        # The summary's list in pages of one.
        got, after = [], None
        while True:
            r = self.c.get("health?agents=summary&limit=1" + ("&after=" + after if after else ""))
            got += list(r.body["unhealthy_agents"])
            after = r.body["next"]
            if not after:
                break
        self.assertEqual(got, silent)

        # The full map in pages of four.
        r = self.c.get("health?agents=all&limit=4")
        self.assertEqual(list(r.body["agents"]), ids[:4])
        self.assertEqual(r.body["next"], ids[3])
        r = self.c.get("health?agents=all&limit=4&after=" + ids[3])
        self.assertEqual(list(r.body["agents"]), ids[4:])
        self.assertIsNone(r.body["next"])


class LongLists(CpdTestCase):
    """Over 1,000 agents: /health answers the summary unless asked for the map, and the long
    lists are written in chunks while small requests on other connections are answered."""

    N = 3000

    def test_long_lists_are_streamed(self):
        fill(self.cpd, self.N, "long")
        ids = sorted("long-%d" % i for i in range(self.N))

        r = self.c.get("health")
        self.assertStatus(r, 200)
        self.assertEqual(r.body["form"], "summary")
        self.assertEqual(r.body["summary"]["agents"], self.N)
        self.assertEqual(r.body["unhealthy_agents"], {})
        self.assertLess(len(json.dumps(r.body)), 2000)

        # Small requests on another connection while long lists are written.
        latencies, stop = [], threading.Event()
        probe = self.cpd.client(timeout=10)

        def measure():
            while not stop.is_set():
                t = time.monotonic()
                self.assertEqual(probe.get("agents/long-7").status, 200)
                latencies.append(time.monotonic() - t)

        th = threading.Thread(target=measure, daemon=True)
        th.start()
        try:
            for _ in range(3):
                r = self.c.get("agents?available=false")
                self.assertStatus(r, 200)
                self.assertEqual(r.headers.get("Transfer-Encoding"), "chunked")
                self.assertEqual([a["agent_id"] for a in r.body["agents"]], ids)
                self.assertEqual(r.body["total"], self.N)
                self.assertNotIn("next", r.body)
                r = self.c.get("health?agents=all")
                self.assertEqual(r.body["form"], "full")
                self.assertEqual(sorted(r.body["agents"]), ids)
            # A page is one plain reply when it is short.
            r = self.c.get("agents?available=false&limit=10&after=long-1")
            self.assertIsNotNone(r.headers.get("Content-Length"))
            self.assertEqual(r.body["next"], ids[ids.index("long-1") + 10])
        finally:
            stop.set()
            th.join(15)
        self.assertGreater(len(latencies), 3)
        self.assertLess(max(latencies), 2.0)

        # Clients that leave in the middle of a long list, and HTTP/1.0 (no chunks: the close
        # ends the body; a keep-alive is declined).
        for path in ("/api/control-plane/agents?available=false",
                     "/api/control-plane/health?agents=all"):
            for _ in range(5):
                raw_get(self.cpd.port, path, read_at_most=70000)
        for keep_alive in (False, True):
            head, body = raw_get(self.cpd.port, "/api/control-plane/agents?available=false",
                                 http10=True, keep_alive=keep_alive)
            self.assertIn("200", head.splitlines()[0])
            self.assertIn("Connection: close", head)
            self.assertNotIn("Content-Length", head)
            self.assertEqual(len(json.loads(body)["agents"]), self.N)
        self.assertEqual(self.c.get("agents/long-1").status, 200)


if __name__ == "__main__":
    main()
