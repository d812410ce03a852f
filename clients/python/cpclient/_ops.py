"""cpclient._ops — every API call, written once for the sync and the async client.

Each operation is a generator: it yields a Call (method, path, query, body, how long it may
take) and is sent back (status, decoded body); its return value is the typed result. Client
drives the generator with blocking sockets and returns the value; AsyncClient drives it with
asyncio streams and returns a coroutine. So `client.get_task(id)` and
`await aclient.get_task(id)` share their arguments, defaults, documentation and result mapping
— only the I/O differs.

Error statuses raise the matching ControlPlaneError, thrown into the operation (which may
handle it: submits retry), except 404 for the calls whose guide signature answers "unknown"
with None or False (they set ok_404). An operation may also yield a Pause (wait that long: the
sync driver sleeps, the async one awaits)."""

import functools
import json
import os
import time
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union
from urllib.parse import quote, urlencode

from .errors import ControlPlaneError, NotFoundError, ServerError, TransportError, UnavailableError
from .types import (AgentCapability, AgentInfo, AgentStatus, BatchItem, Completion, FailResult,
                    HealthStatus, Task, TaskPriority, TaskStatus, _enum, parse_time)

MAX_WAIT_MS = 60000  # the server's cap on block_ms and wait_ms
AGENT_PAGE = 500  # agents a request when a call reads a whole list page by page


class CallCancelled(ControlPlaneError):
    """A long poll ended by its cancel event (handled inside the calls that take one)."""
    default_code = "cancelled"


class Call:
    """One HTTP exchange an operation asks for.

    long_poll_ms: the server may hold the answer this long (the transport's timeout becomes
    that plus the client's long_poll_margin instead of its per-call timeout); cancel: an event
    that ends the wait early (threading.Event for Client, asyncio.Event for AsyncClient)."""

    __slots__ = ("method", "path", "query", "body", "ok_404", "long_poll_ms", "cancel")

    def __init__(self, method: str, path: str, query: Optional[List[Tuple[str, str]]] = None,
                 body: Any = None, ok_404: bool = False, long_poll_ms: int = 0,
                 cancel: Any = None):
        self.method, self.path, self.query, self.body = method, path, query, body
        self.ok_404, self.long_poll_ms, self.cancel = ok_404, long_poll_ms, cancel

    def target(self, base: str) -> str:
        t = base + self.path
        if self.query:
            t += "?" + urlencode(self.query, safe=",")
        return t

    def body_bytes(self) -> Optional[bytes]:
        if self.body is None:
            return b"{}" if self.method == "POST" else None
        return json.dumps(self.body, separators=(",", ":")).encode()


class Pause:
    """Yielded by an operation: wait `seconds` before it continues (retry backoff)."""
    __slots__ = ("seconds",)

    def __init__(self, seconds: float):
        self.seconds = seconds


def new_idempotency_key() -> str:
    """A fresh key for a submit (128 random bits): the same for every retry of it."""
    return "cpy-" + os.urandom(16).hex()


# A submit that failed where the server may have stored the task anyway.
_RETRYABLE = (UnavailableError, TransportError)  # RequestTimeout is a TransportError


def _iso(t: Any) -> Any:
    """run_at: an aware datetime (naive ones are UTC) as ISO 8601, or the string as given."""
    if isinstance(t, datetime):
        if t.tzinfo is None:
            t = t.replace(tzinfo=timezone.utc)
        t = t.astimezone(timezone.utc)
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)
    return t


