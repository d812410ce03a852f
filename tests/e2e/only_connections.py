"""only_connections.py — connections as a resource: running out of file descriptors pauses
accepting (low CPU, a few log lines) and service resumes when descriptors free up;
limits.max_connections refuses beyond it with a cheap 503; limits.header_timeout_seconds closes
a connection whose request does not arrive in time (slowloris); limits.idle_timeout_seconds
closes idle keep-alive connections; neither cuts long polls (claims with block_ms, wait_ms)."""

import json
import os
import shutil
import socket
import time

from cpdtest import BASE, Cpd, CpdTestCase, in_thread, main, wait_until
from rawhttp import get, parse_response

PRLIMIT = shutil.which("prlimit")


class LimitedCpd(Cpd):
    """cpd started under `prlimit --nofile=N` (prlimit execs it: same pid)."""

    nofile = 64

    def argv(self):
        return [PRLIMIT, "--nofile=%d:%d" % (self.nofile, self.nofile), "--"] + super().argv()


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def read_all(s, timeout=10.0):
    s.settimeout(timeout)
    buf = b""
    while True:
        try:
            chunk = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            break
        if not chunk:
            break
        buf += chunk
    return buf


class FdExhaustion(CpdTestCase):
    start_server = False

    def test_accept_pauses_instead_of_spinning_and_resumes(self):
        if not PRLIMIT:
            self.skipTest("prlimit (util-linux) not found")
        cpd = LimitedCpd(config={"limits": {"header_timeout_seconds": 3}})
        self._extra_cpds.append(cpd)
        cpd.start()
        socks = []
        try:
            # 120 half-open connections (nothing sent) against 64 descriptors.
            for _ in range(120):
                s = socket.socket()
                s.setblocking(False)
                s.connect_ex(("127.0.0.1", cpd.port))
                socks.append(s)
            time.sleep(0.5)
            cpu0, log0 = cpu_seconds(cpd.proc.pid), os.path.getsize(cpd.stderr_path)
            time.sleep(2.0)
            cpu = cpu_seconds(cpd.proc.pid) - cpu0
            grown = os.path.getsize(cpd.stderr_path) - log0
            self.assertIn("accept() failed", cpd.stderr(), cpd.describe())
            # Spinning on accept() took ~90 % of a core and wrote ~15 MB/s of log lines.
            self.assertLess(cpu, 0.8, "cpd used %.2f s of CPU in 2 s while out of fds" % cpu)
            self.assertLess(grown, 4096, "the log grew by %d bytes in 2 s" % grown)
        finally:
            for s in socks:
                s.close()
        # Descriptors come back as those connections end: the service answers again.
        def healthy():
            try:
                c = cpd.client(timeout=2.0)
                ok = c.get("health").status == 200
                c.close()
                return ok
            except OSError:
                return False
        wait_until(healthy, 20.0, interval=0.2, what="cpd to answer again")
        self.assertLess(os.path.getsize(cpd.stderr_path), 20000, cpd.stderr()[-3000:])
        cpd.stop()


class MaxConnections(CpdTestCase):
    cpd_config = {"limits": {"max_connections": 5}}

    def test_refuses_beyond_the_limit_and_recovers(self):
        held = []
        try:
            for _ in range(5):
                held.append(socket.create_connection(("127.0.0.1", self.cpd.port)))
            time.sleep(0.3)
            for _ in range(3):
                s = socket.create_connection(("127.0.0.1", self.cpd.port), timeout=5)
                st, headers, body = parse_response(read_all(s))
                s.close()
                self.assertEqual(st, 503)
                self.assertEqual(headers.get("content-type"), "application/json")
                doc = json.loads(body)
                self.assertEqual(doc["code"], "too_many_connections")
                self.assertIn("max_connections", doc["error"])
            held.pop().close()
            time.sleep(0.3)
            c = self.cpd.client(timeout=5)
            self.assertEqual(c.get("health").status, 200)
            c.close()
        finally:
            for s in held:
                s.close()
        self.assertIn("refused", self.cpd.stderr())
        # Every slot is free again once those connections are gone.
        def five_at_once():
            clients = [self.cpd.client(timeout=5) for _ in range(5)]
            try:
                return all(c.get("health").status == 200 for c in clients)
            except OSError:
                return False
            finally:
                for c in clients:
                    c.close()
        wait_until(five_at_once, 5.0, interval=0.2, what="five connections to be served")


