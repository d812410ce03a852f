"""cpclient.runner — run_agent(): an agent's whole life around one handler function, following
the guide's practices.

- register (max_concurrent_tasks = concurrency), then one claim loop per slot, each a long poll
  (block_ms), so a task reaches the agent the moment it is submitted;
- heartbeats every heartbeat_interval (default HEARTBEAT_TIMEOUT / 3, below the guide's /2)
  from their own coroutine, so a long task or a held claim never lets the agent look dead; an
  agent the server forgot (removed after a long silence) is registered again;
- each task: start, the handler, then complete with the measured latency — or fail with
  requeue (TaskError(..., requeue=False) fails it for good);
- on SIGTERM/SIGINT, the `stop` event, or cancellation of run_agent itself: report `draining`
  at once (the server hands it nothing more), end held claims, let the tasks in hand finish (at
  most drain_timeout seconds; unfinished ones go back to the queue when the agent unregisters,
  without a retry counted), stop heartbeats, unregister.
- errors talking to the server back off (0.25 s doubling to 10 s); a handler's exception never
  ends the runner.

A handler is `def handler(task) -> result` (run in a worker thread, so it may block) or
`async def handler(task) -> result`; the result is any JSON value."""

import asyncio
import inspect
import json
import logging
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Set

from .aio import AsyncClient
from .errors import ConflictError, ControlPlaneError, NotFoundError
from .types import AgentStatus, Task

__all__ = ["run_agent", "TaskError", "RunnerStats"]

log = logging.getLogger("cpclient.runner")

BACKOFF_MIN, BACKOFF_MAX = 0.25, 10.0
CLAIM_GRACE = 0.2  # after `draining` is acknowledged, a claim already answered may still arrive


class TaskError(Exception):
    """Raised by a handler to fail its task with this message; requeue=False ends it failed
    instead of retrying."""

    def __init__(self, message: str, requeue: bool = True):
        super().__init__(message)
        self.requeue = requeue


@dataclass
class RunnerStats:
    """What run_agent did: tasks completed, failed (by the handler), and abandoned (the
    server refused the outcome: cancelled or reassigned meanwhile); next_claimed: tasks that
    came with a completion or failure (complete with next) instead of a claim of their own."""
    completed: int = 0
    failed: int = 0
    abandoned: int = 0
    registrations: int = 0
    next_claimed: int = 0


class _Backoff:
    def __init__(self) -> None:
        self.delay = 0.0

    async def wait(self, stopping: asyncio.Event) -> None:
        self.delay = min(BACKOFF_MAX, max(BACKOFF_MIN, self.delay * 2))
        try:
            await asyncio.wait_for(stopping.wait(), self.delay)
        except asyncio.TimeoutError:
            pass

    def reset(self) -> None:
        self.delay = 0.0


def _default_heartbeat_interval() -> float:
    try:
        timeout = float(os.environ.get("HEARTBEAT_TIMEOUT", "30"))
    except ValueError:
        timeout = 30.0
    return max(0.1, timeout / 3.0)


