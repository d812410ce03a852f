"""support.py — what the cpclient tests share: a real cpd per test (tests/e2e/cpdtest.py, on the
store named by CP_TEST_STORE), fake servers for the failures a real cpd does not produce, and
the check that the package under test is the installed one.

Run by tests/e2e/test_python_client.py, which installs the package into a fresh virtual
environment and puts tests/e2e on PYTHONPATH. By hand, from the source tree:
    PYTHONPATH=tests/e2e:clients/python python3 -m unittest discover -s clients/python/tests
"""

import asyncio
import os
import socket
import sys
import threading
import time
import unittest

import cpdtest  # tests/e2e, on PYTHONPATH

import cpclient

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = cpdtest.SOURCE_DIR
EXAMPLES = os.path.join(SOURCE_DIR, "examples", "python")

if os.environ.get("CPCLIENT_EXPECT_INSTALLED"):
    # The wrapper installed the package into this interpreter's environment: make sure that is
    # what the tests import, not a source checkout on the path.
    where = os.path.realpath(cpclient.__file__)
    if not where.startswith(os.path.realpath(sys.prefix) + os.sep):
        raise SystemExit("cpclient imported from %s, not from the environment %s"
                         % (where, sys.prefix))


class CpdCase(cpdtest.CpdTestCase):
    """A fresh cpd per test; self.url is its base URL, self.raw a plain HTTP client."""

    def setUp(self):
        super().setUp()
        self.url = "http://127.0.0.1:%d" % self.cpd.port
        self.raw = self.c

    def client(self, **kw):
        c = cpclient.Client(self.url, **kw)
        self.addCleanup(c.close)
        return c

    def held_claims(self):
        return self.raw.get("stats").body["scheduler"]["held_claims"]

    def wait_held_claims(self, n, timeout=5.0):
        cpdtest.wait_until(lambda: self.held_claims() == n, timeout,
                           what="%d held claims" % n)


def run_async(coro, timeout=60.0):
    """asyncio.run with an overall limit, so a hung test fails instead of hanging."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


class FakeServer:
    """A TCP server on a free loopback port whose connections are handled by
    handler(sock) in a thread each; for answers cpd never gives."""

    def __init__(self, handler):
        self.handler = handler
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.url = "http://127.0.0.1:%d" % self.port
        self.accepted = 0
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        while not self._stop:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn):
        try:
            self.handler(conn)
        except OSError:
            pass
        finally:
            conn.close()

    def close(self):
        self._stop = True
        self.sock.close()


def read_request(conn):
    """Read one request (head + Content-Length body) from conn; b'' when the peer closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        rest += conn.recv(65536)
    return head


def http_answer(status, body, extra=b""):
    return (b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
            % (status, len(body), extra)) + body


def elapsed(fn, *args, **kw):
    t0 = time.monotonic()
    value = fn(*args, **kw)
    return value, time.monotonic() - t0


main = unittest.main
