"""The fleet benchmark's yardstick (bench/fleet/mockllm.py): the mock LLM provider enforces RPM
and TPM exactly, per API key and model, answers 429 with the exact Retry-After, caps output at
max_output, serves cached input tokens per (agent, conversation) for its TTL, and takes time in
proportion to the output. Driven over its real HTTP interface; a manual clock makes the window
arithmetic exact (no timing races), and one check uses the real clock for latency."""

import http.client
import json
import os
import sys
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import cpdtest  # noqa: E402  (for SOURCE_DIR)

sys.path.insert(0, os.path.join(cpdtest.SOURCE_DIR, "bench", "fleet"))
import mockllm  # noqa: E402


class MockProviderTest(unittest.TestCase):
    def start(self, **kw):
        clock = kw.pop("clock", None)
        if clock is None and "real" not in kw:
            clock = mockllm.ManualClock()
        kw.pop("real", None)
        kw.setdefault("base_latency_ms", 0)
        kw.setdefault("per_token_ms", 0)
        self.clock = clock
        self.provider = mockllm.MockProvider(clock=clock, **kw)
        self.server = self.provider.serve()
        self.addCleanup(self.server.server_close)
        self.addCleanup(self.server.shutdown)
        self.conn = http.client.HTTPConnection("127.0.0.1", self.server.server_address[1],
                                               timeout=10)
        self.addCleanup(self.conn.close)

    def call(self, input_tokens=100, output_tokens=0, key="k1", model="m", agent="a1",
             conversation=None, prefix=0, max_output=None, headers=None):
        body = {"model": model, "agent": agent, "conversation": conversation,
                "input_tokens": input_tokens, "prefix_tokens": prefix,
                "output_tokens": output_tokens}
        if max_output is not None:
            body["max_output"] = max_output
        hdrs = {"Content-Type": "application/json"}
        if key:
            hdrs["x-api-key"] = key
        hdrs.update(headers or {})
        self.conn.request("POST", "/v1/messages", json.dumps(body), hdrs)
        r = self.conn.getresponse()
        return r.status, r.headers, json.loads(r.read())

    def assert_429(self, reply, retry_ms):
        status, headers, body = reply
        self.assertEqual(status, 429, body)
        self.assertEqual(body["error"]["type"], "rate_limit_error")
        self.assertEqual(int(headers["retry-after-ms"]), retry_ms)
        self.assertEqual(int(headers["Retry-After"]), -(-retry_ms // 1000))

    def test_rpm_sliding_window_and_exact_retry_after(self):
        self.start(rpm=3, tpm=10**6, minute=60)
        for _ in range(3):
            self.assertEqual(self.call()[0], 200)
            self.clock.advance(1)
        self.clock.advance(-1)  # now t=2: admissions at 0, 1, 2
        self.assert_429(self.call(), 58000)  # the one at t=0 leaves the window at t=60
        self.clock.advance(57.999)
        self.assert_429(self.call(), 1)
        self.clock.advance(0.001)
        self.assertEqual(self.call()[0], 200)  # exactly when Retry-After said
        self.assert_429(self.call(), 1000)  # next: the admission at t=1 leaves at t=61
        stats = self.provider.stats()["counters"]
        self.assertEqual((stats["admitted"], stats["rate_limited"]), (4, 3))

    def test_tpm_counts_input_plus_output_exactly(self):
        self.start(rpm=100, tpm=1000, minute=60)
        self.assertEqual(self.call(input_tokens=500, output_tokens=100)[0], 200)  # 600
        self.clock.advance(10)
        self.assert_429(self.call(input_tokens=401), 50000)  # 1001 > 1000 until t=60
        self.assertEqual(self.call(input_tokens=400)[0], 200)  # exactly 1000
        self.assert_429(self.call(input_tokens=1), 50000)
        self.clock.advance(50)
        # The 600 left at t=60; 400 (admitted at t=10) remain until t=70.
        self.assertEqual(self.call(input_tokens=600)[0], 200)
        self.assert_429(self.call(input_tokens=1), 10000)
        status, _, body = self.call(input_tokens=1001)  # can never fit: not a 429
        self.assertEqual(status, 400)
        self.assertEqual(body["error"]["type"], "request_too_large")

    def test_each_key_and_model_has_its_own_limit(self):
        self.start(rpm=1, tpm=10**6, minute=60, limits={("k2", "m"): (2, 10**6)})
        self.assertEqual(self.call()[0], 200)
        self.assertEqual(self.call()[0], 429)
        self.assertEqual(self.call(model="other")[0], 200)
        self.assertEqual(self.call(key="k2")[0], 200)
        self.assertEqual(self.call(key="k2")[0], 200)
        self.assertEqual(self.call(key="k2")[0], 429)
        self.assertEqual(self.call(key=None)[0], 401)
        self.assertEqual(self.call(key=None, headers={"Authorization": "Bearer k3"})[0], 200)

    def test_fixed_window(self):
        self.start(rpm=2, tpm=10**6, minute=60, window="fixed")
        self.clock.advance(30)
        self.assertEqual(self.call()[0], 200)
        self.assertEqual(self.call()[0], 200)
        self.assert_429(self.call(), 30000)  # until the next calendar minute
        self.clock.advance(30)
        self.assertEqual(self.call()[0], 200)  # a new window, though t=30's are 30 s old
        self.assertEqual(self.call()[0], 200)

    def test_max_output_caps_output_and_tokens(self):
        self.start(rpm=100, tpm=1000, minute=60)
        status, _, body = self.call(input_tokens=100, output_tokens=800, max_output=300)
        self.assertEqual(status, 200)
        self.assertEqual(body["usage"], {"input_tokens": 100, "output_tokens": 300,
                                         "cached_tokens": 0})
        self.assertEqual(body["stop_reason"], "max_tokens")
        self.assertEqual(self.call(input_tokens=600)[0], 200)  # 400 + 600 = 1000
        self.assertEqual(self.call(input_tokens=1)[0], 429)

    def test_prompt_cache_per_agent_and_conversation_with_ttl(self):
        self.start(rpm=100, tpm=10**6, minute=60, cache_ttl=300)
        st, _, b = self.call(input_tokens=1000, output_tokens=200, agent="a1", conversation="c")
        self.assertEqual(b["usage"]["cached_tokens"], 0)
        # Turn 2 carries turn 1 (1000 + 200) as its prefix: all of it cached on a1.
        st, _, b = self.call(input_tokens=1500, prefix=1200, output_tokens=100, agent="a1",
                             conversation="c")
        self.assertEqual(b["usage"]["cached_tokens"], 1200)
        # On another agent nothing is cached; that agent is now the warm one.
        st, _, b = self.call(input_tokens=1700, prefix=1600, output_tokens=100, agent="a2",
                             conversation="c")
        self.assertEqual(b["usage"]["cached_tokens"], 0)
        # a1 still holds 1600 tokens (turn 2) of this conversation: a partial hit.
        st, _, b = self.call(input_tokens=1900, prefix=1800, agent="a1", conversation="c")
        self.assertEqual(b["usage"]["cached_tokens"], 1600)
        self.assertEqual(self.call(input_tokens=10, prefix=5, agent="a1",
                                   conversation="other")[2]["usage"]["cached_tokens"], 0)
        self.clock.advance(300)  # the TTL has passed
        st, _, b = self.call(input_tokens=2000, prefix=1900, agent="a1", conversation="c")
        self.assertEqual(b["usage"]["cached_tokens"], 0)
        self.assertEqual(self.provider.stats()["counters"]["cached_tokens"], 2800)

    def test_bad_requests(self):
        self.start()
        self.conn.request("POST", "/v1/messages", "[1]", {"x-api-key": "k"})
        r = self.conn.getresponse()
        self.assertEqual(r.status, 400)
        r.read()
        self.conn.close()
        self.assertEqual(self.call(input_tokens=10, prefix=11)[0], 400)
        self.assertEqual(self.call(input_tokens=-1)[0], 400)
        self.assertEqual(self.provider.stats()["counters"].get("admitted", 0), 0)

    def test_latency_is_proportional_to_output_and_scaled(self):
        self.start(real=True, rpm=100, tpm=10**6, minute=6, base_latency_ms=1000,
                   per_token_ms=20)
        t0 = time.monotonic()
        status, _, body = self.call(input_tokens=10, output_tokens=100)
        elapsed = time.monotonic() - t0
        # (1000 + 100 * 20) ms of model time at a 6-s minute: 300 ms of real time.
        self.assertEqual(status, 200)
        self.assertAlmostEqual(body["latency_ms"], 300.0, places=3)
        self.assertGreaterEqual(elapsed, 0.3)
        self.assertLess(elapsed, 5.0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
