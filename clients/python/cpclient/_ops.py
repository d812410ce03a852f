"""cpclient._ops — every API call, written once for the sync and the async client.

Each operation is a generator: it yields a Call (method, path, query, body, how long it may
take) and is sent back (status, decoded body); its return value is the typed result. Client
drives the generator with blocking sockets and returns the value; AsyncClient drives it with
asyncio streams and returns a coroutine. So `client.get_task(id)` and
`await aclient.get_task(id)` share their arguments, defaults, documentation and result mapping
— only the I/O differs.

Error statuses raise the matching ControlPlaneError in the driver, except 404 for the calls
whose guide signature answers "unknown" with None or False (they set ok_404)."""

import functools
import json
import time
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union
from urllib.parse import quote, urlencode

from .errors import ControlPlaneError, NotFoundError
from .types import (AgentCapability, AgentInfo, AgentStatus, FailResult, HealthCheck,
                    HealthStatus, SystemHealth, Task, TaskPriority, TaskStatus, _enum)

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
                       max_concurrent_tasks: Optional[int] = None):
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
                     strategy: Optional[str] = None, exclude: Optional[Sequence[str]] = None):
        """The agent the strategy (default: the server's) picks among available agents with
        every capability, not excluded; None when no agent qualifies."""
        query = []
        caps = _names(capabilities)
        if caps:
            query.append(("capability", ",".join(caps)))
        if strategy:
            query.append(("strategy", strategy))
        if exclude:
            query.append(("exclude", ",".join(exclude)))
        status, data = yield Call("GET", "/agents/select", query=query, ok_404=True)
        if status == 404:
            if isinstance(data, dict) and data.get("code") == "no_agent":
                return None
            raise NotFoundError(data.get("error", "not found") if isinstance(data, dict)
                                else "not found", None, 404)
        return AgentInfo.from_json(data)

    # -- tasks

    @operation
    def submit_task(self, task_type: str, payload: Any = None,
                    required_capabilities: Optional[Sequence[Union[str, AgentCapability]]] = None,
                    priority: Union[TaskPriority, int, str] = TaskPriority.NORMAL,
                    timeout_seconds: Optional[float] = None,
                    metadata: Optional[Dict[str, Any]] = None,
                    max_retries: Optional[int] = None, strategy: Optional[str] = None):
        """Submit a task; returns its id ("task_…"). Defaults (timeout, retries) are the
        server's."""
        body: Dict[str, Any] = {"task_type": task_type,
                                "payload": {} if payload is None else payload,
                                "required_capabilities": _names(required_capabilities) or [],
                                "priority": _priority_name(priority)}
        for key, value in (("timeout_seconds", timeout_seconds), ("metadata", metadata),
                           ("max_retries", max_retries), ("strategy", strategy)):
            if value is not None:
                body[key] = value
        _, data = yield Call("POST", "/tasks", body=body)
        return data["task_id"]

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
                      latency_ms: Optional[float] = None):
        """Complete a claimed/running task with its result. True, or False for an unknown task;
        ConflictError when it is no longer this agent's to complete (cancelled, timed out and
        handed to another agent)."""
        body: Dict[str, Any] = {"result": result}
        if agent_id:
            body["agent_id"] = agent_id
        if latency_ms is not None:
            body["latency_ms"] = latency_ms
        status, _ = yield Call("POST", "/tasks/%s/complete" % _seg(task_id), body=body,
                               ok_404=True)
        return status != 404

    @operation
    def fail_task(self, task_id: str, error: str, agent_id: Optional[str] = None,
                  latency_ms: Optional[float] = None, requeue: bool = True):
        """Fail a claimed/running task. With requeue (the default) it returns to pending while
        retries remain. A FailResult (true; .requeued tells which), or False for an unknown
        task; ConflictError as for complete_task."""
        body: Dict[str, Any] = {"error": error, "requeue": bool(requeue)}
        if agent_id:
            body["agent_id"] = agent_id
        if latency_ms is not None:
            body["latency_ms"] = latency_ms
        status, data = yield Call("POST", "/tasks/%s/fail" % _seg(task_id), body=body,
                                  ok_404=True)
        if status == 404:
            return False
        return FailResult(bool(data.get("failed")), _enum(TaskStatus, data.get("status")),
                          data.get("retries", 0))

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

    # -- health and stats

    @operation
    def get_agent_health(self, agent_id: str):
        """The agent's HealthCheck, or None for an unknown agent."""
        status, data = yield Call("GET", "/health/" + _seg(agent_id), ok_404=True)
        return None if status == 404 else HealthCheck.from_json(agent_id, data)

    @operation
    def get_health(self, agents: Optional[str] = None, limit: Optional[int] = None,
                   after: Optional[str] = None):
        """SystemHealth: the system status, the storage state, the counts by health and status
        (summary) and agents' health. agents: None or "auto" (the server's choice: every agent
        up to 1000 agents, else the summary form, whose .agents are the degraded and unhealthy
        ones), "summary", or "all" (every agent; without a limit read AGENT_PAGE agents a
        request to the end). limit/after: one page (.next is the following page's after)."""
        query = [("agents", agents)] if agents else []
        if agents != "all" or limit is not None:
            _, data = yield Call("GET", "/health", query=_page_query(query, limit, after))
            return SystemHealth.from_json(data)
        first = None
        while True:
            _, data = yield Call("GET", "/health", query=_page_query(query, AGENT_PAGE, after))
            if first is None:
                first = data
            else:
                first.setdefault("agents", {}).update(data.get("agents") or {})
            nxt = data.get("next")
            if not nxt:
                first["next"] = None
                return SystemHealth.from_json(first)
            if after is not None and nxt <= after:
                raise ControlPlaneError("the server's next does not move forward")
            after = nxt

    @operation
    def get_system_health(self):
        """The system's HealthStatus (healthy, degraded, unhealthy, critical)."""
        _, data = yield Call("GET", "/health")
        return _enum(HealthStatus, data.get("status"))

    @operation
    def is_agent_available(self, agent_id: str):
        """Whether the agent could take work now (AgentInfo.is_available); False when
        unknown."""
        status, data = yield Call("GET", "/agents/" + _seg(agent_id), ok_404=True)
        return status != 404 and AgentInfo.from_json(data).is_available()

    @operation
    def get_stats(self):
        """The /stats object as a dict: stats['registry']['total_agents'],
        stats['scheduler']['pending_tasks'], stats['health']['healthy_count'], ..."""
        _, data = yield Call("GET", "/stats")
        return data
