"""test_http.py — the response parser both transports share, fed byte by byte and in one piece:
Content-Length, chunked, until-close, 1xx, keep-alive rules, and hostile input."""

import unittest

import support  # noqa: F401  (installed-package check)
from cpclient._http import END, Collector, Head, ResponseParser, build_request, split_url
from cpclient.errors import (ConflictError, ProtocolError, UnavailableError,
                             error_from_response)


def parse(raw, split=None, eof=False, max_body=1 << 20):
    p = ResponseParser()
    col = Collector(p, max_body)
    pieces = [raw[i:i + split] for i in range(0, len(raw), split)] if split else [raw]
    resp = None
    for piece in pieces:
        p.feed(piece)
        resp = col.drain() or resp
    if eof:
        p.eof()
        resp = col.drain() or resp
    return p, resp


class ParserTest(unittest.TestCase):
    def test_content_length_any_split(self):
        raw = b"HTTP/1.1 200 OK\r\nContent-Length: 11\r\nX-A: 1\r\n\r\n{\"a\": true}"
        for split in (None, 1, 2, 7):
            p, resp = parse(raw, split)
            self.assertEqual((resp.status, resp.body), (200, b'{"a": true}'), split)
            self.assertEqual(resp.headers["x-a"], "1")
            self.assertTrue(p.reusable)

    def test_chunked_with_extensions_and_trailer(self):
        raw = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"4;ext=1\r\nWiki\r\n6\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nT: x\r\n\r\n")
        for split in (None, 1, 3):
            p, resp = parse(raw, split)
            self.assertEqual(resp.body, b"Wikipedia in \r\n\r\nchunks.", split)
            self.assertTrue(p.reusable)

    def test_streamed_events(self):
        p = ResponseParser()
        p.feed(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
        self.assertIsInstance(p.next_event(), Head)
        self.assertEqual(p.next_event(), b"hello")
        self.assertIs(p.next_event(), False)  # more to come: consumed as it arrives
        p.feed(b"0\r\n\r\n")
        self.assertIs(p.next_event(), END)

    def test_body_until_close_is_not_reusable(self):
        raw = b"HTTP/1.1 200 OK\r\n\r\nall of it"
        p, resp = parse(raw, 4, eof=True)
        self.assertEqual(resp.body, b"all of it")
        self.assertFalse(p.reusable)

    def test_connection_close_and_http10(self):
        p, _ = parse(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
        self.assertFalse(p.reusable)
        p, _ = parse(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n")
        self.assertFalse(p.reusable)
        p, _ = parse(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n")
        self.assertTrue(p.reusable)

    def test_informational_then_final(self):
        _, resp = parse(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\n"
                        b"Content-Length: 2\r\n\r\n{}")
        self.assertEqual((resp.status, resp.body), (201, b"{}"))

    def test_204_has_no_body(self):
        p, resp = parse(b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n")
        self.assertEqual(resp.body, b"")

    def test_hostile_input(self):
        bad = [b"SSH-2.0-OpenSSH\r\n\r\n",
               b"HTTP/1.1 2000 OK\r\n\r\n",
               b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n",
               b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
               b"HTTP/1.1 200 OK\r\nContent-Length: 1e3\r\n\r\n",
               b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
               b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
               b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n"]
        for raw in bad:
            with self.assertRaises(ProtocolError, msg=raw):
                parse(raw)

    def test_bounds(self):
        with self.assertRaises(ProtocolError):
            parse(b"HTTP/1.1 200 OK\r\nX: " + b"a" * 70000)
        with self.assertRaises(ProtocolError):
            parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 2000)
        with self.assertRaises(ProtocolError):
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + b"x" * 100, max_body=50)

    def test_truncated_answer(self):
        with self.assertRaises(ProtocolError):
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", eof=True)


class RequestTest(unittest.TestCase):
    def test_request_bytes(self):
        raw = build_request("POST", "/api/control-plane/tasks", "h:1",
                            {"Authorization": "Bearer t"}, b"{}")
        self.assertEqual(raw, b"POST /api/control-plane/tasks HTTP/1.1\r\nHost: h:1\r\n"
                              b"Authorization: Bearer t\r\nContent-Length: 2\r\n\r\n{}")

    def test_no_header_injection(self):
        with self.assertRaises(ValueError):
            build_request("GET", "/", "h", {"Authorization": "Bearer x\r\nX-Evil: 1"}, None)

    def test_urls(self):
        self.assertEqual(split_url("http://h:9/"), ("http", "h", 9, "/api/control-plane"))
        self.assertEqual(split_url("https://h/x/api/control-plane"),
                         ("https", "h", 443, "/x/api/control-plane"))
        with self.assertRaises(ValueError):
            split_url("ftp://h/")


class ErrorTest(unittest.TestCase):
    def test_unavailable_says_applied(self):
        e = error_from_response(503, {"error": "lost", "code": "storage_unavailable",
                                      "applied": "unknown"})
        self.assertIsInstance(e, UnavailableError)
        self.assertEqual((e.code, e.status, e.applied), ("storage_unavailable", 503, "unknown"))
        e = error_from_response(503, {"error": "down", "code": "storage_unavailable",
                                      "applied": False})
        self.assertIs(e.applied, False)
        # Anything else is "not said": other errors, odd values, no JSON.
        self.assertIsNone(error_from_response(409, {"error": "x", "code": "conflict"}).applied)
        self.assertIsInstance(error_from_response(409, {"error": "x"}), ConflictError)
        self.assertIsNone(error_from_response(503, {"error": "x", "applied": True}).applied)
        self.assertIsNone(error_from_response(503, {"error": "x", "applied": "yes"}).applied)
        self.assertIsNone(error_from_response(503, "<html>busy</html>").applied)


if __name__ == "__main__":
    unittest.main()
