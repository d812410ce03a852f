"""mockllm.py — a mock LLM provider for the fleet benchmark: a small threaded HTTP server that
enforces requests per minute (RPM) and tokens per minute (TPM) exactly, answers 429 with
Retry-After beyond them, takes time proportional to the output it produces, and keeps a prompt
cache per (agent, affinity key). Standard library only.

The yardstick of bench/fleet/fleetsim.py, tested by tests/e2e/only_mock_provider.py.

Request (POST /v1/messages; the API key in `x-api-key` or `Authorization: Bearer`):
  {"model": "m", "agent": "agent-7", "conversation": "conv-3" | null,
   "input_tokens": 1200, "prefix_tokens": 900, "output_tokens": 300, "max_output": 512,
   "tenant": "b"}
  - input_tokens: the prompt's size; prefix_tokens (≤ input_tokens): the part of it that is the
    conversation's earlier turns, which a prompt cache can serve;
  - output_tokens: what the model will produce (the simulation decides), cut to max_output;
  - tenant: only for the per-window statistics (a provider does not know tenants).
Answers:
  200 {"usage": {"input_tokens", "output_tokens", "cached_tokens"}, "stop_reason"} after
      base_latency_ms + per_token_ms * output_tokens (both scaled, see `minute`)
  429 {"error": {"type": "rate_limit_error", "message"}} with headers `Retry-After` (whole
      seconds, rounded up) and `retry-after-ms` (exact milliseconds)
  400 invalid request, or one request larger than the TPM limit (it can never fit)
  401 no API key
GET /stats: the counters (see MockProvider.stats); POST /reset: clears limits, cache and counters.

Limits (per API key and model, each pair its own window):
  window "sliding" (default): a request is admitted when, counting every request admitted in the
    last `minute` seconds (an admission at t counts during [t, t + minute)), fewer than `rpm` were
    admitted and their tokens plus this one's are at most `tpm`. Any `minute`-long span then holds
    at most rpm requests and tpm tokens — the strictest reading of "per minute".
  window "fixed": the same counted per calendar window [start + k*minute, start + (k+1)*minute).
  A request's tokens are input_tokens + its (capped) output tokens, charged when it is admitted
  (cached input counts too). Retry-After is the exact moment the same request would be admitted
  if nothing else were admitted meanwhile.

Time scale: `minute` is the length of a provider minute in real seconds (60 = real time; 6 =
ten times faster). Latencies and the cache TTL are given in provider ("model") time and scaled by
minute/60, so a scaled run is the real run played faster.
"""

import argparse
import collections
import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Clock:
    """Real monotonic time; tests pass a ManualClock instead."""

    def now(self):
        return time.monotonic()

    def sleep(self, seconds):
        if seconds > 0:
            time.sleep(seconds)


class ManualClock(Clock):
    """A clock that moves only when told (tests); sleep() does not wait."""

    def __init__(self, start=1000.0):
        self.t = start

    def now(self):
        return self.t

    def advance(self, seconds):
        self.t += seconds

    def sleep(self, seconds):
        pass


class RateWindow:
    """The admissions of one (API key, model) pair and the check against rpm/tpm."""

    def __init__(self, rpm, tpm, minute, mode, origin):
        self.rpm, self.tpm, self.minute, self.mode, self.origin = rpm, tpm, minute, mode, origin
        self.log = collections.deque()  # (admitted_at, tokens), oldest first (sliding)
        self.fixed_index, self.fixed_requests, self.fixed_tokens = None, 0, 0

    def try_admit(self, now, tokens):
        """Admit (returns None) or return the seconds until this request would fit."""
        if self.mode == "fixed":
            return self._fixed(now, tokens)
        while self.log and self.log[0][0] + self.minute <= now:
            self.log.popleft()
        used = sum(t for _, t in self.log)
        if len(self.log) < self.rpm and used + tokens <= self.tpm:
            self.log.append((now, tokens))
            return None
        # The earliest expiry after which both limits hold: drop the oldest admissions one by one.
        count = len(self.log)
        for admitted_at, t in self.log:
            count -= 1
            used -= t
            if count < self.rpm and used + tokens <= self.tpm:
                return admitted_at + self.minute - now
        return self.minute  # unreachable while tokens <= tpm (checked by the caller)

    def _fixed(self, now, tokens):
        index = math.floor((now - self.origin) / self.minute)
        if index != self.fixed_index:
            self.fixed_index, self.fixed_requests, self.fixed_tokens = index, 0, 0
        if self.fixed_requests < self.rpm and self.fixed_tokens + tokens <= self.tpm:
            self.fixed_requests += 1
            self.fixed_tokens += tokens
            return None
        return self.origin + (index + 1) * self.minute - now


