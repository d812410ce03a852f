"""test_utf8.py — request text must be Unicode: invalid UTF-8 bytes and lone UTF-16 surrogate
escapes in any body member (deep inside payload, metadata, result, error strings and member
names), in ids in the path and in query values get 400 invalid_json naming the member, and
change nothing; valid text of every length class round-trips, and every listing stays strict
UTF-8 JSON."""

import http.client
import json
import socket

from cpdtest import BASE, CpdTestCase, main

BAD_BYTES = [
    b"\xff", b"\xfe\xff", b"\xff\xfe\xc3",  # never UTF-8 / cut short
    b"\xc3",  # a lead byte at the end of the string
    b"\xc0\xaf", b"\xe0\x80\xaf", b"\xf0\x80\x80\xaf",  # overlong forms
    b"\xed\xa0\x80", b"\xed\xbf\xbf",  # surrogates encoded as UTF-8
    b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80",  # above U+10FFFF
    b"\x80", b"a\xbfb",  # a lone continuation byte
    b"\xe2\x82", b"\xf0\x9f\x98",  # three- and four-byte sequences cut short
]
LONE_SURROGATES = [r"\ud800", r"\udbff", r"\udc00", r"\udfff", r"x\ud800y", r"\ud800\u0041",
                   r"\udc00\ud800", r"\ud83d", r"\ud83d\ud83d\ude00"]
GOOD = ["caf\u00e9", "\u20ac", "\U0001F600", "\uffff", "\U0010FFFF", "\u0080", "\u07ff",
        "\u0800", "\ud7ff", "\ue000", r"\ud83d\ude00", r"\uD83D\uDE00"]


def raw_get(port, path):
    """GET returning (status, body bytes): sent and read as raw bytes, so that bad bytes are
    seen as they are on both sides."""
    if isinstance(path, str):
        path = path.encode("latin-1")
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        buf = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    finally:
        s.close()
    head, _, body = buf.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def raw_post(port, path, body):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, resp.read()
    finally:
        conn.close()


def strict(body):
    """The body as JSON, decoded strictly as UTF-8 (what a strict client does)."""
    return json.loads(body.decode("utf-8", errors="strict"))