class _Runner:
    def __init__(self, handler, agent_id, capabilities, client, register_kw, concurrency,
                 block_ms, heartbeat_interval, drain_timeout):
        self.handler = handler
        self.is_async = asyncio.iscoroutinefunction(handler)
        self.agent_id = agent_id
        self.capabilities = capabilities
        self.client: AsyncClient = client
        self.register_kw = register_kw
        self.concurrency = concurrency
        self.block_ms = block_ms
        self.heartbeat_interval = heartbeat_interval
        self.drain_timeout = drain_timeout
        self.stopping = asyncio.Event()
        self.stats = RunnerStats()
        self.claims: Set[asyncio.Future] = set()
        self.claims_ended = False  # set when the runner itself cancels held claims
        self.working: Set[asyncio.Task] = set()
        self.register_lock = asyncio.Lock()

    async def register(self) -> None:
        async with self.register_lock:
            await self.client.register_agent(self.agent_id, self.capabilities,
                                             max_concurrent_tasks=self.concurrency,
                                             **self.register_kw)
            self.stats.registrations += 1
            log.info("agent %s registered (capabilities %s)", self.agent_id,
                     ",".join(map(str, self.capabilities)))

    async def heartbeats(self) -> None:
        backoff = _Backoff()
        while not self.stopping.is_set():
            try:
                await asyncio.wait_for(self.stopping.wait(), self.heartbeat_interval)
                return
            except asyncio.TimeoutError:
                pass
            try:
                if not await self.client.heartbeat(self.agent_id):
                    log.warning("agent %s unknown to the server: registering again",
                                self.agent_id)
                    await self.register()
                backoff.reset()
            except ControlPlaneError as e:
                log.warning("heartbeat failed: %s", e)

    async def claim_loop(self) -> None:
        backoff = _Backoff()
        while not self.stopping.is_set():
            claim = asyncio.ensure_future(self.client.claim_task(
                self.agent_id, self.capabilities, block_ms=self.block_ms))
            self.claims.add(claim)
            try:
                task = await claim
            except asyncio.CancelledError:
                if self.claims_ended and claim.cancelled():
                    return  # ended by drain(); the runner itself goes on
                raise
            except NotFoundError:
                log.warning("agent %s unknown to the server: registering again", self.agent_id)
                try:
                    await self.register()
                except ControlPlaneError as e:
                    log.warning("registering failed: %s", e)
                    await backoff.wait(self.stopping)
                continue
            except ControlPlaneError as e:
                log.warning("claim failed: %s", e)
                await backoff.wait(self.stopping)
                continue
            finally:
                self.claims.discard(claim)
            backoff.reset()
            while task is not None:  # each report may bring the next task (complete with next)
                work = asyncio.ensure_future(self.work_on(task))
                self.working.add(work)
                try:
                    task = await asyncio.shield(work)  # a drain timeout cancels `work` itself
                except asyncio.CancelledError:
                    if not work.cancelled():
                        raise
                    return
                finally:
                    self.working.discard(work)

    async def work_on(self, task: Task) -> Optional[Task]:
        """Runs one task to its report; returns the next task the report claimed, or None."""
        try:
            if not await self.client.start_task(task.id, self.agent_id):
                return None
        except ConflictError as e:
            log.info("task %s not ours any more: %s", task.id, e)
            self.stats.abandoned += 1
            return None
        except ControlPlaneError as e:
            log.warning("start %s failed (working on it anyway): %s", task.id, e)
        began = time.monotonic()
        try:
            if self.is_async:
                result = await self.handler(task)
            else:
                result = await asyncio.get_running_loop().run_in_executor(
                    None, self.handler, task)
                if inspect.isawaitable(result):  # e.g. a functools.partial of an async def
                    result = await result
        except asyncio.CancelledError:
            raise
        except TaskError as e:
            return await self.report(task, began, error=str(e), requeue=e.requeue)
        except Exception as e:  # the handler's failure is the task's, never the runner's
            log.warning("task %s failed: %s: %s", task.id, type(e).__name__, e)
            return await self.report(task, began, error="%s: %s" % (type(e).__name__, e),
                                     requeue=True)
        try:
            json.dumps(result)
        except (TypeError, ValueError) as e:  # the handler's bug: fail the task, keep running
            return await self.report(task, began, error="result is not JSON: %s" % e,
                                     requeue=False)
        return await self.report(task, began, result=result)

    async def report(self, task: Task, began: float, result: Any = None,
                     error: Optional[str] = None, requeue: bool = True) -> Optional[Task]:
        """Completes or fails the task; unless stopping, the same request claims the agent's
        next task when one is waiting (next with block_ms 0: the held wait stays with the
        claim loop, which drain can end). Returns that task, or None."""
        latency_ms = (time.monotonic() - began) * 1000.0
        backoff = _Backoff()
        for attempt in range(6):  # the outcome matters: retry through short outages
            # A retried report asks for no next task: its first try may have claimed one
            # (released by the server when that reply was lost).
            nxt = {"block_ms": 0, "capabilities": self.capabilities} \
                if attempt == 0 and not self.stopping.is_set() else None
            try:
                if error is None:
                    done = await self.client.complete_task(task.id, result, self.agent_id,
                                                           latency_ms, next=nxt)
                    self.stats.completed += 1
                else:
                    done = await self.client.fail_task(task.id, error, self.agent_id,
                                                       latency_ms, requeue=requeue, next=nxt)
                    self.stats.failed += 1
                nxt_task = getattr(done, "next", None) if nxt is not None else None
                if nxt_task is not None:
                    self.stats.next_claimed += 1
                return nxt_task
            except ConflictError as e:
                log.info("task %s: outcome refused (%s)", task.id, e)
                self.stats.abandoned += 1
                return None
            except ControlPlaneError as e:
                log.warning("reporting task %s failed (attempt %d): %s", task.id, attempt + 1, e)
                await backoff.wait(asyncio.Event())
        self.stats.abandoned += 1
        return None

    async def drain(self, loops: List[asyncio.Task]) -> None:
        """Stop taking work, finish what is in hand, leave."""
        self.stopping.set()
        try:
            await self.client.heartbeat(self.agent_id, AgentStatus.DRAINING)
            log.info("agent %s draining", self.agent_id)
        except ControlPlaneError as e:
            log.warning("reporting draining failed: %s", e)
        if self.claims:
            await asyncio.wait(set(self.claims), timeout=CLAIM_GRACE)
        self.claims_ended = True
        for claim in list(self.claims):
            claim.cancel()
        if self.working:
            _, late = await asyncio.wait(set(self.working), timeout=self.drain_timeout)
            for work in late:
                log.warning("drain timeout: abandoning a task (it returns to the queue)")
                work.cancel()
        await asyncio.wait(loops, timeout=5.0)
        for loop_task in loops:
            loop_task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        try:
            await self.client.unregister_agent(self.agent_id)
            log.info("agent %s unregistered", self.agent_id)
        except ControlPlaneError as e:
            log.warning("unregistering failed: %s", e)


