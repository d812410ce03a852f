"""rediscluster.py — helpers for the multi-process Redis e2e tests (redis_*.py): a redis-server
with AOF persistence that survives kill + restart, a fleet of agent threads that claim, start and
complete tasks through several cpd processes (retrying through outages), concurrent submitters,
and the exactly-once verification of the outcome. Standard library only; imports cpdtest.

Not a test module itself (the name does not match redis_*.py)."""

import http.client
import threading
import time

from cpdtest import Client, RedisServer, q

# Anything the transport can throw when a cpd process is gone or a reply never comes.
NET_ERRORS = (OSError, http.client.HTTPException)


class DurableRedis(RedisServer):
    """A redis-server with `appendonly yes` + `appendfsync always` in its private dir: every
    acknowledged write is on disk before the reply leaves, so kill() + start() on the same port
    brings back everything a client was told about (see docs/operations.md)."""

    PERSISTENCE = ["--appendonly", "yes", "--appendfsync", "always"]
    # After a kill the port keeps TIME_WAIT sockets, which redis-server's SO_REUSEADDR bind
    # ignores but the harness's plain-bind check does not: restart without waiting for it.
    WAIT_FOR_FREE_PORT = False


def shared_prefix_config(prefix, **options):
    """Config for a cpd on the redis store with a given key prefix (several processes, one
    deployment)."""
    opts = {"prefix": prefix}
    opts.update({k: str(v) for k, v in options.items()})
    return {"storage": {"plugin": "redis", "options": opts}}


def stats(client):
    r = client.get("stats")
    assert r.status == 200, "stats: %r" % (r,)
    return r.body


