"""test_async.py — AsyncClient against a real cpd: the guide's calls awaited, concurrency over
reused connections, an event loop that keeps running during long polls, and cancellation that
really ends a held claim on the server."""

import asyncio
import os
import time

import support
from support import CpdCase, FakeServer, read_request, run_async

import cpclient
from cpclient import (AsyncClient, ConflictError, ControlPlaneCoordinator, HealthStatus,
                      RequestTimeout, TaskPriority, TaskStatus, TransportError,
                      create_control_plane)


class AsyncApiTest(CpdCase):
    def test_guide_calls(self):
        async def scenario():
            async with AsyncClient(self.url) as co:
                agent = await co.register_agent(agent_id="claude-3",
                                                capabilities=["debate", "code"],
                                                model="claude-3-opus", provider="anthropic",
                                                metadata={"version": "3.5"})
                self.assertEqual(agent.status.value, "ready")
                self.assertTrue(await co.heartbeat("claude-3"))
                task_id = await co.submit_task(task_type="debate",
                                               payload={"question": "Microservices?"},
                                               required_capabilities=["debate"],
                                               priority=TaskPriority.CRITICAL)

                async def agent_side():
                    task = await co.claim_task(agent_id="claude-3", capabilities=["debate"],
                                               block_ms=5000)
                    await co.start_task(task.id, "claude-3")
                    await co.complete_task(task.id, {"answer": "it depends"}, "claude-3")

                waited, _ = await asyncio.gather(co.wait_for_result(task_id, timeout=10.0),
                                                 agent_side())
                self.assertIs(waited.status, TaskStatus.COMPLETED)
                self.assertEqual(waited.result, {"answer": "it depends"})
                self.assertIs(waited.priority, TaskPriority.CRITICAL)
                self.assertEqual([a.agent_id for a in await co.list_agents(capability="debate")],
                                 ["claude-3"])
                self.assertEqual((await co.select_agent(["debate"])).agent_id, "claude-3")
                self.assertIs(await co.get_system_health(), HealthStatus.HEALTHY)
                self.assertEqual((await co.get_agent_health("claude-3")).status,
                                 HealthStatus.HEALTHY)
                self.assertTrue(await co.is_agent_available("claude-3"))
                self.assertEqual((await co.get_stats())["scheduler"]["by_status"]["completed"], 1)
                with self.assertRaises(ConflictError) as cm:
                    await co.cancel_task(task_id)
                self.assertEqual(cm.exception.code, "conflict")
                self.assertIsNone(await co.get_task("task_000000000000000000000000"))
                self.assertTrue(await co.unregister_agent("claude-3"))
        run_async(scenario())

    def test_create_control_plane_from_environment(self):
        async def scenario():
            os.environ["CONTROL_PLANE_URL"] = self.url
            try:
                co = await create_control_plane()
            finally:
                del os.environ["CONTROL_PLANE_URL"]
            self.assertIsInstance(co, ControlPlaneCoordinator)
            self.assertEqual(co.url, self.url)
            await co.shutdown()
            other = await ControlPlaneCoordinator.create(cpclient.ControlPlaneConfig(url=self.url))
            await other.shutdown()
        run_async(scenario())

    def test_concurrent_calls_reuse_connections(self):
        async def scenario():
            co = AsyncClient(self.url)
            await co.register_agent("c", ["x"])
            agents = await asyncio.gather(*[co.get_agent("c") for _ in range(40)])
            self.assertTrue(all(a.agent_id == "c" for a in agents))
            opened = co.connections_opened
            self.assertLessEqual(opened, 40)
            for _ in range(20):
                await co.heartbeat("c")
            self.assertEqual(co.connections_opened, opened)  # sequential calls: kept alive
            await co.close()
        run_async(scenario())

    def test_long_poll_does_not_block_the_loop(self):
        async def scenario():
            co = AsyncClient(self.url)
            await co.register_agent("lp", ["x"])
            ticks = 0

            async def ticker():
                nonlocal ticks
                while True:
                    await asyncio.sleep(0.01)
                    ticks += 1

            t = asyncio.ensure_future(ticker())
            start = time.monotonic()
            self.assertIsNone(await co.claim_task("lp", block_ms=1000))
            took = time.monotonic() - start
            t.cancel()
            self.assertGreaterEqual(took, 0.9)
            self.assertGreater(ticks, 40)  # ~100 if the loop never stalled; 0 if it blocked
            await co.close()
        run_async(scenario())

    def test_cancelling_a_held_claim_ends_it_on_the_server(self):
        async def scenario():
            co = AsyncClient(self.url)
            await co.register_agent("cc", ["x"])
            claim = asyncio.ensure_future(co.claim_task("cc", block_ms=30000))
            await asyncio.sleep(0.3)
            loop = asyncio.get_running_loop()
            self.assertEqual(await loop.run_in_executor(None, self.held_claims), 1)
            start = time.monotonic()
            claim.cancel()
            with self.assertRaises(asyncio.CancelledError):
                await claim
            self.assertLess(time.monotonic() - start, 1.0)
            await asyncio.get_running_loop().run_in_executor(None, self.wait_held_claims, 0)
            tid = await co.submit_task("x", {}, ["x"])
            self.assertEqual((await co.claim_task("cc")).id, tid)  # nothing lost
            # An asyncio.Event works as the cancel argument too.
            stop = asyncio.Event()
            asyncio.get_running_loop().call_later(0.2, stop.set)
            self.assertIsNone(await co.wait_for_result(tid, timeout=30, cancel=stop))
            await co.close()
        run_async(scenario())

    def test_timeout_and_transport_errors(self):
        def silent(conn):
            read_request(conn)
            time.sleep(3)
        s = FakeServer(silent)
        self.addCleanup(s.close)

        async def scenario():
            co = AsyncClient(s.url, timeout=0.4)
            start = time.monotonic()
            with self.assertRaises(RequestTimeout) as cm:
                await co.get_stats()
            self.assertEqual(cm.exception.code, "timeout")
            self.assertLess(time.monotonic() - start, 2.0)
            await co.close()
            closed = FakeServer(lambda conn: None)
            closed.close()
            with self.assertRaises(TransportError):
                await create_control_plane(url=closed.url)
        run_async(scenario())


if __name__ == "__main__":
    support.main()
