"""cpclient — the Python client of cpd, with the Control Plane Guide's API.

    from cpclient import create_control_plane
    coordinator = await create_control_plane()          # $CONTROL_PLANE_URL, $CONTROL_PLANE_TOKEN
    await coordinator.register_agent(agent_id="claude-3", capabilities=["debate"])
    task_id = await coordinator.submit_task(task_type="debate", payload={...},
                                            required_capabilities=["debate"])
    result = await coordinator.wait_for_result(task_id, timeout=60.0)

AsyncClient (alias ControlPlaneCoordinator) for asyncio, Client for blocking code, run_agent()
for an agent's whole loop, client.events() for the live event stream. Standard library only."""

from typing import Optional

from ._base import ControlPlaneConfig
from ._version import __version__
from .aio import AsyncClient
from .events import EVENT_TYPES, Event
from .errors import (BadRequestError, ConflictError, ControlPlaneError, ForbiddenError,
                     NotFoundError, PayloadTooLargeError, ProtocolError, RequestTimeout,
                     ServerError, TransportError, UnauthorizedError, UnavailableError)
from .runner import RunnerStats, TaskError, run_agent
from .sync import Client
from .types import (AgentCapability, AgentInfo, AgentStatus, Attempt, BatchItem, CircuitInfo,
                    CircuitState, Completion, FailResult, HealthCheck, HealthStatus, PluginInfo, SystemHealth,
                    Task,
                    TaskPriority, TaskStatus, Tenant)

ControlPlaneCoordinator = AsyncClient  # the guide's name


async def create_control_plane(config: Optional[ControlPlaneConfig] = None,
                               **options) -> AsyncClient:
    """The guide's constructor: an AsyncClient that has checked the server answers. Without
    arguments it talks to $CONTROL_PLANE_URL (else http://127.0.0.1:8080) with
    $CONTROL_PLANE_TOKEN."""
    return await AsyncClient.create(config, **options)


__all__ = [
    "AsyncClient", "Client", "ControlPlaneCoordinator", "ControlPlaneConfig", "Event",
    "EVENT_TYPES",
    "create_control_plane", "run_agent", "TaskError", "RunnerStats",
    "AgentCapability", "AgentInfo", "AgentStatus", "Attempt", "BatchItem", "CircuitInfo",
    "CircuitState", "Completion", "FailResult",
    "HealthCheck", "HealthStatus", "PluginInfo", "SystemHealth", "Task", "TaskPriority",
    "TaskStatus", "Tenant",
    "ControlPlaneError", "TransportError", "RequestTimeout", "ProtocolError",
    "BadRequestError", "UnauthorizedError", "ForbiddenError", "NotFoundError",
    "ConflictError", "PayloadTooLargeError", "UnavailableError", "ServerError",
    "__version__",
]