class Timeouts(CpdTestCase):
    cpd_config = {"limits": {"header_timeout_seconds": 1, "idle_timeout_seconds": 1.5},
                  "agents": {"heartbeat_timeout_seconds": 30}}

    def expect_408(self, s, started, lo=0.8, hi=4.0):
        buf = read_all(s)
        took = time.monotonic() - started
        self.assertTrue(lo <= took <= hi, "closed after %.2f s" % took)
        st, headers, body = parse_response(buf)
        self.assertEqual(st, 408, buf)
        self.assertEqual(json.loads(body)["code"], "request_timeout")

    def test_silent_connection_gets_408(self):
        t0 = time.monotonic()
        s = socket.create_connection(("127.0.0.1", self.cpd.port))
        self.expect_408(s, t0)
        s.close()

    def test_slowloris_head_gets_408(self):
        s = socket.create_connection(("127.0.0.1", self.cpd.port))
        t0 = time.monotonic()
        s.sendall(b"GET " + BASE.encode() + b"/health HTTP/1.1\r\n")
        def trickle():
            try:
                for i in range(20):
                    time.sleep(0.25)
                    s.sendall(b"X-%d: y\r\n" % i)
            except OSError:
                pass
        h = in_thread(trickle)
        self.expect_408(s, t0)
        s.close()
        h.join()

    def test_slow_body_gets_408(self):
        s = socket.create_connection(("127.0.0.1", self.cpd.port))
        t0 = time.monotonic()
        s.sendall(b"POST " + BASE.encode() + b"/agents HTTP/1.1\r\nHost: x\r\n"
                  b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{")
        def trickle():
            try:
                for _ in range(20):
                    time.sleep(0.25)
                    s.sendall(b" ")
            except OSError:
                pass
        h = in_thread(trickle)
        self.expect_408(s, t0)
        s.close()
        h.join()

    def test_deadline_is_per_request_on_keep_alive(self):
        # Several requests on one connection, each well within the deadline, over 3 s in all.
        c = self.cpd.client()
        for _ in range(6):
            self.assertEqual(c.get("health").status, 200)
            time.sleep(0.5)
        self.assertIsNotNone(c.conn.sock)
        c.close()

    def test_idle_keep_alive_is_closed(self):
        s = socket.create_connection(("127.0.0.1", self.cpd.port))
        s.sendall(get(BASE + "/health").replace(b"Connection: close\r\n", b""))
        time.sleep(0.2)
        first = s.recv(65536)
        self.assertTrue(first.startswith(b"HTTP/1.1 200"), first)
        t0 = time.monotonic()
        rest = read_all(s)
        took = time.monotonic() - t0
        self.assertEqual(rest, b"")
        self.assertTrue(1.0 <= took <= 5.0, "idle connection closed after %.2f s" % took)
        s.close()

    def test_long_polls_outlive_both_timeouts(self):
        self.register("lp", capabilities=["lp"])
        c = self.cpd.client(timeout=30)
        t0 = time.monotonic()
        r = c.post("tasks/claim", {"agent_id": "lp", "block_ms": 4000})
        took = time.monotonic() - t0
        self.assertEqual(r.status, 200, r)
        self.assertIsNone(r.body["task"])
        self.assertGreaterEqual(took, 3.9)
        # A held claim answered by a task submitted after both timeouts have passed.
        h = in_thread(c.post, "tasks/claim", {"agent_id": "lp", "block_ms": 8000})
        time.sleep(3.0)
        tid = self.submit(required_capabilities=["lp"])
        r, took = h.join(15)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body["task"]["id"], tid)
        # A result waiter held past both timeouts.
        t0 = time.monotonic()
        r = self.cpd.client(timeout=30).get("tasks/%s?wait_ms=4000" % tid)
        self.assertEqual(r.status, 200)
        self.assertGreaterEqual(time.monotonic() - t0, 3.9)
        c.close()


if __name__ == "__main__":
    main()