class MockProvider:
    """The provider's state; serve() puts it behind HTTP. Thread-safe."""

    def __init__(self, rpm=600, tpm=200000, minute=60.0, window="sliding", base_latency_ms=400.0,
                 per_token_ms=20.0, cache_ttl=300.0, limits=None, clock=None):
        if window not in ("sliding", "fixed"):
            raise ValueError("window must be sliding or fixed")
        if rpm < 1 or tpm < 1 or minute <= 0:
            raise ValueError("rpm, tpm and minute must be positive")
        self.rpm, self.tpm, self.minute, self.window = rpm, tpm, float(minute), window
        self.scale = self.minute / 60.0
        self.base_latency = base_latency_ms / 1000.0 * self.scale
        self.per_token = per_token_ms / 1000.0 * self.scale
        self.cache_ttl = cache_ttl * self.scale
        self.limits = dict(limits or {})  # (key, model) -> (rpm, tpm) overrides
        self.clock = clock or Clock()
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.origin = self.clock.now()
            self.windows = {}
            self.cache = {}  # (agent, conversation) -> (cached tokens, expires_at)
            self.counters = collections.Counter()
            self.per_window = {}  # provider-minute index -> {"requests", "tokens", "by_tenant"}
            self.retry_after_ms = []

    def limit_of(self, key, model):
        return self.limits.get((key, model), (self.rpm, self.tpm))

    def handle(self, key, body):
        """(status, headers, body) for one request; sleeps the latency outside the lock."""
        try:
            model = _text(body, "model")
            agent = _text(body, "agent")
            conversation = body.get("conversation")
            if conversation is not None and not isinstance(conversation, str):
                raise ValueError("conversation must be a string or null")
            tenant = body.get("tenant")
            tenant = tenant if isinstance(tenant, str) else None
            input_tokens = _count(body, "input_tokens")
            prefix = _count(body, "prefix_tokens", 0)
            output = _count(body, "output_tokens")
            max_output = body.get("max_output")
            if max_output is not None:
                max_output = _count(body, "max_output")
                output = min(output, max_output)
            if prefix > input_tokens:
                raise ValueError("prefix_tokens is larger than input_tokens")
        except ValueError as e:
            return 400, {}, {"error": {"type": "invalid_request_error", "message": str(e)}}
        tokens = input_tokens + output
        rpm, tpm = self.limit_of(key, model)
        if tokens > tpm:
            with self.lock:
                self.counters["too_large"] += 1
            return 400, {}, {"error": {"type": "request_too_large",
                                       "message": "%d tokens exceed the limit of %d per minute"
                                       % (tokens, tpm)}}
        with self.lock:
            now = self.clock.now()
            self.counters["requests"] += 1
            w = self.windows.get((key, model))
            if w is None:
                w = self.windows[(key, model)] = RateWindow(rpm, tpm, self.minute, self.window,
                                                            self.origin)
            wait = w.try_admit(now, tokens)
            if wait is not None:
                self.counters["rate_limited"] += 1
                ms = max(1, math.ceil(wait * 1000.0 - 1e-6))
                self.retry_after_ms.append(ms)
                return 429, {"Retry-After": str(max(1, math.ceil(ms / 1000.0))),
                             "retry-after-ms": str(ms)}, {
                    "error": {"type": "rate_limit_error",
                              "message": "rate limit reached for %s: %d requests and %d tokens "
                                         "per minute" % (model, rpm, tpm)}}
            cached = 0
            if conversation is not None:
                hit = self.cache.get((agent, conversation))
                if hit is not None and hit[1] > now:
                    cached = min(prefix, hit[0])
                self.cache[(agent, conversation)] = (input_tokens + output, now + self.cache_ttl)
            self.counters["admitted"] += 1
            self.counters["tokens"] += tokens
            self.counters["input_tokens"] += input_tokens
            self.counters["output_tokens"] += output
            self.counters["cached_tokens"] += cached
            self.counters["prefix_tokens"] += prefix
            index = int(math.floor((now - self.origin) / self.minute))
            pw = self.per_window.setdefault(index, {"requests": 0, "tokens": 0, "by_tenant": {}})
            pw["requests"] += 1
            pw["tokens"] += tokens
            if tenant is not None:
                pw["by_tenant"][tenant] = pw["by_tenant"].get(tenant, 0) + tokens
        latency = self.base_latency + self.per_token * output
        self.clock.sleep(latency)
        stop = "max_tokens" if max_output is not None and output == max_output else "end_turn"
        return 200, {}, {"usage": {"input_tokens": input_tokens, "output_tokens": output,
                                   "cached_tokens": cached},
                         "stop_reason": stop, "latency_ms": round(latency * 1000.0, 1)}

    def stats(self):
        """Counters, per-window admissions (provider minutes since the start or the last reset)
        and the limits, as JSON-ready values."""
        with self.lock:
            return {"rpm": self.rpm, "tpm": self.tpm, "minute_seconds": self.minute,
                    "window": self.window, "elapsed_seconds": self.clock.now() - self.origin,
                    "counters": dict(self.counters),
                    "per_window": {str(k): dict(v, by_tenant=dict(v["by_tenant"]))
                                   for k, v in sorted(self.per_window.items())},
                    "retry_after_ms": list(self.retry_after_ms[-1000:])}

    # -- HTTP
    def serve(self, host="127.0.0.1", port=0):
        """Start the HTTP server on a thread; returns the server (server.server_address[1] is
        the port; server.shutdown() and server.server_close() stop it)."""
        provider = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _send(self, status, headers, body):
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _body(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n < 0 or n > 1 << 20:
                    raise ValueError("body too large")
                raw = self.rfile.read(n) if n else b""
                value = json.loads(raw or b"{}")
                if not isinstance(value, dict):
                    raise ValueError("body must be a JSON object")
                return value

            def do_POST(self):
                try:
                    body = self._body()
                except ValueError as e:
                    self.close_connection = True
                    return self._send(400, {}, {"error": {"type": "invalid_request_error",
                                                          "message": str(e)}})
                if self.path == "/reset":
                    provider.reset()
                    return self._send(200, {}, {"reset": True})
                if self.path != "/v1/messages":
                    return self._send(404, {}, {"error": {"type": "not_found"}})
                key = self.headers.get("x-api-key")
                auth = self.headers.get("Authorization") or ""
                if not key and auth.startswith("Bearer "):
                    key = auth[7:]
                if not key:
                    return self._send(401, {}, {"error": {"type": "authentication_error",
                                                          "message": "no API key"}})
                self._send(*provider.handle(key, body))

            def do_GET(self):
                if self.path == "/stats":
                    return self._send(200, {}, provider.stats())
                self._send(404, {}, {"error": {"type": "not_found"}})

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            request_queue_size = 512  # listen() backlog: a fleet connects all at once

        server = Server((host, port), Handler)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                         name="mockllm").start()
        return server


