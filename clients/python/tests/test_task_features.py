"""test_task_features.py — submits that are safe to repeat (idempotency keys, retries after a 503
or a lost answer, through lossyproxy.py), delayed and backed-off tasks, batches, the lease
(extend_task with progress), attempts, retry_task and purge_tasks, complete/fail with next;
sync and async."""

import asyncio
import time
from datetime import datetime, timedelta, timezone

from lossyproxy import LossyProxy  # tests/e2e, on PYTHONPATH
from support import CpdCase, run_async

import cpclient
from cpclient import ConflictError, TaskStatus


class TaskFeatures(CpdCase):
    def test_idempotent_submit_and_options(self):
        c = self.client()
        key = "order-%d" % time.monotonic_ns()
        tid = c.submit_task("pay", {"n": 1}, idempotency_key=key, delay_seconds=60,
                            retry_backoff={"type": "fixed", "seconds": 5})
        self.assertEqual(c.submit_task("pay", {"n": 2}, idempotency_key=key), tid)
        t = c.get_task(tid)
        self.assertEqual(t.idempotency_key, key)
        self.assertEqual(t.payload, {"n": 1})
        self.assertGreater(t.not_before, datetime.now(timezone.utc) + timedelta(seconds=50))
        self.assertEqual(t.retry_backoff,
                         {"type": "fixed", "seconds": 5, "max_seconds": None, "jitter": False})
        # Without a key the client makes one per call: two calls, two tasks.
        a, b = c.submit_task("pay"), c.submit_task("pay")
        self.assertNotEqual(a, b)
        self.assertTrue(c.get_task(a).idempotency_key.startswith("cpy-"))
        at = datetime.now(timezone.utc) + timedelta(hours=1)
        self.assertEqual(c.get_task(c.submit_task("pay", run_at=at)).not_before.replace(
            microsecond=0), at.replace(microsecond=0))
        with self.assertRaises(cpclient.BadRequestError):
            c.submit_task("pay", run_at="whenever")

    def test_affinity_key(self):
        c = self.client()
        tid = c.submit_task("turn", metadata={"turn": 2}, affinity_key="conv-7",
                            affinity_ttl_seconds=30)
        md = c.get_task(tid).metadata
        self.assertEqual((md["affinity_key"], md["affinity_ttl_seconds"], md["turn"]),
                         ("conv-7", 30, 2))
        items = c.submit_tasks([{"task_type": "turn", "affinity_key": "conv-8"}])
        self.assertEqual(c.get_task(items[0].task_id).metadata["affinity_key"], "conv-8")
        with self.assertRaises(cpclient.BadRequestError):
            c.submit_task("turn", affinity_key="not a key")

    def test_batches(self):
        c = self.client()
        items = c.submit_tasks([{"task_type": "a", "priority": "high"},
                                {"task_type": "bad type"},
                                {"task_type": "b", "idempotency_key": "k-1"},
                                {"task_type": "c", "idempotency_key": "k-1"}])
        self.assertEqual([bool(i) for i in items], [True, False, True, True])
        self.assertEqual(items[1].code, "invalid_field")
        self.assertEqual(items[3].task_id, items[2].task_id)
        self.assertEqual([i.created for i in items], [True, False, True, False])
        with self.assertRaises(ValueError):
            c.submit_tasks([{"payload": {}}])

    def test_lease_attempts_retry_purge(self):
        c = self.client()
        c.register_agent("w1", ["x"])
        tid = c.submit_task("job", required_capabilities=["x"], max_retries=1)
        t = c.claim_task("w1")
        self.assertEqual(t.id, tid)
        self.assertIsNotNone(t.deadline_at)
        self.assertEqual(len(t.attempts), 1)
        self.assertIsNone(t.attempts[0].outcome)
        deadline = c.extend_task(tid, "w1", seconds=600, percent=30, message="reading")
        self.assertGreater(deadline, datetime.now(timezone.utc) + timedelta(seconds=590))
        self.assertEqual(c.get_task(tid).progress, {"percent": 30, "message": "reading"})
        self.assertIsNone(c.extend_task("task_%024x" % 5, "w1"))
        with self.assertRaises(ConflictError):
            c.extend_task(tid, "someone-else")
        c.fail_task(tid, "broke", agent_id="w1", requeue=False)
        self.assertTrue(c.retry_task(tid))
        t = c.get_task(tid)
        self.assertEqual((t.status, t.retries), (TaskStatus.PENDING, 0))
        self.assertEqual([(a.outcome, a.error, a.agent_id) for a in t.attempts],
                         [("failed", "broke", "w1")])
        self.assertFalse(c.retry_task("task_%024x" % 5))
        with self.assertRaises(ConflictError):
            c.retry_task(tid)
        c.cancel_task(tid)
        self.assertEqual(c.purge_tasks(status="cancelled", task_type="job"), 1)
        self.assertIsNone(c.get_task(tid))

    def test_async_variants(self):
        async def go():
            async with cpclient.AsyncClient(self.url) as c:
                tid = await c.submit_task("t", idempotency_key="ak")
                self.assertEqual(await c.submit_task("t", idempotency_key="ak"), tid)
                items = await c.submit_tasks([{"task_type": "t"}, {"task_type": "t"}])
                self.assertTrue(all(items))
                return await c.purge_tasks()
        self.assertEqual(run_async(go()), 0)  # nothing finished yet


    def test_complete_and_fail_with_next(self):
        c = self.client()
        c.register_agent("nx", ["nc"], max_concurrent_tasks=1)
        t1, t2 = c.submit_task("t", {}, ["nc"]), c.submit_task("t", {}, ["nc"])
        self.assertEqual(c.claim_task("nx").id, t1)
        done = c.complete_task(t1, {"ok": 1}, "nx", next=True)
        self.assertIsInstance(done, cpclient.Completion)
        self.assertTrue(done)
        self.assertEqual((done.next.id, done.next.status, done.next.assigned_agent),
                         (t2, TaskStatus.CLAIMED, "nx"))
        self.assertIsNone(done.next_error)
        self.assertIs(c.get_task(t1).status, TaskStatus.COMPLETED)
        # fail with next: held (block_ms) until nothing comes: null.
        began = time.monotonic()
        fr = c.fail_task(t2, "x", "nx", requeue=False,
                         next={"block_ms": 300, "capabilities": ["nc"]})
        self.assertTrue(fr)
        self.assertIs(fr.status, TaskStatus.FAILED)
        self.assertIsNone(fr.next)
        self.assertGreaterEqual(time.monotonic() - began, 0.25)
        # Without next: the plain answers, as before.
        t3 = c.submit_task("t", {}, ["nc"])
        c.claim_task("nx")
        self.assertIs(c.complete_task(t3, None, "nx"), True)
        # Refused: nothing completed, nothing claimed; an unknown task is a false Completion.
        t4 = c.submit_task("t", {}, ["nc"])
        with self.assertRaises(ConflictError):
            c.complete_task(t3, None, "nx", next=True)
        self.assertIs(c.get_task(t4).status, TaskStatus.PENDING)
        self.assertFalse(c.complete_task("task_" + "0" * 24, None, "nx", next=True))
        with self.assertRaises(ValueError):
            c.complete_task(t4, None, None, next=True)  # who claims?
        with self.assertRaises(ValueError):
            c.complete_task(t4, None, "nx", next={"block": 5})

    def test_complete_with_next_async_held_until_submit(self):
        async def go():
            async with cpclient.AsyncClient(self.url) as c:
                await c.register_agent("an", ["ac"])
                t1 = await c.submit_task("t", {}, ["ac"])
                await c.claim_task("an")
                held = asyncio.ensure_future(
                    c.complete_task(t1, 1, "an", next={"block_ms": 20000}))
                await asyncio.sleep(0.3)
                self.assertFalse(held.done())
                async with cpclient.AsyncClient(self.url) as c2:
                    t2 = await c2.submit_task("t", {}, ["ac"])
                done = await asyncio.wait_for(held, 10)
                return t2, done
        t2, done = run_async(go())
        self.assertEqual(done.next.id, t2)


