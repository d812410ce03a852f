"""cpclient.aio — the asyncio client: `await AsyncClient(url, token).get_task(id)`.

Built on asyncio streams, not on a thread pool around blocking calls: a claim held for 30 s
costs a socket, not a thread; and cancelling the awaiting task really ends the request — the
connection is aborted at once, so cpd drops the held claim and hands its next task to someone
else — whereas a cancelled executor future leaves the blocking call running in its thread, its
connection open, and a task the server hands to it lost until its timeout. Nothing here blocks
the event loop (name resolution goes through the loop's resolver).

Connections are kept alive and reused; each concurrent call uses its own. A client belongs to
the event loop it is first used on; used from another loop it starts a fresh pool."""

import asyncio
import time
from typing import Any, AsyncIterator, List, Optional, Tuple

from ._base import ClientBase, ControlPlaneConfig
from ._http import Collector, Response, ResponseParser, build_request
from ._ops import Call, CallCancelled, Pause
from .errors import ControlPlaneError, RequestTimeout, TransportError
from .events import Event, SseParser, StreamReader, stream_call, stream_headers

__all__ = ["AsyncClient"]

Conn = Tuple[asyncio.StreamReader, asyncio.StreamWriter]


class _Stale(Exception):
    """A reused connection was closed by the server before answering (send again)."""


