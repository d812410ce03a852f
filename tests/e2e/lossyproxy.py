"""lossyproxy.py — an HTTP proxy in front of a real cpd that loses the first answer to each
distinct submit: the request reaches cpd (the task is stored), but the client sees the
connection drop (POST /tasks) or a 503 storage_unavailable saying the outcome is unknown (POST
/tasks/batch). A retry of the same body goes through. What a client that retries safely (one
idempotency key for every attempt) must survive without storing a task twice; see
only_client.py, only_cpctl.py and test_python_client.py. Standard library only.
"""

import http.client
import http.server
import json
import threading


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _forward(self, body):
        conn = http.client.HTTPConnection("127.0.0.1", self.server.target_port, timeout=30)
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("host", "connection", "content-length")}
        conn.request(self.command, self.path, body=body, headers=headers)
        resp = conn.getresponse()
        data = resp.read()
        conn.close()
        return resp.status, resp.getheader("Content-Type", "application/json"), data

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        status, ctype, data = self._forward(body)
        path = self.path.split("?", 1)[0]
        submit = self.command == "POST" and (path.endswith("/tasks") or
                                              path.endswith("/tasks/batch"))
        with self.server.lock:
            first = submit and body not in self.server.seen
            if submit:
                self.server.seen.add(body)
                self.server.submits.append((path, first))
        if first and path.endswith("/tasks"):
            self.close_connection = True  # cpd stored it; the client hears nothing
            return
        if first:
            status, ctype = 503, "application/json"
            data = json.dumps({"error": "the storage backend's reply was lost; the operation "
                                        "may or may not have been applied; retry later",
                               "code": "storage_unavailable"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _handle


class LossyProxy:
    """start() listens on a free loopback port (url); submits() lists (path, first) per submit
    seen, first True when its answer was lost."""

    def __init__(self, target_port):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.target_port = target_port
        self.server.seen = set()
        self.server.submits = []
        self.server.lock = threading.Lock()
        self.thread = None

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.server.server_address[1]

    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def submits(self):
        with self.server.lock:
            return list(self.server.submits)

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