class Utf8(CpdTestCase):
    def setUp(self):
        super().setUp()
        self.register("base", capabilities=["u"])
        self.tid = self.submit(task_type="seed", required_capabilities=["u"])
        self.assertEqual(self.claim("base", capabilities=["u"])["id"], self.tid)
        self.before = self.snapshot()

    def tearDown(self):
        try:
            self.assertEqual(self.snapshot(), self.before, "a rejected request changed state")
            for path in ("agents?available=false", "tasks?limit=1000", "health", "stats",
                         "agents/base", "tasks/" + self.tid):
                st, body = raw_get(self.cpd.port, BASE + "/" + path)
                self.assertEqual(st, 200, path)
                strict(body)
        finally:
            super().tearDown()

    def post_raw(self, path, body_bytes, member):
        st, body = raw_post(self.cpd.port, BASE + "/" + path, body_bytes)
        doc = strict(body)
        self.assertEqual(st, 400, (path, body_bytes[:80], doc))
        self.assertEqual(doc["code"], "invalid_json", doc)
        if member is not None:
            self.assertIn(member, doc["error"], (body_bytes[:80], doc))
        return doc

    def bodies(self, text_bytes, escaped):
        """(path, body bytes, member named) with text_bytes placed in every text member. When
        `escaped`, text_bytes is JSON escape text (inside the quotes) rather than raw bytes."""
        s = b'"' + text_bytes + b'"'
        tid = self.tid.encode()
        return [
            ("agents", b'{"agent_id": "n1", "metadata": {"k": ' + s + b"}}", "metadata"),
            ("agents", b'{"agent_id": "n1", "metadata": {' + s + b": 1}}", "metadata"),
            ("agents", b'{"agent_id": "n1", "metadata": {"a": [{"b": [' + s + b"]}]}}",
             "metadata"),
            ("agents", b'{"agent_id": "n1", "model": ' + s + b"}", "model"),
            ("agents", b'{"agent_id": "n1", "provider": ' + s + b"}", "provider"),
            ("agents", b'{"agent_id": ' + s + b"}", "agent_id"),
            ("agents", b'{"agent_id": "n1", "capabilities": ["ok", ' + s + b"]}",
             "capabilities"),
            ("agents", b'{"agent_id": "n1", "health_probe": {"type": "tcp", "address": ' + s +
             b"}}", "health_probe"),
            ("agents", b'{"agent_id": "n1", ' + s + b": 5}", None),
            ("tasks", b'{"task_type": "t", "payload": ' + s + b"}", "payload"),
            ("tasks", b'{"task_type": "t", "payload": {"q": {"r": ' + s + b"}}}", "payload"),
            ("tasks", b'{"task_type": "t", "payload": {' + s + b': "v"}}', "payload"),
            ("tasks", b'{"task_type": "t", "metadata": {"m": ' + s + b"}}", "metadata"),
            ("tasks", b'{"task_type": ' + s + b"}", "task_type"),
            ("tasks", b'{"task_type": "t", "strategy": ' + s + b"}", "strategy"),
            ("tasks", b'{"task_type": "t", "required_capabilities": [' + s + b"]}",
             "required_capabilities"),
            ("tasks/claim", b'{"agent_id": ' + s + b"}", "agent_id"),
            ("tasks/%s/complete" % tid.decode(), b'{"agent_id": "base", "result": {"x": ' + s +
             b"}}", "result"),
            ("tasks/%s/complete" % tid.decode(), b'{"agent_id": "base", "result": ' + s + b"}",
             "result"),
            ("tasks/%s/fail" % tid.decode(), b'{"agent_id": "base", "error": ' + s + b"}",
             "error"),
            ("agents/base/heartbeat", b'{"status": ' + s + b"}", "status"),
        ]

    def test_invalid_utf8_in_every_member(self):
        for bad in BAD_BYTES:
            for path, body, member in self.bodies(bad, False):
                with self.subTest(bad=bad, path=path, member=member):
                    self.post_raw(path, body, member)

    def test_lone_surrogates_in_every_member(self):
        for bad in LONE_SURROGATES:
            for path, body, member in self.bodies(bad.encode(), True):
                with self.subTest(bad=bad, path=path, member=member):
                    doc = self.post_raw(path, body, member)
                    self.assertIn("surrogate", doc["error"])

    def test_bad_bytes_in_path_ids(self):
        for enc in ("%FF", "%C3", "%ED%A0%80", "%C0%AF", "ok%F4%90%80%80"):
            for method, path in (("GET", "agents/" + enc), ("GET", "health/" + enc),
                                 ("GET", "tasks/" + enc), ("DELETE", "agents/" + enc),
                                 ("POST", "agents/%s/heartbeat" % enc),
                                 ("POST", "tasks/%s/complete" % enc)):
                r = self.c.request(method, path, body={} if method == "POST" else None)
                self.assertError(r, 400, "invalid_json", "path")

    def test_bad_bytes_in_query_values(self):
        for enc in ("%FF", "%C3", "%ED%A0%80", "%C0%AF", "%F4%90%80%80"):
            for path, name in (("agents?capability=" + enc, "capability"),
                               ("agents?status=" + enc, "status"),
                               ("agents?available=" + enc, "available"),
                               ("agents/select?strategy=" + enc, "strategy"),
                               ("agents/select?exclude=a," + enc, "exclude"),
                               ("tasks?task_type=" + enc, "task_type"),
                               ("tasks?limit=1&status=" + enc, "status"),
                               ("tasks/%s?wait_ms=%s" % (self.tid, enc), "wait_ms")):
                st, body = raw_get(self.cpd.port, BASE + "/" + path)
                doc = strict(body)
                self.assertEqual((st, doc["code"]), (400, "invalid_json"), (path, doc))
                self.assertIn(name, doc["error"])
        # Names are not percent-decoded by the HTTP layer; raw bytes reach cpd as they are.
        for raw in (b"\xff", b"\xc3", b"\xed\xa0\x80"):
            st, body = raw_get(self.cpd.port, BASE.encode() + b"/agents?" + raw + b"=1")
            self.assertEqual((st, strict(body)["code"]), (400, "invalid_json"), body)
            st, body = raw_get(self.cpd.port, BASE.encode() + b"/agents?status=" + raw)
            self.assertEqual((st, strict(body)["code"]), (400, "invalid_json"), body)

    def test_unmatched_paths_with_bad_bytes_answer_json(self):
        for enc in (b"%FF", b"\xff", b"\xc3(", b"\xed\xa0\x80"):
            st, body = raw_get(self.cpd.port, b"/nope/" + enc)
            self.assertEqual(st, 404)
            self.assertEqual(strict(body)["code"], "not_found")

    def test_valid_text_round_trips(self):
        for i, good in enumerate(GOOD):
            with self.subTest(text=good):
                text = json.loads('"%s"' % good) if "\\" in good else good
                aid = "g%d" % i
                body = ('{"agent_id": "%s", "model": "%s", "metadata": {"%s": "%s"}}'
                        % (aid, good, good, good)).encode("utf-8")
                st, resp = raw_post(self.cpd.port, BASE + "/agents", body)
                self.assertEqual(st, 201, strict(resp))
                got = strict(raw_get(self.cpd.port, BASE + "/agents/" + aid)[1])
                self.assertEqual(got["model"], text)
                self.assertEqual(got["metadata"], {text: text})
                self.assertEqual(self.c.delete("agents/" + aid).status, 200)
        # Lone surrogates stay rejected even when written the way the valid pair above is.
        self.post_raw("agents", b'{"agent_id": "z", "model": "\\uD800"}', "model")

    def test_strings_with_escapes_render_back(self):
        # Every kind of byte a rendered string holds: plain runs between escapes, quote,
        # backslash, the named and the \\u escapes, DEL (not escaped), two- and four-byte
        # characters, at the start, the middle and the end.
        for text in ['"start', 'end\\', 'a"b\\c\n\t\r\x01\x1fz\x7f', '\u00e9\U0001F600x"y',
                     'plain text of some length without anything to escape in it at all']:
            aid = "esc-%d" % len(text)
            body = json.dumps({"agent_id": aid, "model": text}).encode()
            st, resp = raw_post(self.cpd.port, BASE + "/agents", body)
            self.assertEqual(st, 201, resp)
            got = strict(raw_get(self.cpd.port, BASE + "/agents/" + aid)[1])
            self.assertEqual(got["model"], text)
            self.assertEqual(self.c.delete("agents/" + aid).status, 200)
        self.before = self.snapshot()

    def test_escaped_control_and_quote_characters_still_accepted(self):
        body = b'{"task_type": "t", "payload": {"s": "a\\"b\\\\c\\n\\u0001\\u00e9\'"}}'
        st, resp = raw_post(self.cpd.port, BASE + "/tasks", body)
        self.assertEqual(st, 201, resp)
        tid = strict(resp)["task_id"]
        self.assertEqual(self.task(tid)["payload"], {"s": "a\"b\\c\n\x01\u00e9'"})
        self.assertEqual(self.c.post("tasks/%s/cancel" % tid, {}).status, 200)
        self.before = self.snapshot()


if __name__ == "__main__":
    main()
