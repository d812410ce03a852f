"""cpclient.errors — what a call raises. Every exception is a ControlPlaneError carrying the
server's error `code` (docs/api.md, "Errors") or, for failures with no answer, a local one:
`transport`, `timeout`, `protocol`, `cancelled`."""

from typing import Any, Dict, Optional

__all__ = [
    "ControlPlaneError", "TransportError", "RequestTimeout", "ProtocolError",
    "BadRequestError", "UnauthorizedError", "ForbiddenError", "NotFoundError",
    "ConflictError", "PayloadTooLargeError", "UnavailableError", "ServerError",
    "error_from_response",
]


class ControlPlaneError(Exception):
    """A call that did not succeed.

    message: the server's sentence (or a local one); code: the snake_case code of the API's
    error object (`invalid_field`, `conflict`, ...) or a local code; status: the HTTP status,
    0 when no answer arrived; body: the decoded error object, when there was one; applied: what
    the answer says about the call's effect — False (nothing changed), "unknown" (it may have
    taken effect), None (the answer did not say: see UnavailableError)."""

    default_code = "error"

    def __init__(self, message: str, code: Optional[str] = None, status: int = 0,
                 body: Optional[Dict[str, Any]] = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.status = status
        self.body = body
        applied = body.get("applied") if isinstance(body, dict) else None
        self.applied = applied if applied is False or applied == "unknown" else None

    def __str__(self) -> str:
        where = " (HTTP %d)" % self.status if self.status else ""
        return "%s [%s]%s" % (self.message, self.code, where)


class TransportError(ControlPlaneError):
    """Cannot connect, send or receive (the message names the server)."""
    default_code = "transport"


class RequestTimeout(TransportError, TimeoutError):
    """The call's timeout passed before the answer was complete."""
    default_code = "timeout"


class ProtocolError(ControlPlaneError):
    """The answer is not HTTP/JSON as the API promises."""
    default_code = "protocol"


class BadRequestError(ControlPlaneError):
    """400: invalid_json, missing_field, invalid_field."""
    default_code = "invalid_field"


class UnauthorizedError(ControlPlaneError):
    """401: auth is on and the token is missing or unknown."""
    default_code = "unauthorized"


class ForbiddenError(ControlPlaneError):
    """403: the token's role may not do this."""
    default_code = "forbidden"


class NotFoundError(ControlPlaneError):
    """404: not_found (unknown agent, task or route) or no_agent (select found none). Calls
    whose guide signature returns None/False for "unknown" do that instead of raising."""
    default_code = "not_found"


class ConflictError(ControlPlaneError):
    """409: the transition is not allowed from the task's current state (completing a cancelled
    or reassigned task, cancelling a finished one)."""
    default_code = "conflict"


class PayloadTooLargeError(ControlPlaneError):
    """413: the body is over the server's limits.max_body_bytes."""
    default_code = "payload_too_large"


class UnavailableError(ControlPlaneError):
    """503 storage_unavailable: retry later. `applied` says what the call did: False — the
    storage backend was not reached, nothing changed (retry as is); "unknown" — its reply was
    lost (or replicas did not confirm the write): the call may have taken effect, e.g. a
    retried submit may create the task twice. A claim answered 503 never keeps a task."""
    default_code = "storage_unavailable"


class ServerError(ControlPlaneError):
    """Any other unexpected status."""
    default_code = "server_error"


_BY_STATUS = {400: BadRequestError, 401: UnauthorizedError, 403: ForbiddenError,
              404: NotFoundError, 409: ConflictError, 413: PayloadTooLargeError,
              503: UnavailableError}


def error_from_response(status: int, body: Any, reason: str = "") -> ControlPlaneError:
    """The exception for an error answer; body is the decoded JSON (or text)."""
    cls = _BY_STATUS.get(status, ServerError)
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        code = body.get("code") if isinstance(body.get("code"), str) else None
        return cls(body["error"], code, status, body)
    text = body if isinstance(body, str) else ""
    message = "HTTP %d %s: %s" % (status, reason, text[:200].strip()) if text else \
        "HTTP %d %s" % (status, reason)
    return cls(message.strip(), None, status, None)
