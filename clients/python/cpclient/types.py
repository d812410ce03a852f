"""cpclient.types — the guide's enums and the typed results built from the API's JSON
(AgentJSON, TaskJSON, HealthJSON in docs/api.md). Every result keeps the object as received in
`raw`, for members added to the API later. A status the client does not know yet stays a plain
string instead of failing the call."""

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Dict, List, Optional, Type, TypeVar, Union

__all__ = [
    "AgentStatus", "TaskStatus", "TaskPriority", "AgentCapability", "HealthStatus",
    "CircuitState", "AgentInfo", "Task", "HealthCheck", "CircuitInfo", "SystemHealth",
    "FailResult", "Attempt", "BatchItem", "Tenant", "parse_time",
]


class AgentStatus(str, enum.Enum):
    STARTING = "starting"
    READY = "ready"
    BUSY = "busy"
    DRAINING = "draining"
    OFFLINE = "offline"  # set by the server only
    FAILED = "failed"


class TaskStatus(str, enum.Enum):
    PENDING = "pending"
    CLAIMED = "claimed"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"

    @property
    def is_terminal(self) -> bool:
        return self in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED,
                        TaskStatus.TIMEOUT)


class TaskPriority(enum.IntEnum):
    """The guide's values (0 = most urgent); sent and received by name."""
    CRITICAL = 0
    HIGH = 1
    NORMAL = 2
    LOW = 3

    @property
    def api_name(self) -> str:
        return self.name.lower()


class AgentCapability(str, enum.Enum):
    """The guide's standard capabilities; any other string is a capability too."""
    DEBATE = "debate"
    CODE = "code"
    ANALYSIS = "analysis"
    CRITIQUE = "critique"
    JUDGE = "judge"
    IMPLEMENT = "implement"
    DESIGN = "design"
    RESEARCH = "research"
    AUDIT = "audit"
    SUMMARIZE = "summarize"


class HealthStatus(str, enum.Enum):
    """An agent's health; CRITICAL only ever describes the whole system."""
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"
    UNKNOWN = "unknown"
    CRITICAL = "critical"


