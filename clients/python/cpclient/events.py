"""cpclient.events — the event stream (GET /api/control-plane/events, Server-Sent Events):

    for ev in client.events(types=["task_completed", "task_failed"]):     # Client
        print(ev.id, ev.type, ev.data["task_id"])

    async for ev in async_client.events(agent_id="claude-3"):             # AsyncClient
        ...

Each Event is one change: `type` is the original dashboard's name (agent_registered,
agent_unregistered, agent_status_changed, task_submitted, task_claimed, task_started,
task_completed, task_failed, task_requeued, task_timeout, task_cancelled, health_update; and
task_extended, task_retried, task_due for the task features) and
`data` the change as a dict (ids, old_status/new_status, attempt, ...). Two control events have
no id: `resync` (changes may have been missed: reload what you show) and `overflow` (the
server cut this reader off for falling behind; the next connection resumes).

With reconnect=True (the default) a dropped connection, or a stream the server ended, is
opened again after the server's retry delay with Last-Event-ID = the last id seen, so nothing
the server still keeps is lost; the iteration ends only when the caller stops (break, cancel,
a set `cancel` event) or the server refuses the request (BadRequestError for an unknown event
type, UnauthorizedError...). A connection on which nothing arrives for `idle_timeout` seconds
(the server sends a keep-alive comment every 15 s) counts as dropped.

Bytes from the network are hostile: a line or an event over `max_event_bytes` ends the stream
with ProtocolError."""

import json
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

from ._http import END, Head, ResponseParser
from ._ops import Call
from .errors import ProtocolError, error_from_response

__all__ = ["Event", "EVENT_TYPES"]

EVENT_TYPES = ("agent_registered", "agent_unregistered", "agent_status_changed",
               "task_submitted", "task_claimed", "task_started", "task_completed",
               "task_failed", "task_requeued", "task_timeout", "task_cancelled",
               "health_update", "task_extended", "task_retried", "task_due")
MAX_EVENT_BYTES = 1 << 20
MAX_ERROR_BODY = 64 * 1024
DEFAULT_RETRY = 3.0


@dataclass
class Event:
    """One event of the stream: id (None for resync and overflow), type, and data (the JSON
    object, as a dict; {"text": ...} when it was not JSON)."""

    id: Optional[str]
    type: str
    data: Dict[str, Any] = field(default_factory=dict)

    @property
    def task_id(self) -> Optional[str]:
        return self.data.get("task_id")

    @property
    def agent_id(self) -> Optional[str]:
        return self.data.get("agent_id")


class SseParser:
    """Bytes of a text/event-stream body in, Events out (bounded). `last_id` persists across
    events (and is what a reconnection resumes from); `retry` is the server's delay, seconds."""

    def __init__(self, max_bytes: int = MAX_EVENT_BYTES):
        self.max_bytes = max_bytes
        self._line = bytearray()
        self._data: List[str] = []
        self._size = 0
        self._type = ""
        self.last_id: Optional[str] = None
        self.retry = DEFAULT_RETRY

    def feed(self, chunk: bytes) -> List[Event]:
        out: List[Event] = []
        start = 0
        while True:
            nl = chunk.find(b"\n", start)
            if nl < 0:
                self._line += chunk[start:]
                if len(self._line) > self.max_bytes:
                    raise ProtocolError("an event stream line over %d bytes" % self.max_bytes)
                return out
            self._line += chunk[start:nl]
            start = nl + 1
            line = bytes(self._line).rstrip(b"\r").decode("utf-8", errors="replace")
            self._line.clear()
            ev = self._take(line)
            if ev is not None:
                out.append(ev)

    def _take(self, line: str) -> Optional[Event]:
        if not line:
            if not self._data:
                self._type = ""
                return None
            text = "\n".join(self._data)
            self._data, self._size = [], 0
            try:
                data = json.loads(text)
            except ValueError:
                data = None
            if not isinstance(data, dict):
                data = {"text": text}
            ev = Event(self.last_id if self._type not in ("resync", "overflow") else None,
                       self._type or "message", data)
            self._type = ""
            return ev
        if line.startswith(":"):
            return None  # a comment: the keep-alive
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._size += len(value) + 1
            if self._size > self.max_bytes:
                raise ProtocolError("an event over %d bytes" % self.max_bytes)
            self._data.append(value)
        elif name == "event":
            self._type = value
        elif name == "id":
            if "\0" not in value:
                self.last_id = value
        elif name == "retry" and value.isdigit():
            self.retry = min(int(value), 3600000) / 1000.0
        return None


def _names(types: Optional[Union[str, Iterable[str]]]) -> Optional[str]:
    if types is None:
        return None
    if isinstance(types, str):
        return types
    return ",".join(str(getattr(t, "value", t)) for t in types)


def stream_call(types: Optional[Union[str, Iterable[str]]], task_type: Optional[str],
                agent_id: Optional[str]) -> Call:
    query: List[Tuple[str, str]] = []
    names = _names(types)
    if names is not None:
        query.append(("types", names))
    if task_type is not None:
        query.append(("task_type", task_type))
    if agent_id is not None:
        query.append(("agent_id", agent_id))
    return Call("GET", "/events", query or None)


def stream_headers(base: Dict[str, str], last_id: Optional[str]) -> Dict[str, str]:
    h = dict(base)
    h["Accept"] = "text/event-stream"
    if last_id:
        if "\r" in last_id or "\n" in last_id:
            raise ValueError("last_event_id holds a line break")
        h["Last-Event-ID"] = last_id
    return h


class StreamReader:
    """One connection's response bytes in: the refusal (raised) or the events out."""

    def __init__(self, sse: SseParser):
        self.http = ResponseParser()
        self.sse = sse
        self.head: Optional[Head] = None
        self.error_body = bytearray()
        self.ended = False  # the server ended the response

    def feed(self, data: bytes) -> List[Event]:
        self.http.feed(data)
        return self._events()

    def eof(self) -> List[Event]:
        if self.head is None:
            return []
        try:
            self.http.eof()
        except ProtocolError:
            return []  # cut mid-body: a dropped connection, reconnected by the caller
        return self._events()

    def _events(self) -> List[Event]:
        out: List[Event] = []
        while True:
            ev = self.http.next_event()
            if ev is False:
                return out
            if isinstance(ev, Head):
                self.head = ev
                continue
            if ev is END:
                self.ended = True
                self._raise_refusal()
                return out
            if self._refused():
                if len(self.error_body) < MAX_ERROR_BODY:
                    self.error_body += ev[:MAX_ERROR_BODY - len(self.error_body)]
                continue
            out.extend(self.sse.feed(ev))

    def _refused(self) -> bool:
        h = self.head
        return h is not None and (h.status != 200 or not h.headers.get(
            "content-type", "").startswith("text/event-stream"))

    def _raise_refusal(self) -> None:
        if not self._refused():
            return
        text = bytes(self.error_body).decode("utf-8", errors="replace")
        try:
            data: Any = json.loads(text)
        except ValueError:
            data = text
        if self.head.status == 200:
            raise ProtocolError("GET /events: the answer is not an event stream", None, 200)
        raise error_from_response(self.head.status, data, self.head.reason)
