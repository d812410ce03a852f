"""fleetsim.py — the AI-fleet dispatch benchmark: three cpd processes on one Redis, agents that
claim tasks over the REST API and call a mock LLM provider (mockllm.py) under one shared quota,
tenants of which one floods, multi-turn conversations. Runs each mode with a fresh prefix and a
fresh provider and prints them side by side (see docs/performance.md, "AI-fleet dispatch").

Modes:
  today      no quotas, no tenants, least_loaded; an agent that gets a 429 retries twice after
             Retry-After (as provider SDKs do) and then fails the task the old way (`fail`,
             requeue: a retry counted).
  fleet      what the server supports of issue #17: a quota (POST /quotas) on the agents'
             provider and model, tasks with tenant, est_tokens {input, max_output},
             affinity_key + affinity_ttl_seconds and strategy `affinity`, tenant weights
             (PUT /tenants/:id), a 429 reported as fail {reason: rate_limited, retry_after_ms},
             usage on complete. Each feature is detected first; what is missing is named in the
             output and the mode runs with the rest.
  fleet-est  as fleet, but est_tokens without max_output (estimates only).

Standard library only; starts cpd and redis-server through tests/e2e/cpdtest.py
(CPD_BIN, CP_PLUGIN_DIR, REDIS_SERVER select the binaries).
"""

import argparse
import http.client
import json
import os
import signal
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tests", "e2e"))
import cpdtest  # noqa: E402
import mockllm  # noqa: E402
import report  # noqa: E402
from workload import Tenant, Workload  # noqa: E402

PROVIDER, MODEL, API_KEY = "mock", "mock-large", "fleet-key"
CAPABILITY = "llm"
PROBE_CAP = "fleetbench-probe"


def log(msg):
    print("%s fleetsim: %s" % (time.strftime("%H:%M:%S"), msg), file=sys.stderr, flush=True)


class Cluster:
    """Three cpd processes sharing one Redis key prefix."""

    def __init__(self, redis, processes, plugin_names, store="redis"):
        self.redis, self.cpds = redis, []
        prefix = "fleetbench:%d:" % int(time.time() * 1000)
        config = {"agents": {"heartbeat_timeout_seconds": 600},
                  "selection": {"plugins": plugin_names}}
        for _ in range(processes):
            c = cpdtest.Cpd(config=config, store=store, redis=redis,
                            env={"ASAN_OPTIONS": None, "UBSAN_OPTIONS": None})
            c.prefix = prefix
            self.cpds.append(c)

    def start(self):
        try:
            for c in self.cpds:
                c.start()
        except BaseException:
            self.stop()
            raise
        return self

    def client(self, i, timeout=30.0):
        return cpdtest.Client(self.cpds[i % len(self.cpds)].port, timeout=timeout)

    def stop(self):
        for c in self.cpds:
            try:
                c.stop(check=False)
            except AssertionError as e:
                log("cpd did not stop cleanly: %s" % str(e)[:200])
            c.cleanup()


def selection_plugins():
    """least_loaded, round_robin, random, plus affinity/headroom when built as plugins."""
    names = ["least_loaded", "round_robin", "random"]
    for extra in ("affinity", "headroom"):
        if os.path.exists(os.path.join(cpdtest.PLUGIN_DIR, extra + ".so")):
            names.append(extra)
    return names