async def run_agent(handler: Callable[[Task], Any], agent_id: str,
                    capabilities: Sequence[Any], *, client: Optional[AsyncClient] = None,
                    url: Optional[str] = None, token: Optional[str] = None,
                    model: str = "unknown", provider: str = "unknown",
                    metadata: Optional[Dict[str, Any]] = None,
                    health_probe: Optional[Dict[str, Any]] = None, concurrency: int = 1,
                    block_ms: int = 30000, heartbeat_interval: Optional[float] = None,
                    drain_timeout: float = 30.0, stop: Optional[asyncio.Event] = None,
                    handle_signals: bool = True) -> RunnerStats:
    """Run an agent until SIGTERM/SIGINT (when handle_signals and on the main thread), until
    `stop` is set, or until this coroutine is cancelled; returns RunnerStats (on cancellation
    it drains and unregisters, then re-raises CancelledError). Registration failing at start
    raises. client: an AsyncClient to use (else one is made from url/token, default
    $CONTROL_PLANE_URL/$CONTROL_PLANE_TOKEN, and closed at the end)."""
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    own_client = client is None
    if client is None:
        client = AsyncClient(url, token)
    runner = _Runner(handler, agent_id, list(capabilities), client,
                     {"model": model, "provider": provider, "metadata": metadata,
                      "health_probe": health_probe},
                     concurrency, block_ms,
                     heartbeat_interval or _default_heartbeat_interval(), drain_timeout)
    loop = asyncio.get_running_loop()
    signals: List[int] = []
    try:
        await runner.register()
        if handle_signals and threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                try:
                    loop.add_signal_handler(sig, runner.stopping.set)
                    signals.append(sig)
                except (NotImplementedError, RuntimeError, ValueError):
                    pass
        loops = [asyncio.ensure_future(runner.heartbeats())]
        loops += [asyncio.ensure_future(runner.claim_loop()) for _ in range(concurrency)]
        waiters = [asyncio.ensure_future(runner.stopping.wait())]
        if stop is not None:
            waiters.append(asyncio.ensure_future(stop.wait()))
        try:
            await asyncio.wait(waiters + loops, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            await asyncio.shield(_finish(runner, loops, waiters))
            raise
        await _finish(runner, loops, waiters)
        for t in loops:  # a loop that ended by itself with an error: surface it
            if t.done() and not t.cancelled() and t.exception() is not None:
                raise t.exception()
        return runner.stats
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        if own_client:
            await client.close()


async def _finish(runner: _Runner, loops, waiters) -> None:
    for w in waiters:
        w.cancel()
    await runner.drain(loops)
