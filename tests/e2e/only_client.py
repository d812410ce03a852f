"""only_client.py — libcpclient against real cpd processes: runs tests/client/test_client.c
(the `test_client` binary of the build) in its three modes:

  api   every call of cp/client.h against a cpd with auth off
  auth  a cpd with an admin and a reader token and a 64 KiB body limit: 401, 403, 413
  fake  a fake HTTP server in this script (non-JSON 200, 500, 503, slow answers, an event
        stream that ends after each event) and a closed port: protocol, server, unavailable,
        timeout and transport errors, reconnection with Last-Event-ID
  lossy a cpd behind lossyproxy.py, which loses the first answer to each submit: retried
        submits (one idempotency key per task) store nothing twice
"""

import http.server
import json
import os
import subprocess
import threading
import time
import unittest

import cpdtest
from lossyproxy import LossyProxy

TEST_CLIENT = os.path.join(cpdtest.BUILD_DIR, "test_client")


def run_test_client(*args, timeout=240):
    if not os.path.exists(TEST_CLIENT):
        raise AssertionError("test_client not built at %s" % TEST_CLIENT)
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1")
    p = subprocess.run([TEST_CLIENT] + list(args), capture_output=True, timeout=timeout, env=env)
    out = p.stdout.decode(errors="replace") + p.stderr.decode(errors="replace")
    return p.returncode, out


class FakeHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    peers = {}  # path -> the client's (host, port): one port for several paths = keep-alive

    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype="application/json"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        name = self.path.rsplit("/", 1)[-1]
        FakeHandler.peers[name] = self.client_address
        if name == "notjson":
            self.reply(200, "hello, I am not JSON", "text/plain")
        elif name == "notagent":
            self.reply(200, json.dumps({"hello": "world"}))
        elif name == "e500":
            self.reply(500, "<html>boom</html>", "text/html")
        elif name == "e503":
            self.reply(503, json.dumps({"error": "storage backend unreachable",
                                        "code": "storage_unavailable", "applied": False}))
        elif name == "e503u":
            self.reply(503, json.dumps({"error": "the reply was lost",
                                        "code": "storage_unavailable", "applied": "unknown"}))
        elif name.startswith("events"):  # an event stream that ends after one event
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            if "types=big" in name:
                self.wfile.write(b"data: " + b"x" * (2 << 20) + b"\n\n")
            elif self.headers.get("Last-Event-ID") == "7":
                self.wfile.write(b'id: 8\nevent: second\ndata: {"x":1}\ndata: {"y":2}\n\n')
            else:
                self.wfile.write(b": hello\nretry: 50\n\nid: 7\nevent: first\ndata: {}\n\n")
            self.close_connection = True
        elif name == "slow":
            time.sleep(1.0)
            self.reply(200, json.dumps({"agent_id": "slow"}))
        else:
            self.reply(404, json.dumps({"error": "no such thing", "code": "not_found"}))

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        if self.path.endswith("/tasks/claim"):
            time.sleep(1.0)
            self.reply(200, json.dumps({"task": None}))
        else:
            self.reply(404, json.dumps({"error": "no such thing", "code": "not_found"}))


class ClientTest(unittest.TestCase):
    def check(self, *args):
        rc, out = run_test_client(*args)
        print(out)
        self.assertEqual(rc, 0, "test_client %s failed:\n%s" % (args[0], out))
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"):
            self.assertNotIn(marker, out)

    def test_api(self):
        cpd = cpdtest.Cpd().start()
        try:
            self.check("api", "http://127.0.0.1:%d" % cpd.port, str(cpdtest.free_port()))
            cpd.stop()
        finally:
            cpd.cleanup()

    def test_auth(self):
        cpd = cpdtest.Cpd(config={
            "auth": {"tokens": [{"token": "admin-secret-1", "role": "admin"},
                                {"token": "reader-secret-1", "role": "reader"}]},
            "limits": {"max_body_bytes": 65536},
        }).start()
        try:
            self.check("auth", "http://127.0.0.1:%d" % cpd.port, "admin-secret-1",
                       "reader-secret-1")
            cpd.stop()
        finally:
            cpd.cleanup()

    def test_lossy(self):
        cpd = cpdtest.Cpd().start()
        proxy = LossyProxy(cpd.port).start()
        try:
            self.check("lossy", proxy.url)
            lost = [p for p, first in proxy.submits() if first]
            self.assertGreaterEqual(len(lost), 3, proxy.submits())  # the losses happened
            cpd.stop()
        finally:
            proxy.stop()
            cpd.cleanup()

    def test_fake(self):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeHandler)
        server.daemon_threads = True
        server.handle_error = lambda request, address: None  # the client gave up on "slow"
        th = threading.Thread(target=server.serve_forever, daemon=True)
        th.start()
        try:
            self.check("fake", "http://127.0.0.1:%d" % server.server_address[1],
                       str(cpdtest.free_port()))
            # One client, consecutive calls: one kept-alive connection.
            ports = {FakeHandler.peers[n] for n in ("notjson", "notagent", "e500", "e503")}
            self.assertEqual(len(ports), 1, ports)
        finally:
            server.shutdown()
            server.server_close()


if __name__ == "__main__":
    cpdtest.main()
