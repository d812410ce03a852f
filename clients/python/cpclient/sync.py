"""cpclient.sync — the blocking client: Client(url, token).get_task(id).

Connections are kept alive and reused (a small pool, so one Client may be shared by threads:
each call takes its own connection). Every call has a deadline; long polls (claim with
block_ms, wait_for_result) get theirs from the time the server may hold them. A long poll
given a threading.Event as `cancel` ends within ~50 ms of the event being set: the socket is
closed, which makes cpd drop the held request."""

import errno
import socket
import threading
import time
from typing import Any, Iterator, List, Optional, Tuple

from ._base import ClientBase, ControlPlaneConfig
from ._http import Collector, ResponseParser, Response, build_request
from ._ops import Call, CallCancelled, Pause
from .errors import ControlPlaneError, RequestTimeout, TransportError
from .events import Event, SseParser, StreamReader, stream_call, stream_headers

__all__ = ["Client"]

CANCEL_POLL = 0.05  # seconds between looks at a cancel event while waiting


class _Stale(Exception):
    """A reused connection was closed by the server before answering: send again on a new
    one (the server had not read the request)."""


class _Pool:
    """Idle kept-alive sockets to one server, shared by threads."""

    def __init__(self, host: str, port: int, ssl_context, max_idle: int):
        self.host, self.port, self.ssl, self.max_idle = host, port, ssl_context, max_idle
        self._idle: List[socket.socket] = []
        self._lock = threading.Lock()
        self.opened = 0  # connections made so far (tests check reuse with it)

    def take(self) -> Optional[socket.socket]:
        with self._lock:
            return self._idle.pop() if self._idle else None

    def open(self, timeout: float) -> socket.socket:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=timeout)
        except socket.timeout:
            raise RequestTimeout("connecting to %s:%d timed out" % (self.host, self.port))
        except OSError as e:
            raise TransportError("cannot connect to %s:%d: %s"
                                 % (self.host, self.port, e.strerror or e))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.ssl is not None:
            try:
                sock = self.ssl.wrap_socket(sock, server_hostname=self.host)
            except (OSError, ValueError) as e:
                sock.close()
                raise TransportError("TLS with %s:%d failed: %s" % (self.host, self.port, e))
        with self._lock:
            self.opened += 1
        return sock

    def give_back(self, sock: socket.socket) -> None:
        with self._lock:
            if len(self._idle) < self.max_idle:
                self._idle.append(sock)
                return
        sock.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for s in idle:
            s.close()


