"""cpclient._http — HTTP/1.1 on the wire, without I/O: request bytes and an incremental response
parser. The sync transport (sockets) and the async one (asyncio streams) feed it the bytes they
read, so both frame responses the same way. The parser yields events — the head, body data,
the end — so a streamed response (an event stream) can be consumed as it arrives rather than
only as a whole.

Bytes from the network are hostile: the head is bounded (64 KiB), so is a buffered body
(`max_body`), and any framing error raises ProtocolError."""

from typing import Dict, List, Optional, Tuple, Union

from .errors import ProtocolError

MAX_HEAD = 64 * 1024
MAX_CHUNK_LINE = 1024


def build_request(method: str, target: str, host: str, headers: Dict[str, str],
                  body: Optional[bytes]) -> bytes:
    """One request as bytes. Header values are checked for CR/LF (no header injection)."""
    lines = ["%s %s HTTP/1.1" % (method, target), "Host: " + host]
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError("header %s holds a line break" % name)
        lines.append("%s: %s" % (name, value))
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append("Content-Length: %d" % len(body or b""))
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return head + (body or b"")


class Head:
    """Status line and headers of a response (header names lower-cased)."""

    __slots__ = ("status", "reason", "headers", "version")

    def __init__(self, status: int, reason: str, headers: Dict[str, str], version: str):
        self.status, self.reason, self.headers, self.version = status, reason, headers, version

    @property
    def keep_alive(self) -> bool:
        conn = self.headers.get("connection", "").lower()
        if self.version == "HTTP/1.0":
            return "keep-alive" in conn
        return "close" not in conn


Event = Union[Head, bytes, None]
END = None  # the event after the last body byte