class AsyncClient(ClientBase):
    """The asyncio client; same arguments as Client. Use `async with AsyncClient(...)` or
    `await client.close()`. AsyncClient.create() / connect() also check that the server
    answers."""

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, *,
                 config: Optional[ControlPlaneConfig] = None, **options: Any):
        super().__init__(url, token, config=config, **options)
        self._idle: List[Conn] = []
        self._loop: Optional[asyncio.AbstractEventLoop] = None
        self.connections_opened = 0

    # -- life cycle

    @classmethod
    async def create(cls, config: Optional[ControlPlaneConfig] = None, **options: Any) \
            -> "AsyncClient":
        """A client that has checked the server answers (GET /health)."""
        client = cls(config=config, **options)
        try:
            await client.connect()
        except BaseException:
            await client.close()
            raise
        return client

    async def connect(self) -> None:
        """Check that the server answers (raises TransportError etc. when it does not)."""
        await self.get_system_health()

    async def close(self) -> None:
        """Close the kept-alive connections (the client reconnects when used again)."""
        idle, self._idle = self._idle, []
        for _, writer in idle:
            writer.close()
        for _, writer in idle:
            try:
                await writer.wait_closed()
            except (OSError, asyncio.CancelledError):
                pass

    shutdown = close

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    # -- driving the operations

    async def _drive(self, gen):
        try:
            call = next(gen)
            while True:
                if isinstance(call, Pause):
                    await asyncio.sleep(call.seconds)
                    call = gen.send(None)
                    continue
                try:
                    answer = await self._perform(call)
                except ControlPlaneError as e:  # the operation may handle it (retries)
                    call = gen.throw(e)
                    continue
                call = gen.send(answer)
        except StopIteration as stop:
            return stop.value

    # -- the event stream

    async def events(self, types=None, task_type: Optional[str] = None,
                     agent_id: Optional[str] = None, last_event_id: Optional[str] = None,
                     reconnect: bool = True,
                     idle_timeout: float = 60.0) -> AsyncIterator[Event]:
        """The event stream as an async iterator of Events (see cpclient.events): every
        change from now on (or after last_event_id), filtered by types (names), task_type and
        agent_id. Reconnects from the last id seen unless reconnect=False; ends when the caller
        stops iterating (break, or cancelling the task: the connection is aborted at once) or
        the server refuses the request (the error is raised). Uses a connection of its own."""
        call = stream_call(types, task_type, agent_id)
        sse = SseParser()
        sse.last_id = last_event_id
        while True:
            try:
                async for ev in self._stream_once(call, sse, idle_timeout):
                    yield ev
            except TransportError:
                if not reconnect:
                    raise
            else:
                if not reconnect:
                    return
            await asyncio.sleep(sse.retry)

    async def _stream_once(self, call: Call, sse: SseParser, idle_timeout: float):
        raw = build_request("GET", call.target(self._base), self._host_header,
                            stream_headers(self._headers, sse.last_id), None)
        reader, writer = await self._open(self.config.connect_timeout)
        try:
            try:
                writer.write(raw)
                await writer.drain()
            except OSError as e:
                raise TransportError("GET /events: cannot send to %s: %s" % (self.url, e))
            stream = StreamReader(sse)
            while not stream.ended:
                try:
                    data = await asyncio.wait_for(reader.read(65536), idle_timeout)
                except asyncio.TimeoutError:
                    raise RequestTimeout("GET /events: nothing from %s for %.0f s"
                                         % (self.url, idle_timeout))
                except OSError as e:
                    raise TransportError("GET /events: receiving from %s failed: %s"
                                         % (self.url, e))
                if not data:
                    for ev in stream.eof():
                        yield ev
                    return
                for ev in stream.feed(data):
                    yield ev
        finally:
            writer.transport.abort()

    def _take(self) -> Optional[Conn]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            for _, writer in self._idle:  # made on another (maybe closed) loop
                writer.transport.abort()
            self._idle, self._loop = [], loop
        while self._idle:
            conn = self._idle.pop()
            if not conn[1].is_closing() and not conn[0].at_eof():
                return conn
            conn[1].transport.abort()
        return None

    async def _open(self, timeout: float) -> Conn:
        try:
            conn = await asyncio.wait_for(
                asyncio.open_connection(self._host, self._port, ssl=self._ssl,
                                        server_hostname=self._host if self._ssl else None),
                timeout)
        except asyncio.TimeoutError:
            raise RequestTimeout("connecting to %s:%d timed out" % (self._host, self._port))
        except OSError as e:
            raise TransportError("cannot connect to %s:%d: %s"
                                 % (self._host, self._port, e.strerror or e))
        self.connections_opened += 1
        return conn

    def _give_back(self, conn: Conn) -> None:
        if len(self._idle) < self.config.max_idle_connections:
            self._idle.append(conn)
        else:
            conn[1].transport.abort()

    async def _perform(self, call: Call) -> Tuple[int, Any]:
        body = call.body_bytes()
        raw = build_request(call.method, call.target(self._base), self._host_header,
                            self._request_headers(body), body)
        limit = self._timeout_for(call)
        deadline = time.monotonic() + limit
        for attempt in (0, 1):
            conn = self._take()
            reused = conn is not None
            if conn is None:
                conn = await self._open(min(self.config.connect_timeout,
                                            max(0.001, deadline - time.monotonic())))
            done = False
            try:
                resp, reusable = await self._exchange_until(conn, raw, call, deadline, limit)
                done = True
            except _Stale:
                if reused and attempt == 0:
                    continue
                raise TransportError("%s closed the connection without answering" % self.url)
            finally:
                # Cancelled, timed out or failed: abort, so that the server sees the client
                # gone (a held claim is dropped, not answered into a dead socket).
                if not done:
                    conn[1].transport.abort()
            if reusable:
                self._give_back(conn)
            else:
                conn[1].close()
            return self._decode(call, resp)
        raise AssertionError("unreachable")

    async def _exchange_until(self, conn: Conn, raw: bytes, call: Call, deadline: float,
                              limit: float) -> Tuple[Response, bool]:
        left = max(0.001, deadline - time.monotonic())
        what = "%s %s" % (call.method, call.path)
        exchange = self._exchange(conn, raw, call)
        if call.cancel is None:
            try:
                return await asyncio.wait_for(exchange, left)
            except asyncio.TimeoutError:
                raise RequestTimeout("%s: no complete answer from %s within %.1f s"
                                     % (what, self.url, limit))
        work = asyncio.ensure_future(exchange)
        stop = asyncio.ensure_future(call.cancel.wait())
        try:
            finished, _ = await asyncio.wait({work, stop}, timeout=left,
                                             return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if not work.done():
                work.cancel()
        if work in finished:
            return work.result()
        try:
            await work  # let the cancellation finish before the connection is aborted
        except (asyncio.CancelledError, Exception):
            pass
        if stop in finished:
            raise CallCancelled("%s: cancelled" % what)
        raise RequestTimeout("%s: no complete answer from %s within %.1f s"
                             % (what, self.url, limit))

    async def _exchange(self, conn: Conn, raw: bytes, call: Call) -> Tuple[Response, bool]:
        reader, writer = conn
        what = "%s %s" % (call.method, call.path)
        try:
            writer.write(raw)
            await writer.drain()
        except (ConnectionResetError, BrokenPipeError):
            raise _Stale()
        except OSError as e:
            raise TransportError("%s: cannot send to %s: %s" % (what, self.url, e))
        parser = ResponseParser(head_only=call.method == "HEAD")
        collector = Collector(parser, self.config.max_response_bytes)
        received = 0
        while True:
            try:
                data = await reader.read(65536)
            except ConnectionResetError:
                if received == 0:
                    raise _Stale()
                raise TransportError("%s: %s reset the connection" % (what, self.url))
            except OSError as e:
                raise TransportError("%s: receiving from %s failed: %s" % (what, self.url, e))
            if not data:
                if received == 0:
                    raise _Stale()
                parser.eof()
                resp = collector.drain()
                if resp is None:
                    raise TransportError("%s: %s closed the connection mid-answer"
                                         % (what, self.url))
                return resp, False
            received += len(data)
            parser.feed(data)
            resp = collector.drain()
            if resp is not None:
                return resp, parser.reusable
