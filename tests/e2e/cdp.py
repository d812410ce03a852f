"""cdp.py — headless Chromium driven over the DevTools protocol, standard library only: a
minimal WebSocket client (RFC 6455: masked text frames out; text, continuation, ping and close
in) and a Browser that starts Debian's `chromium` with its own profile directory, opens the
page target and evaluates JavaScript in it. Nothing is downloaded: no chromedriver, no
Puppeteer."""

import base64
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


class WebSocket:
    def __init__(self, url, timeout=10.0):
        u = urllib.parse.urlparse(url)
        self.sock = socket.create_connection((u.hostname, u.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        # No Origin header: Chromium accepts DevTools clients that are not web pages.
        req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
               % (u.path, u.hostname, u.port, key))
        self.sock.sendall(req.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("DevTools closed the WebSocket handshake")
            head += chunk
        head, self.buf = head.split(b"\r\n\r\n", 1)
        if b" 101 " not in head.split(b"\r\n")[0]:
            raise ConnectionError("DevTools refused the WebSocket: %r" % head[:200])

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self.buf)))
            if not chunk:
                raise ConnectionError("DevTools closed the WebSocket")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def send(self, text):
        data = text.encode()
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            head = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 65536:
            head = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            head = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(head + mask + masked)

    def recv(self, timeout):
        """The next text message, or None when nothing came within timeout."""
        self.sock.settimeout(timeout)
        message = b""
        try:
            while True:
                b0, b1 = self._read(2)
                n = b1 & 0x7F
                if n == 126:
                    n = struct.unpack("!H", self._read(2))[0]
                elif n == 127:
                    n = struct.unpack("!Q", self._read(8))[0]
                mask = self._read(4) if b1 & 0x80 else None
                payload = self._read(n)
                if mask:
                    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
                op = b0 & 0x0F
                if op == 0x8:
                    raise ConnectionError("DevTools closed the WebSocket")
                if op == 0x9:  # ping: pong with the same payload (masked, as a client must)
                    m = os.urandom(4)
                    self.sock.sendall(struct.pack("!BB", 0x8A, 0x80 | len(payload)) + m +
                                      bytes(b ^ m[i % 4] for i, b in enumerate(payload)))
                    continue
                if op in (0x1, 0x0, 0x2):
                    message += payload
                    if b0 & 0x80:
                        return message.decode()
        except socket.timeout:
            if message:
                raise
            return None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Browser:
    """chromium --headless with a fresh profile; .call() a DevTools method on the page target,
    .events holds the page's notifications (method, params) in order."""

    def __init__(self, binary, width=1280, height=900):
        self.profile = tempfile.mkdtemp(prefix="cp-chromium-")
        self.log = open(os.path.join(self.profile, "chromium.log"), "w+")
        argv = [binary, "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--remote-debugging-port=0",
                "--user-data-dir=" + self.profile, "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-sync",
                "--disable-background-networking", "--disable-component-update",
                "--disable-default-apps", "--metrics-recording-only", "--mute-audio",
                "--window-size=%d,%d" % (width, height), "about:blank"]
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        self.ws = None
        self.next_id = 0
        self.events = []
        try:
            self._connect()
        except Exception:
            self.close()
            raise

    def _connect(self, timeout=30.0):
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + timeout
        def port_file_text():
            try:
                with open(port_file) as f:
                    return f.read()
            except OSError:
                return ""
        while port_file_text().count("\n") < 1:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("chromium did not start: " + self.output()[-2000:])
            time.sleep(0.05)
        port = int(port_file_text().split("\n")[0])
        while True:
            with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port,
                                        timeout=5) as r:
                pages = [t for t in json.load(r) if t.get("type") == "page"]
            if pages:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("chromium has no page target")
            time.sleep(0.05)
        self.ws = WebSocket(pages[0]["webSocketDebuggerUrl"])

    def output(self):
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def call(self, method, params=None, timeout=15.0):
        self.next_id += 1
        mid = self.next_id
        self.ws.send(json.dumps({"id": mid, "method": method, "params": params or {}}))
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("DevTools: no answer to %s" % method)
            text = self.ws.recv(left)
            if text is None:
                continue
            msg = json.loads(text)
            if msg.get("id") == mid:
                if "error" in msg:
                    raise RuntimeError("DevTools %s: %s" % (method, msg["error"]))
                return msg.get("result", {})
            if "method" in msg:
                self.events.append((msg["method"], msg.get("params", {})))

    def evaluate(self, expression, timeout=15.0):
        """The value of a JavaScript expression in the page (promises awaited)."""
        res = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                             "awaitPromise": True}, timeout)
        if "exceptionDetails" in res:
            raise RuntimeError("JavaScript error in %r: %s" % (expression, res["exceptionDetails"]))
        return res.get("result", {}).get("value")

    def wait_for(self, expression, timeout=10.0, what=None):
        """Polls until the expression is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        value = None
        wrapped = "(() => { const v = (%s); return v instanceof Node || v; })()" % expression
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(wrapped)
            except RuntimeError as e:  # the page is still loading (no such element yet...)
                value = "error: " + str(e)[:300]
                time.sleep(0.1)
                continue
            if value:
                return value
            time.sleep(0.1)
        raise AssertionError("the page did not show %s within %.0f s (last value %r); page "
                             "text: %r" % (what or expression, timeout, value,
                                           self.evaluate("document.body.innerText")[:1500]))

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", {"format": "png"})["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path

    def close(self):
        if self.ws:
            self.ws.close()
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 15)
            except OSError:
                pass
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait(5)
        self.log.close()
        shutil.rmtree(self.profile, ignore_errors=True)
