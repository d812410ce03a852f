"""only_http_limits.py — every fixed-size buffer on the request path at its limit, one byte over
and far over (paths, ids, query values, header values, error messages, rendering), sent as raw
bytes so that nothing in a client library shortens or fixes them. Each answer is the contract's
{"error","code"} JSON or a success; cpd stays up and sanitizer-clean."""

from cpdtest import BASE, main
from rawhttp import RawHttpCase, get, raw_request

PATH_LIMIT = 2048  # bytes of the raw request path (docs/api.md)


class PathBuffer(RawHttpCase):
    def test_reported_overflow_is_refused(self):
        # The reported crash: a 2,047-byte first segment and 8 empty segments wrote one NUL per
        # empty segment past the 2,048-byte buffer (before auth).
        path = "/" + "a" * 2047 + "/" * 8
        self.assertJsonError(self.raw(get(path)), 414, "uri_too_long")
        self.assertAlive()

    def test_path_at_limit_one_over_far_over(self):
        # At the limit: 2,048 bytes, with as many empty segments as the router takes.
        at = "/" + "a" * (PATH_LIMIT - 9) + "/" * 8
        self.assertEqual(len(at), PATH_LIMIT)
        self.assertJsonError(self.raw(get(at)), 404, "not_found")
        at = "/" + "b" * (PATH_LIMIT - 1)
        self.assertJsonError(self.raw(get(at)), 404, "not_found")
        self.assertJsonError(self.raw(get(at + "/")), 414, "uri_too_long")
        self.assertJsonError(self.raw(get(at + "c")), 414, "uri_too_long")
        self.assertJsonError(self.raw(get("/" + "d" * 60000)), 414, "uri_too_long")
        self.assertJsonError(self.raw(get("/" + "/" * 60000)), 414, "uri_too_long")
        self.assertAlive()

    def test_percent_encoded_path_at_limit(self):
        # %xx decodes to one byte: a 2,046-byte encoded path is 684 decoded bytes.
        seg = "%41" * ((PATH_LIMIT - len(BASE) - len("/agents/")) // 3)
        path = BASE + "/agents/" + seg
        self.assertLessEqual(len(path), PATH_LIMIT)
        resp = self.raw(get(path))
        self.assertJsonError(resp, 400, "invalid_field", "agent id")
        self.assertJsonError(self.raw(get(path + "%41%41")), 414, "uri_too_long")
        self.assertAlive()

    def test_deep_paths(self):
        for depth in (8, 9, 100, 1000):
            path = "/x" * depth
            st = self.raw(get(path))[0]
            self.assertIn(st, (400, 404), path[:40])
        self.assertAlive()


class IdBuffers(RawHttpCase):
    def test_agent_id_at_limit_one_over_far_over(self):
        c = self.cpd.client()
        self.register("i" * 128, client=c)
        self.assertEqual(c.get("agents/" + "i" * 128).status, 200)
        for aid in ("i" * 129, "i" * 1000):
            self.assertJsonError(self.raw(get(BASE + "/agents/" + aid)), 400, "invalid_field",
                                 "agent id")
            r = c.post("agents", {"agent_id": aid})
            self.assertError(r, 400, "invalid_field", "agent_id")
            r = c.post("tasks/claim", {"agent_id": aid})
            self.assertError(r, 400, "invalid_field", "agent_id")
        c.close()

    def test_task_id_at_limit_one_over_far_over(self):
        c = self.cpd.client()
        for tid, status in (("t" * 128, 404), ("t" * 129, 400), ("t" * 1900, 400),
                            ("t" * 5000, 414)):
            for method, suffix in (("GET", ""), ("POST", "/complete"), ("POST", "/fail"),
                                   ("POST", "/start"), ("POST", "/cancel")):
                r = c.request(method, "tasks/" + tid + suffix,
                              body={} if method == "POST" else None)
                # GET /tasks/:id looks the id up as it is: an id no task can have is not found.
                want = (400, 404) if method == "GET" and status == 400 else (status,)
                # (a path over 2,048 bytes is refused before routing: 414)
                self.assertIn(r.status, want, (method, suffix, len(tid), r))
                self.assertIn("code", r.body)
        c.close()

    def test_claim_agent_id_fills_the_handoff_buffer(self):
        c = self.cpd.client()
        aid = "h" * 128
        self.register(aid, client=c, capabilities=["x"])
        tid = self.submit(client=c, required_capabilities=["x"])
        task = self.claim(aid, client=c)
        self.assertEqual(task["id"], tid)
        self.assertEqual(task["assigned_agent"], aid)
        c.close()


class QueryAndHeaderBuffers(RawHttpCase):
    def test_long_query_values_echoed_bounded(self):
        c = self.cpd.client()
        for n in (127, 128, 129, 10000):
            r = c.get("agents/select?strategy=" + "s" * n)
            self.assertError(r, 400, "invalid_field", "strategy")
            self.assertLess(len(r.body["error"]), 700)
            r = c.get("agents?capability=" + "c" * n)
            if n <= 128:
                self.assertEqual(r.status, 200)
            else:
                self.assertError(r, 400, "invalid_field", "capability")
                self.assertLess(len(r.body["error"]), 700)
        for n in (19, 20, 21, 5000):
            r = c.get("tasks?limit=" + "9" * n)
            self.assertError(r, 400, "invalid_field", "limit")
            r = c.get("tasks/task_000000000000000000000000?wait_ms=" + "9" * n)
            self.assertError(r, 400, "invalid_field", "wait_ms")
        c.close()

    def test_long_content_type_echoed_bounded(self):
        for n in (63, 64, 65, 30000):
            ctype = "text/" + "p" * n
            body = b'{"agent_id": "ct"}'
            req = (b"POST " + BASE.encode() + b"/agents HTTP/1.1\r\nHost: x\r\n"
                   b"Connection: close\r\nContent-Type: " + ctype.encode() +
                   b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)
            doc = self.assertJsonError(self.raw(req), 415, "unsupported_media_type")
            self.assertLess(len(doc["error"]), 700)
        self.assertAlive()

    def test_long_authorization_header(self):
        cpd = self.start_cpd(env={"CONTROL_PLANE_TOKENS": "tok-admin:admin"})
        for n in (1, 4095, 4096, 4097, 60000):
            req = get(BASE + "/agents", b"Authorization: Bearer " + b"t" * n + b"\r\n")
            self.assertJsonError(raw_request(cpd.port, req), 401, "unauthorized")
        c = cpd.client(token="tok-admin")
        self.assertEqual(c.get("agents").status, 200)
        cpd.stop()


class ErrorMessageBuffer(RawHttpCase):
    def test_error_messages_are_cut_not_overflowed(self):
        # The error text is formatted into a fixed buffer: long echoed input is cut.
        c = self.cpd.client()
        for n in (100, 300, 511, 512, 513, 20000):
            r = c.get("agents?status=" + "z" * n)
            self.assertError(r, 400, "invalid_field", "status")
            r = c.request("GET", "/nope/" + "n" * min(n, 1900))
            self.assertError(r, 404, "not_found")
            self.assertLess(len(r.body["error"]), 600)
        c.close()


class RenderBuffer(RawHttpCase):
    def test_strings_around_the_render_chunk(self):
        # render.c copies through a 2,048-byte chunk: strings and escapes that straddle it.
        c = self.cpd.client()
        for n in (2000, 2047, 2048, 2049, 4096, 100000):
            for fill in ("x", "\"", "\n", "\u00e9", "\U0001F600"):
                aid = self.uid("r")
                meta = {"k": fill * (n // len(fill.encode()))}
                self.register(aid, client=c, metadata=meta, model="m" * 256)
                got = self.agent(aid, client=c)
                self.assertEqual(got["metadata"], meta)
                tid = self.submit(client=c, payload={"p": fill * (n // 4)},
                                  metadata=meta)
                self.assertEqual(self.task(tid, client=c)["payload"], {"p": fill * (n // 4)})
                r = c.post("tasks/%s/cancel" % tid, {})
                self.assertEqual(r.status, 200)
        r = c.post("agents", {"agent_id": "long-model", "model": "m" * 257})
        self.assertError(r, 400, "invalid_field", "model")
        listing = c.get("agents?available=false")
        self.assertEqual(listing.status, 200)
        c.close()

    def test_error_strings_around_the_render_chunk(self):
        c = self.cpd.client()
        aid = self.uid("e")
        self.register(aid, client=c, capabilities=["e"])
        for n in (2047, 2048, 2049, 70000):
            tid = self.submit(client=c, required_capabilities=["e"], max_retries=0)
            self.assertEqual(self.claim(aid, client=c)["id"], tid)
            r = c.post("tasks/%s/fail" % tid, {"agent_id": aid, "error": "\u00e9" * n})
            self.assertEqual(r.status, 200, r)
            self.assertEqual(self.task(tid, client=c)["error"], "\u00e9" * n)
        c.close()


if __name__ == "__main__":
    main()
