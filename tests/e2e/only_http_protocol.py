"""only_http_protocol.py — every error cpd produces is the contract's {"error","code"} JSON, also
those the HTTP layer (evhttp) detects before cpd sees a request: a malformed request line, a URL
or header block over the head limit, 10,000 headers, an oversize chunked body, CONNECT/TRACE and
unknown methods, a bad Expect. Ambiguous framing (two different Content-Length headers, or one
with Transfer-Encoding) is refused with 400 and the connection closed, so nothing smuggled after
it runs. A `null` body says that the body must be an object. Replies are written as soon as
they are made (conns.c): pipelined requests are answered whole and in order, and a reply larger
than the client's socket buffer, read slowly, arrives whole with the next request answered after
it."""

import json
import re
import socket
import time

from cpdtest import BASE, main
from rawhttp import RawHttpCase, get, parse_response, raw_request

API = BASE.encode()


def post(path, body, headers=b""):
    return (b"POST " + API + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            + headers + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


def responses(buf):
    """How many responses buf holds (status lines at the start or right after a JSON body)."""
    return len(re.findall(rb"(?:^|\})HTTP/1\.[01] \d{3} ", buf))


def chunked(path, body, chunk=65536):
    out = [b"POST " + API + path + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
           b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"]
    for i in range(0, len(body), chunk):
        part = body[i:i + chunk]
        out.append(b"%x\r\n%s\r\n" % (len(part), part))
    out.append(b"0\r\n\r\n")
    return b"".join(out)


class LibraryErrorsAreJson(RawHttpCase):
    def check(self, data, statuses, code=None):
        resp = self.raw(data)
        self.assertIn(resp[0], statuses, resp[:2] + (resp[2][:200],))
        self.assertNotIn(b"<HTML", resp[2].upper())
        doc = self.assertJsonError(resp, resp[0], code)
        self.assertAlive()
        return doc

    def test_malformed_request_lines(self):
        for junk in (b"GARBAGE\r\n\r\n", b"GET\r\n\r\n", b"GET /\r\n\r\n",
                     b"GET / HTTP/1.1 extra\r\n\r\n", b"\x00\x01\x02garbage\r\n\r\n",
                     b"GET / HTTP/x.y\r\n\r\n", b"GET / HTTP/1.1\r\nno-colon-here\r\n\r\n",
                     b" / HTTP/1.1\r\n\r\n"):
            with self.subTest(junk=junk):
                self.check(junk, (400,), "bad_request")

    # evhttp answers a head over its 64 KiB limit as a malformed request (400): the JSON says so.
    def test_url_over_the_head_limit(self):
        for n in (65536, 70000, 300000):
            doc = self.check(get("/" + "a" * n), (400,), "bad_request")
            self.assertIn("64 KiB", doc["error"])
        self.check(get(BASE + "/agents?capability=" + "c" * 70000), (400,), "bad_request")

    def test_one_megabyte_header(self):
        self.check(get(BASE + "/agents", b"X-Big: " + b"b" * (1 << 20) + b"\r\n"), (400,),
                   "bad_request")

    def test_ten_thousand_headers(self):
        many = b"".join(b"X-H%d: v\r\n" % i for i in range(10000))
        self.check(get(BASE + "/agents", many), (400,), "bad_request")
        short = b"a:b\r\n" * 10000  # 50 KB: under the head limit, over the header count
        doc = self.check(get(BASE + "/agents", short), (431,), "header_fields_too_large")
        self.assertIn("100", doc["error"])

    def test_header_count_at_limit_one_over(self):
        # 100 header fields in all: Host and Connection from get() plus 98.
        at = b"".join(b"X-%d: v\r\n" % i for i in range(98))
        resp = self.raw(get(BASE + "/agents", at))
        self.assertEqual(resp[0], 200, resp[2][:200])
        self.check(get(BASE + "/agents", at + b"X-99: v\r\n"), (431,), "header_fields_too_large")

    def test_oversize_chunked_body(self):
        big = b'{"agent_id": "ch", "metadata": {"v": "' + b"x" * (3 << 20) + b'"}}'
        self.check(chunked(b"/agents", big), (413,), "payload_too_large")
        mid = b'{"agent_id": "ch", "metadata": {"v": "' + b"x" * (1536 << 10) + b'"}}'
        self.check(chunked(b"/agents", mid), (413,), "payload_too_large")
        ok = b'{"agent_id": "chunked-ok", "metadata": {"v": "' + b"x" * 100000 + b'"}}'
        resp = self.raw(chunked(b"/agents", ok, chunk=1000))
        self.assertEqual(resp[0], 201, resp[2][:200])

    def test_bad_chunked_framing(self):
        bad = (b"POST " + API + b"/agents HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
               b"Content-Type: application/json\r\n\r\nzz\r\n{}\r\n0\r\n\r\n")
        self.check(bad, (400, 413), None)

    def test_connect_trace_and_unknown_methods(self):
        for line in (b"CONNECT example.com:443 HTTP/1.1", b"CONNECT " + API + b"/agents HTTP/1.1",
                     b"TRACE / HTTP/1.1", b"TRACE " + API + b"/agents HTTP/1.1"):
            with self.subTest(line=line):
                doc = self.check(line + b"\r\nHost: x\r\nConnection: close\r\n\r\n", (400, 501))
                self.assertIn(doc["code"], ("not_implemented", "bad_request"))
        doc = self.check(b"TRACE " + API + b"/agents HTTP/1.1\r\nHost: x\r\n\r\n", (501,))
        self.assertEqual(doc["code"], "not_implemented")
        for line in (b"FOO / HTTP/1.1", b"PROPFIND " + API + b"/agents HTTP/1.1",
                     b"get " + API + b"/agents HTTP/1.1"):
            with self.subTest(line=line):
                self.check(line + b"\r\nHost: x\r\nConnection: close\r\n\r\n", (400, 405, 501))

    def test_expectations(self):
        body = b'{"agent_id": "exp"}'
        self.check(post(b"/agents", body, b"Expect: teapot\r\nConnection: close\r\n"), (417,),
                   "expectation_failed")
        # 100-continue is honoured: an interim 100, then the real answer.
        s = socket.create_connection(("127.0.0.1", self.cpd.port), timeout=10)
        try:
            head = post(b"/agents", body, b"Expect: 100-continue\r\nConnection: close\r\n")
            s.sendall(head[:-len(body)])
            first = s.recv(4096)
            self.assertTrue(first.startswith(b"HTTP/1.1 100"), first)
            s.sendall(body)
            buf = first.partition(b"\r\n\r\n")[2]
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                buf += chunk
        finally:
            s.close()
        st, headers, out = parse_response(buf)
        self.assertEqual(st, 201, out)

    def test_null_and_scalar_bodies_name_the_object_rule(self):
        for raw in (b"null", b" null ", b"42", b"true", b'"s"', b"[]"):
            with self.subTest(body=raw):
                doc = self.assertJsonError(self.raw(post(b"/agents", raw,
                                                         b"Connection: close\r\n")),
                                           400, "invalid_json")
                self.assertIn("must be a JSON object", doc["error"])
        doc = self.assertJsonError(self.raw(post(b"/agents", b"null", b"Connection: close\r\n")),
                                   400, "invalid_json")
        self.assertIn("null", doc["error"])
        self.assertNotIn("end of input", doc["error"])


class Smuggling(RawHttpCase):
    smuggled = (b"POST " + API + b"/agents HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                b"\r\nContent-Length: 25\r\n\r\n{\"agent_id\": \"smuggled\"}")

    def assertNotRegistered(self):
        time.sleep(0.3)
        c = self.cpd.client()
        r = c.get("agents/smuggled")
        c.close()
        self.assertEqual(r.status, 404, "the smuggled request was executed: %r" % (r,))

    def send_keepalive(self, head, body):
        s = socket.create_connection(("127.0.0.1", self.cpd.port), timeout=10)
        buf = b""
        try:
            s.sendall(head + body)
            while True:
                try:
                    chunk = s.recv(65536)
                except (ConnectionResetError, socket.timeout):
                    break
                if not chunk:
                    break
                buf += chunk
        finally:
            s.close()
        return buf

    def test_conflicting_content_length(self):
        head = (b"POST " + API + b"/agents/base/heartbeat HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 2\r\n"
                b"Content-Length: %d\r\n\r\n" % (2 + len(self.smuggled)))
        buf = self.send_keepalive(head, b"{}" + self.smuggled)
        st, headers, body = parse_response(buf)
        self.assertEqual(st, 400, buf[:300])
        self.assertEqual(headers.get("connection", "").lower(), "close")
        self.assertIn(b"Content-Length", body)
        self.assertEqual(responses(buf), 1, "more than one response: %r" % buf[:600])
        self.assertNotRegistered()
        self.assertAlive()

    def test_content_length_with_transfer_encoding(self):
        body = b"2\r\n{}\r\n0\r\n\r\n" + self.smuggled
        head = (b"POST " + API + b"/tasks/claim HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
                b"Content-Length: %d\r\n\r\n" % len(body))
        buf = self.send_keepalive(head, body)
        st, headers, out = parse_response(buf)
        self.assertEqual(st, 400, buf[:300])  # evhttp refuses this one itself
        self.assertEqual(responses(buf), 1, buf[:600])
        self.assertNotRegistered()

    def test_unknown_transfer_coding(self):
        for te in (b"gzip", b"chunked, identity", b"xchunked"):
            req = (b"POST " + API + b"/agents HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                   b"Content-Type: application/json\r\nTransfer-Encoding: " + te +
                   b"\r\n\r\n0\r\n\r\n")
            resp = raw_request(self.cpd.port, req, timeout=15)
            self.assertIn(resp[0], (400, 501), (te, resp))
            self.assertJsonError(resp, resp[0])

    def test_equal_duplicate_content_length_accepted(self):
        body = b'{"agent_id": "dup-cl"}'
        req = (b"POST " + API + b"/agents HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
               b"Content-Type: application/json\r\nContent-Length: %d\r\nContent-Length: %d\r\n\r\n"
               % (len(body), len(body)) + body)
        self.assertEqual(self.raw(req)[0], 201)



def get_kept(path):
    """A GET of an API path on a kept-alive connection."""
    return b"GET " + API + path + b" HTTP/1.1\r\nHost: x\r\n\r\n"


def read_responses(s, n, timeout=20.0):
    """n complete responses read from socket s: [(status, headers, body)]."""
    s.settimeout(timeout)
    buf, out = b"", []
    while len(out) < n:
        parsed = parse_response(buf)
        if parsed is None:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
            continue
        out.append(parsed)
        head_len = buf.index(b"\r\n\r\n") + 4
        buf = buf[head_len + len(parsed[2]):]
    return out


class RepliesWrittenAtOnce(RawHttpCase):
    def test_pipelined_requests_answered_in_order(self):
        s = socket.create_connection(("127.0.0.1", self.cpd.port), timeout=10)
        try:
            s.sendall(post(b"/agents", b'{"agent_id": "pipe-1"}') +
                      get_kept(b"/agents/pipe-1") + get_kept(b"/agents/pipe-none") +
                      post(b"/agents/pipe-1/heartbeat", b"{}"))
            got = read_responses(s, 4)
        finally:
            s.close()
        self.assertEqual([g[0] for g in got], [201, 200, 404, 200])
        self.assertEqual(json.loads(got[1][2])["agent_id"], "pipe-1")

    def test_large_reply_read_slowly(self):
        payload = "x" * 700000
        c = self.cpd.client()
        r = c.post("tasks", {"task_type": "big", "payload": {"blob": payload}})
        self.assertEqual(r.status, 201, r.body)
        c.close()
        tid = r.body["task_id"].encode()
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # cpd's write cannot finish
        s.connect(("127.0.0.1", self.cpd.port))
        try:
            s.sendall(get_kept(b"/tasks/" + tid) + get_kept(b"/tasks/" + tid))
            time.sleep(0.5)  # let cpd meet the full socket buffer before anything is read
            got = read_responses(s, 2)
        finally:
            s.close()
        self.assertEqual([g[0] for g in got], [200, 200])
        for g in got:
            self.assertEqual(json.loads(g[2])["payload"]["blob"], payload)


if __name__ == "__main__":
    main()
