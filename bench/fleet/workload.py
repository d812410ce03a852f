"""workload.py — what the fleet benchmark's tenants ask for: task sizes, open-loop arrivals,
multi-turn conversations, and the records the report is computed from. Standard library only.

Sizes are in tokens and times in model seconds (provider time); `scale` (real seconds per model
second) turns them into real time. Every random draw comes from one seeded random.Random per
producer, so two modes of one run get the same sizes in the same order.
"""

import heapq
import itertools
import math
import random
import threading
import time

MAX_OUTPUT_STEPS = (256, 512, 1024, 2048, 4096)


def lognormal_int(rng, median, sigma, lo, hi):
    return int(min(hi, max(lo, round(rng.lognormvariate(math.log(median), sigma)))))


def declared_max_output(actual):
    """The max_output a client would set: the smallest usual step that holds the answer."""
    for step in MAX_OUTPUT_STEPS:
        if actual <= step:
            return step
    return actual


def single_task(rng):
    """One stand-alone request: (input, output) — uneven, heavy-tailed sizes."""
    return (lognormal_int(rng, 1500, 0.8, 200, 12000), lognormal_int(rng, 300, 0.7, 20, 2000))


class Tenant:
    """One tenant: its weight, its open-loop rate (a share of TPM), its initial backlog (tasks
    submitted at once before the run: the flood) and its concurrent conversations."""

    def __init__(self, name, weight, rate_share=0.0, backlog=0, conversations=0):
        self.name, self.weight, self.rate_share = name, weight, rate_share
        self.backlog, self.conversations = backlog, conversations


class Record:
    """One task as the simulator sees it (keyed by `sid`, carried in the payload)."""

    __slots__ = ("sid", "tenant", "conv", "turn", "turns", "input", "prefix", "output",
                 "max_output", "submitted", "served", "agent", "done", "failed", "attempts",
                 "retries", "cached")

    def __init__(self, sid, tenant, input_tokens, output, conv=None, turn=0, turns=0, prefix=0):
        self.sid, self.tenant, self.conv, self.turn, self.turns = sid, tenant, conv, turn, turns
        self.input, self.prefix, self.output = input_tokens, prefix, output
        self.max_output = declared_max_output(output)
        self.submitted = None  # real monotonic seconds
        self.served = None  # when the provider call that succeeded was sent
        self.agent = None
        self.done = self.failed = False
        self.attempts = self.retries = self.cached = 0

    @property
    def tokens(self):
        return self.input + self.output

    def payload(self):
        return {"sid": self.sid, "tenant": self.tenant, "conv": self.conv, "turn": self.turn,
                "input": self.input, "prefix": self.prefix, "output": self.output,
                "max_output": self.max_output}


class Workload:
    """The tenants' demand. submit(record) is given by the simulator (it POSTs the task);
    on_done/on_failed are called by agents. Conversations are closed-loop: turn k+1 is asked
    after turn k's answer and a think time; a conversation that ends (or fails) is replaced."""

    def __init__(self, tenants, tpm, scale, seed=1, think=(5.0, 30.0), turns=(3, 8)):
        self.tenants, self.tpm, self.scale = tenants, tpm, scale
        self.seed, self.think, self.turns = seed, think, turns
        self.records = {}
        self.lock = threading.Lock()
        self.ids = itertools.count(1)
        self.conv_ids = itertools.count(1)
        self.rng = random.Random(seed)  # conversations (under lock)
        self.heap, self.cond = [], threading.Condition()
        self.stopping = threading.Event()
        self.submit = None
        self.last_agent = {}  # conversation -> the agent that completed its last turn
        self.warm_hits = self.warm_turns = 0

    def new(self, tenant, input_tokens, output, **kw):
        with self.lock:
            r = Record("s%d" % next(self.ids), tenant, input_tokens, output, **kw)
            self.records[r.sid] = r
        return r

    # -- the flood and open-loop arrivals
    def backlog(self, tenant):
        rng = random.Random("%s-backlog-%s" % (self.seed, tenant.name))
        return [self.new(tenant.name, *single_task(rng)) for _ in range(tenant.backlog)]

    def arrivals(self, tenant):
        """Thread body: tasks at rate_share x TPM tokens per model minute (Poisson in time)."""
        rng = random.Random("%s-arrivals-%s" % (self.seed, tenant.name))
        tokens_per_real_second = tenant.rate_share * self.tpm / 60.0 / self.scale
        while not self.stopping.is_set():
            r = self.new(tenant.name, *single_task(rng))
            self.submit(r)
            gap = rng.expovariate(tokens_per_real_second / r.tokens)
            if self.stopping.wait(gap):
                return

    # -- conversations
    def start_conversations(self):
        for t in self.tenants:
            for i in range(t.conversations):  # spread over the first minute
                self.later(60.0 * i / max(1, t.conversations), self._open, t.name)

    def _open(self, tenant):
        with self.lock:
            conv = "%s-conv-%d" % (tenant, next(self.conv_ids))
            turns = self.rng.randint(*self.turns)
            system = self.rng.randint(400, 1500)
            user = self.rng.randint(50, 600)
            output = lognormal_int(self.rng, 250, 0.6, 30, 1500)
        self.submit(self.new(tenant, system + user, output, conv=conv, turn=1, turns=turns))

    def _follow(self, prev):
        with self.lock:
            user = self.rng.randint(50, 600)
            output = lognormal_int(self.rng, 250, 0.6, 30, 1500)
        prefix = prev.input + prev.output
        self.submit(self.new(prev.tenant, prefix + user, output, conv=prev.conv,
                             turn=prev.turn + 1, turns=prev.turns, prefix=prefix))

    def on_done(self, r, agent):
        if r.conv is None:
            return
        with self.lock:
            last = self.last_agent.get(r.conv)
            if r.turn > 1 and last is not None:
                self.warm_turns += 1
                self.warm_hits += last == agent
            self.last_agent[r.conv] = agent
            think = self.rng.uniform(*self.think)
        if r.turn < r.turns:
            self.later(think, self._follow, r)
        else:
            self.later(think, self._open, r.tenant)

    def on_failed(self, r):
        if r.conv is not None:  # the user gave up on this conversation and opens another
            self.later(self.rng.uniform(*self.think), self._open, r.tenant)

    # -- the scheduler of later submissions
    def later(self, model_seconds, fn, *args):
        with self.cond:
            heapq.heappush(self.heap, (time.monotonic() + model_seconds * self.scale,
                                       next(self.ids), fn, args))
            self.cond.notify()

    def scheduler(self):
        """Thread body: runs what later() queued when it is due."""
        while not self.stopping.is_set():
            with self.cond:
                if not self.heap:
                    self.cond.wait(0.2)
                    continue
                due = self.heap[0][0] - time.monotonic()
                if due > 0:
                    self.cond.wait(min(due, 0.2))
                    continue
                _, _, fn, args = heapq.heappop(self.heap)
            fn(*args)

    def stop(self):
        self.stopping.set()
        with self.cond:
            self.cond.notify_all()