class Features:
    """What the running cpd supports of issue #17, found by asking it."""

    def __init__(self):
        self.quotas = self.tenants = self.rate_limited = False
        self.task_fields = set()
        self.strategies = set()
        self.notes = []

    def detect(self, c):
        r = c.get("plugins")
        if r.status == 200:
            self.strategies = {p["name"] for p in r.body.get("plugins", [])
                               if p.get("kind") == "selection"}
        self.quotas = c.get("quotas").status == 200
        # Task fields: a task nobody can claim, read back; unknown members are ignored by
        # older servers, so a field counts as supported only when the TaskJSON shows it. When
        # the server refuses the task, each field is tried alone.
        fields = {"tenant": "probe", "est_tokens": {"input": 10, "max_output": 10},
                  "affinity_key": "probe-conv", "affinity_ttl_seconds": 30}
        self.task_fields = self._probe_fields(c, fields)
        if self.task_fields is None:
            self.task_fields = set()
            for k in ("tenant", "est_tokens", "affinity_key"):
                one = {k: fields[k]}
                if k == "affinity_key":
                    one["affinity_ttl_seconds"] = fields["affinity_ttl_seconds"]
                self.task_fields |= self._probe_fields(c, one) or set()
        self.rate_limited = self._probe_rate_limited(c)
        return self

    def _probe_fields(self, c, fields):
        """The members of `fields` a probe task keeps, or None when the task is refused."""
        body = dict(fields, task_type="fleetbench-probe", required_capabilities=[PROBE_CAP])
        r = c.post("tasks", body)
        if r.status != 201:
            self.notes.append("task with %s refused: %s" % (", ".join(sorted(fields)),
                                                             r.body))
            return None
        tid = r.body["task_id"]
        task = c.get("tasks/" + tid).body
        c.post("tasks/%s/cancel" % tid, {})
        task = task if isinstance(task, dict) else {}
        meta = task.get("metadata") if isinstance(task.get("metadata"), dict) else {}

        def kept(k, want):  # top level, or kept in metadata (affinity does that)
            for v in (task.get(k), meta.get(k)):
                if k == "est_tokens" and isinstance(v, dict) and v.get("input") == 10:
                    return True
                if v == want:
                    return True
            return False
        return {k for k in fields if kept(k, fields[k])}

    def _probe_rate_limited(self, c):
        """fail {reason: rate_limited}: supported when the task goes back to pending without a
        retry counted."""
        agent = "fleetbench-probe-agent"
        if c.post("agents", {"agent_id": agent, "capabilities": [PROBE_CAP],
                             "provider": "probe"}).status not in (200, 201):
            return False
        ok = False
        r = c.post("tasks", {"task_type": "fleetbench-probe", "required_capabilities": [PROBE_CAP],
                             "max_retries": 5})
        tid = r.body.get("task_id") if r.status == 201 else None
        if tid:
            cl = c.post("tasks/claim", {"agent_id": agent})
            if cl.status == 200 and cl.body.get("task"):
                f = c.post("tasks/%s/fail" % tid, {"agent_id": agent, "reason": "rate_limited",
                                                   "retry_after_ms": 1, "error": "probe"})
                ok = (f.status == 200 and f.body.get("status") == "pending"
                      and f.body.get("retries") == 0)
            c.post("tasks/%s/cancel" % tid, {})
        c.delete("agents/" + agent)
        return ok

    def describe(self):
        parts = ["quotas: %s" % ("yes" if self.quotas else "no (GET /quotas 404)"),
                 "tenant weights: %s" % ("yes" if self.tenants else "no"),
                 "task fields: %s" % (", ".join(sorted(self.task_fields)) or "none"),
                 "fail reason rate_limited: %s" % ("yes" if self.rate_limited else "no"),
                 "strategy affinity: %s" % ("yes" if "affinity" in self.strategies else "no")]
        return "; ".join(parts + self.notes)