class CircuitState(str, enum.Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


E = TypeVar("E", bound=enum.Enum)


def _enum(cls: Type[E], value: Any) -> Union[E, Any]:
    try:
        return cls(value)
    except ValueError:
        return value


def _priority(value: Any) -> Union[TaskPriority, Any]:
    if isinstance(value, str):
        try:
            return TaskPriority[value.upper()]
        except KeyError:
            return value
    return _enum(TaskPriority, value)


def parse_time(value: Optional[str]) -> Optional[datetime]:
    """An API timestamp ("2026-11-28T18:06:34.123Z") as an aware UTC datetime; None for null."""
    if value is None:
        return None
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _obj(d: Any) -> Dict[str, Any]:
    return d if isinstance(d, dict) else {}


@dataclass
class AgentInfo:
    """One agent (AgentJSON)."""
    agent_id: str
    capabilities: List[str] = field(default_factory=list)
    status: Union[AgentStatus, str] = AgentStatus.READY
    model: str = "unknown"
    provider: str = "unknown"
    metadata: Dict[str, Any] = field(default_factory=dict)
    registered_at: Optional[datetime] = None
    last_heartbeat: Optional[datetime] = None
    max_concurrent_tasks: int = 1
    tasks_in_flight: int = 0
    current_task_id: Optional[str] = None
    tasks_completed: int = 0
    tasks_failed: int = 0
    avg_latency_ms: float = 0.0
    health: Union[HealthStatus, str] = HealthStatus.UNKNOWN
    circuit: Union[CircuitState, str] = CircuitState.CLOSED
    health_probe: Optional[Dict[str, Any]] = None
    drained_at: Optional[datetime] = None
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "AgentInfo":
        d = _obj(d)
        return cls(
            agent_id=d.get("agent_id", ""),
            capabilities=list(d.get("capabilities") or []),
            status=_enum(AgentStatus, d.get("status")),
            model=d.get("model", "unknown"),
            provider=d.get("provider", "unknown"),
            metadata=_obj(d.get("metadata")),
            registered_at=parse_time(d.get("registered_at")),
            last_heartbeat=parse_time(d.get("last_heartbeat")),
            max_concurrent_tasks=d.get("max_concurrent_tasks", 1),
            tasks_in_flight=d.get("tasks_in_flight", 0),
            current_task_id=d.get("current_task_id"),
            tasks_completed=d.get("tasks_completed", 0),
            tasks_failed=d.get("tasks_failed", 0),
            avg_latency_ms=d.get("avg_latency_ms", 0.0),
            health=_enum(HealthStatus, d.get("health", "unknown")),
            circuit=_enum(CircuitState, d.get("circuit", "closed")),
            health_probe=d.get("health_probe"),
            drained_at=parse_time(d.get("drained_at")),
            raw=d,
        )

    @property
    def drained(self) -> bool:
        """An operator drained it (drain_agent): no new tasks until undrain_agent."""
        return self.drained_at is not None

    def is_available(self) -> bool:
        """Could take work now (docs/api.md, available=true; the claim rule): ready, below
        max_concurrent_tasks, circuit not open. A busy agent — at its maximum or by its own
        report —, a draining, starting, failed or offline one is not."""
        return self.status == AgentStatus.READY and self.circuit != CircuitState.OPEN and \
            self.tasks_in_flight < self.max_concurrent_tasks


@dataclass
class Attempt:
    """One attempt at a task (TaskJSON "attempts"): outcome None while in progress, else
    failed, timeout, agent_offline, agent_removed, cancelled or completed."""
    agent_id: Optional[str] = None
    started_at: Optional[datetime] = None
    ended_at: Optional[datetime] = None
    outcome: Optional[str] = None
    error: Optional[str] = None

    @classmethod
    def from_json(cls, d: Any) -> "Attempt":
        d = _obj(d)
        return cls(agent_id=d.get("agent_id"), started_at=parse_time(d.get("started_at")),
                   ended_at=parse_time(d.get("ended_at")), outcome=d.get("outcome"),
                   error=d.get("error"))


@dataclass
class BatchItem:
    """One task of submit_tasks: its task_id (created: stored by this call, else found by
    its idempotency key), or the error and code that refused it."""
    task_id: Optional[str] = None
    created: bool = False
    error: Optional[str] = None
    code: Optional[str] = None

    @classmethod
    def from_json(cls, d: Any) -> "BatchItem":
        d = _obj(d)
        return cls(task_id=d.get("task_id"), created=bool(d.get("created")),
                   error=d.get("error"), code=d.get("code"))

    def __bool__(self) -> bool:
        return self.task_id is not None


@dataclass
class PluginInfo:
    """One plugin the server loaded (GET /plugins): options lists the names of its config
    options, never their values."""
    kind: str
    name: str
    version: Optional[str] = None
    abi_version: Optional[str] = None
    path: Optional[str] = None
    options: List[str] = field(default_factory=list)
    default: bool = False
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "PluginInfo":
        d = _obj(d)
        return cls(kind=d.get("kind", ""), name=d.get("name", ""), version=d.get("version"),
                   abi_version=d.get("abi_version"), path=d.get("path"),
                   options=list(d.get("options") or []), default=bool(d.get("default")), raw=d)


@dataclass
class Tenant:
    """One tenant (TenantJSON): its share and what it has now."""
    id: str
    weight: int = 1
    max_in_flight: int = 0
    configured: bool = False
    waiting: int = 0
    in_flight: int = 0
    tokens_served: int = 0
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Tenant":
        d = _obj(d)
        return cls(id=d.get("id", ""), weight=d.get("weight", 1),
                   max_in_flight=d.get("max_in_flight", 0),
                   configured=bool(d.get("configured")), waiting=d.get("waiting", 0),
                   in_flight=d.get("in_flight", 0), tokens_served=d.get("tokens_served", 0),
                   raw=d)


@dataclass
class Task:
    """One task (TaskJSON)."""
    id: str
    task_type: str
    payload: Any = None
    required_capabilities: List[str] = field(default_factory=list)
    status: Union[TaskStatus, str] = TaskStatus.PENDING
    priority: Union[TaskPriority, str] = TaskPriority.NORMAL
    created_at: Optional[datetime] = None
    claimed_at: Optional[datetime] = None
    started_at: Optional[datetime] = None
    completed_at: Optional[datetime] = None
    assigned_agent: Optional[str] = None
    timeout_seconds: float = 0.0
    max_retries: int = 0
    retries: int = 0
    attempt: int = 0
    result: Any = None
    error: Optional[str] = None
    metadata: Dict[str, Any] = field(default_factory=dict)
    strategy: Optional[str] = None
    deadline_at: Optional[datetime] = None
    not_before: Optional[datetime] = None
    progress: Optional[Dict[str, Any]] = None
    attempts: List[Attempt] = field(default_factory=list)
    idempotency_key: Optional[str] = None
    retry_backoff: Optional[Dict[str, Any]] = None
    tenant: str = "default"
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, d: Dict[str, Any]) -> "Task":
        d = _obj(d)
        return cls(
            id=d.get("id", ""),
            task_type=d.get("task_type", ""),
            payload=d.get("payload"),
            required_capabilities=list(d.get("required_capabilities") or []),
            status=_enum(TaskStatus, d.get("status")),
            priority=_priority(d.get("priority", "normal")),
            created_at=parse_time(d.get("created_at")),
            claimed_at=parse_time(d.get("claimed_at")),
            started_at=parse_time(d.get("started_at")),
            completed_at=parse_time(d.get("completed_at")),
            assigned_agent=d.get("assigned_agent"),
            timeout_seconds=d.get("timeout_seconds", 0.0),
            max_retries=d.get("max_retries", 0),
            retries=d.get("retries", 0),
            attempt=d.get("attempt", 0),
            result=d.get("result"),
            error=d.get("error"),
            metadata=_obj(d.get("metadata")),
            strategy=d.get("strategy"),
            deadline_at=parse_time(d.get("deadline_at")),
            not_before=parse_time(d.get("not_before")),
            progress=d.get("progress"),
            attempts=[Attempt.from_json(a) for a in (d.get("attempts") or [])],
            idempotency_key=d.get("idempotency_key"),
            retry_backoff=d.get("retry_backoff"),
            tenant=d.get("tenant") or "default",
            raw=d,
        )

    @property
    def is_terminal(self) -> bool:
        return isinstance(self.status, TaskStatus) and self.status.is_terminal