class ResponseParser:
    """Feed bytes with feed(); take events with next_event(): a Head, then bytes (body data, in
    pieces), then END. next_event() returns False when it needs more bytes. eof() tells the
    parser the connection closed (ends a body framed by close, else raises ProtocolError).

    head_only: the request was HEAD (no body whatever the headers say)."""

    def __init__(self, head_only: bool = False):
        self._buf = bytearray()
        # head, length, chunk-size, chunk-data, chunk-crlf, trailer, close (body until the
        # connection closes), close-eof (it closed), done
        self._state = "head"
        self._remaining = 0
        self._head_only = head_only
        self.head: Optional[Head] = None
        self.reusable = False  # after END: the connection may carry another request

    def feed(self, data: bytes) -> None:
        self._buf += data

    @property
    def done(self) -> bool:
        return self._state == "done"

    def eof(self) -> None:
        if self._state == "close":
            self._state = "close-eof"  # next_event() returns what is left, then END
            return
        if self._state not in ("done", "close-eof"):
            raise ProtocolError("connection closed in the middle of a response")

    def next_event(self):
        """One event, or False when more bytes are needed."""
        st = self._state
        if st == "head":
            return self._parse_head()
        if st == "length":
            if self._remaining == 0:
                return self._finish(True)
            if not self._buf:
                return False
            piece = bytes(self._buf[:self._remaining])
            del self._buf[:len(piece)]
            self._remaining -= len(piece)
            return piece
        if st in ("close", "close-eof"):
            if not self._buf:
                return self._finish(False) if st == "close-eof" else False
            piece = bytes(self._buf)
            self._buf.clear()
            return piece
        if st == "chunk-size":
            line = self._line(MAX_CHUNK_LINE, "chunk size line")
            if line is None:
                return False
            size_text = line.split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError("bad chunk size %r" % size_text[:20])
            if size < 0:
                raise ProtocolError("bad chunk size")
            if size == 0:
                self._state = "trailer"
                return self.next_event()
            self._remaining = size
            self._state = "chunk-data"
            return self.next_event()
        if st == "chunk-data":
            if not self._buf:
                return False
            piece = bytes(self._buf[:self._remaining])
            del self._buf[:len(piece)]
            self._remaining -= len(piece)
            if self._remaining == 0:
                self._state = "chunk-crlf"
            return piece
        if st == "chunk-crlf":
            if len(self._buf) < 2:
                return False
            if self._buf[:2] != b"\r\n":
                raise ProtocolError("chunk not followed by CRLF")
            del self._buf[:2]
            self._state = "chunk-size"
            return self.next_event()
        if st == "trailer":
            while True:
                line = self._line(MAX_HEAD, "trailer")
                if line is None:
                    return False
                if line == b"":
                    return self._finish(True)
        raise ProtocolError("response already complete")

    # -- internals

    def _line(self, limit: int, what: str) -> Optional[bytes]:
        i = self._buf.find(b"\r\n")
        if i < 0:
            if len(self._buf) > limit:
                raise ProtocolError("%s over %d bytes" % (what, limit))
            return None
        line = bytes(self._buf[:i])
        del self._buf[:i + 2]
        return line

    def _parse_head(self):
        end = self._buf.find(b"\r\n\r\n")
        if end < 0:
            if len(self._buf) > MAX_HEAD:
                raise ProtocolError("response head over %d bytes" % MAX_HEAD)
            return False
        if end > MAX_HEAD:
            raise ProtocolError("response head over %d bytes" % MAX_HEAD)
        raw = bytes(self._buf[:end]).decode("latin-1")
        del self._buf[:end + 4]
        lines = raw.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or parts[0] not in ("HTTP/1.1", "HTTP/1.0") or \
                not parts[1].isdigit() or len(parts[1]) != 3:
            raise ProtocolError("not an HTTP/1.x status line: %r" % lines[0][:80])
        status = int(parts[1])
        headers: Dict[str, str] = {}
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep or not name or name != name.strip():
                raise ProtocolError("bad header line %r" % line[:80])
            key = name.lower()
            value = value.strip()
            headers[key] = headers[key] + ", " + value if key in headers else value
        head = Head(status, parts[2] if len(parts) > 2 else "", headers, parts[0])
        if 100 <= status < 200:
            return self._parse_head()  # 1xx: informational, the real head follows
        self.head = head
        te = headers.get("transfer-encoding", "").lower()
        if self._head_only or status in (204, 304):
            self._state = "length"
            self._remaining = 0
        elif te:
            if te.split(",")[-1].strip() != "chunked":
                raise ProtocolError("unsupported transfer-encoding %r" % te)
            self._state = "chunk-size"
        elif "content-length" in headers:
            cl = headers["content-length"]
            if not cl.isdigit():
                raise ProtocolError("bad content-length %r" % cl[:20])
            self._state = "length"
            self._remaining = int(cl)
        else:
            self._state = "close"
        return head

    def _finish(self, framed: bool):
        self._state = "done"
        self.reusable = framed and self.head is not None and self.head.keep_alive and \
            not self._buf
        return END


class Response:
    """A whole response: status, reason, headers (lower-cased names) and the body bytes."""

    __slots__ = ("status", "reason", "headers", "body")

    def __init__(self, status: int, reason: str, headers: Dict[str, str], body: bytes):
        self.status, self.reason, self.headers, self.body = status, reason, headers, body


class Collector:
    """Gathers one whole response from a parser's events, the body bounded by max_body."""

    def __init__(self, parser: ResponseParser, max_body: int):
        self.parser, self.max_body = parser, max_body
        self.chunks: List[bytes] = []
        self.size = 0

    def drain(self) -> Optional[Response]:
        """Take every event available; the Response once it is complete, else None."""
        while True:
            ev = self.parser.next_event()
            if ev is False:
                return None
            if isinstance(ev, Head):
                continue
            if ev is END:
                h = self.parser.head
                return Response(h.status, h.reason, h.headers, b"".join(self.chunks))
            self.size += len(ev)
            if self.size > self.max_body:
                raise ProtocolError("response body over %d bytes" % self.max_body)
            self.chunks.append(ev)


def split_url(url: str) -> Tuple[str, str, int, str]:
    """(scheme, host, port, base path) of an http:// or https:// URL; the API's base path
    /api/control-plane is appended unless the URL already ends with it."""
    from urllib.parse import urlsplit
    u = urlsplit(url)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise ValueError("not an http(s) URL: %r" % url)
    port = u.port or (443 if u.scheme == "https" else 80)
    base = u.path.rstrip("/")
    if not base.endswith("/api/control-plane"):
        base += "/api/control-plane"
    return u.scheme, u.hostname, port, base