class Sim:
    """One mode's run."""

    def __init__(self, args, mode, redis):
        self.a, self.mode, self.redis = args, mode, redis
        self.scale = args.minute / 60.0
        self.fleet = mode != "today"
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.in_flight = {}
        self.max_in_flight = {}
        self.completions = {}
        self.fails = self.fails_final = 0
        self.errors = []
        self.features = Features()
        tpm = args.tpm
        run_minutes = args.windows
        avg_tokens = 2430.0  # single_task()'s mean (input + output), sampled offline
        flood = args.flood if args.flood is not None else int(
            args.flood_share * tpm * run_minutes / avg_tokens)
        # b and c start with `warm` minutes of their arrivals queued: the flood's backlog is
        # there before the run, and the agents' first claims (a minute of quota within the
        # first second) would otherwise find nothing of b's and c's waiting.
        warm = lambda rate: int(args.warm * rate * tpm / avg_tokens)
        self.tenants = [Tenant("flood", 1, 0.0, backlog=flood),
                        Tenant("b", 1, args.rate_b, backlog=warm(args.rate_b),
                               conversations=args.conversations),
                        Tenant("c", 2, args.rate_c, backlog=warm(args.rate_c),
                               conversations=args.conversations)]
        self.waiting = {}  # window -> {tenant: least `waiting` sampled in that window}
        self.work = Workload(self.tenants, tpm, self.scale, seed=args.seed)
        self.work.submit = self.submit

    # -- tasks
    def task_body(self, r):
        # Conversation turns are interactive (priority high, as a chat front end would send
        # them); stand-alone tasks, the flood among them, are batch work (normal).
        body = {"task_type": "chat" if r.conv else "batch", "required_capabilities": [CAPABILITY],
                "payload": r.payload(), "timeout_seconds": 900, "max_retries": 3,
                "priority": "high" if r.conv else "normal"}
        if self.fleet:
            f = self.features.task_fields
            if "tenant" in f:
                body["tenant"] = r.tenant
            if "est_tokens" in f:
                body["est_tokens"] = {"input": r.input}
                if self.mode == "fleet":
                    body["est_tokens"]["max_output"] = r.max_output
            if r.conv is not None and "affinity_key" in f:
                body["affinity_key"] = r.conv
                body["affinity_ttl_seconds"] = max(1, round(self.a.cache_ttl * self.scale))
                if "affinity" in self.features.strategies:
                    body["strategy"] = "affinity"
        return body

    def submit(self, r):
        c = self.submit_clients[threading.get_ident() % len(self.submit_clients)]
        r.submitted = time.monotonic()
        with c[1]:
            try:
                resp = c[0].post("tasks", self.task_body(r))
            except (OSError, http.client.HTTPException) as e:
                resp = None
                err = str(e)
        if resp is None or resp.status != 201:
            self.error("POST /tasks: %s" % (resp.body if resp is not None else err))

    def submit_backlog(self, c):
        for t in self.tenants:
            records = self.work.backlog(t)
            for i in range(0, len(records), 1000):
                chunk = records[i:i + 1000]
                now = time.monotonic()
                for r in chunk:
                    r.submitted = now
                resp = c.post("tasks/batch", {"tasks": [self.task_body(r) for r in chunk]})
                if resp.status != 200 or resp.body.get("created") != len(chunk):
                    raise RuntimeError("POST /tasks/batch: %s" % (resp.body,))

    def error(self, msg):
        with self.lock:
            if len(self.errors) < 20:
                self.errors.append(msg)

    # -- agents
    def slot(self, agent, cpd_index, mock_port):
        c = self.cluster.client(cpd_index)
        mock = http.client.HTTPConnection("127.0.0.1", mock_port, timeout=600)
        block = {"block_ms": 1000}
        task = None
        try:
            while not self.stop.is_set():
                if task is None:
                    r = c.post("tasks/claim", dict(block, agent_id=agent))
                    if r.status != 200:
                        self.error("claim: %s" % (r.body,))
                        self.stop.wait(0.5)
                        continue
                    task = r.body.get("task")
                    continue
                task = self.run_task(c, mock, agent, task, block)
        except (OSError, http.client.HTTPException) as e:
            if not self.stop.is_set():  # the slot ends; its task's lease runs out
                self.error("agent %s, slot ended: %s" % (agent, e))
        finally:
            c.close()
            mock.close()

    def call_provider(self, mock, agent, rec):
        body = {"model": MODEL, "agent": agent, "conversation": rec.conv,
                "tenant": rec.tenant + (":chat" if rec.conv else ""),
                "input_tokens": rec.input, "prefix_tokens": rec.prefix,
                "output_tokens": rec.output, "max_output": rec.max_output}
        for attempt in (0, 1):
            sent = time.monotonic()
            try:
                mock.request("POST", "/v1/messages", json.dumps(body),
                             {"Content-Type": "application/json", "x-api-key": API_KEY})
                resp = mock.getresponse()
                data = json.loads(resp.read())
                return resp.status, resp.headers, data, sent
            except (OSError, http.client.HTTPException) as e:
                mock.close()  # the next request opens a new connection
                if attempt:
                    raise
                self.error("provider connection (retried): %s" % e)

    def run_task(self, c, mock, agent, task, block):
        """One claimed task: the provider call(s), then complete or fail with `next`."""
        rec = self.work.records.get((task.get("payload") or {}).get("sid"))
        if rec is None:
            self.error("task without a known sid: %s" % task.get("id"))
            r = c.post("tasks/%s/fail" % task["id"], {"agent_id": agent, "requeue": False,
                                                      "next": block})
            return r.body.get("next") if r.status == 200 else None
        with self.lock:
            n = self.in_flight[agent] = self.in_flight.get(agent, 0) + 1
            self.max_in_flight[agent] = max(self.max_in_flight.get(agent, 0), n)
        try:
            sdk_retries = 0 if (self.fleet and self.features.rate_limited) else 2
            while True:
                rec.attempts += 1
                status, headers, data, sent = self.call_provider(mock, agent, rec)
                if status != 429 or sdk_retries == 0 or self.stop.is_set():
                    break
                sdk_retries -= 1
                self.stop.wait(int(headers.get("retry-after-ms") or 1000) / 1000.0)
            latency = int((time.monotonic() - sent) * 1000)
            if status == 200:
                usage = data["usage"]
                rec.served, rec.agent, rec.cached = sent, agent, usage["cached_tokens"]
                body = {"agent_id": agent, "result": {"usage": usage}, "latency_ms": latency,
                        "next": block}
                if self.fleet:
                    body["usage"] = usage
                r = c.post("tasks/%s/complete" % task["id"], body)
                if r.status == 200:
                    rec.done = True
                    with self.lock:
                        self.completions[agent] = self.completions.get(agent, 0) + 1
                    self.work.on_done(rec, agent)
                else:
                    self.error("complete: %s" % (r.body,))
                return r.body.get("next") if r.status == 200 else None
            body = {"agent_id": agent, "error": "provider answered %d" % status,
                    "latency_ms": latency, "next": block}
            if status == 429 and self.fleet and self.features.rate_limited:
                body["reason"] = "rate_limited"
                body["retry_after_ms"] = int(headers.get("retry-after-ms") or 1000)
            r = c.post("tasks/%s/fail" % task["id"], body)
            if r.status != 200:
                self.error("fail: %s" % (r.body,))
                return None
            rec.retries = max(rec.retries, r.body.get("retries", 0))
            with self.lock:
                self.fails += 1
                if r.body.get("status") == "failed":
                    self.fails_final += 1
                    rec.failed = True
            if rec.failed:
                self.work.on_failed(rec)
            return r.body.get("next")
        finally:
            with self.lock:
                self.in_flight[agent] -= 1

    def sample_waiting(self, t0):
        """Thread body: GET /tenants a few times per provider minute; keeps each tenant's least
        `waiting` per window (0: the tenant had nothing queued at some point of the window, so
        it could not have its share then)."""
        c = self.cluster.client(0)
        try:
            while not self.stop.wait(self.a.minute / 12.0):
                r = c.get("tenants")
                if r.status != 200 or not isinstance(r.body, dict):
                    continue
                w = int((time.monotonic() - t0) / self.a.minute)
                low = self.waiting.setdefault(w, {})
                for tn in r.body.get("tenants", []):
                    n = tn.get("id")
                    low[n] = min(low.get(n, tn.get("waiting", 0)), tn.get("waiting", 0))
        except (OSError, http.client.HTTPException):
            pass
        finally:
            c.close()

    # -- the run
    def setup_fleet(self, c):
        f = self.features.detect(c)
        if f.quotas:
            self.declare_quota(c, f)
        ok = True
        for t in self.tenants:
            for i in range(len(self.cluster.cpds)):  # a server keeping weights per process
                put = self.cluster.client(i)
                r = put.request("PUT", "tenants/" + t.name,
                                body={"weight": t.weight,
                                      "max_in_flight": self.a.agents * self.a.slots})
                put.close()
                ok = ok and r.status in (200, 201)
        f.tenants = ok

    def declare_quota(self, c, f):
        """The provider's limits as one quota on the agents' provider and model. A time-scaled
        run (--minute below 60) first offers a `window_seconds` member (not in the issue's
        shape: a server that knows it counts per scaled minute, exactly like the mock); else
        the limits are declared per real minute, scaled up — then cpd may admit within one
        real minute bursts that the mock's shorter window refuses, and the note says so."""
        base = {"id": "fleet-key", "scope": {"provider": PROVIDER, "model": MODEL},
                "max_in_flight": self.a.agents * self.a.slots}
        if self.a.minute != 60:
            q = dict(base, rpm=self.a.rpm, tpm=self.a.tpm, window_seconds=self.a.minute)
            r = c.post("quotas", q)
            if r.status in (200, 201):
                got = c.get("quotas")
                quotas = got.body.get("quotas", []) if isinstance(got.body, dict) else []
                mine = [x for x in quotas if isinstance(x, dict) and x.get("id") == "fleet-key"]
                if mine and mine[0].get("window_seconds") == self.a.minute:
                    f.notes.append("quota window_seconds %.0f (scaled like the mock)"
                                   % self.a.minute)
                    return
                c.delete("quotas/fleet-key")
        scale_up = 60.0 / self.a.minute
        r = c.post("quotas", dict(base, rpm=int(self.a.rpm * scale_up),
                                  tpm=int(self.a.tpm * scale_up)))
        if r.status not in (200, 201):
            f.notes.append("POST /quotas refused: %s" % (r.body,))
            f.quotas = False
        elif self.a.minute != 60:
            f.notes.append("QUOTA FIGURES NOT VALID: time-scaled run, the quota was declared "
                           "x%.0f per real minute (cpd counts per 60 real s, the mock per %.0f s: "
                           "bursts, 429s and stalls come from that); measure quotas with "
                           "--minute 60" % (scale_up, self.a.minute))

    def run(self):
        a = self.a
        self.cluster = Cluster(self.redis, a.processes, selection_plugins(), a.store).start()
        provider = mockllm.MockProvider(rpm=a.rpm, tpm=a.tpm, minute=a.minute, window=a.window,
                                        base_latency_ms=a.base_latency_ms,
                                        per_token_ms=a.per_token_ms, cache_ttl=a.cache_ttl)
        server = provider.serve()
        threads = []
        c = self.cluster.client(0)
        try:
            if self.fleet:
                self.setup_fleet(c)
                log("%s: %s" % (self.mode, self.features.describe()))
            self.submit_clients = [(self.cluster.client(i), threading.Lock())
                                   for i in range(a.processes)]
            for i in range(a.agents):
                agent = "agent-%02d" % i
                reg = self.cluster.client(i)
                r = reg.post("agents", {
                    "agent_id": agent, "capabilities": [CAPABILITY], "provider": PROVIDER,
                    "model": MODEL, "max_concurrent_tasks": a.slots})
                reg.close()
                if r.status not in (200, 201):
                    raise RuntimeError("register %s: %s" % (agent, r.body))
            self.submit_backlog(c)
            provider.reset()
            t0 = time.monotonic()
            for i in range(a.agents):
                for _ in range(a.slots):
                    threads.append(threading.Thread(
                        target=self.slot, args=("agent-%02d" % i, i, server.server_address[1]),
                        daemon=True))
            threads.append(threading.Thread(target=self.work.scheduler, daemon=True))
            if self.fleet and self.features.tenants:
                threads.append(threading.Thread(target=self.sample_waiting, args=(t0,),
                                                daemon=True))
            for t in self.tenants:
                if t.rate_share > 0:
                    threads.append(threading.Thread(target=self.work.arrivals, args=(t,),
                                                    daemon=True))
            for t in threads:
                t.start()
            self.work.start_conversations()
            end = t0 + a.windows * a.minute
            while time.monotonic() < end:
                time.sleep(min(a.minute, max(0.0, end - time.monotonic())))
                log("%s: %.0f%% done" % (self.mode, 100.0 * min(1.0, (time.monotonic() - t0)
                                                                / (end - t0))))
            t_end = time.monotonic()
            stats = provider.stats()
            self.stop.set()
            self.work.stop()
            return report.ModeResult(self, stats, t0, t_end)
        finally:
            self.stop.set()
            self.work.stop()
            c.close()
            for cl, _ in getattr(self, "submit_clients", []):
                cl.close()
            self.cluster.stop()  # held claims and connections end with the processes
            for t in threads:
                t.join(2.0)
            server.shutdown()
            server.server_close()


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--modes", default="today,fleet",
                    help="comma-separated: today, fleet, fleet-est (default today,fleet)")
    ap.add_argument("--quick", action="store_true",
                    help="a light run of about two minutes: --minute 10 --windows 4 --agents 60")
    ap.add_argument("--processes", type=int, default=None,
                    help="cpd processes on the one Redis (default 3)")
    ap.add_argument("--store", choices=("redis", "memory"), default="redis",
                    help="memory: one cpd process with the memory store, no Redis")
    ap.add_argument("--agents", type=int, default=60)
    ap.add_argument("--slots", type=int, default=2, help="max_concurrent_tasks of each agent")
    ap.add_argument("--minute", type=float, default=None,
                    help="real seconds per provider minute (default 60; --quick: 10)")
    ap.add_argument("--windows", type=int, default=None,
                    help="provider minutes measured per mode (default 6; --quick: 4)")
    ap.add_argument("--rpm", type=int, default=1000)
    ap.add_argument("--tpm", type=int, default=300000)
    ap.add_argument("--window", choices=("sliding", "fixed"), default="sliding")
    ap.add_argument("--base-latency-ms", type=float, default=400.0)
    ap.add_argument("--per-token-ms", type=float, default=20.0)
    ap.add_argument("--cache-ttl", type=float, default=300.0, help="prompt cache TTL, model s")
    ap.add_argument("--flood", type=int, default=None,
                    help="tasks the flooding tenant submits at once (default 100000, the "
                         "issue's flood; --quick: --flood-share)")
    ap.add_argument("--flood-share", type=float, default=2.0,
                    help="with --quick or --flood -1: the flood's tokens as a multiple of TPM x "
                         "the run's minutes")
    ap.add_argument("--warm", type=float, default=1.0,
                    help="minutes of b's and c's arrivals queued before the run (default 1)")
    ap.add_argument("--share-tolerance", type=float, default=5.0,
                    help="per-window pass: every tenant's share within this many points of "
                         "its weight (default 5)")
    ap.add_argument("--rate-b", type=float, default=0.3, help="tenant b's arrivals, x TPM")
    ap.add_argument("--rate-c", type=float, default=0.5, help="tenant c's arrivals, x TPM")
    ap.add_argument("--conversations", type=int, default=8,
                    help="concurrent conversations of tenants b and c each")
    ap.add_argument("--seed", type=int, default=17)
    a = ap.parse_args(argv)
    if a.store == "memory":
        if a.processes not in (None, 1):
            ap.error("--store memory runs one cpd process")
        a.processes = 1
    elif a.processes is None:
        a.processes = 3
    if a.minute is None:
        a.minute = 10.0 if a.quick else 60.0
    if a.windows is None:
        a.windows = 4 if a.quick else 6
    if a.flood is None and not a.quick:
        a.flood = 100000
    if a.flood is not None and a.flood < 0:
        a.flood = None
    a.modes = [m.strip() for m in a.modes.split(",") if m.strip()]
    for m in a.modes:
        if m not in ("today", "fleet", "fleet-est"):
            ap.error("unknown mode %r" % m)
    if a.minute <= 0 or min(a.windows, a.agents, a.slots, a.processes) < 1:
        ap.error("--minute, --windows, --agents, --slots and --processes must be positive")
    return a


def main(argv=None):
    a = parse_args(argv)
    # SIGTERM (bench_fleet.sh's clean-up) unwinds like an exception: every finally stops what
    # it started (the processes would die with us anyway: cpdtest sets PR_SET_PDEATHSIG).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    redis = cpdtest.RedisServer().start() if a.store == "redis" else None
    results = []
    try:
        for mode in a.modes:
            log("mode %s: %d agents x %d slots, %d provider minutes of %.0f s"
                % (mode, a.agents, a.slots, a.windows, a.minute))
            results.append(Sim(a, mode, redis).run())
    finally:
        if redis is not None:
            redis.cleanup()
    report.print_table(a, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