@dataclass
class CircuitInfo:
    state: Union[CircuitState, str] = CircuitState.CLOSED
    failures: int = 0
    opened_at: Optional[datetime] = None
    retry_at: Optional[datetime] = None

    @classmethod
    def from_json(cls, d: Any) -> "CircuitInfo":
        d = _obj(d)
        return cls(state=_enum(CircuitState, d.get("state", "closed")),
                   failures=d.get("failures", 0), opened_at=parse_time(d.get("opened_at")),
                   retry_at=parse_time(d.get("retry_at")))


@dataclass
class HealthCheck:
    """One agent's health (HealthJSON): the guide's health.status, .last_check,
    .consecutive_failures, and the circuit breaker."""
    agent_id: str
    status: Union[HealthStatus, str] = HealthStatus.UNKNOWN
    last_check: Optional[datetime] = None
    consecutive_failures: int = 0
    consecutive_successes: int = 0
    latency_ms: Optional[float] = None
    error: Optional[str] = None
    probe: Optional[str] = None
    circuit: CircuitInfo = field(default_factory=CircuitInfo)
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, agent_id: str, d: Any) -> "HealthCheck":
        d = _obj(d)
        return cls(agent_id=agent_id, status=_enum(HealthStatus, d.get("status", "unknown")),
                   last_check=parse_time(d.get("last_check")),
                   consecutive_failures=d.get("consecutive_failures", 0),
                   consecutive_successes=d.get("consecutive_successes", 0),
                   latency_ms=d.get("latency_ms"), error=d.get("error"), probe=d.get("probe"),
                   circuit=CircuitInfo.from_json(d.get("circuit")), raw=d)


@dataclass
class SystemHealth:
    """GET /health: the system status, the storage state, the summary (counts: "agents",
    "by_health", "by_status", "circuits_open") and agents' HealthChecks: every agent when form
    is "full", the degraded and unhealthy ones when it is "summary". next: where the following
    page starts (the `after` to pass), None on the last."""
    status: Union[HealthStatus, str]
    storage: Dict[str, Any] = field(default_factory=dict)
    agents: Dict[str, HealthCheck] = field(default_factory=dict)
    raw: Dict[str, Any] = field(default_factory=dict, repr=False, compare=False)
    form: str = "full"
    summary: Dict[str, Any] = field(default_factory=dict)
    next: Optional[str] = None

    @classmethod
    def from_json(cls, d: Any) -> "SystemHealth":
        d = _obj(d)
        form = "full" if "agents" in d or "unhealthy_agents" not in d else "summary"
        src = d.get("agents") if form == "full" else d.get("unhealthy_agents")
        agents = {k: HealthCheck.from_json(k, v) for k, v in _obj(src).items()}
        nxt = d.get("next")
        return cls(status=_enum(HealthStatus, d.get("status")), storage=_obj(d.get("storage")),
                   agents=agents, raw=d, form=form, summary=_obj(d.get("summary")),
                   next=nxt if isinstance(nxt, str) else None)


@dataclass
class FailResult:
    """fail_task's answer; true like the guide's bool. status is PENDING when the task was
    requeued, FAILED when it ended; retries counts the failures so far. With fail_task(...,
    next=...): next is the agent's next task (None: none was handed out) and next_error the
    claim's error message when the claim itself failed (the failure stands)."""
    failed: bool
    status: Union[TaskStatus, str]
    retries: int
    next: Optional["Task"] = None
    next_error: Optional[str] = None

    def __bool__(self) -> bool:
        return self.failed

    @property
    def requeued(self) -> bool:
        return self.status == TaskStatus.PENDING


@dataclass
class Completion:
    """complete_task(..., next=...)'s answer; true when the task was completed (False: unknown
    task). next is the agent's next task, claimed in the same request (None: nothing within
    next's block_ms, or the agent may not claim now); next_error is the claim's error message
    when the claim itself failed (the completion stands)."""
    completed: bool
    next: Optional["Task"] = None
    next_error: Optional[str] = None

    def __bool__(self) -> bool:
        return self.completed