class LossyAnswers(CpdCase):
    """The first answer to each submit is lost after cpd stored the task: a retry with the same
    key finds it, so nothing is stored twice."""

    def setUp(self):
        super().setUp()
        self.proxy = LossyProxy(self.cpd.port).start()
        self.addCleanup(self.proxy.stop)

    def total(self, task_type):
        return self.raw.get("tasks?task_type=%s&limit=1" % task_type).body["total"]

    def test_sync_submit_and_batch(self):
        c = cpclient.Client(self.proxy.url, submit_backoff=0.05)
        self.addCleanup(c.close)
        tid = c.submit_task("lossy")
        self.assertEqual(self.total("lossy"), 1)
        self.assertEqual(self.client().get_task(tid).task_type, "lossy")
        items = c.submit_tasks([{"task_type": "lossy"}] * 3)
        self.assertEqual([i.created for i in items], [False] * 3)  # the lost attempt stored them
        self.assertEqual(self.total("lossy"), 4)
        self.assertEqual([first for _, first in self.proxy.submits()], [True, False, True, False])
        # Without retries the loss is the caller's: an error, yet the task was stored.
        once = cpclient.Client(self.proxy.url, submit_retries=0)
        self.addCleanup(once.close)
        with self.assertRaises(cpclient.TransportError):
            once.submit_task("lossy")
        self.assertEqual(self.total("lossy"), 5)

    def test_async_submit(self):
        async def go():
            async with cpclient.AsyncClient(self.proxy.url, submit_backoff=0.05) as c:
                return await c.submit_task("lossy-a")
        tid = run_async(go())
        self.assertEqual(self.total("lossy-a"), 1)
        self.assertIsNotNone(self.client().get_task(tid))