def _text(body, name):
    v = body.get(name)
    if not isinstance(v, str) or not v:
        raise ValueError("%s must be a non-empty string" % name)
    return v


def _count(body, name, default=None):
    v = body.get(name, default)
    if v is None:
        raise ValueError("%s is required" % name)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0 or v > 10**9:
        raise ValueError("%s must be a whole number >= 0" % name)
    return v


def main():
    ap = argparse.ArgumentParser(description="mock LLM provider (RPM/TPM, 429, prompt cache)")
    ap.add_argument("--port", type=int, default=8090)
    ap.add_argument("--rpm", type=int, default=600)
    ap.add_argument("--tpm", type=int, default=200000)
    ap.add_argument("--minute", type=float, default=60.0, help="real seconds per provider minute")
    ap.add_argument("--window", choices=("sliding", "fixed"), default="sliding")
    ap.add_argument("--base-latency-ms", type=float, default=400.0)
    ap.add_argument("--per-token-ms", type=float, default=20.0)
    ap.add_argument("--cache-ttl", type=float, default=300.0, help="seconds of provider time")
    a = ap.parse_args()
    p = MockProvider(a.rpm, a.tpm, a.minute, a.window, a.base_latency_ms, a.per_token_ms,
                     a.cache_ttl)
    server = p.serve(port=a.port)
    print("mock provider on 127.0.0.1:%d" % server.server_address[1], flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.shutdown()


if __name__ == "__main__":
    main()
