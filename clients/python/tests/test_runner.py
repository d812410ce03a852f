"""test_runner.py — run_agent against a real cpd: tasks handled by sync and async handlers,
failures requeued or final, heartbeats that keep an agent alive through long claims, draining
(status draining while the task in hand finishes, then unregistered), cancellation, a drain
timeout, re-registration of a forgotten agent, and concurrency."""

import asyncio
import threading
import time

import support
from support import CpdCase, run_async

from cpclient import AgentStatus, AsyncClient, TaskError, TaskStatus, run_agent


class RunnerCase(CpdCase):
    def start_runner(self, handler, agent_id="r1", caps=("work",), **kw):
        """run_agent as a task of the running loop; returns (task, stop event)."""
        stop = asyncio.Event()
        kw.setdefault("block_ms", 2000)
        kw.setdefault("handle_signals", False)
        task = asyncio.ensure_future(run_agent(handler, agent_id, list(caps), url=self.url,
                                               stop=stop, **kw))
        return task, stop

    async def until(self, co, predicate, timeout=10.0, what="condition"):
        deadline = time.monotonic() + timeout
        while True:
            value = await predicate(co)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError("timed out waiting for " + what)
            await asyncio.sleep(0.05)

    async def registered(self, co, agent_id="r1"):
        return await self.until(co, lambda c: c.get_agent(agent_id), what="registration")


class RunnerTest(RunnerCase):
    def test_sync_and_async_handlers(self):
        def sync_handler(task):
            time.sleep(0.01)  # blocking is fine: it runs in a thread
            return {"double": task.payload["n"] * 2, "thread": threading.current_thread().name}

        async def async_handler(task):
            await asyncio.sleep(0.01)
            return {"double": task.payload["n"] * 2}

        async def scaled(factor, task):
            return {"double": task.payload["n"] * factor}

        # A plain callable returning an awaitable (not itself an async def) is awaited too.
        for handler in (sync_handler, async_handler, lambda task: scaled(2, task)):
            async def scenario():
                co = AsyncClient(self.url)
                runner, stop = self.start_runner(handler)
                await self.registered(co)
                ids = [await co.submit_task("w", {"n": i}, ["work"]) for i in range(5)]
                done = await asyncio.gather(*[co.wait_for_result(t, timeout=20) for t in ids])
                self.assertEqual([d.result["double"] for d in done], [0, 2, 4, 6, 8])
                self.assertTrue(all(d.status is TaskStatus.COMPLETED for d in done))
                if handler is sync_handler:
                    self.assertNotEqual(done[0].result["thread"], "MainThread")
                agent = await co.get_agent("r1")
                self.assertEqual(agent.tasks_completed, 5)
                self.assertGreater(agent.avg_latency_ms, 0)
                stop.set()
                stats = await runner
                self.assertEqual((stats.completed, stats.failed), (5, 0))
                self.assertIsNone(await co.get_agent("r1"))  # unregistered
                await co.close()
            run_async(scenario())

    def test_reports_bring_the_next_task(self):
        # Tasks queued ahead: each completion claims the next one in the same request.
        def handler(task):
            return task.payload["n"]

        async def scenario():
            co = AsyncClient(self.url)
            ids = [await co.submit_task("w", {"n": i}, ["work"]) for i in range(6)]
            runner, stop = self.start_runner(handler)
            done = await asyncio.gather(*[co.wait_for_result(t, timeout=20) for t in ids])
            self.assertTrue(all(d.status is TaskStatus.COMPLETED for d in done))
            stop.set()
            stats = await runner
            await co.close()
            return stats
        stats = run_async(scenario())
        self.assertEqual(stats.completed, 6)
        self.assertGreaterEqual(stats.next_claimed, 4)  # at most the first (and one raced) claimed

    def test_failures_requeue_or_end(self):
        def handler(task):
            if task.payload.get("final"):
                raise TaskError("not retryable", requeue=False)
            if task.payload.get("bad_result"):
                return {"a set": {1, 2}}
            raise ValueError("flaky")

        async def scenario():
            co = AsyncClient(self.url)
            runner, stop = self.start_runner(handler)
            await self.registered(co)
            retried = await co.submit_task("w", {}, ["work"], max_retries=2)
            final = await co.submit_task("w", {"final": True}, ["work"], max_retries=5)
            t1 = await co.wait_for_result(retried, timeout=20)
            t2 = await co.wait_for_result(final, timeout=20)
            self.assertEqual((t1.status, t1.retries, t1.attempt), (TaskStatus.FAILED, 2, 2))
            self.assertEqual(t1.error, "ValueError: flaky")
            self.assertEqual((t2.status, t2.retries, t2.error),
                             (TaskStatus.FAILED, 1, "not retryable"))
            # A result that is not JSON fails its task for good; the runner goes on.
            bad = await co.submit_task("w", {"bad_result": True}, ["work"])
            t3 = await co.wait_for_result(bad, timeout=20)
            self.assertEqual((t3.status, t3.retries), (TaskStatus.FAILED, 1))
            self.assertIn("not JSON", t3.error)
            self.assertFalse(runner.done())
            stop.set()
            stats = await runner
            self.assertEqual(stats.failed, 4)
            await co.close()
        run_async(scenario())

    def test_concurrency(self):
        async def handler(task):
            await asyncio.sleep(0.6)
            return {}

        async def scenario():
            co = AsyncClient(self.url)
            runner, stop = self.start_runner(handler, concurrency=3)
            agent = await self.registered(co)
            self.assertEqual(agent.max_concurrent_tasks, 3)
            ids = [await co.submit_task("w", {}, ["work"]) for _ in range(3)]
            start = time.monotonic()
            await asyncio.gather(*[co.wait_for_result(t, timeout=20) for t in ids])
            self.assertLess(time.monotonic() - start, 1.6)  # in parallel: ~0.6 s, not 1.8 s
            stop.set()
            self.assertEqual((await runner).completed, 3)
            await co.close()
        run_async(scenario())


