"""rawhttp.py — raw-socket HTTP for the e2e tests that send what no client library would
(malformed request lines, conflicting headers, oversize heads) and check the answer is the
contract's JSON."""

import json
import socket

from cpdtest import CpdTestCase


def raw_request(port, data, timeout=10.0, read_all=True):
    """Send bytes, read until the server closes (or one complete response when read_all is
    False). Returns (status, headers dict lower-cased, body bytes) of the first response, or
    (None, {}, b"") when the server closed without answering."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    buf = b""
    try:
        try:
            s.sendall(data)
        except OSError:
            pass  # the server may answer and close before it has read everything
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            buf += chunk
            if not read_all:
                parsed = parse_response(buf)
                if parsed is not None:
                    return parsed
    finally:
        s.close()
    return parse_response(buf) or (None, {}, buf)


def parse_response(buf):
    """(status, headers, body) of the first complete response in buf, or None."""
    head, sep, rest = buf.partition(b"\r\n\r\n")
    if not sep:
        return None
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        headers[k.strip().lower().decode()] = v.strip().decode(errors="replace")
    n = int(headers.get("content-length", "0"))
    if len(rest) < n:
        return None
    return status, headers, rest[:n]


class RawHttpCase(CpdTestCase):
    per_test = False

    def raw(self, data, **kw):
        return raw_request(self.cpd.port, data, **kw)

    def assertJsonError(self, resp, status, code=None, mentions=None):
        st, headers, body = resp
        self.assertEqual(st, status, "expected %s, got %s %r" % (status, st, body[:300]))
        self.assertIn("application/json", headers.get("content-type", ""), headers)
        doc = json.loads(body.decode("utf-8"))  # strict: must be UTF-8 JSON
        self.assertIsInstance(doc, dict)
        self.assertEqual(set(doc), {"error", "code"}, doc)
        self.assertTrue(doc["error"])
        if code:
            self.assertEqual(doc["code"], code, doc)
        if mentions:
            self.assertIn(mentions, doc["error"])
        return doc

    def assertAlive(self):
        c = self.cpd.client()
        self.assertEqual(c.get("health").status, 200)
        c.close()


def get(path, extra=b""):
    if isinstance(path, str):
        path = path.encode()
    return b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + extra + b"\r\n"