class Ledger:
    """What the agents and submitters saw, shared between threads (one lock)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.claimed_by = {}    # task id -> agent id (from claim replies)
        self.double_claims = []  # (task id, first agent, second agent)
        self.errors = []        # unexpected replies: (who, what, status, body)
        self.n503 = 0           # 503 storage_unavailable answers seen
        self.n_net = 0          # connection errors / timeouts seen
        self.retry_409 = []     # (agent, task id, op): a retried op found its earlier try applied
        self.submitted = {}     # task id -> n
        self.ambiguous = set()  # n of submits retried after a failure (may exist twice)
        self.completed = 0      # completions acknowledged to agents

    def error(self, who, what, r):
        with self.lock:
            self.errors.append((who, what, r.status, r.body))

    def note_claim(self, agent_id, task_id):
        with self.lock:
            first = self.claimed_by.setdefault(task_id, agent_id)
            if first != agent_id:
                self.double_claims.append((task_id, first, agent_id))


def call(ledger, client, method, path, body=None, timeout=10.0):
    """One request; None on a connection error or a 503 storage_unavailable (counted),
    else the Response. Any other 503 is recorded as an error (and None returned)."""
    try:
        r = client.request(method, path, body=body, timeout=timeout)
    except NET_ERRORS:
        client.close()
        with ledger.lock:
            ledger.n_net += 1
        return None
    if r.status == 503:
        if isinstance(r.body, dict) and r.body.get("code") == "storage_unavailable":
            with ledger.lock:
                ledger.n503 += 1
        else:
            ledger.error("client", "%s %s" % (method, path), r)
        return None
    return r


class AgentWorker(threading.Thread):
    """One agent (max_concurrent_tasks 1): claims through the given cpd ports in turn (long poll
    with block_ms, or immediate claims when block_ms is 0), starts the task through the process it
    claimed on and completes it through the next one, with its agent_id. Retries on 503 and
    connection errors. `completed` is the agent's own record of the tasks it completed.

    Lost replies (a Redis outage can drop the reply of a script that did run):
    * start/complete retried after a failure and answered 409 → the earlier try was applied;
      counted as done (the final check verifies the task is completed and assigned to us);
    * a claim answered 503 needs nothing: a task it may have claimed is released by the cpd
      process that sent it once that process reaches Redis again (docs/redis.md, "Lost
      replies"), and the agent's next claim is held until it has room again."""

    def __init__(self, agent_id, ports, ledger, stop, block_ms=0, idle_sleep=0.02):
        super().__init__(daemon=True, name=agent_id)
        self.agent_id = agent_id
        self.clients = [Client(p, timeout=10.0) for p in ports]
        self.ledger = ledger
        self.stop_event = stop
        self.block_ms = block_ms
        self.idle_sleep = idle_sleep
        self.completed = []
        self.crash = None
        self._turn = 0

    def _client(self):
        c = self.clients[self._turn % len(self.clients)]
        self._turn += 1
        return c

    def run(self):
        try:
            self._loop()
        except BaseException as e:  # reported by the test through .crash
            self.crash = e
        finally:
            for c in self.clients:
                c.close()

    def _loop(self):
        while not self.stop_event.is_set():
            c = self._client()
            body = {"agent_id": self.agent_id}
            if self.block_ms:
                body["block_ms"] = self.block_ms
            r = call(self.ledger, c, "POST", "tasks/claim", body,
                     timeout=self.block_ms / 1000.0 + 10)
            if r is None:
                time.sleep(0.05)
                continue
            if r.status != 200:
                self.ledger.error(self.agent_id, "claim", r)
                time.sleep(0.05)
                continue
            task = r.body["task"]
            if task is None:
                if not self.block_ms:
                    time.sleep(self.idle_sleep)
                continue
            if task["status"] != "claimed" or task["assigned_agent"] != self.agent_id:
                self.ledger.error(self.agent_id, "claim reply", r)
            self.ledger.note_claim(self.agent_id, task["id"])
            self._work(task["id"], c, started=False)

    def _transition(self, c, tid, op, body):
        failed_before = False
        while True:
            r = call(self.ledger, c, "POST", "tasks/%s/%s" % (tid, op), body)
            if r is None:
                failed_before = True
                time.sleep(0.05)
                c = self._client()
                continue
            if r.status == 200:
                return True
            if r.status == 409 and failed_before:
                with self.ledger.lock:
                    self.ledger.retry_409.append((self.agent_id, tid, op))
                return True
            self.ledger.error(self.agent_id, "%s %s" % (op, tid), r)
            return False

    def _work(self, tid, c, started):
        if not started and not self._transition(c, tid, "start", {"agent_id": self.agent_id}):
            return
        body = {"agent_id": self.agent_id, "result": {"by": self.agent_id}}
        other = self.clients[self._turn % len(self.clients)]  # the next claim's process
        if self._transition(other, tid, "complete", body):
            self.completed.append(tid)
            with self.ledger.lock:
                self.ledger.completed += 1


class Submitter(threading.Thread):
    """Submits tasks of one task_type with payload {"n": n} for each n, through one cpd, retrying
    on 503 and connection errors. A submit retried after a failure is recorded as ambiguous:
    its first try may have been applied with the reply lost (then the task exists twice)."""

    def __init__(self, port, task_type, numbers, ledger):
        super().__init__(daemon=True, name="submit-" + task_type)
        self.client = Client(port, timeout=10.0)
        self.task_type = task_type
        self.numbers = list(numbers)
        self.ledger = ledger
        self.crash = None

    def run(self):
        try:
            for n in self.numbers:
                self._submit(n)
        except BaseException as e:
            self.crash = e
        finally:
            self.client.close()

    def _submit(self, n):
        tries = 0
        while True:
            r = call(self.ledger, self.client, "POST", "tasks",
                     {"task_type": self.task_type, "payload": {"n": n}})
            tries += 1
            if r is None:
                with self.ledger.lock:
                    self.ledger.ambiguous.add(n)
                time.sleep(0.05)
                continue
            if r.status != 201:
                self.ledger.error(self.name, "submit", r)
                return
            with self.ledger.lock:
                self.ledger.submitted[r.body["task_id"]] = n
            return


def wait_all_done(client, submitters, deadline, what="all tasks to complete"):
    """Wait until the submitters are done and the store has no pending/claimed/running task;
    errors while polling (an outage) are ignored. Returns the final stats."""
    while True:
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for " + what)
        if all(not s.is_alive() for s in submitters):
            try:
                st = client.get("stats")
            except NET_ERRORS:
                client.close()
                st = None
            if st is not None and st.status == 200:
                bs = st.body["scheduler"]["by_status"]
                if bs["pending"] == bs["claimed"] == bs["running"] == 0:
                    return st.body
        time.sleep(0.1)


def all_tasks(tc, client, task_types):
    """Every task of the given types (each type has at most 1000 tasks: one list request)."""
    out = {}
    for tt in task_types:
        r = client.get("tasks?task_type=%s&limit=1000" % tt)
        tc.assertEqual(r.status, 200, r)
        tc.assertLessEqual(r.body["total"], 1000, "type %s has too many tasks to list" % tt)
        tc.assertEqual(len(r.body["tasks"]), r.body["total"])
        for t in r.body["tasks"]:
            out[t["id"]] = t
    return out


def verify_exactly_once(tc, clients, ledger, agents, task_types, n_tasks):
    """The outcome of a fleet run, checked through every client (process): each task submitted
    exists and ended completed on its first attempt, assigned to the one agent that claimed it
    and recorded completing it; the agents' records have no duplicates and cover every task; the
    counters in /stats and the agents' tasks_completed agree exactly."""
    tc.assertEqual(ledger.errors, [], "unexpected replies")
    tc.assertEqual(ledger.double_claims, [], "a task was handed to two agents")
    for a in agents:
        tc.assertIsNone(a.crash, "agent %s crashed: %r" % (a.agent_id, a.crash))
    by_agent = {}
    for a in agents:
        for tid in a.completed:
            tc.assertNotIn(tid, by_agent, "task %s completed twice (%s and %s)"
                           % (tid, by_agent.get(tid), a.agent_id))
            by_agent[tid] = a.agent_id
    views = [all_tasks(tc, c, task_types) for c in clients]
    tasks = views[0]
    for other in views[1:]:
        tc.assertEqual(other, tasks, "the processes disagree about the tasks")

    # Every submit that was answered is there; extra tasks only from ambiguous submits.
    tc.assertLessEqual(set(ledger.submitted), set(tasks), "tasks lost")
    numbers = {}
    for tid, t in tasks.items():
        numbers.setdefault(t["payload"]["n"], []).append(tid)
    tc.assertEqual(sorted(numbers), list(range(n_tasks)), "a submission is missing")
    for n, tids in numbers.items():
        if len(tids) > 1:
            tc.assertIn(n, ledger.ambiguous, "task %d exists %d times" % (n, len(tids)))
            tc.assertEqual(len(tids), 2, "task %d exists %d times" % (n, len(tids)))
    extra = len(tasks) - n_tasks
    tc.assertEqual(len(tasks), len(ledger.submitted) + extra)

    for tid, t in tasks.items():
        tc.assertEqual(t["status"], "completed", t)
        tc.assertEqual(t["attempt"], 1, t)
        tc.assertEqual(t["retries"], 0, t)
        tc.assertIn(t["assigned_agent"], {a.agent_id for a in agents}, t)
        tc.assertEqual(t["result"], {"by": t["assigned_agent"]}, t)
        tc.assertEqual(ledger.claimed_by.get(tid), t["assigned_agent"], t)
        tc.assertEqual(by_agent.get(tid), t["assigned_agent"], t)
    tc.assertEqual(set(by_agent), set(tasks), "the agents' records do not cover every task")
    tc.assertEqual(len(ledger.claimed_by), len(tasks))

    for c in clients:
        st = stats(c)
        bs = st["scheduler"]["by_status"]
        tc.assertEqual(st["scheduler"]["total"], len(tasks))
        tc.assertEqual(bs, dict({k: 0 for k in bs}, completed=len(tasks)), "by_status")
        tc.assertEqual(st["scheduler"]["running_tasks"], 0)
        for a in agents:
            r = c.get("agents/" + q(a.agent_id))
            tc.assertEqual(r.status, 200, r)
            tc.assertEqual(r.body["tasks_completed"], len(a.completed), a.agent_id)
            tc.assertEqual(r.body["tasks_in_flight"], 0, a.agent_id)
            tc.assertEqual(r.body["tasks_failed"], 0, a.agent_id)
    return tasks


def start_fleet(ledger, stop, ports, agent_ids, block_ms_of):
    agents = [AgentWorker(aid, ports[i % len(ports):] + ports[:i % len(ports)], ledger, stop,
                          block_ms=block_ms_of(i))
              for i, aid in enumerate(agent_ids)]
    for a in agents:
        a.start()
    return agents


def start_submitters(ledger, ports, n_tasks, per_port=2, prefix="s"):
    """per_port submitters on each port; task types <prefix>0.. each get an equal share of
    0..n_tasks-1 (at most 1000 per type, so one list request finds them all)."""
    subs = []
    k = per_port * len(ports)
    for i in range(k):
        subs.append(Submitter(ports[i % len(ports)], "%s%d" % (prefix, i),
                              range(i, n_tasks, k), ledger))
    for s in subs:
        s.start()
    return subs


def join_all(tc, threads, timeout):
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic()))
        tc.assertFalse(t.is_alive(), "thread %s did not finish" % t.name)
        tc.assertIsNone(getattr(t, "crash", None), "thread %s crashed" % t.name)