class RunnerLivenessTest(RunnerCase):
    cpd_config = {"agents": {"heartbeat_timeout_seconds": 1.5}}

    def test_heartbeats_keep_it_alive_through_long_claims(self):
        async def scenario():
            co = AsyncClient(self.url)
            # A claim held 10 s refreshes liveness only when it starts: without the heartbeat
            # coroutine the agent would turn offline after 1.5 s.
            runner, stop = self.start_runner(lambda t: {}, block_ms=10000,
                                             heartbeat_interval=0.4)
            await self.registered(co)
            for _ in range(8):
                await asyncio.sleep(0.5)
                self.assertIsNot((await co.get_agent("r1")).status, AgentStatus.OFFLINE)
            stop.set()
            await runner
            await co.close()
        run_async(scenario())

    def test_registers_again_when_forgotten(self):
        async def scenario():
            co = AsyncClient(self.url)
            runner, stop = self.start_runner(lambda t: {"ok": True}, block_ms=500,
                                             heartbeat_interval=0.3)
            await self.registered(co)
            await co.unregister_agent("r1")  # as the cleanup pass does after a long silence
            await self.registered(co)
            tid = await co.submit_task("w", {}, ["work"])
            self.assertEqual((await co.wait_for_result(tid, timeout=10)).result, {"ok": True})
            stop.set()
            self.assertGreaterEqual((await runner).registrations, 2)
            await co.close()
        run_async(scenario())


class RunnerDrainTest(RunnerCase):
    def test_stop_drains_finishes_and_unregisters(self):
        started = threading.Event()

        def slow(task):
            started.set()
            time.sleep(1.5)
            return {"finished": True}

        async def scenario():
            co = AsyncClient(self.url)
            runner, stop = self.start_runner(slow, block_ms=30000)
            await self.registered(co)
            tid = await co.submit_task("w", {}, ["work"])
            await asyncio.get_running_loop().run_in_executor(None, started.wait, 5)
            stop.set()
            agent = await self.until(
                co, lambda c: self._status_is(c, AgentStatus.DRAINING), 1.0, "draining")
            self.assertEqual(agent.tasks_in_flight, 1)
            later = await co.submit_task("w", {}, ["work"])  # a draining agent takes nothing
            stats = await asyncio.wait_for(runner, 10)
            self.assertEqual(stats.completed, 1)
            done = await co.get_task(tid)
            self.assertEqual((done.status, done.result), (TaskStatus.COMPLETED,
                                                          {"finished": True}))
            self.assertIs((await co.get_task(later)).status, TaskStatus.PENDING)
            self.assertIsNone(await co.get_agent("r1"))
            await co.close()
        run_async(scenario())

    async def _status_is(self, co, status):
        a = await co.get_agent("r1")
        return a if a is not None and a.status is status else None

    def test_cancellation_drains_then_raises(self):
        async def scenario():
            co = AsyncClient(self.url)
            runner, _ = self.start_runner(lambda t: {}, block_ms=30000)
            await self.registered(co)
            await asyncio.sleep(0.3)  # a claim is held now
            loop = asyncio.get_running_loop()
            self.assertEqual(await loop.run_in_executor(None, self.held_claims), 1)
            runner.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await asyncio.wait_for(runner, 5)
            self.assertIsNone(await co.get_agent("r1"))
            await loop.run_in_executor(None, self.wait_held_claims, 0)
            await co.close()
        run_async(scenario())

    def test_drain_timeout_returns_the_task_to_the_queue(self):
        async def stuck(task):
            await asyncio.sleep(30)

        async def scenario():
            co = AsyncClient(self.url)
            runner, stop = self.start_runner(stuck, drain_timeout=0.5)
            await self.registered(co)
            tid = await co.submit_task("w", {}, ["work"])
            await self.until(co, lambda c: self._running(c, tid), 5, "running")
            stop.set()
            start = time.monotonic()
            await asyncio.wait_for(runner, 10)
            self.assertLess(time.monotonic() - start, 5)
            t = await co.get_task(tid)
            # Unregistering requeues it without counting a retry.
            self.assertEqual((t.status, t.retries, t.assigned_agent),
                             (TaskStatus.PENDING, 0, None))
            await co.close()
        run_async(scenario())

    async def _running(self, co, tid):
        t = await co.get_task(tid)
        return t.status is TaskStatus.RUNNING


if __name__ == "__main__":
    support.main()