class Client(ClientBase):
    """The blocking client. Client(url=None, token=None, *, config=None, **options): url and
    token default to $CONTROL_PLANE_URL and $CONTROL_PLANE_TOKEN; options are the fields of
    ControlPlaneConfig (timeout, connect_timeout, long_poll_margin, ...). Use it as a context
    manager or call close()."""

    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, *,
                 config: Optional[ControlPlaneConfig] = None, **options: Any):
        super().__init__(url, token, config=config, **options)
        self._pool = _Pool(self._host, self._port, self._ssl, self.config.max_idle_connections)

    # -- life cycle

    def close(self) -> None:
        """Close the kept-alive connections (the client can still be used: it reconnects)."""
        self._pool.close()

    shutdown = close

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    @property
    def connections_opened(self) -> int:
        """How many TCP connections this client has opened (reuse keeps it low)."""
        return self._pool.opened

    # -- the event stream

    def events(self, types=None, task_type: Optional[str] = None,
               agent_id: Optional[str] = None, last_event_id: Optional[str] = None,
               reconnect: bool = True, cancel: Optional[threading.Event] = None,
               idle_timeout: float = 60.0) -> Iterator[Event]:
        """The event stream as a generator of Events (see cpclient.events): every change from
        now on (or after last_event_id), filtered by types (names), task_type and agent_id.
        Reconnects from the last id seen unless reconnect=False; ends when the caller stops
        iterating, `cancel` is set (checked every 50 ms), or the server refuses the request
        (the error is raised). Uses a connection of its own."""
        call = stream_call(types, task_type, agent_id)
        sse = SseParser()
        sse.last_id = last_event_id
        while not (cancel is not None and cancel.is_set()):
            try:
                yield from self._stream_once(call, sse, cancel, idle_timeout)
            except TransportError:
                if not reconnect:
                    raise
            else:
                if not reconnect:
                    return
            deadline = time.monotonic() + sse.retry
            while time.monotonic() < deadline:
                if cancel is not None and cancel.is_set():
                    return
                time.sleep(min(CANCEL_POLL, max(0.0, deadline - time.monotonic())))

    def _stream_once(self, call: Call, sse: SseParser, cancel, idle_timeout: float):
        raw = build_request("GET", call.target(self._base), self._host_header,
                            stream_headers(self._headers, sse.last_id), None)
        sock = self._pool.open(self.config.connect_timeout)
        try:
            try:
                sock.settimeout(self.config.timeout)
                sock.sendall(raw)
            except OSError as e:
                raise TransportError("GET /events: cannot send to %s: %s" % (self.url, e))
            reader = StreamReader(sse)
            heard = time.monotonic()
            while not reader.ended:
                if cancel is not None and cancel.is_set():
                    return
                sock.settimeout(CANCEL_POLL if cancel is not None else 1.0)
                try:
                    data = sock.recv(65536)
                except socket.timeout:
                    if time.monotonic() - heard > idle_timeout:
                        raise RequestTimeout("GET /events: nothing from %s for %.0f s"
                                             % (self.url, idle_timeout))
                    continue
                except OSError as e:
                    raise TransportError("GET /events: receiving from %s failed: %s"
                                         % (self.url, e))
                heard = time.monotonic()
                if not data:
                    yield from reader.eof()
                    return
                yield from reader.feed(data)
        finally:
            sock.close()

    # -- driving the operations

    def _drive(self, gen):
        try:
            call = next(gen)
            while True:
                if isinstance(call, Pause):
                    time.sleep(call.seconds)
                    call = gen.send(None)
                    continue
                try:
                    answer = self._perform(call)
                except ControlPlaneError as e:  # the operation may handle it (retries)
                    call = gen.throw(e)
                    continue
                call = gen.send(answer)
        except StopIteration as stop:
            return stop.value

    def _perform(self, call: Call) -> Tuple[int, Any]:
        body = call.body_bytes()
        raw = build_request(call.method, call.target(self._base), self._host_header,
                            self._request_headers(body), body)
        deadline = time.monotonic() + self._timeout_for(call)
        for attempt in (0, 1):
            sock = self._pool.take()
            reused = sock is not None
            if sock is None:
                sock = self._pool.open(min(self.config.connect_timeout,
                                           max(0.001, deadline - time.monotonic())))
            try:
                resp, reusable = self._exchange(sock, raw, call, deadline)
            except _Stale:
                sock.close()
                if reused and attempt == 0:
                    continue
                raise TransportError("%s closed the connection without answering" % self.url)
            except BaseException:
                sock.close()
                raise
            if reusable:
                self._pool.give_back(sock)
            else:
                sock.close()
            return self._decode(call, resp)
        raise AssertionError("unreachable")

    def _exchange(self, sock: socket.socket, raw: bytes, call: Call,
                  deadline: float) -> Tuple[Response, bool]:
        what = "%s %s" % (call.method, call.path)
        try:
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            sock.sendall(raw)
        except socket.timeout:
            raise RequestTimeout("%s: sending to %s timed out" % (what, self.url))
        except OSError as e:
            if e.errno in (errno.EPIPE, errno.ECONNRESET):
                raise _Stale()
            raise TransportError("%s: cannot send to %s: %s" % (what, self.url, e))
        parser = ResponseParser(head_only=call.method == "HEAD")
        collector = Collector(parser, self.config.max_response_bytes)
        received = 0
        cancel = call.cancel
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise RequestTimeout("%s: no complete answer from %s within %.1f s"
                                     % (what, self.url, self._timeout_for(call)))
            if cancel is not None and cancel.is_set():
                raise CallCancelled("%s: cancelled" % what)
            sock.settimeout(min(left, CANCEL_POLL) if cancel is not None else left)
            try:
                data = sock.recv(65536)
            except socket.timeout:
                continue
            except OSError as e:
                if received == 0 and e.errno == errno.ECONNRESET:
                    raise _Stale()
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