def _task_body(task_type: str, payload: Any, required_capabilities: Any, priority: Any,
               timeout_seconds: Any, metadata: Any, max_retries: Any, strategy: Any,
               delay_seconds: Any, run_at: Any, retry_backoff: Any,
               idempotency_key: Any, est_tokens: Any = None, tenant: Any = None,
               extra: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    body: Dict[str, Any] = {"task_type": task_type,
                            "payload": {} if payload is None else payload,
                            "required_capabilities": _names(required_capabilities) or [],
                            "priority": _priority_name(priority)}
    for key, value in (("timeout_seconds", timeout_seconds), ("metadata", metadata),
                       ("max_retries", max_retries), ("strategy", strategy),
                       ("delay_seconds", delay_seconds), ("run_at", _iso(run_at)),
                       ("retry_backoff", retry_backoff), ("idempotency_key", idempotency_key),
                       ("est_tokens", est_tokens), ("tenant", tenant)):
        if value is not None:
            body[key] = value
    # Members of later features (affinity_key, affinity_ttl_seconds, ...), None = absent.
    body.update({k: v for k, v in (extra or {}).items() if v is not None})
    return body


def _seg(s: str) -> str:
    """One path segment (agent ids may hold '/', ':', '@')."""
    return quote(str(s), safe="")


def _name(v: Any) -> Any:
    return v.value if isinstance(v, (AgentCapability, AgentStatus, TaskStatus, HealthStatus)) \
        else v


def _names(values: Optional[Union[str, Iterable[Any]]]) -> Optional[List[str]]:
    if values is None:
        return None
    if isinstance(values, str):
        return [values]
    return [_name(v) for v in values]


def _agent_query(capability: Any, available: bool, status: Any) -> List[Tuple[str, str]]:
    query = []
    caps = _names(capability)
    if caps:
        query.append(("capability", ",".join(caps)))
    query.append(("available", "true" if available else "false"))
    if status is not None:
        query.append(("status", _name(status)))
    return query


def _page_query(query: List[Tuple[str, str]], limit: Optional[int],
                after: Optional[str]) -> List[Tuple[str, str]]:
    query = list(query)
    if limit is not None:
        query.append(("limit", str(int(limit))))
    if after is not None:
        query.append(("after", after))
    return query


def _priority_name(p: Any) -> Any:
    if isinstance(p, TaskPriority):
        return p.api_name
    if isinstance(p, int) and not isinstance(p, bool) and 0 <= p <= 3:
        return TaskPriority(p).api_name
    return p  # a name; the server judges it


def _clamp_ms(ms: Any) -> int:
    return max(0, min(MAX_WAIT_MS, int(ms)))


def _add_next(body: Dict[str, Any], next: Any, agent_id: Optional[str]) -> int:
    """Puts complete/fail's "next" into body; returns how long the server may hold the answer."""
    if next is None or next is False:
        return 0
    if not agent_id:
        raise ValueError("next needs agent_id: the agent that claims the next task")
    spec = {} if next is True else dict(next)
    unknown = set(spec) - {"block_ms", "capabilities"}
    if unknown:
        raise ValueError("next takes block_ms and capabilities, not %s" % ", ".join(sorted(unknown)))
    out: Dict[str, Any] = {}
    if "block_ms" in spec:
        out["block_ms"] = _clamp_ms(spec["block_ms"])
    caps = _names(spec.get("capabilities"))
    if caps is not None:
        out["capabilities"] = caps
    body["next"] = out
    return out.get("block_ms", 0)


def _next_of(data: Any) -> Tuple[Optional[Task], Optional[str]]:
    """The next task and the claim's error message of a complete/fail answer with next."""
    data = data if isinstance(data, dict) else {}
    task = data.get("next")
    err = data.get("next_error")
    msg = err.get("error") if isinstance(err, dict) else None
    return (Task.from_json(task) if task else None), msg


def operation(gen_fn):
    """Turns an operation generator into a client method (see the module comment)."""
    @functools.wraps(gen_fn)
    def method(self, *args, **kwargs):
        return self._drive(gen_fn(self, *args, **kwargs))
    return method


class Operations:
    """The API (docs/api.md) with the guide's names and arguments; see Client and AsyncClient."""

    # -- agents

    @operation
    def register_agent(self, agent_id: str,
                       capabilities: Optional[Sequence[Union[str, AgentCapability]]] = None,
                       model: str = "unknown", provider: str = "unknown",
                       metadata: Optional[Dict[str, Any]] = None,
                       health_probe: Optional[Dict[str, Any]] = None,
                       max_concurrent_tasks: Optional[int] = None,
                       quota_scopes: Optional[Sequence[Dict[str, Any]]] = None):
        """Register (or re-register: fields replaced, counters kept, status ready) an agent and
        return its AgentInfo. health_probe is a probe the server runs, e.g.
        {"type": "http", "url": "http://10.0.0.7:8000/health"} — not a Python function: cpd
        probes the agent over the network (docs/health.md)."""
        if callable(health_probe):
            raise TypeError("health_probe must be a probe description such as "
                            "{'type': 'http', 'url': ...}: cpd runs probes itself")
        body: Dict[str, Any] = {"agent_id": agent_id, "capabilities": _names(capabilities) or [],
                                "model": model, "provider": provider}
        if metadata is not None:
            body["metadata"] = metadata
        if health_probe is not None:
            body["health_probe"] = health_probe
        if max_concurrent_tasks is not None:
            body["max_concurrent_tasks"] = max_concurrent_tasks
        if quota_scopes is not None:  # [{"provider", "model"?, "key_id"?}]: docs/fleet.md
            body["quota_scopes"] = list(quota_scopes)
        _, data = yield Call("POST", "/agents", body=body)
        return AgentInfo.from_json(data)

    @operation
    def unregister_agent(self, agent_id: str):
        """Unregister an agent (its claimed/running tasks return to pending). True, or False
        for an unknown agent."""
        status, _ = yield Call("DELETE", "/agents/" + _seg(agent_id), ok_404=True)
        return status != 404

    @operation
    def heartbeat(self, agent_id: str, status: Optional[Union[AgentStatus, str]] = None):
        """Refresh the agent's liveness, optionally reporting a status (starting, ready, busy,
        draining, failed). True, or False for an unknown agent (re-register it)."""
        body = {"status": _name(status)} if status is not None else {}
        code, _ = yield Call("POST", "/agents/%s/heartbeat" % _seg(agent_id), body=body,
                             ok_404=True)
        return code != 404

    @operation
    def drain_agent(self, agent_id: str):
        """An operator's drain (admin token): the agent gets no new tasks, finishes those it
        holds, and reads draining until undrain_agent — whatever its heartbeats say. Returns the
        AgentInfo after (drained_at set), or None for an unknown agent."""
        status, data = yield Call("POST", "/agents/%s/drain" % _seg(agent_id), ok_404=True)
        return None if status == 404 else AgentInfo.from_json(data)

    @operation
    def undrain_agent(self, agent_id: str):
        """End an operator's drain: the agent returns to the status it reported last. The
        AgentInfo after, or None for an unknown agent."""
        status, data = yield Call("POST", "/agents/%s/undrain" % _seg(agent_id), ok_404=True)
        return None if status == 404 else AgentInfo.from_json(data)

    @operation
    def get_agent(self, agent_id: str):
        """AgentInfo, or None for an unknown agent."""
        status, data = yield Call("GET", "/agents/" + _seg(agent_id), ok_404=True)
        return None if status == 404 else AgentInfo.from_json(data)

    @operation
    def list_agents(self, capability: Optional[Union[str, AgentCapability,
                                                     Sequence[Union[str, AgentCapability]]]] = None,
                    available: bool = True, status: Optional[Union[AgentStatus, str]] = None,
                    *, only_available: Optional[bool] = None, page_size: int = AGENT_PAGE):
        """Agents sorted by id. capability: one or several (all required); available=True (the
        default) lists agents that could take work now, False every agent, offline ones too
        (only_available= is accepted as the original project's name for it). Read page_size
        agents a request, following the server's next to the end."""
        if only_available is not None:
            available = only_available
        query = _agent_query(capability, available, status)
        agents: List[AgentInfo] = []
        after = None
        while True:
            _, data = yield Call("GET", "/agents", query=_page_query(query, page_size, after))
            agents += [AgentInfo.from_json(a) for a in data.get("agents", [])]
            nxt = data.get("next")
            if not nxt:  # the last page, or a server without pages (everything at once)
                return agents
            if after is not None and nxt <= after:
                raise ControlPlaneError("the server's next does not move forward")
            after = nxt

    @operation
    def list_agents_page(self, limit: int, after: Optional[str] = None,
                         capability: Optional[Union[str, AgentCapability,
                                                    Sequence[Union[str, AgentCapability]]]] = None,
                         available: bool = True, status: Optional[Union[AgentStatus, str]] = None):
        """One page of list_agents: at most limit agents (1..100000) with ids after `after`.
        Returns (agents, next): next is the `after` of the following page, None on the last."""
        query = _page_query(_agent_query(capability, available, status), limit, after)
        _, data = yield Call("GET", "/agents", query=query)
        return [AgentInfo.from_json(a) for a in data.get("agents", [])], data.get("next")

    @operation
    def select_agent(self, capabilities: Optional[Sequence[Union[str, AgentCapability]]] = None,
                     strategy: Optional[str] = None, exclude: Optional[Sequence[str]] = None,
                     hints: Optional[Dict[str, str]] = None):
        """The agent the strategy (default: the server's) picks among available agents with
        every capability, not excluded; None when no agent qualifies. hints are passed to the
        strategy as hint.<key>=<value> ({"region": "eu"}; strategies that do not use them
        ignore them)."""
        query = []
        caps = _names(capabilities)
        if caps:
            query.append(("capability", ",".join(caps)))
        if strategy:
            query.append(("strategy", strategy))
        if exclude:
            query.append(("exclude", ",".join(exclude)))
        for key, value in (hints or {}).items():
            query.append(("hint." + str(key), str(value)))
        status, data = yield Call("GET", "/agents/select", query=query, ok_404=True)
        if status == 404:
            if isinstance(data, dict) and data.get("code") == "no_agent":
                return None
            raise NotFoundError(data.get("error", "not found") if isinstance(data, dict)
                                else "not found", None, 404)
        return AgentInfo.from_json(data)

    # -- tasks

    def _retried_post(self, path: str, body: Any, generated_key: bool):
        """POST a submit, again (same body, so the same idempotency keys) after a 503 or a
        lost answer, up to config.submit_retries times with a doubling pause. A store that keeps
        no keys (501 not_supported) gets a body whose key this client generated once without it
        (nothing was stored by the 501)."""
        retries, pause = self.config.submit_retries, self.config.submit_backoff
        attempt = 0
        while True:
            try:
                return (yield Call("POST", path, body=body))
            except _RETRYABLE:
                if attempt >= retries:
                    raise
            except ServerError as e:
                if not (generated_key and e.code == "not_supported" and
                        "idempotency" in e.message):
                    raise
                body = dict(body)
                body.pop("idempotency_key", None)
                return (yield Call("POST", path, body=body))
            attempt += 1
            yield Pause(pause)
            pause = min(pause * 2, 10.0)

    @operation
    def submit_task(self, task_type: str, payload: Any = None,
                    required_capabilities: Optional[Sequence[Union[str, AgentCapability]]] = None,
                    priority: Union[TaskPriority, int, str] = TaskPriority.NORMAL,
                    timeout_seconds: Optional[float] = None,
                    metadata: Optional[Dict[str, Any]] = None,
                    max_retries: Optional[int] = None, strategy: Optional[str] = None,
                    *, delay_seconds: Optional[float] = None, run_at: Any = None,
                    retry_backoff: Optional[Dict[str, Any]] = None,
                    idempotency_key: Optional[str] = None,
                    est_tokens: Optional[Dict[str, int]] = None, tenant: Optional[str] = None,
                    affinity_key: Optional[str] = None,
                    affinity_ttl_seconds: Optional[float] = None):
        """Submit a task; returns its id ("task_…"). tenant: whose task it is, for fair share
        between tenants (None: the server's "default"). Defaults (timeout, retries, backoff) are
        the server's. delay_seconds or run_at (a datetime or ISO 8601 text) make it claimable
        later; retry_backoff ({"type": "fixed"|"exponential", "seconds", "max_seconds",
        "jitter"}) is how long a failed attempt waits. The submit carries an idempotency key
        (this one, or one generated for the call) and is sent again after a 503 or a lost
        answer (config.submit_retries): a retry finds the task instead of adding one. The same
        key later answers the same id. affinity_key (a conversation or debate id) and
        affinity_ttl_seconds: prompt-cache affinity, the `affinity` strategy sends the task to
        the agent that completed that key last (docs/fleet.md)."""
        generated = idempotency_key is None and self.config.submit_retries > 0
        key = new_idempotency_key() if generated else idempotency_key
        body = _task_body(task_type, payload, required_capabilities, priority, timeout_seconds,
                          metadata, max_retries, strategy, delay_seconds, run_at, retry_backoff,
                          key, est_tokens, tenant,
                          {"affinity_key": affinity_key,
                           "affinity_ttl_seconds": affinity_ttl_seconds})
        _, data = yield from self._retried_post("/tasks", body, generated)
        return data["task_id"]

    @operation
    def submit_tasks(self, tasks: Sequence[Dict[str, Any]]):
        """Submit up to 1000 tasks in one request (POST /tasks/batch), each a dict of
        submit_task's arguments (task_type required). Returns one BatchItem per task, in order:
        its task_id and whether this call stored it, or the error that refused it. Every task
        without an idempotency_key gets one, so a retried batch stores nothing twice."""
        items = []
        for t in tasks:
            t = dict(t)
            if "task_type" not in t:
                raise ValueError("every task needs a task_type")
            if t.get("idempotency_key") is None and self.config.submit_retries > 0:
                t["idempotency_key"] = new_idempotency_key()
            items.append(_task_body(
                t.pop("task_type"), t.pop("payload", None), t.pop("required_capabilities", None),
                t.pop("priority", TaskPriority.NORMAL), t.pop("timeout_seconds", None),
                t.pop("metadata", None), t.pop("max_retries", None), t.pop("strategy", None),
                t.pop("delay_seconds", None), t.pop("run_at", None), t.pop("retry_backoff", None),
                t.pop("idempotency_key", None), t.pop("est_tokens", None), t.pop("tenant", None),
                {"affinity_key": t.pop("affinity_key", None),
                 "affinity_ttl_seconds": t.pop("affinity_ttl_seconds", None)}))
            if t:
                raise ValueError("unknown task members: %s" % ", ".join(sorted(t)))
        _, data = yield from self._retried_post("/tasks/batch", {"tasks": items}, False)
        return [BatchItem.from_json(r) for r in data.get("results", [])]

    @operation
    def extend_task(self, task_id: str, agent_id: Optional[str] = None,
                    seconds: Optional[float] = None, percent: Optional[float] = None,
                    message: Optional[str] = None):
        """Keep a held task's lease: its deadline moves to now + seconds (default: its
        timeout_seconds); percent (0-100) and message are reported as its progress. The new
        deadline (a datetime), or None for an unknown task; ConflictError when it is not held
        (or held by another agent)."""
        body: Dict[str, Any] = {}
        if agent_id:
            body["agent_id"] = agent_id
        if seconds is not None:
            body["seconds"] = seconds
        progress = {k: v for k, v in (("percent", percent), ("message", message))
                    if v is not None}
        if progress:
            body["progress"] = progress
        status, data = yield Call("POST", "/tasks/%s/extend" % _seg(task_id), body=body,
                                  ok_404=True)
        return None if status == 404 else parse_time(data.get("deadline_at"))

    @operation
    def retry_task(self, task_id: str):
        """Send a failed, timed-out or cancelled task back to pending (retries reset, its
        attempts kept). True, or False for an unknown task; ConflictError in other states."""
        status, _ = yield Call("POST", "/tasks/%s/retry" % _seg(task_id), ok_404=True)
        return status != 404

    @operation
    def purge_tasks(self, status: Optional[Union[TaskStatus, str]] = None,
                    task_type: Optional[str] = None, older_than: float = 0.0,
                    limit: int = 1000):
        """Delete finished tasks (of a status, a type) that ended at least older_than seconds
        ago, in bounded requests of `limit` until none are left. Returns how many."""
        query = [("older_than", repr(float(older_than))), ("limit", str(int(limit)))]
        if status is not None:
            query.append(("status", _name(status)))
        if task_type is not None:
            query.append(("task_type", task_type))
        total = 0
        while True:
            _, data = yield Call("DELETE", "/tasks", query=query)
            total += int(data.get("purged", 0))
            if not data.get("more"):
                return total

    @operation
    def get_task(self, task_id: str):
        """Task, or None for an unknown task."""
        status, data = yield Call("GET", "/tasks/" + _seg(task_id), ok_404=True)
        return None if status == 404 else Task.from_json(data)

    @operation
    def list_tasks(self, status: Optional[Union[TaskStatus, str]] = None,
                   task_type: Optional[str] = None, limit: Optional[int] = None):
        """Tasks, newest first (default 50, at most 1000)."""
        query = []
        if status is not None:
            query.append(("status", _name(status)))
        if task_type is not None:
            query.append(("task_type", task_type))
        if limit is not None:
            query.append(("limit", str(limit)))
        _, data = yield Call("GET", "/tasks", query=query)
        return [Task.from_json(t) for t in data.get("tasks", [])]

    @operation
    def claim_task(self, agent_id: str,
                   capabilities: Optional[Sequence[Union[str, AgentCapability]]] = None,
                   block_ms: int = 0, cancel: Any = None):
        """Claim the best pending task this agent may take, or None. block_ms (at most 60000)
        holds the request until a matching task arrives (a long poll). A held claim ends early
        when `cancel` is set (Client: a threading.Event) or the awaiting task is cancelled
        (AsyncClient; an asyncio.Event works too): the connection is closed, the server drops
        the claim and no task is lost to it. An unknown agent raises NotFoundError."""
        body: Dict[str, Any] = {"agent_id": agent_id, "block_ms": _clamp_ms(block_ms)}
        caps = _names(capabilities)
        if caps is not None:
            body["capabilities"] = caps
        try:
            _, data = yield Call("POST", "/tasks/claim", body=body,
                                 long_poll_ms=body["block_ms"], cancel=cancel)
        except CallCancelled:
            return None
        task = data.get("task")
        return Task.from_json(task) if task else None

    @operation
    def start_task(self, task_id: str, agent_id: Optional[str] = None):
        """claimed -> running. True, or False for an unknown task; ConflictError from any other
        state or for another agent."""
        body = {"agent_id": agent_id} if agent_id else {}
        status, _ = yield Call("POST", "/tasks/%s/start" % _seg(task_id), body=body, ok_404=True)
        return status != 404

    @operation
    def complete_task(self, task_id: str, result: Any = None, agent_id: Optional[str] = None,
                      latency_ms: Optional[float] = None, next: Any = None,
                      usage: Optional[Dict[str, int]] = None):
        """Complete a claimed/running task with its result (usage: the model call's
        {"input_tokens", "output_tokens", "cached_tokens"}, settled against provider quotas). True, or False for an unknown task;
        ConflictError when it is no longer this agent's to complete (cancelled, timed out and
        handed to another agent).

        next: also claim the agent's next task in the same request (agent_id required) — True,
        or a mapping {"block_ms": ms, "capabilities": [...]} as claim_task takes them (block_ms
        holds the answer until a task arrives). Then the answer is a Completion (true when
        completed) whose .next is the claimed Task or None."""
        body: Dict[str, Any] = {"result": result}
        if usage is not None:
            body["usage"] = usage
        if agent_id:
            body["agent_id"] = agent_id
        if latency_ms is not None:
            body["latency_ms"] = latency_ms
        wait_ms = _add_next(body, next, agent_id)
        status, data = yield Call("POST", "/tasks/%s/complete" % _seg(task_id), body=body,
                                  ok_404=True, long_poll_ms=wait_ms)
        if next is None or next is False:
            return status != 404
        if status == 404:
            return Completion(False)
        return Completion(True, *_next_of(data))

    @operation
    def fail_task(self, task_id: str, error: str, agent_id: Optional[str] = None,
                  latency_ms: Optional[float] = None, requeue: bool = True, next: Any = None,
                  usage: Optional[Dict[str, int]] = None, rate_limited: bool = False,
                  retry_after_ms: Optional[float] = None):
        """Fail a claimed/running task (rate_limited: the provider's 429 — back to pending
        with no retry counted, the agent's quotas paused for retry_after_ms or their
        concurrency halved; docs/fleet.md). With requeue (the default) it returns to pending while
        retries remain. A FailResult (true; .requeued tells which), or False for an unknown
        task; ConflictError as for complete_task. next: as complete_task's; the FailResult's
        .next is then the claimed Task or None."""
        body: Dict[str, Any] = {"error": error, "requeue": bool(requeue)}
        if usage is not None:
            body["usage"] = usage
        if rate_limited:
            body["reason"] = "rate_limited"
            if retry_after_ms is not None:
                body["retry_after_ms"] = retry_after_ms
        if agent_id:
            body["agent_id"] = agent_id
        if latency_ms is not None:
            body["latency_ms"] = latency_ms
        wait_ms = _add_next(body, next, agent_id)
        status, data = yield Call("POST", "/tasks/%s/fail" % _seg(task_id), body=body,
                                  ok_404=True, long_poll_ms=wait_ms)
        if status == 404:
            return False
        return FailResult(bool(data.get("failed")), _enum(TaskStatus, data.get("status")),
                          data.get("retries", 0), *_next_of(data))

    @operation
    def cancel_task(self, task_id: str):
        """Cancel a pending/claimed/running task. True, or False for an unknown task;
        ConflictError for a finished one."""
        status, _ = yield Call("POST", "/tasks/%s/cancel" % _seg(task_id), ok_404=True)
        return status != 404

    @operation
    def wait_for_result(self, task_id: str, timeout: Optional[float] = 300.0,
                        cancel: Any = None):
        """The task once it is finished (completed, failed, cancelled or timeout), or None when
        `timeout` seconds pass first (None: no limit), the task is unknown, or `cancel` ends
        the wait. The server holds each request until the task finishes (no polling)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        path = "/tasks/" + _seg(task_id)
        while True:
            left_ms = MAX_WAIT_MS if deadline is None else \
                _clamp_ms((deadline - time.monotonic()) * 1000)
            try:
                status, data = yield Call("GET", path, query=[("wait_ms", str(left_ms))],
                                          ok_404=True, long_poll_ms=left_ms, cancel=cancel)
            except CallCancelled:
                return None
            if status == 404:
                return None
            task = Task.from_json(data)
            if task.is_terminal:
                return task
            if deadline is not None and time.monotonic() >= deadline:
                return None
