"""cpclient._base — what Client and AsyncClient share besides the operations: configuration,
request headers, and turning an answer into (status, data) or an exception."""

import json
import os
import ssl
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Tuple

from ._version import __version__
from ._http import Response, split_url
from ._fleet import FleetOperations
from ._observe import ObserveOperations
from ._ops import Call, Operations
from .errors import ProtocolError, error_from_response

DEFAULT_URL = "http://127.0.0.1:8080"


@dataclass
class ControlPlaneConfig:
    """Where cpd is and how to talk to it.

    url: the server (the base path /api/control-plane is added unless present); default
    $CONTROL_PLANE_URL, else http://127.0.0.1:8080. token: the bearer token; default
    $CONTROL_PLANE_TOKEN. timeout: seconds per call; connect_timeout: seconds to connect;
    long_poll_margin: seconds a long poll (claim block_ms, wait_for_result) may take beyond
    the time the server holds it. max_idle_connections: kept-alive connections kept for
    reuse. max_response_bytes: the largest answer accepted. ssl_context: for https URLs
    (default: the system's verified context). submit_retries: how often a submit is sent again
    after a 503 or a lost answer (with the same idempotency key; 0: never, and no key is
    generated); submit_backoff: seconds before the first retry, doubling."""

    url: Optional[str] = None
    token: Optional[str] = None
    timeout: float = 30.0
    connect_timeout: float = 5.0
    long_poll_margin: float = 5.0
    max_idle_connections: int = 8
    max_response_bytes: int = 256 * 1024 * 1024
    ssl_context: Optional[ssl.SSLContext] = field(default=None, repr=False)
    user_agent: str = "cpclient/" + __version__
    submit_retries: int = 2
    submit_backoff: float = 0.25

    @classmethod
    def from_env(cls, **overrides: Any) -> "ControlPlaneConfig":
        return cls(**overrides)

    def resolved_url(self) -> str:
        return self.url or os.environ.get("CONTROL_PLANE_URL") or DEFAULT_URL

    def resolved_token(self) -> Optional[str]:
        if self.token is not None:
            return self.token or None
        return os.environ.get("CONTROL_PLANE_TOKEN") or None


class ClientBase(Operations, ObserveOperations, FleetOperations):
    def __init__(self, url: Optional[str] = None, token: Optional[str] = None, *,
                 config: Optional[ControlPlaneConfig] = None, **options: Any):
        cfg = config or ControlPlaneConfig()
        if url is not None or token is not None or options:
            from dataclasses import replace
            kw = dict(options)
            if url is not None:
                kw["url"] = url
            if token is not None:
                kw["token"] = token
            cfg = replace(cfg, **kw)
        self.config = cfg
        self.url = cfg.resolved_url()
        self._scheme, self._host, self._port, self._base = split_url(self.url)
        default_port = 443 if self._scheme == "https" else 80
        self._host_header = self._host if self._port == default_port else \
            "%s:%d" % (self._host, self._port)
        if ":" in self._host and not self._host.startswith("["):
            self._host_header = "[%s]:%d" % (self._host, self._port)
        self._ssl = None
        if self._scheme == "https":
            self._ssl = cfg.ssl_context or ssl.create_default_context()
        token_value = cfg.resolved_token()
        self._headers: Dict[str, str] = {"Accept": "application/json",
                                         "User-Agent": cfg.user_agent}
        if token_value:
            self._headers["Authorization"] = "Bearer " + token_value

    def _request_headers(self, body: Optional[bytes]) -> Dict[str, str]:
        if body is None:
            return self._headers
        h = dict(self._headers)
        h["Content-Type"] = "application/json"
        return h

    def _timeout_for(self, call: Call) -> float:
        if call.long_poll_ms:
            return call.long_poll_ms / 1000.0 + self.config.long_poll_margin
        return self.config.timeout

    @staticmethod
    def _decode(call: Call, resp: Response) -> Tuple[int, Any]:
        text = resp.body.decode("utf-8", errors="replace")
        try:
            data = json.loads(text) if text else None
        except ValueError:
            data = None
        if 200 <= resp.status < 300:
            if not isinstance(data, dict):
                raise ProtocolError("%s %s: the answer is not a JSON object: %r"
                                    % (call.method, call.path, text[:100]), None, resp.status)
            return resp.status, data
        if resp.status == 404 and call.ok_404:
            return 404, data if isinstance(data, dict) else {}
        raise error_from_response(resp.status, data if data is not None else text, resp.reason)

    def __repr__(self) -> str:
        return "<%s %s>" % (type(self).__name__, self.url)
